// Browser benchmarks of the studio in headless Chromium against `atoll serve` (ATOLL_BIN, default
// ../bin/atoll). Prints markdown rows `| studio | name | figure | unit | note |`.
//   - load: a 500-node, 600-edge graph from navigation to every node on screen (target ≤ 2 s)
//   - pan: frames per second while panning programmatically over that graph (target ≥ 30)
//   - preview latency: a row's own timestamp (and the tap message's) to its render, median
//   - throughput with the preview open versus closed
import { loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import { ensureArtifacts, launchBrowser, pickTypes, startServer } from '../e2e/lib.mjs';

const quick = process.env.BENCH_QUICK === '1';
// Browser figures depend on the CPU share the renderer gets: each note carries the load average.
const load = () => `load avg ${loadavg()[0].toFixed(1)} on ${cpus().length} cores`;
const row = (name, figure, unit, note) => console.log(`| studio | ${name} | ${figure} | ${unit} | ${note}; ${load()} |`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))] : NaN;
};

// fetch from this process carries the studio's token (e2e/lib.mjs adds it for started servers).
async function api(base, method, path, body) {
  const res = await fetch(new URL(path, base), {
    method,
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}

/** 500 nodes in 100 chains of generator → map → map → map → sink, plus 200 cross edges (600 edges). */
function bigGraph(types) {
  const nodes = [];
  const edges = [];
  const out = (t) => types.spec(t).outputs[0]?.name ?? 'out';
  const inp = (t) => types.spec(t).inputs[0]?.name ?? 'in';
  const chain = [types.gen, types.map, types.map, types.map, types.discard];
  for (let c = 0; c < 100; c++) {
    chain.forEach((t, k) => {
      nodes.push({ id: `n${c}-${k}`, type: t, config: {}, ui: { x: k * 260 + (c % 10) * 1400, y: Math.floor(c / 10) * 150 + (c % 10) * 20 } });
      if (k > 0) edges.push({ from: { node: `n${c}-${k - 1}`, port: out(chain[k - 1]) }, to: { node: `n${c}-${k}`, port: inp(t) } });
    });
  }
  // Fan-out (acyclic: always to a later stage): the first map of each chain also feeds the third
  // map of the next chain, and the second map the sink two chains on.
  for (let c = 0; c < 100; c++) {
    edges.push({ from: { node: `n${c}-1`, port: out(types.map) }, to: { node: `n${(c + 1) % 100}-3`, port: inp(types.map) } });
    edges.push({ from: { node: `n${c}-2`, port: out(types.map) }, to: { node: `n${(c + 2) % 100}-4`, port: inp(types.discard) } });
  }
  return { version: 1, id: '', name: 'bench 500 nodes', nodes, edges };
}

async function openPage(context, url) {
  const page = await context.newPage();
  if (process.env.BENCH_DEBUG) page.on('console', (m) => console.error('console:', m.type(), m.text().slice(0, 2000)));
  page.on('pageerror', (e) => console.error(`bench: page error: ${e.message}`));
  return page;
}

async function benchLoadAndPan(context, url, types) {
  const doc = bigGraph(types);
  const info = await api(url, 'POST', 'api/graphs', { name: doc.name, document: doc });
  const page = await openPage(context, url);
  await page.addInitScript((id) => localStorage.setItem('atoll:last-graph', id), info.id);
  const runs = quick ? 1 : 3;
  const loads = [];
  for (let i = 0; i < runs; i++) {
    await page.goto(url);
    await page.waitForFunction(() => document.querySelectorAll('.react-flow__node').length >= 500 && document.querySelectorAll('.react-flow__edge').length >= 600, null, { timeout: 30000, polling: 'raf' });
    loads.push(await page.evaluate(() => performance.now()));
  }
  row('load 500 nodes + 600 edges', median(loads).toFixed(0), 'ms', `navigation to all drawn, median of ${runs}; target ≤ 2000`);

  // Programmatic panning at the fitted zoom (every node on screen), then at 100 % zoom.
  const pan = async (zoom) =>
    page.evaluate(async (zoom) => {
      const flow = window.__atollFlow;
      const vp0 = flow.getViewport();
      const z = zoom ?? vp0.zoom;
      const frames = [];
      const dur = 3000;
      await new Promise((done) => {
        const t0 = performance.now();
        const step = (t) => {
          frames.push(t);
          const k = (t - t0) / dur;
          flow.setViewport({ x: vp0.x - Math.sin(k * Math.PI * 2) * 600, y: vp0.y - k * 300, zoom: z });
          if (t - t0 < dur) requestAnimationFrame(step);
          else done();
        };
        requestAnimationFrame(step);
      });
      flow.setViewport(vp0);
      const gaps = frames.slice(1).map((t, i) => t - frames[i]);
      return { fps: (frames.length - 1) / ((frames.at(-1) - frames[0]) / 1000), gaps };
    }, zoom);
  const fitted = await pan(null);
  row('pan fps, 500 nodes fitted', fitted.fps.toFixed(1), 'frames/s', `programmatic setViewport per rAF, 3 s; p95 frame ${pct(fitted.gaps, 95).toFixed(1)} ms; target ≥ 30`);
  const z1 = await pan(1);
  row('pan fps, 500 nodes at 100 %', z1.fps.toFixed(1), 'frames/s', `p95 frame ${pct(z1.gaps, 95).toFixed(1)} ms`);
  await page.screenshot({ path: join(ensureArtifacts(), 'bench-500-nodes.png') });
  await page.close();
}

/** A generator → map → sink graph, opened in the studio. */
async function pipeline(context, url, types, genConfig, sinkType) {
  const gs = types.spec(types.gen);
  const ms = types.spec(types.map);
  const doc = {
    version: 1, id: '', name: 'bench pipeline',
    nodes: [
      { id: 'gen', type: types.gen, config: genConfig, ui: { x: 0, y: 0 } },
      { id: 'map', type: types.map, config: {}, ui: { x: 260, y: 0 } },
      { id: 'sink', type: sinkType, config: {}, ui: { x: 520, y: 0 } },
    ],
    edges: [
      { from: { node: 'gen', port: gs.outputs[0].name }, to: { node: 'map', port: ms.inputs[0].name } },
      { from: { node: 'map', port: ms.outputs[0].name }, to: { node: 'sink', port: types.spec(sinkType).inputs[0].name } },
    ],
  };
  const info = await api(url, 'POST', 'api/graphs', { name: doc.name, document: doc });
  const page = await openPage(context, url);
  await page.addInitScript((id) => localStorage.setItem('atoll:last-graph', id), info.id);
  await page.goto(url);
  await page.getByTestId('node-map').waitFor({ timeout: 15000 });
  return page;
}

async function startRun(page) {
  await page.getByTestId('run').click();
  await page.waitForFunction(() => window.__atoll.getState().run?.status === 'running', null, { timeout: 15000 });
}

async function stopRun(page) {
  await page.getByTestId('stop').click();
  await page.waitForFunction(() => ['stopped', 'finished', 'failed'].includes(window.__atoll.getState().run?.status), null, { timeout: 15000 });
}

async function benchPreviewLatency(context, url, types) {
  const page = await pipeline(context, url, types, { mode: 'timer', count: 0, rate: 1000 }, types.sink);
  await startRun(page);
  await page.getByTestId('node-map').locator('.atoll-node-head').click();
  await page.getByTestId('preview-table').waitFor({ timeout: 15000 });
  await page.evaluate(() => (window.__atoll_preview_reset = (window.__atollPreview = { latencies: [], rowLatencies: [], rows: 0, renders: 0 })));
  await page.waitForTimeout(quick ? 2000 : 5000);
  const s = await page.evaluate(() => window.__atollPreview);
  await stopRun(page);
  await page.close();
  if (s.rowLatencies.length) {
    row('preview latency (row time → render)', median(s.rowLatencies).toFixed(0), 'ms', `median over ${s.rowLatencies.length} batches, p95 ${pct(s.rowLatencies, 95).toFixed(0)} ms; generator timer mode, 1000 rows/s`);
  }
  if (s.latencies.length) {
    row('preview latency (tap message → render)', median(s.latencies).toFixed(0), 'ms', `median over ${s.latencies.length} messages; ${s.rows} rows in ${s.renders} renders`);
  }
  if (!s.rowLatencies.length && !s.latencies.length) row('preview latency', 'n/a', 'ms', 'no rows reached the preview');
}

async function throughput(page, withPreview) {
  await startRun(page);
  if (withPreview) {
    await page.getByTestId('node-map').locator('.atoll-node-head').click();
    await page.getByTestId('preview-table').waitFor({ timeout: 15000 });
  }
  await page.waitForTimeout(1500); // warm up
  const samples = [];
  const n = quick ? 8 : 16;
  for (let i = 0; i < n; i++) {
    await page.waitForTimeout(250);
    samples.push(await page.evaluate(() => window.__atoll.getState().metrics.map?.rows_out ?? 0));
  }
  await stopRun(page);
  await page.evaluate(() => window.__atoll.getState().setPreview(null));
  return ((samples.at(-1) - samples[0]) / ((n - 1) * 0.25));
}

async function benchThroughput(context, url, types) {
  const page = await pipeline(context, url, types, { mode: 'timer', count: 0, rate: 0, batch_size: 256 }, types.discard);
  // Alternated, so that a drift of the machine's load does not land on one side only.
  const closedRuns = [];
  const openRuns = [];
  for (let i = 0; i < (quick ? 1 : 3); i++) {
    closedRuns.push(await throughput(page, false));
    openRuns.push(await throughput(page, true));
  }
  const closed = median(closedRuns);
  const open = median(openRuns);
  await page.close();
  const n = closedRuns.length;
  row('throughput, preview closed', Math.round(closed), 'rows/s', `generator → map → discard, flat out, median of ${n}`);
  row('throughput, preview open', Math.round(open), 'rows/s', `drop ${closed > 0 ? (((closed - open) / closed) * 100).toFixed(1) : 'n/a'} % with the map output previewed (browser and engine share the cores), median of ${n}`);
}

const server = await startServer();
const { context, close } = await launchBrowser({ viewport: { width: 1600, height: 1000 } });
let failed = false;
try {
  const catalog = await api(server.url, 'GET', 'api/catalog');
  const types = pickTypes(catalog);
  for (const b of [benchLoadAndPan, benchPreviewLatency, benchThroughput]) {
    try {
      await b(context, server.url, types);
    } catch (err) {
      failed = true;
      console.error(`bench: ${b.name}: ${err.message}`);
    }
  }
} finally {
  await close();
  await server.stop();
}
process.exit(failed ? 1 : 0);
