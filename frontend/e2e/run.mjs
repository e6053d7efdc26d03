// End-to-end tests of the studio in headless Chromium against `atoll serve` (ATOLL_BIN, default
// ../bin/atoll) on a temporary database. Screenshots go to ../artifacts/e2e/.
//   node e2e/run.mjs            all scenarios
//   node e2e/run.mjs invalid    scenarios whose name contains "invalid"
import { join } from 'node:path';
import { exportScenarios } from './export.mjs';
import { accessScenarios } from './access.mjs';
import { ensureArtifacts, launchBrowser, pickTypes, startServer } from './lib.mjs';
import { flowTestScenarios } from './flowtests.mjs';
import { birdViewScenarios } from './birdview.mjs';

const shots = ensureArtifacts();
const filter = process.argv[2] ?? '';
const T = 15000;

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

const nodeID = (type, n = 1) => `${type.split('.').pop()}-${n}`;

async function newGraph(page) {
  const before = await page.evaluate(() => window.__atoll.getState().info?.id ?? '');
  await page.getByTestId('new-graph').click();
  await page.waitForFunction((b) => {
    const id = window.__atoll.getState().info?.id;
    return id && id !== b;
  }, before, { timeout: T });
  return page.evaluate(() => window.__atoll.getState().info);
}

async function dropNode(page, type, x, y) {
  const canvas = page.getByTestId('canvas');
  await page.getByTestId(`palette-${type}`).dragTo(canvas, { targetPosition: { x, y } });
}

async function connect(page, from, fromPort, to, toPort) {
  const a = page.getByTestId(`handle-${from}-out-${fromPort}`);
  const b = page.getByTestId(`handle-${to}-in-${toPort}`);
  const ba = await a.boundingBox();
  const bb = await b.boundingBox();
  assert(ba && bb, `handles ${from}.${fromPort} / ${to}.${toPort} not on screen`);
  await page.mouse.move(ba.x + ba.width / 2, ba.y + ba.height / 2);
  await page.mouse.down();
  await page.mouse.move((ba.x + bb.x) / 2, (ba.y + bb.y) / 2, { steps: 5 });
  await page.mouse.move(bb.x + bb.width / 2, bb.y + bb.height / 2, { steps: 5 });
  await page.mouse.up();
}

async function selectNode(page, id) {
  await page.getByTestId(`node-${id}`).locator('.atoll-node-head').click();
  await page.getByTestId('config-panel').waitFor({ timeout: T });
}

async function openStudio(context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(url);
  await page.getByTestId('palette').waitFor({ timeout: T });
  await page.waitForFunction(() => window.__atoll?.getState().catalog.length > 0, null, { timeout: T });
  return { page, errors };
}

const scenarios = {
  async 'build, run, preview, stop, save, reload'({ context, url, types }) {
    const { page, errors } = await openStudio(context, url);
    const info = await newGraph(page);
    const gen = nodeID(types.gen);
    const map = nodeID(types.map);
    const sink = nodeID(types.sink);
    await dropNode(page, types.gen, 160, 160);
    await page.getByTestId(`node-${gen}`).waitFor({ timeout: T });
    await dropNode(page, types.map, 460, 200);
    await page.getByTestId(`node-${map}`).waitFor({ timeout: T });
    await dropNode(page, types.sink, 760, 240);
    await page.getByTestId(`node-${sink}`).waitFor({ timeout: T });

    const mapOut = types.spec(types.map).outputs[0].name;
    await connect(page, gen, types.spec(types.gen).outputs[0].name, map, types.spec(types.map).inputs[0].name);
    await connect(page, map, mapOut, sink, types.spec(types.sink).inputs[0].name);
    await page.waitForFunction(() => window.__atoll.getState().edges.length === 2, null, { timeout: T });

    // Configure the generator in the generated form: timer rows, until stopped, 200 a second.
    await selectNode(page, gen);
    if (await page.locator('#root_mode').count()) await page.locator('#root_mode').selectOption('timer');
    await page.locator('#root_count').fill('0');
    await page.locator('#root_rate').fill('200');
    await page.waitForFunction(
      (id) => {
        const n = window.__atoll.getState().nodes.find((x) => x.id === id);
        return n && n.data.config.rate === 200 && n.data.config.count === 0;
      },
      gen,
      { timeout: T },
    );
    // And the map: a new field from an expression, when the form offers one.
    await selectNode(page, map);
    await page.evaluate((id) => {
      const s = window.__atoll.getState();
      const n = s.nodes.find((x) => x.id === id);
      if (n && 'set' in n.data.config) s.updateConfig(id, { ...n.data.config, set: { double: 'n * 2' } });
    }, map);
    await page.screenshot({ path: join(shots, '01-built.png') });

    await page.getByTestId('run').click();
    await page.getByTestId('run-status').filter({ hasText: 'running' }).waitFor({ timeout: T });
    await page.getByTestId(`metrics-${gen}`).waitFor({ timeout: T });
    // Preview the rows leaving the map: click the node.
    await page.getByTestId(`node-${map}`).locator('.atoll-node-head').click();
    await page.getByTestId('preview-table').waitFor({ timeout: T });
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=preview-row]').length >= 5, null, { timeout: T });
    const firstCell = await page.locator('[data-testid=preview-table] thead th').allInnerTexts();
    assert(firstCell.includes('n'), `preview table columns ${firstCell.join(',')} lack "n"`);
    await page.screenshot({ path: join(shots, '02-running-preview.png') });

    // Pause holds the table still while rows keep flowing; resume takes them again.
    const seen = () => page.getByTestId('preview-count').innerText().then((t) => parseInt(t, 10));
    await page.getByTestId('preview-pause').click();
    await page.waitForTimeout(300);
    const held = await seen();
    await page.waitForTimeout(700);
    assert((await seen()) === held, 'the preview kept counting rows while paused');
    await page.getByTestId('preview-pause').click();
    await page.waitForFunction((h) => parseInt(document.querySelector('[data-testid=preview-count]').innerText, 10) > h, held, { timeout: T });

    await page.getByTestId('stop').click();
    await page.waitForFunction(
      () => ['stopped', 'finished'].includes(window.__atoll.getState().run?.status),
      null,
      { timeout: T },
    );

    await page.locator('.react-flow__pane').click({ position: { x: 20, y: 20 } });
    await page.keyboard.press('Control+s');
    await page.getByTestId('toast-ok').filter({ hasText: 'saved version 2' }).waitFor({ timeout: T });
    await page.screenshot({ path: join(shots, '03-saved.png') });

    await page.reload();
    await page.getByTestId(`node-${gen}`).waitFor({ timeout: T });
    await page.getByTestId(`node-${sink}`).waitFor({ timeout: T });
    const st = await page.evaluate(() => {
      const s = window.__atoll.getState();
      return { id: s.info?.id, version: s.info?.version, edges: s.edges.length, nodes: s.nodes.map((n) => n.data) };
    });
    assert(st.id === info.id, `reload opened graph ${st.id}, want ${info.id}`);
    assert(st.version === 2, `reload shows version ${st.version}, want 2`);
    assert(st.edges === 2, `reload shows ${st.edges} edges, want 2`);
    const g = st.nodes.find((d) => d.type === types.gen);
    assert(g && g.config.rate === 200, `generator config not saved: ${JSON.stringify(g)}`);
    await page.getByTestId('tab-history').click();
    await page.getByTestId('version-2').waitFor({ timeout: T });
    await page.getByTestId('version-1').waitFor({ timeout: T });
    await page.getByTestId('compare').click();
    await page.getByTestId('diff').filter({ hasText: gen }).waitFor({ timeout: T });
    await page.screenshot({ path: join(shots, '04-reloaded-history.png') });

    // Restoring v1 (the empty graph) saves it as v3.
    await page.getByTestId('restore-1').click();
    await page.waitForFunction(() => window.__atoll.getState().info?.version === 3, null, { timeout: T });
    const n = await page.evaluate(() => window.__atoll.getState().nodes.length);
    assert(n === 0, `restored v1 has ${n} nodes, want 0`);
    await page.getByTestId('version-3').waitFor({ timeout: T });
    assert(errors.length === 0, `page errors: ${errors.join(' | ')}`);
    await page.close();
  },

  async 'invalid config blocks the run'({ context, url, types }) {
    const { page } = await openStudio(context, url);
    await newGraph(page);
    const gen = nodeID(types.gen);
    const sink = nodeID(types.sink);
    await dropNode(page, types.gen, 200, 200);
    await dropNode(page, types.sink, 560, 200);
    await page.getByTestId(`node-${sink}`).waitFor({ timeout: T });
    await connect(page, gen, types.spec(types.gen).outputs[0].name, sink, types.spec(types.sink).inputs[0].name);
    await page.waitForFunction(() => window.__atoll.getState().edges.length === 1, null, { timeout: T });

    // A field below its schema minimum: the form flags it at once.
    const props = types.spec(types.gen).config_schema.properties ?? {};
    const [field, fs] = Object.entries(props).find(([, s]) => s.type === 'integer' && typeof s.minimum === 'number' && s.minimum >= 1) ?? [];
    assert(field, `${types.gen} has no integer field with a minimum ≥ 1 to break`);
    await selectNode(page, gen);
    await page.locator(`#root_${field}`).fill(String(fs.minimum - 1));
    await page.locator('.config-panel .error-detail').first().waitFor({ timeout: T });

    await page.getByTestId('run').click();
    await page.getByTestId(`problem-${gen}`).waitFor({ timeout: T });
    await page.getByTestId('problems').waitFor({ timeout: T });
    const run = await page.evaluate(() => window.__atoll.getState().run);
    assert(run === null, `a run started despite the invalid config: ${JSON.stringify(run)}`);
    const border = await page.getByTestId(`node-${gen}`).evaluate((el) => getComputedStyle(el).borderTopColor);
    assert(border === 'rgb(229, 72, 77)', `node border ${border}, want red`);
    await page.screenshot({ path: join(shots, '05-invalid-blocked.png') });

    // Fix it: the problem goes once validation passes.
    await page.locator(`#root_${field}`).fill(String(fs.minimum));
    await page.getByTestId('validate').click();
    await page.getByTestId(`problem-${gen}`).waitFor({ state: 'detached', timeout: T });
    await page.close();
  },

  async 'assets upload and the asset picker'({ context, url, catalog }) {
    // A node whose config has an asset field (format "asset"): its form offers the stored assets.
    const withAsset = catalog.find((s) =>
      Object.values(s.config_schema.properties ?? {}).some((p) => p.format === 'asset' || p['x-asset-kind']),
    );
    assert(withAsset, 'no node type has an asset field');
    const [field, fs] = Object.entries(withAsset.config_schema.properties).find(([, p]) => p.format === 'asset' || p['x-asset-kind']);
    const kind = fs['x-asset-kind'] ?? 'other';
    const ext = { wasm: 'wasm', tflite: 'tflite', wav: 'wav', labels: 'txt' }[kind] ?? 'bin';
    const { page } = await openStudio(context, url);
    await newGraph(page);
    await page.getByTestId('tab-assets').click();
    const name = `e2e-${Date.now()}.${ext}`;
    const bytes = Buffer.from(kind === 'wasm' ? [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0] : [1, 2, 3, 4, 5]);
    await page.getByTestId('asset-file').setInputFiles({ name, mimeType: 'application/octet-stream', buffer: bytes });
    await page.getByTestId('assets').getByText(name, { exact: true }).waitFor({ timeout: T });
    const sha = await page.evaluate((n) => window.__atoll.getState().assets.find((a) => a.name === n)?.sha256, name);
    assert(/^[0-9a-f]{64}$/.test(sha ?? ''), `uploaded asset has no sha256: ${sha}`);

    await page.getByTestId('tab-config').click();
    await dropNode(page, withAsset.id, 300, 200);
    const id = nodeID(withAsset.id);
    await selectNode(page, id);
    await page.locator(`#root_${field}`).selectOption(sha);
    await page.waitForFunction(
      ([id, field, sha]) => window.__atoll.getState().nodes.find((n) => n.id === id)?.data.config[field] === sha,
      [id, field, sha],
      { timeout: T },
    );
    await page.screenshot({ path: join(shots, '06-asset-picker.png') });
    await page.close();
  },

  async 'keyboard editing: copy, paste, delete, undo, redo'({ context, url, types }) {
    const { page, errors } = await openStudio(context, url);
    await newGraph(page);
    const gen = nodeID(types.gen);
    const map = nodeID(types.map);
    await dropNode(page, types.gen, 200, 200);
    await dropNode(page, types.map, 520, 200);
    await page.getByTestId(`node-${map}`).waitFor({ timeout: T });
    await connect(page, gen, types.spec(types.gen).outputs[0].name, map, types.spec(types.map).inputs[0].name);
    const count = () => page.evaluate(() => [window.__atoll.getState().nodes.length, window.__atoll.getState().edges.length]);
    const want = async (n, e, what) => {
      await page.waitForFunction(([n, e]) => window.__atoll.getState().nodes.length === n && window.__atoll.getState().edges.length === e, [n, e], { timeout: T }).catch(() => {});
      const [gn, ge] = await count();
      assert(gn === n && ge === e, `${what}: ${gn} nodes, ${ge} edges; want ${n}, ${e}`);
    };
    await want(2, 1, 'connected');

    // Select both (Ctrl+A on the canvas), copy, paste: the copies keep their edge.
    await page.locator('.react-flow__pane').click({ position: { x: 30, y: 30 } });
    await page.keyboard.press('Control+a');
    await page.keyboard.press('Control+c');
    await page.keyboard.press('Control+v');
    await want(4, 2, 'after paste');
    await page.getByTestId(`node-${nodeID(types.map, 2)}`).waitFor({ timeout: T });

    // The pasted nodes are selected: Delete removes them and their edge in one step.
    await page.keyboard.press('Delete');
    await want(2, 1, 'after delete');
    await page.keyboard.press('Control+z');
    await want(4, 2, 'after undo');
    await page.keyboard.press('Control+Shift+z');
    await want(2, 1, 'after redo');
    await page.keyboard.press('Control+z');
    await page.keyboard.press('Control+z');
    await want(2, 1, 'after undoing the paste');
    assert(errors.length === 0, `page errors: ${errors.join(' | ')}`);
    await page.close();
  },

  async 'incompatible ports are refused with the reason'({ context, url, types, catalog }) {
    // Needs two specs whose port types differ (neither "any").
    let pair = null;
    for (const a of catalog) for (const o of a.outputs) for (const b of catalog) for (const i of b.inputs) {
      if (!pair && a.id !== b.id && o.type !== 'any' && i.type !== 'any' && o.type !== i.type) pair = { a, o, b, i };
    }
    if (!pair) {
      console.log('  (catalog has no incompatible port types; checked by the unit tests instead)');
      return;
    }
    const { page } = await openStudio(context, url);
    await newGraph(page);
    await dropNode(page, pair.a.id, 200, 200);
    await dropNode(page, pair.b.id, 560, 200);
    const from = nodeID(pair.a.id);
    const to = nodeID(pair.b.id, pair.a.id.split('.').pop() === pair.b.id.split('.').pop() ? 2 : 1);
    await page.getByTestId(`node-${to}`).waitFor({ timeout: T });
    await connect(page, from, pair.o.name, to, pair.i.name);
    await page.getByTestId('toast-error').filter({ hasText: 'cannot connect' }).waitFor({ timeout: T });
    const n = await page.evaluate(() => window.__atoll.getState().edges.length);
    assert(n === 0, `an incompatible edge was made`);
    await page.close();
  },
};

// Bundles need the real service (the mock has no exporter) and the real runner to verify them.
if (process.env.ATOLL_MOCK === '1') console.log('(export scenarios need the real studio: not run against the mock)');
else Object.assign(scenarios, exportScenarios);
Object.assign(scenarios, flowTestScenarios({ openStudio, assert, shots, T }));
Object.assign(scenarios, accessScenarios);
Object.assign(scenarios, birdViewScenarios({ openStudio, assert, shots, T }));

const server = await startServer();
const { context, close } = await launchBrowser();
let passed = 0;
let failed = 0;
try {
  const catalog = await (await fetch(new URL('api/catalog', server.url))).json();
  const types = pickTypes(catalog);
  for (const [name, fn] of Object.entries(scenarios)) {
    if (filter && !name.includes(filter)) continue;
    const t0 = Date.now();
    try {
      await fn({ context, url: server.url, types, catalog });
      passed++;
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (err) {
      failed++;
      console.log(`FAIL ${name}: ${err.message}`);
      for (const p of context.pages()) {
        await p.screenshot({ path: join(shots, `fail-${name.replace(/\W+/g, '-')}.png`) }).catch(() => {});
      }
    }
  }
} finally {
  await close();
  await server.stop();
}
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
