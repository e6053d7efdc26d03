import { memo, useEffect, useMemo, useRef, useState } from 'react';
import type { Row, RowsEvent } from '../backend/types';
import { outputPorts } from '../store/graph';
import { useStudio } from '../store/store';

const KEEP = 200;
/**
 * Least time between two redraws of the preview. Taps sample 20 times a second; redrawing the
 * table for each took a third of a core in Chromium (mostly painting), which on a 2-core machine
 * came straight out of the pipeline being previewed. Ten redraws a second are still live to the
 * eye and keep the latency from a row to the screen well under 100 ms.
 */
const MIN_REDRAW_MS = 100;
const MAX_COLS = 24;

type Stats = { latencies: number[]; rowLatencies: number[]; rows: number; renders: number };
declare global {
  interface Window {
    /** Preview figures for the browser benchmarks: ms from a rows message (and a row's own time) to its render. */
    __atollPreview?: Stats;
  }
}

/** A row's own timestamp in unix ms, when it carries one (ts, t, time, timestamp; ms, µs or ns). */
export function rowTime(r: Row): number | undefined {
  for (const k of ['ts', 'timestamp', 'time', 't', 'emitted_at']) {
    const v = r[k];
    let n: number | undefined;
    if (typeof v === 'number') n = v;
    else if (typeof v === 'string') {
      const d = Date.parse(v);
      if (!Number.isNaN(d)) return d;
    }
    if (n === undefined || !Number.isFinite(n)) continue;
    if (n > 1e17) return n / 1e6; // ns
    if (n > 1e14) return n / 1e3; // µs
    if (n > 1e11) return n; // ms
  }
  return undefined;
}

export function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v.length > 120 ? v.slice(0, 117) + '…' : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  // Audio frames and tensors are long arrays: the size and the first values.
  if (Array.isArray(v) && v.length > 12) {
    const head = v.slice(0, 6).map((x) => (typeof x === 'number' ? +x.toPrecision(4) : x));
    return `[${v.length}] ${JSON.stringify(head).slice(0, -1)},…]`;
  }
  const s = JSON.stringify(v);
  return s.length > 120 ? s.slice(0, 117) + '…' : s;
}

// Each row keeps the number it got on arrival, so an update adds and drops table rows instead
// of redrawing them all.
const rowSeq = new WeakMap<Row, number>();
let nextSeq = 0;
function seqOf(r: Row): number {
  let n = rowSeq.get(r);
  if (n === undefined) rowSeq.set(r, (n = ++nextSeq));
  return n;
}

const TableRow = memo(function TableRow({ r, cols, n }: { r: Row; cols: string; n: number }) {
  return (
    <tr data-testid="preview-row">
      <td className="muted">{n}</td>
      {cols.split('\u0000').filter(Boolean).map((c) => (
        <td key={c}>{cell(r[c])}</td>
      ))}
    </tr>
  );
});

/** Height of one table row in px: .rows-table fixes it (16 px line + 4 px padding + 1 px border). */
const ROW_H = 21;
/** Rows drawn beyond each edge of the visible window, so a scroll does not show blanks. */
const OVERSCAN = 8;

/**
 * The table of rows; a custom renderer of the preview, fed by a tap. Only the rows in view (and a
 * few around them) are in the DOM: a preview on a pipeline at full speed is redrawn 20 times a
 * second, and rebuilding all 200 kept rows each time took CPU the engine needs on a small machine.
 */
export function RowsTable({ rows }: { rows: Row[] }) {
  const cols = useMemo(() => {
    const seen = new Set<string>();
    for (const r of rows) for (const k of Object.keys(r)) if (seen.size < MAX_COLS) seen.add(k);
    return [...seen].join('\u0000');
  }, [rows]);
  const scroller = useRef<HTMLDivElement>(null);
  const [win, setWin] = useState({ top: 0, height: 0 });
  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const update = () => setWin({ top: el.scrollTop, height: el.clientHeight });
    update();
    const ro = typeof ResizeObserver === 'undefined' ? undefined : new ResizeObserver(update);
    ro?.observe(el);
    return () => ro?.disconnect();
  }, []);
  // Before the first layout (and where there is none, as in unit tests) draw a screenful.
  const inView = win.height > 0 ? Math.ceil(win.height / ROW_H) : 40;
  const first = Math.floor(win.top / ROW_H);
  const start = Math.max(0, first - OVERSCAN);
  const end = Math.min(rows.length, first + inView + OVERSCAN);
  return (
    <div
      className="rows-scroll"
      ref={scroller}
      onScroll={(e) => setWin({ top: e.currentTarget.scrollTop, height: e.currentTarget.clientHeight })}
    >
      <table className="rows-table" data-testid="preview-table">
        <thead>
          <tr>
            <th>#</th>
            {cols.split('\u0000').filter(Boolean).map((c) => (
              <th key={c}>{c}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {start > 0 && <tr className="rows-gap" style={{ height: start * ROW_H }} aria-hidden="true" />}
          {rows.slice(start, end).map((r) => {
            const n = seqOf(r);
            return <TableRow key={n} r={r} cols={cols} n={n} />;
          })}
          {end < rows.length && <tr className="rows-gap" style={{ height: (rows.length - end) * ROW_H }} aria-hidden="true" />}
        </tbody>
      </table>
    </div>
  );
}

/** Live rows of the previewed node port (a node's output, or an edge's `from` end) while a run goes. */
export function PreviewPanel() {
  const preview = useStudio((s) => s.preview);
  const run = useStudio((s) => s.run);
  const backend = useStudio((s) => s.backend);
  const spec = useStudio((s) => {
    const n = s.preview && s.nodes.find((x) => x.id === s.preview!.node);
    return n ? s.specs[n.data.type] : undefined;
  });
  const [rows, setRows] = useState<Row[]>([]);
  const [paused, setPaused] = useState(false);
  const [view, setView] = useState<'table' | 'json'>('table');
  const [dropped, setDropped] = useState(0);
  const [total, setTotal] = useState(0);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const pending = useRef<{ rows: Row[]; events: RowsEvent[]; dropped: number; total: number }>({ rows: [], events: [], dropped: 0, total: 0 });
  const rendered = useRef<RowsEvent[]>([]);
  const active = run && (run.status === 'running' || run.status === 'stopping');

  useEffect(() => {
    setRows([]);
    setDropped(0);
    setTotal(0);
  }, [preview?.node, preview?.port, run?.id]);

  useEffect(() => {
    if (!backend || !run || !preview || !active) return;
    let frame = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last = 0;
    const flush = () => {
      frame = 0;
      timer = undefined;
      last = performance.now();
      const p = pending.current;
      if (!p.rows.length && !p.dropped) return;
      pending.current = { rows: [], events: [], dropped: 0, total: 0 };
      rendered.current = p.events;
      setRows((old) => [...p.rows.slice(-KEEP).reverse(), ...old].slice(0, KEEP));
      setDropped((d) => d + p.dropped);
      setTotal((t) => t + p.total);
    };
    const off = backend.tap(run.id, preview.node, preview.port, (e) => {
      if (pausedRef.current) return;
      const p = pending.current;
      p.rows.push(...(e.rows ?? []));
      if (p.rows.length > KEEP) p.rows.splice(0, p.rows.length - KEEP);
      p.events.push(e);
      p.dropped += e.dropped ?? 0;
      p.total += e.rows?.length ?? 0;
      // At most one redraw per MIN_REDRAW_MS, on an animation frame: the rows that arrive in
      // between are drawn together.
      if (frame || timer) return;
      const wait = last + MIN_REDRAW_MS - performance.now();
      if (wait <= 0) frame = requestAnimationFrame(flush);
      else timer = setTimeout(() => ((timer = undefined), (frame = requestAnimationFrame(flush))), wait);
    });
    return () => {
      off();
      if (frame) cancelAnimationFrame(frame);
      if (timer) clearTimeout(timer);
    };
  }, [backend, run?.id, active, preview?.node, preview?.port]);

  // Latency figures for the benchmarks: measured once the rows are on screen.
  useEffect(() => {
    const evs = rendered.current;
    if (!evs.length) return;
    rendered.current = [];
    const now = Date.now();
    const s = (window.__atollPreview ??= { latencies: [], rowLatencies: [], rows: 0, renders: 0 });
    s.renders++;
    for (const e of evs) {
      if (e.t) s.latencies.push(now - e.t);
      s.rows += e.rows?.length ?? 0;
      const last = e.rows?.[e.rows.length - 1];
      const rt = last && rowTime(last);
      if (rt) s.rowLatencies.push(now - rt);
    }
    if (s.latencies.length > 5000) s.latencies.splice(0, 2500);
    if (s.rowLatencies.length > 5000) s.rowLatencies.splice(0, 2500);
  }, [rows]);

  if (!preview) {
    return <div className="panel-empty">Click a node or an edge to preview the rows leaving it.</div>;
  }
  const ports = outputPorts(spec);
  return (
    <div className="preview" data-testid="preview">
      <div className="section-head">
        <span>
          <b>{preview.node}</b>.
        </span>
        <select
          value={preview.port}
          onChange={(e) => useStudio.getState().setPreview({ node: preview.node, port: e.target.value })}
          data-testid="preview-port"
        >
          {!ports.some((p) => p.name === preview.port) && <option value={preview.port}>{preview.port}</option>}
          {ports.map((p) => (
            <option key={p.name} value={p.name}>
              {p.name}
            </option>
          ))}
        </select>
        <button className={view === 'table' ? 'on small' : 'small'} onClick={() => setView('table')}>
          Table
        </button>
        <button className={view === 'json' ? 'on small' : 'small'} onClick={() => setView('json')} data-testid="preview-json-tab">
          JSON
        </button>
        <button className="small" onClick={() => setPaused(!paused)} data-testid="preview-pause">
          {paused ? '▶ Resume' : '❚❚ Pause'}
        </button>
        <button className="small" onClick={() => setRows([])}>
          Clear
        </button>
        <span className="muted" data-testid="preview-count">
          {total} rows seen{dropped ? `, ${dropped} not sampled` : ''}
          {paused ? ' (paused)' : ''}
          {!active ? ' — not running' : ''}
        </span>
      </div>
      <div className="preview-body">
        {view === 'table' ? (
          <RowsTable rows={rows} />
        ) : (
          <pre className="preview-json" data-testid="preview-json">
            {rows
              .slice(0, 50)
              .map((r) => JSON.stringify(r))
              .join('\n')}
          </pre>
        )}
      </div>
    </div>
  );
}
