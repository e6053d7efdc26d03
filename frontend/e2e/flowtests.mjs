// Flow tests in the studio (engine/flowtest/TESTS.md): run a graph, record the run as a test,
// mark a field as ignored, save, break the graph, and see the failure as a side-by-side row diff
// in the Tests panel. Registered in run.mjs; the studio and the browser come from lib.mjs.
import { join } from 'node:path';

export function flowTestScenarios({ openStudio, assert, shots, T }) {
  return {
    async 'flow tests: record a run, ignore a field, break the graph, see the diff'({ context, url, types }) {
      const { page, errors } = await openStudio(context, url);
      const out = (t) => types.spec(t).outputs[0].name;
      const inp = (t) => types.spec(t).inputs[0].name;
      // The graph is created through the studio's own backend, as the UI's calls are made.
      await page.evaluate(
        async ({ gen, map, sink, genOut, mapIn, mapOut, sinkIn }) => {
          const s = window.__atoll.getState();
          const doc = {
            version: 1,
            id: '',
            name: 'flow test e2e',
            nodes: [
              { id: 'gen', type: gen, config: { count: 40, rate: 200 }, ui: { x: 80, y: 140 } },
              { id: 'map', type: map, config: { set: { d: 'n * 2', e: 'n + 1' } }, ui: { x: 380, y: 140 } },
              { id: 'view', type: sink, config: {}, ui: { x: 680, y: 140 } },
            ],
            edges: [
              { from: { node: 'gen', port: genOut }, to: { node: 'map', port: mapIn } },
              { from: { node: 'map', port: mapOut }, to: { node: 'view', port: sinkIn } },
            ],
          };
          const g = await s.backend.createGraph('flow test e2e', doc);
          await s.refreshGraphs();
          await s.openGraph(g.id);
        },
        { gen: types.gen, map: types.map, sink: types.sink, genOut: out(types.gen), mapIn: inp(types.map), mapOut: out(types.map), sinkIn: inp(types.sink) },
      );
      await page.getByTestId('node-view').waitFor({ timeout: T });

      // Run it to the end.
      await page.getByTestId('run').click();
      await page.getByTestId('run-status').filter({ hasText: 'finished' }).waitFor({ timeout: T });

      // Record as test: the draft opens in the Tests panel; "d" is marked as ignored.
      await page.getByTestId('record-test').click();
      await page.getByTestId('test-editor').waitFor({ timeout: T });
      await page.getByTestId('draft-name').fill('doubles');
      await page.getByTestId('rule-view-d').selectOption('ignore');
      await page.screenshot({ path: join(shots, 'flowtest-1-recorded.png') });
      await page.getByTestId('save-test').click();
      const item = page.getByTestId('test-doubles');
      await item.waitFor({ timeout: T });
      const saved = await page.evaluate(() => window.__atoll.getState().tests.find((t) => t.info.name === 'doubles')?.test);
      assert(saved?.expect?.view?.fields?.d === 'ignore', `saved test's rules: ${JSON.stringify(saved?.expect?.view?.fields)}`);
      assert(saved.expect.view.rows.length === 40, `saved test expects ${saved.expect.view.rows.length} rows, want 40`);

      // As recorded, it passes.
      await page.getByTestId('run-tests').click();
      await item.getByTestId('test-status').filter({ hasText: 'ok' }).waitFor({ timeout: T });

      // Break the graph: "d" (ignored) and "e" (compared) change; the test fails on "e" only.
      await page.evaluate(async () => {
        const s = window.__atoll.getState();
        s.updateConfig('map', { set: { d: 'n * 3', e: 'n + 2' } });
        await s.save('broken on purpose');
      });
      await page.getByTestId('run-tests').click();
      await item.getByTestId('test-status').filter({ hasText: 'FAIL' }).waitFor({ timeout: T });
      const msg = await item.getByTestId('test-failure').innerText();
      assert(msg.includes('sink "view" row 1 field "e": want 1, got 2'), `failure message: ${msg}`);
      const diff = item.getByTestId('test-diff');
      await diff.waitFor({ timeout: T });
      const bad = diff.getByTestId('diff-row-bad');
      assert((await bad.count()) > 0, 'no differing row is marked in the diff');
      const cells = bad.first().locator('td.row');
      const [want, got] = [await cells.nth(0).innerText(), await cells.nth(1).innerText()];
      assert(want.includes('"e": 1') && got.includes('"e": 2'), `side by side: expected ${want} | actual ${got}`);
      assert((await bad.first().locator('span.bad[data-field="e"]').count()) === 2, 'field "e" is not highlighted on both sides');
      assert((await bad.first().locator('span.bad[data-field="d"]').count()) === 0, 'the ignored field "d" is highlighted');
      await page.screenshot({ path: join(shots, 'flowtest-2-failure-diff.png') });
      assert(errors.length === 0, `page errors: ${errors.join(' | ')}`);
      await page.close();
    },
  };
}
