// A small stand-in for `atoll serve`, implementing app/API.md in memory with a simulated engine.
// For frontend development without the Go service (`node e2e/mock-server.mjs --addr 127.0.0.1:7300`)
// and for component work; the committed end-to-end tests run against the real binary.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import { WebSocketServer } from 'ws';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', 'dist');

const field = (type, extra = {}) => ({ type, ...extra });
const spec = (id, category, summary, inputs, outputs, props, required = [], examples = [], headless = true) => ({
  id, category, summary, docs: `${summary}\n\n(mock catalog)`, headless, inputs, outputs,
  config_schema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema', title: id, type: 'object',
    properties: props, additionalProperties: false, ...(required.length ? { required } : {}),
  },
  examples,
});

export const catalog = [
  spec('source.generator', 'source', 'Generates rows: a counter, a timer or a sine wave.', [], [{ name: 'out', type: 'rows' }], {
    mode: field('string', { description: 'counter, timer or sine', default: 'timer', enum: ['counter', 'timer', 'sine'] }),
    count: field('integer', { description: 'rows to emit; 0 = until stopped', default: 100, minimum: 0 }),
    rate: field('number', { description: 'rows per second; 0 = as fast as possible', default: 10, minimum: 0 }),
    batch_size: field('integer', { description: 'rows per batch', default: 64, minimum: 1, maximum: 65536 }),
  }, [], [{ name: 'ten rows a second', config: { mode: 'counter', count: 100, rate: 10 } }]),
  spec('transform.map', 'transform', 'Sets fields from expressions and drops fields.', [{ name: 'in', type: 'any', required: true }], [{ name: 'out', type: 'rows' }], {
    set: field('object', { description: 'field name → expression', default: {}, additionalProperties: { type: 'string' } }),
    drop: field('array', { description: 'fields to remove', default: [], items: { type: 'string' } }),
  }, [], [{ name: 'double', config: { set: { double: 'n * 2' } } }]),
  spec('transform.filter', 'transform', 'Keeps rows where a condition holds.', [{ name: 'in', type: 'any', required: true }], [{ name: 'out', type: 'rows' }], {
    condition: field('string', { description: 'boolean expression', minLength: 1 }),
  }, ['condition']),
  spec('function.wasm', 'function', 'Runs a WebAssembly function over each batch.', [{ name: 'in', type: 'rows', required: true }], [{ name: 'out', type: 'rows' }], {
    module: field('string', { description: 'the Wasm module', format: 'asset', 'x-asset-kind': 'wasm' }),
    memory_mb: field('integer', { description: 'memory cap', default: 64, minimum: 1 }),
  }, ['module']),
  spec('source.wav', 'source', 'Streams a WAV file as audio frames.', [], [{ name: 'out', type: 'audio' }], {
    file: field('string', { description: 'the recording', format: 'asset', 'x-asset-kind': 'wav' }),
  }, ['file']),
  spec('sink.discard', 'sink', 'Drops every row.', [{ name: 'in', type: 'any', required: true }], [], {}),
  spec('sink.preview', 'sink', 'Shows rows in the studio.', [{ name: 'in', type: 'rows', required: true }], [], {
    keep: field('integer', { description: 'rows kept', default: 100, minimum: 1 }),
  }, [], [], false),
];
const specs = Object.fromEntries(catalog.map((s) => [s.id, s]));

const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addFormat('asset', (s) => s.length > 0);
const validators = Object.fromEntries(catalog.map((s) => [s.id, ajv.compile(s.config_schema)]));

// ---- storage ----
const graphs = new Map(); // id -> {info, versions: [{doc, info}]}
const assets = new Map(); // sha -> {info, bytes}
const runs = new Map(); // id -> run
const now = () => new Date().toISOString();

function createGraph(name, doc) {
  const id = randomUUID().slice(0, 8);
  const t = now();
  const document = { version: 1, nodes: [], edges: [], ...(doc ?? {}), id, name };
  const info = { id, name, version: 1, created_at: t, updated_at: t };
  graphs.set(id, { info, versions: [{ doc: document, info: { graph_id: id, version: 1, created_at: t, message: 'created' } }] });
  return info;
}

function saveVersion(g, doc, message = '') {
  const v = g.info.version + 1;
  const t = now();
  const d = { ...doc, id: g.info.id, name: g.info.name };
  const vi = { graph_id: g.info.id, version: v, created_at: t, message };
  g.versions.push({ doc: d, info: vi });
  g.info = { ...g.info, version: v, updated_at: t };
  return vi;
}

function flatten(o, prefix = '', out = {}) {
  for (const [k, v] of Object.entries(o ?? {})) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v)) flatten(v, p, out);
    else out[p] = v;
  }
  return out;
}

function diff(a, b, from, to) {
  const an = new Map(a.nodes.map((n) => [n.id, n]));
  const bn = new Map(b.nodes.map((n) => [n.id, n]));
  const ek = (e) => `${e.from.node}:${e.from.port}->${e.to.node}:${e.to.port}`;
  const ae = new Set(a.edges.map(ek));
  const be = new Set(b.edges.map(ek));
  const changed = [];
  for (const [id, n] of bn) {
    const o = an.get(id);
    if (!o) continue;
    const fa = flatten(o.config);
    const fb = flatten(n.config);
    const fields = [];
    for (const k of new Set([...Object.keys(fa), ...Object.keys(fb)])) {
      if (JSON.stringify(fa[k]) !== JSON.stringify(fb[k])) fields.push({ path: k, before: fa[k], after: fb[k] });
    }
    const moved = JSON.stringify(o.ui) !== JSON.stringify(n.ui);
    const tc = o.type !== n.type ? [o.type, n.type] : undefined;
    if (fields.length || moved || tc) changed.push({ id, ...(tc ? { type_changed: tc } : {}), moved, fields });
  }
  return {
    from, to,
    nodes_added: b.nodes.filter((n) => !an.has(n.id)),
    nodes_removed: a.nodes.filter((n) => !bn.has(n.id)),
    nodes_changed: changed,
    edges_added: b.edges.filter((e) => !ae.has(ek(e))),
    edges_removed: a.edges.filter((e) => !be.has(ek(e))),
  };
}

function validate(doc) {
  const problems = [];
  const nodes = new Map();
  for (const n of doc.nodes ?? []) {
    if (nodes.has(n.id)) problems.push({ node: n.id, message: 'duplicate node id' });
    nodes.set(n.id, n);
    const s = specs[n.type];
    if (!s) {
      problems.push({ node: n.id, message: `unknown type "${n.type}" (valid: ${Object.keys(specs).join(', ')})` });
      continue;
    }
    const v = validators[n.type];
    if (!v(n.config ?? {})) {
      for (const e of v.errors) {
        const f = (e.instancePath || '').replace(/^\//, '').replaceAll('/', '.') || e.params?.missingProperty || e.params?.additionalProperty;
        problems.push({ node: n.id, field: f || undefined, message: `config: ${f ? f + ' ' : ''}${e.message}` });
      }
    }
  }
  for (const e of doc.edges ?? []) {
    const a = nodes.get(e.from.node);
    const b = nodes.get(e.to.node);
    if (!a || !b) {
      problems.push({ node: a ? e.to.node : e.from.node, message: 'edge to an unknown node' });
      continue;
    }
    const sa = specs[a.type];
    const sb = specs[b.type];
    if (!sa || !sb) continue;
    const out = e.from.port === 'errors' ? { type: 'rows' } : sa.outputs.find((p) => p.name === e.from.port);
    const inp = sb.inputs.find((p) => p.name === e.to.port);
    if (!out) problems.push({ node: a.id, port: e.from.port, message: 'no such output' });
    if (!inp) problems.push({ node: b.id, port: e.to.port, message: 'no such input' });
    if (out && inp && out.type !== 'any' && inp.type !== 'any' && out.type !== inp.type) {
      problems.push({ node: b.id, port: inp.name, message: `incompatible types: ${out.type} → ${inp.type}` });
    }
  }
  for (const n of nodes.values()) {
    for (const p of specs[n.type]?.inputs ?? []) {
      if (p.required && !(doc.edges ?? []).some((e) => e.to.node === n.id && e.to.port === p.name)) {
        problems.push({ node: n.id, port: p.name, message: 'required input is not connected' });
      }
    }
  }
  if (!nodes.size) problems.push({ message: 'the graph is empty' });
  return problems;
}

// ---- simulated engine ----
const sockets = new Set();
function broadcast(pred, msg) {
  const s = JSON.stringify(msg);
  for (const ws of sockets) if (pred(ws)) ws.send(s);
}

function startRun(doc, graphID) {
  const id = randomUUID().slice(0, 8);
  const metrics = Object.fromEntries(doc.nodes.map((n) => [n.id, { state: 'running', rows_in: 0, rows_out: 0, errors: 0, queue_depth: 0, rows_per_s: 0, latency_ms: 0 }]));
  const run = { info: { id, graph_id: graphID, status: 'running', started_at: now() }, doc, metrics, timers: [], taps: new Map(), last: {} };
  runs.set(id, run);
  const down = (nid, port) => doc.edges.filter((e) => e.from.node === nid && e.from.port === port);
  const byID = new Map(doc.nodes.map((n) => [n.id, n]));
  const log = (node, level, msg) => broadcast((ws) => ws.subs.has(id), { type: 'log', run: id, node, level, msg, t: Date.now() });
  const emit = (nid, port, rows) => {
    const m = metrics[nid];
    if (port === 'out') m.rows_out += rows.length;
    const key = `${nid}\u0000${port}`;
    const buf = run.taps.get(key);
    if (buf) { buf.rows.push(...rows); if (buf.rows.length > 200) { buf.dropped += buf.rows.length - 200; buf.rows.splice(0, buf.rows.length - 200); } }
    for (const e of down(nid, port)) deliver(e.to.node, rows);
  };
  const deliver = (nid, rows) => {
    const n = byID.get(nid);
    const m = metrics[nid];
    m.rows_in += rows.length;
    if (n.type === 'transform.map') {
      const set = n.config?.set ?? {};
      const out = rows.map((r) => {
        const o = { ...r };
        for (const [k, expr] of Object.entries(set)) {
          try { o[k] = Function(...Object.keys(r), `return (${expr});`)(...Object.values(r)); } catch (err) { o[k] = null; m.errors++; }
        }
        for (const k of n.config?.drop ?? []) delete o[k];
        return o;
      });
      emit(nid, 'out', out);
    } else if (n.type === 'transform.filter') {
      emit(nid, 'out', rows.filter((r) => { try { return Function(...Object.keys(r), `return (${n.config.condition});`)(...Object.values(r)); } catch { return false; } }));
    } else if (n.type === 'function.wasm') {
      emit(nid, 'out', rows);
    }
  };
  log(undefined, 'info', `run ${id} started with ${doc.nodes.length} nodes`);
  let sources = 0;
  for (const n of doc.nodes) {
    if (n.type !== 'source.generator') continue;
    sources++;
    const cfg = { mode: 'timer', count: 100, rate: 10, batch_size: 64, ...n.config };
    let k = 0;
    const tick = 50;
    const per = cfg.rate > 0 ? Math.max(1, Math.round((cfg.rate * tick) / 1000)) : cfg.batch_size;
    const t = setInterval(() => {
      const size = cfg.count > 0 ? Math.min(per, cfg.count - k) : per;
      const rows = [];
      for (let i = 0; i < size; i++, k++) rows.push(cfg.mode === 'counter' ? { n: k } : { n: k, t: new Date().toISOString() });
      emit(n.id, 'out', rows);
      if (cfg.count > 0 && k >= cfg.count) {
        clearInterval(t);
        metrics[n.id].state = 'done';
        metrics[n.id].progress = 1;
        if (--sources === 0) setTimeout(() => finish(run, 'finished'), 300);
      } else if (cfg.count > 0) metrics[n.id].progress = k / cfg.count;
    }, tick);
    run.timers.push(t);
  }
  run.timers.push(setInterval(() => {
    for (const [nid, m] of Object.entries(metrics)) {
      const prev = run.last[nid] ?? 0;
      m.rows_per_s = ((m.rows_out || m.rows_in) - prev) * 4;
      run.last[nid] = m.rows_out || m.rows_in;
    }
    broadcast((ws) => ws.subs.has(id), { type: 'metrics', run: id, nodes: metrics });
  }, 250));
  run.timers.push(setInterval(() => {
    for (const [key, buf] of run.taps) {
      if (!buf.rows.length && !buf.dropped) continue;
      const [node, port] = key.split('\u0000');
      broadcast((ws) => ws.taps.has(`${id}\u0000${key}`), { type: 'rows', run: id, node, port, rows: buf.rows.splice(0), dropped: buf.dropped, t: Date.now() });
      buf.dropped = 0;
    }
  }, 100));
  if (sources === 0) setTimeout(() => finish(run, 'finished'), 500);
  return run.info;
}

function finish(run, status) {
  if (run.info.status !== 'running' && run.info.status !== 'stopping') return;
  for (const t of run.timers) clearInterval(t);
  for (const m of Object.values(run.metrics)) if (m.state === 'running') m.state = 'done';
  run.info = { ...run.info, status, ended_at: now(), metrics: run.metrics };
  broadcast((ws) => ws.subs.has(run.info.id), { type: 'metrics', run: run.info.id, nodes: run.metrics });
  broadcast((ws) => ws.subs.has(run.info.id), { type: 'log', run: run.info.id, level: 'info', msg: `run ${status}`, t: Date.now() });
  broadcast((ws) => ws.subs.has(run.info.id), { type: 'status', run: run.info });
}

// ---- HTTP ----
const mime = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.json': 'application/json' };

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks);
}

function multipartFile(buf, ctype) {
  const boundary = '--' + /boundary=([^;]+)/.exec(ctype)[1];
  const parts = buf.toString('latin1').split(boundary).slice(1, -1);
  const out = {};
  for (const p of parts) {
    const [head, ...rest] = p.split('\r\n\r\n');
    const content = rest.join('\r\n\r\n').replace(/\r\n$/, '');
    const name = /name="([^"]+)"/.exec(head)?.[1];
    const filename = /filename="([^"]*)"/.exec(head)?.[1];
    out[name] = { filename, data: Buffer.from(content, 'latin1') };
  }
  return out;
}

function send(res, status, data) {
  if (status === 204) return res.writeHead(204).end();
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(data));
}

// The per-start token, as app/API.md "Access" describes it.
const token = process.env.ATOLL_TOKEN || randomBytes(16).toString('hex');
const TOKEN_PROTOCOL_PREFIX = 'atoll.token.';
function authorized(req, url) {
  if (req.headers.authorization === `Bearer ${token}`) return true;
  const protos = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((x) => x.trim());
  return protos.includes(TOKEN_PROTOCOL_PREFIX + token) || url.searchParams.get('token') === token;
}
let settings = { workspace: '/mock/workspace', allowed_dirs: [] };

async function api(req, res, url) {
  const p = url.pathname.split('/').filter(Boolean).slice(1); // after "api"
  const m = req.method;
  const json = async () => JSON.parse((await body(req)).toString() || '{}');
  if (!authorized(req, url)) return send(res, 401, { error: 'a token is required' });
  if (p[0] === 'settings' && m === 'GET') return send(res, 200, settings);
  if (p[0] === 'settings' && m === 'PUT') {
    const dirs = (await json()).allowed_dirs ?? [];
    const bad = dirs.find((d) => !String(d).startsWith('/'));
    if (bad !== undefined) return send(res, 400, { error: `allowed directory "${bad}": want an absolute path` });
    settings = { ...settings, allowed_dirs: [...new Set(dirs)] };
    return send(res, 200, settings);
  }
  const g = p[0] === 'graphs' && p[1] ? graphs.get(p[1]) : undefined;
  if (p[0] === 'graphs' && p[1] && !g) return send(res, 404, { error: `graph ${p[1]} not found` });
  if (m === 'GET' && p[0] === 'catalog') return send(res, 200, catalog);
  if (p[0] === 'graphs' && p.length === 1) {
    if (m === 'GET') return send(res, 200, [...graphs.values()].map((x) => x.info).sort((a, b) => b.updated_at.localeCompare(a.updated_at)));
    if (m === 'POST') { const b = await json(); return send(res, 201, createGraph(b.name || 'Untitled', b.document)); }
  }
  if (g && p.length === 2) {
    if (m === 'GET') return send(res, 200, { info: g.info, document: g.versions.at(-1).doc });
    if (m === 'PUT') { const b = await json(); return send(res, 200, saveVersion(g, b.document, b.message)); }
    if (m === 'PATCH') { const b = await json(); g.info = { ...g.info, name: b.name, updated_at: now() }; return send(res, 200, g.info); }
    if (m === 'DELETE') { graphs.delete(g.info.id); return send(res, 204); }
  }
  if (g && p[2] === 'duplicate' && m === 'POST') { const b = await json(); return send(res, 201, createGraph(b.name || `${g.info.name} copy`, g.versions.at(-1).doc)); }
  if (g && p[2] === 'versions' && p.length === 3) return send(res, 200, g.versions.map((v) => v.info).reverse());
  if (g && p[2] === 'versions' && p.length >= 4) {
    const v = g.versions.find((x) => x.info.version === Number(p[3]));
    if (!v) return send(res, 404, { error: `version ${p[3]} not found` });
    if (p[4] === 'restore' && m === 'POST') return send(res, 200, saveVersion(g, v.doc, `restored v${p[3]}`));
    return send(res, 200, v.doc);
  }
  if (g && p[2] === 'diff') {
    const f = Number(url.searchParams.get('from'));
    const t = Number(url.searchParams.get('to'));
    const a = g.versions.find((x) => x.info.version === f);
    const b = g.versions.find((x) => x.info.version === t);
    if (!a || !b) return send(res, 404, { error: 'version not found' });
    return send(res, 200, diff(a.doc, b.doc, f, t));
  }
  if (p[0] === 'validate' && m === 'POST') return send(res, 200, { problems: validate(await json()) });
  if (p[0] === 'runs') {
    if (p.length === 1 && m === 'POST') {
      const b = await json();
      const problems = validate(b.document);
      if (problems.length) return send(res, 422, { error: 'graph is invalid', problems });
      return send(res, 201, startRun(b.document, b.graph_id));
    }
    if (p.length === 1) return send(res, 200, [...runs.values()].map((r) => r.info));
    const r = runs.get(p[1]);
    if (!r) return send(res, 404, { error: `run ${p[1]} not found` });
    if (p[2] === 'stop' && m === 'POST') { finish(r, 'stopped'); return send(res, 200, r.info); }
    return send(res, 200, r.info);
  }
  if (p[0] === 'assets') {
    if (p.length === 1 && m === 'GET') return send(res, 200, [...assets.values()].map((a) => a.info));
    if (p.length === 1 && m === 'POST') {
      const parts = multipartFile(await body(req), req.headers['content-type'] ?? '');
      const f = parts.file;
      if (!f) return send(res, 400, { error: 'missing file' });
      const sha = createHash('sha256').update(f.data).digest('hex');
      const kind = parts.kind?.data.toString() || 'other';
      const info = { sha256: sha, name: f.filename, kind, size: f.data.length, created_at: now() };
      assets.set(sha, { info, bytes: f.data });
      return send(res, 201, info);
    }
    const a = assets.get(p[1]);
    if (!a) return send(res, 404, { error: 'asset not found' });
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    return res.end(a.bytes);
  }
  return send(res, 404, { error: `no route ${m} ${url.pathname}` });
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  try {
    if (url.pathname.startsWith('/api/')) return await api(req, res, url);
    let f = normalize(join(dist, decodeURIComponent(url.pathname)));
    if (!f.startsWith(dist) || !existsSync(f) || statSync(f).isDirectory()) f = join(dist, 'index.html');
    if (!existsSync(f)) return send(res, 404, { error: 'frontend not built (npm run build)' });
    res.writeHead(200, { 'Content-Type': mime[extname(f)] ?? 'application/octet-stream' });
    res.end(readFileSync(f));
  } catch (err) {
    send(res, 500, { error: String(err?.message ?? err) });
  }
});

const wss = new WebSocketServer({
  server,
  path: '/api/ws',
  verifyClient: ({ req }) => authorized(req, new URL(req.url, 'http://x')),
  handleProtocols: (protocols) => (protocols.has('atoll.v1') ? 'atoll.v1' : false),
});
wss.on('connection', (ws) => {
  ws.subs = new Set();
  ws.taps = new Set();
  sockets.add(ws);
  ws.on('close', () => sockets.delete(ws));
  ws.on('message', (data) => {
    const m = JSON.parse(String(data));
    if (m.type === 'subscribe') ws.subs.add(m.run);
    const key = `${m.run}\u0000${m.node}\u0000${m.port}`;
    const run = runs.get(m.run);
    if (m.type === 'tap') {
      ws.taps.add(key);
      if (run && !run.taps.has(`${m.node}\u0000${m.port}`)) run.taps.set(`${m.node}\u0000${m.port}`, { rows: [], dropped: 0 });
    }
    if (m.type === 'untap') ws.taps.delete(key);
  });
});

const addrArg = process.argv.indexOf('--addr');
const [host, port] = (addrArg > 0 ? process.argv[addrArg + 1] : '127.0.0.1:7300').split(':');
server.listen(Number(port), host, () => {
  const url = `http://${host}:${server.address().port}/`;
  console.log(`atoll: serving ${url}`);
  console.log(`atoll: open ${url}#token=${token} (API clients send Authorization: Bearer ${token})`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
