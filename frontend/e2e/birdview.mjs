// The bird-song view (frontend/src/components/birdview): open the seeded bird-folder example, run
// it, see the spectrogram with detection boxes, click one and hear that segment of the original
// recording through the page's <audio> element (served by /api/audio with Range requests), step
// with the keyboard, filter the detections table. Registered in run.mjs; screenshots go to
// artifacts/e2e/.
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { frontendDir } from './lib.mjs';

/** The shared bird recordings, found as the studio finds them (examples/link.go). */
function birdsDir() {
  const data = process.env.ATOLL_TESTDATA ?? resolve(frontendDir, '..', 'examples', 'testdata');
  return join(data, 'audio', 'birds');
}

/** Opens the seeded bird-folder example and adds the view's preview sinks. */
async function openBirds(page, assert, T) {
  const found = await page.evaluate(async () => {
    const s = window.__atoll.getState();
    await s.refreshGraphs();
    const g = window.__atoll.getState().graphs.find((x) => x.name.startsWith('Birds: a folder'));
    if (!g) return window.__atoll.getState().graphs.map((x) => x.name).join(' | ');
    await window.__atoll.getState().openGraph(g.id);
    return '';
  });
  assert(found === '', `no seeded "Birds: a folder" example among: ${found}`);
  await page.getByTestId('node-recordings').waitFor({ timeout: T });
  await page.getByTestId('tab-birds').click();
  await page.getByTestId('birdview').waitFor({ timeout: T });
  // The example ends in file sinks (it runs headless); the view adds preview sinks so that it
  // gets every row of this fast run, not a tap's samples.
  const edges = await page.evaluate(() => window.__atoll.getState().edges.length);
  await page.getByTestId('birdview-keep').click();
  await page.waitForFunction((n) => window.__atoll.getState().edges.length === n + 2, edges, { timeout: T });
}

async function runToEnd(page, assert) {
  await page.getByTestId('run').click();
  await page.getByTestId('run-status').filter({ hasText: 'finished' }).waitFor({ timeout: 180000 });
  const run = await page.evaluate(() => window.__atoll.getState().run);
  assert(run?.status === 'finished', `run ended ${run?.status}: ${run?.error ?? ''}`);
}

export function birdViewScenarios({ openStudio, assert, shots, T }) {
  return {
    async 'bird view: spectrogram, detection boxes, playback of a segment, table filters'({ context, url }) {
      const { page, errors } = await openStudio(context, url);
      const ranges = [];
      page.on('response', (r) => {
        if (r.url().includes('/api/audio?')) ranges.push({ status: r.status(), range: r.headers()['content-range'] ?? '' });
      });
      await openBirds(page, assert, T);
      await runToEnd(page, assert);
      await page.waitForFunction(() => document.querySelectorAll('[data-testid=det-box]').length > 0, null, { timeout: T });
      await page.getByTestId('zoom-fit').click();

      // The spectrogram is painted: the plot holds many colours, not the empty background.
      const colours = await page.getByTestId('spectrogram').evaluate((c) => {
        const ctx = c.getContext('2d');
        const d = ctx.getImageData(Math.floor(c.width * 0.1), 0, Math.floor(c.width * 0.8), Math.floor(c.height * 0.8)).data;
        const seen = new Set();
        for (let i = 0; i < d.length; i += 4 * 37) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
        return seen.size;
      });
      assert(colours > 20, `the spectrogram shows ${colours} colours: not drawn`);
      const status = await page.getByTestId('birdview-status').innerText();
      assert(/^[1-9]\d* spectrogram rows · [1-9]\d* detections · [1-9]\d* files?/.test(status), `view status: ${status}`);
      await page.screenshot({ path: join(shots, '30-birdview-spectrogram.png') });

      // Click a box: the audio element plays that file from the detection's start.
      const boxes = page.getByTestId('det-box');
      const nBoxes = await boxes.count();
      const box = boxes.nth(nBoxes > 1 ? 1 : 0);
      const want = { start: Number(await box.getAttribute('data-start')), end: Number(await box.getAttribute('data-end')), file: await box.getAttribute('data-file') };
      await box.click();
      await page.waitForFunction(
        () => {
          const a = document.querySelector('[data-testid=birdview-audio]');
          return a && !a.paused && a.currentTime > 0;
        },
        null,
        { timeout: T },
      );
      const played = await page.getByTestId('birdview-audio').evaluate((a) => ({ t: a.currentTime, src: a.currentSrc }));
      const src = new URL(played.src);
      assert(src.pathname.endsWith('/api/audio') && src.searchParams.get('ref') === want.file, `audio plays ${played.src}, want ref=${want.file}`);
      assert(src.searchParams.get('token'), 'the audio address carries no token');
      assert(played.t >= want.start - 0.05 && played.t <= want.end + 0.5, `audio at ${played.t} s, want within ${want.start}–${want.end} s`);
      await page.getByTestId('play-cursor').waitFor({ timeout: T });
      await page.screenshot({ path: join(shots, '31-birdview-playing.png') });
      // It stops at the detection's end.
      await page.waitForFunction(() => document.querySelector('[data-testid=birdview-audio]').paused, null, { timeout: (want.end - want.start) * 1000 + T });
      const stopped = await page.getByTestId('birdview-audio').evaluate((a) => a.currentTime);
      assert(stopped >= want.end - 0.05 && stopped <= want.end + 0.6, `playback stopped at ${stopped} s, want about ${want.end}`);
      assert(ranges.some((r) => r.status === 206 && /^bytes \d+-\d+\/\d+$/.test(r.range)), `no ranged (206) audio response: ${JSON.stringify(ranges)}`);

      // Keyboard: the arrow steps to the next detection (in the table's order), space pauses.
      if (nBoxes > 1) {
        const before = await page.locator('[data-testid=det-row].on').innerText();
        await page.getByTestId('birdview').focus();
        await page.keyboard.press('ArrowRight');
        await page.waitForFunction((b) => document.querySelector('[data-testid=det-row].on')?.innerText !== b, before, { timeout: T });
        await page.waitForFunction(() => !document.querySelector('[data-testid=birdview-audio]').paused, null, { timeout: T });
        await page.keyboard.press(' ');
        await page.waitForFunction(() => document.querySelector('[data-testid=birdview-audio]').paused, null, { timeout: T });
      }

      // The table filters by minimum confidence and by label.
      const rows = page.getByTestId('det-row');
      const all = await rows.count();
      const confs = (await rows.evaluateAll((trs) => trs.map((tr) => Number(tr.children[3].textContent)))).sort((a, b) => a - b);
      const min = confs[Math.floor(confs.length / 2)];
      await page.getByTestId('det-min').fill(String(min));
      const wantN = confs.filter((c) => c >= min).length; // shown to 2 decimals; filtered on the full value
      await page.waitForFunction((n) => document.querySelectorAll('[data-testid=det-row]').length <= n, wantN, { timeout: T });
      const kept = await rows.evaluateAll((trs) => trs.map((tr) => Number(tr.children[3].textContent)));
      assert(kept.length > 0 && kept.every((c) => c >= min - 0.005), `min confidence ${min} kept ${JSON.stringify(kept)}`);
      await page.getByTestId('det-min').fill('0');
      await page.waitForFunction((n) => document.querySelectorAll('[data-testid=det-row]').length === n, all, { timeout: T });
      const labels = await page.getByTestId('det-label').locator('option').allInnerTexts();
      const label = labels[1];
      assert(label, `no labels to filter by: ${labels.join(',')}`);
      await page.getByTestId('det-label').selectOption(label);
      const byLabel = await rows.evaluateAll((trs) => trs.map((tr) => tr.children[0].textContent));
      assert(byLabel.length > 0 && byLabel.every((l) => l === label), `label ${label} kept ${JSON.stringify(byLabel)}`);
      const nBoxLabel = await page.getByTestId('det-box').count();
      assert(nBoxLabel <= byLabel.length, `${nBoxLabel} boxes drawn for ${byLabel.length} rows of ${label}`);
      await page.getByTestId('det-count').filter({ hasText: `${byLabel.length} of ${all}` }).waitFor({ timeout: T });
      await page.screenshot({ path: join(shots, '32-birdview-table-filtered.png') });
      assert(errors.length === 0, `page errors: ${errors.join(' | ')}`);
      await page.close();
    },

    async 'bird view: a day of recorder-named files, a bar for each hour with detections'({ context, url }) {
      const src = birdsDir();
      assert(existsSync(join(src, 'tawnyowl.wav')), `the shared bird recordings are not at ${src} (set ATOLL_TESTDATA)`);
      // A recorder's folder: AudioMoth-style names say when each file began (05:30 and 21:15).
      const dir = mkdtempSync(join(tmpdir(), 'atoll-e2e-recorder-'));
      try {
        copyFileSync(join(src, 'birdnet_sample.wav'), join(dir, 'AM01_20240501_053000.wav'));
        copyFileSync(join(src, 'tawnyowl.wav'), join(dir, 'AM01_20240501_211500.wav'));
        const res = await fetch(new URL('api/settings', url), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ allowed_dirs: [dir] }) });
        assert(res.ok, `PUT /api/settings: ${res.status} ${await res.text()}`);

        const { page, errors } = await openStudio(context, url);
        await openBirds(page, assert, T);
        await page.evaluate((dir) => {
          const s = window.__atoll.getState();
          const n = s.nodes.find((x) => x.id === 'recordings');
          s.updateConfig('recordings', { ...n.data.config, path: dir });
        }, dir);
        await runToEnd(page, assert);
        await page.getByTestId('day-timeline').waitFor({ timeout: T });
        const bars = await page.getByTestId('hour-bar').evaluateAll((els) => els.map((e) => [Number(e.dataset.hour), Number(e.dataset.count)]));
        const hours = bars.map(([h]) => h);
        assert(JSON.stringify(hours) === '[5,21]', `bars for hours ${JSON.stringify(hours)}, want [5,21]`);
        const rows = await page.getByTestId('det-row').evaluateAll((trs) => trs.map((tr) => tr.children[4].textContent));
        const per = (name) => rows.filter((f) => f === name).length;
        assert(bars[0][1] === per('AM01_20240501_053000.wav') && bars[1][1] === per('AM01_20240501_211500.wav'), `bars ${JSON.stringify(bars)} disagree with the table's files ${JSON.stringify(rows)}`);
        await page.getByTestId('zoom-fit').click();
        await page.getByTestId('day-timeline').scrollIntoViewIfNeeded();
        await page.screenshot({ path: join(shots, '33-birdview-day-timeline.png') });
        assert(errors.length === 0, `page errors: ${errors.join(' | ')}`);
        await page.close();
      } finally {
        await fetch(new URL('api/settings', url), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ allowed_dirs: [] }) }).catch(() => {});
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
