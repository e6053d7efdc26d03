import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { Row } from '../../backend/types';
import { TOKEN_KEY } from '../../backend/token';
import { useStudio } from '../../store/store';
import {
  Collected,
  audioURL,
  colour,
  filterDetections,
  follow,
  freqToY,
  lanes,
  layout,
  range,
  ticks,
  timeLabel,
  timeToX,
  xToTime,
  zoom,
  type Detection,
  type Filter,
  type SortKey,
  type SpecRow,
  type View,
} from './model';
import { DayTimeline } from './DayTimeline';
import './birdview.css';

const PLOT_H = 200;
const AXIS_W = 56;
const AXIS_H = 20;
const FOLLOW_SPAN = 10; // seconds shown while a run streams

type Target = { node: string; port: string };

/**
 * Where the view taps a graph's spectrogram rows and detections: a node whose output has port
 * type `spectrogram` or `detections`, through the sink.preview it feeds when there is one (a
 * preview sink keeps its rows and resends them to a late tap, so nothing is missed), else the
 * node's own output (sampled while the run goes).
 */
function useTargets(): Target[] {
  const key = useStudio((s) => {
    const out: string[] = [];
    for (const n of s.nodes) {
      const spec = s.specs[n.data.type];
      const port = spec?.outputs.find((p) => p.type === 'spectrogram' || p.type === 'detections');
      if (!port) continue;
      const sink = s.edges
        .filter((e) => e.source === n.id)
        .map((e) => s.nodes.find((m) => m.id === e.target))
        .find((m) => m?.data.type === 'sink.preview');
      out.push(sink ? `${sink.id}\u0000in` : `${n.id}\u0000${port.name}`);
    }
    return out.join('\u0001');
  });
  return useMemo(
    () =>
      key
        .split('\u0001')
        .filter(Boolean)
        .map((k) => {
          const [node, port] = k.split('\u0000');
          return { node, port };
        }),
    [key],
  );
}

/**
 * Adds a sink.preview (keeping 10000 rows) after every spectrogram or detect node that has none:
 * a tap samples (at most 20 times a second), so a fast run's rows would show with gaps, while a
 * preview sink keeps them all and resends them to the view. The graph then runs only in the
 * studio, as sink.preview does; the seeded example stays headless.
 */
export function addPreviewSinks(): number {
  const s = useStudio.getState();
  let added = 0;
  for (const n of s.nodes) {
    const port = s.specs[n.data.type]?.outputs.find((p) => p.type === 'spectrogram' || p.type === 'detections');
    if (!port) continue;
    const has = s.edges.some((e) => e.source === n.id && useStudio.getState().nodes.find((m) => m.id === e.target)?.data.type === 'sink.preview');
    if (has) continue;
    const id = useStudio.getState().addNode('sink.preview', { x: n.position.x + 40, y: n.position.y + 150 });
    if (!id) continue;
    useStudio.getState().updateConfig(id, { keep: 10000 });
    if (useStudio.getState().connect({ source: n.id, sourceHandle: port.name, target: id, targetHandle: 'in' })) added++;
  }
  return added;
}

/** The spectrogram rows drawn once into a frames × bins image, scaled when painted. */
function image(s: SpecRow, lo: number, hi: number): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = s.frames;
  c.height = s.bins;
  const ctx = c.getContext('2d');
  if (!ctx) return c;
  const img = ctx.createImageData(s.frames, s.bins);
  for (let f = 0; f < s.frames; f++) {
    for (let b = 0; b < s.bins; b++) {
      const [r, g, bl] = colour(s.data[f * s.bins + b], lo, hi);
      const i = ((s.bins - 1 - b) * s.frames + f) * 4;
      img.data[i] = r;
      img.data[i + 1] = g;
      img.data[i + 2] = bl;
      img.data[i + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  return c;
}

/** Spectrogram, detection boxes, playback, the detections table: the bird-song review view. */
export function BirdView() {
  const run = useStudio((s) => s.run);
  const backend = useStudio((s) => s.backend);
  const targets = useTargets();
  const sampled = useStudio((s) => targets.some((t) => s.nodes.find((n) => n.id === t.node)?.data.type !== 'sink.preview'));
  const collected = useRef(new Collected());
  const [version, setVersion] = useState(0);
  const [view, setView] = useState<View | null>(null); // null: follow the run's end
  const [selected, setSelected] = useState<string>('');
  const [filter, setFilter] = useState<Filter>({ label: '', minConfidence: 0 });
  const [sort, setSort] = useState<SortKey>('start');
  const [playing, setPlaying] = useState(false);
  const [cursor, setCursor] = useState<number | null>(null);
  const [width, setWidth] = useState(800);
  const audio = useRef<HTMLAudioElement>(null);
  const segment = useRef<Detection | null>(null);
  const box = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const images = useRef({ key: '', map: new WeakMap<SpecRow, HTMLCanvasElement>() });

  useEffect(() => {
    collected.current = new Collected();
    setVersion((v) => v + 1);
    setView(null);
    setSelected('');
  }, [run?.id]);

  // Tap every target; again when the status changes, so a finished run's preview sinks resend
  // all they kept.
  useEffect(() => {
    if (!backend || !run || targets.length === 0) return;
    let frame = 0;
    const offs = targets.map((t) =>
      backend.tap(run.id, t.node, t.port, (e) => {
        if (collected.current.addRows((e.rows ?? []) as Row[]) && !frame) {
          frame = requestAnimationFrame(() => ((frame = 0), setVersion((v) => v + 1)));
        }
      }),
    );
    return () => {
      offs.forEach((off) => off());
      if (frame) cancelAnimationFrame(frame);
    };
  }, [backend, run?.id, run?.status, targets]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    const el = box.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(() => setWidth(Math.max(200, el.clientWidth - AXIS_W)));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const c = collected.current;
  const spec = useMemo(() => [...c.spec.values()], [c, version]); // eslint-disable-line react-hooks/exhaustive-deps
  const dets = useMemo(() => [...c.dets.values()], [c, version]); // eslint-disable-line react-hooks/exhaustive-deps
  const files = useMemo(() => [...c.files], [c, version]); // eslint-disable-line react-hooks/exhaustive-deps
  const lay = useMemo(() => layout(files, spec, dets), [files, spec, dets]);
  // Without a zoom of the user's: the streaming run's last seconds, or a finished run's whole line.
  const streaming = run?.status === 'running' || run?.status === 'stopping';
  const v: View = view ?? (streaming ? follow(lay.total, Math.min(FOLLOW_SPAN, Math.max(lay.total, 1))) : { t0: 0, t1: Math.max(lay.total, 0.25) });
  const shown = useMemo(() => filterDetections(dets, filter, sort, lay), [dets, filter, sort, lay]);
  const stack = useMemo(() => lanes(shown, lay), [shown, lay]);
  const laneH = PLOT_H / stack.count;
  const labels = useMemo(() => [...new Set(dets.map((d) => d.label))].sort(), [dets]);
  const axisRow = spec[0];
  // The colour range follows the rows until there are many: recomputed as their count doubles.
  const rangeKey = Math.floor(Math.log2(spec.length + 1));
  const [lo, hi] = useMemo(() => range(spec), [rangeKey, run?.id]); // eslint-disable-line react-hooks/exhaustive-deps
  const at = (d: Detection) => (lay.offsets.get(d.file) ?? 0) + d.start;

  // Paint the spectrogram and its axes.
  useEffect(() => {
    const cv = canvas.current;
    const ctx = cv?.getContext('2d');
    if (!cv || !ctx) return;
    const dpr = window.devicePixelRatio || 1;
    const W = width + AXIS_W;
    const H = PLOT_H + AXIS_H;
    cv.width = W * dpr;
    cv.height = H * dpr;
    cv.style.width = `${W}px`;
    cv.style.height = `${H}px`;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#10131a';
    ctx.fillRect(0, 0, W, H);
    const key = `${lo}|${hi}`;
    if (images.current.key !== key) images.current = { key, map: new WeakMap() };
    ctx.imageSmoothingEnabled = false;
    for (const s of spec) {
      const t0 = (lay.offsets.get(s.file) ?? 0) + s.tStart;
      const t1 = t0 + s.frames * s.hop;
      if (t1 < v.t0 || t0 > v.t1) continue;
      let img = images.current.map.get(s);
      if (!img) images.current.map.set(s, (img = image(s, lo, hi)));
      const x0 = AXIS_W + timeToX(t0, v, width);
      const x1 = AXIS_W + timeToX(t1, v, width);
      ctx.drawImage(img, x0, 0, Math.max(1, x1 - x0), PLOT_H);
    }
    ctx.fillStyle = '#10131a';
    ctx.fillRect(0, 0, AXIS_W, H);
    ctx.fillStyle = '#c8ccd4';
    ctx.strokeStyle = '#c8ccd4';
    ctx.font = '11px sans-serif';
    if (axisRow) {
      ctx.textAlign = 'right';
      ctx.textBaseline = 'middle';
      for (const f of ticks(axisRow.fMin, axisRow.fMax, 5)) {
        const y = freqToY(f, axisRow, PLOT_H);
        if (y < 6 || y > PLOT_H) continue;
        ctx.fillRect(AXIS_W - 4, y, 4, 1);
        ctx.fillText(f >= 1000 ? `${+(f / 1000).toFixed(1)} kHz` : `${f} Hz`, AXIS_W - 6, y);
      }
    }
    // Where each file starts on the line, and its name.
    ctx.textAlign = 'left';
    ctx.textBaseline = 'bottom';
    for (const f of files) {
      const x = AXIS_W + timeToX(lay.offsets.get(f) ?? 0, v, width);
      if (x < AXIS_W || x > W) continue;
      ctx.fillRect(x, 0, 1, PLOT_H);
      ctx.fillText(f.split('/').pop() ?? f, x + 3, PLOT_H - 2);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const t of ticks(v.t0, v.t1, Math.max(2, Math.floor(width / 110)))) {
      const x = AXIS_W + timeToX(t, v, width);
      ctx.fillRect(x, PLOT_H, 1, 4);
      ctx.fillText(timeLabel(t, lay, files), x, PLOT_H + 5);
    }
  }, [spec, lay, files, v.t0, v.t1, width, lo, hi, axisRow]);

  // The playback cursor follows the audio element.
  useEffect(() => {
    const a = audio.current;
    if (!a || !playing) return;
    let frame = requestAnimationFrame(function tick() {
      const seg = segment.current;
      if (seg) {
        if (a.currentTime >= seg.end) a.pause();
        setCursor((lay.offsets.get(seg.file) ?? 0) + a.currentTime);
      }
      frame = requestAnimationFrame(tick);
    });
    return () => cancelAnimationFrame(frame);
  }, [playing, lay]);

  const play = useCallback(
    (d: Detection) => {
      const a = audio.current;
      if (!a) return;
      setSelected(d.id);
      segment.current = d;
      const src = audioURL(d.file, sessionStorage.getItem(TOKEN_KEY) ?? '');
      if (a.getAttribute('src') !== src) a.src = src;
      a.currentTime = d.start;
      a.play().catch(() => {});
      // Keep the detection in view.
      const t = (lay.offsets.get(d.file) ?? 0) + d.start;
      const span = v.t1 - v.t0;
      if (t < v.t0 || t + (d.end - d.start) > v.t1) {
        setView(zoom({ t0: t - span / 4, t1: t - span / 4 + span }, 1, t, lay.total));
      }
    },
    [lay, v.t0, v.t1],
  );

  const step = (dir: 1 | -1) => {
    if (!shown.length) return;
    const i = shown.findIndex((d) => d.id === selected);
    const next = shown[i < 0 ? (dir > 0 ? 0 : shown.length - 1) : (i + dir + shown.length) % shown.length];
    play(next);
  };

  const onKey = (e: React.KeyboardEvent) => {
    if ((e.target as HTMLElement).closest('input, select')) return;
    const a = audio.current;
    if (e.key === ' ' && a) {
      e.preventDefault();
      if (a.paused) {
        if (!a.src && shown[0]) play(shown[0]);
        else a.play().catch(() => {});
      } else a.pause();
    } else if (e.key === 'ArrowRight' || e.key === 'ArrowDown') {
      e.preventDefault();
      step(1);
    } else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') {
      e.preventDefault();
      step(-1);
    }
  };

  const onWheel = (e: React.WheelEvent) => {
    const rect = e.currentTarget.getBoundingClientRect();
    const x = e.clientX - rect.left - AXIS_W;
    if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      const d = ((e.deltaX || e.deltaY) / width) * (v.t1 - v.t0);
      setView(zoom({ t0: v.t0 + d, t1: v.t1 + d }, 1, v.t0 + d, lay.total));
    } else {
      setView(zoom(v, e.deltaY > 0 ? 1.25 : 0.8, xToTime(x, v, width), lay.total));
    }
  };

  const total = dets.length;
  return (
    <div className="birdview" data-testid="birdview" tabIndex={0} onKeyDown={onKey}>
      <div className="section-head">
        <span className="muted" data-testid="birdview-status">
          {spec.length} spectrogram rows · {total} detections · {files.length} file{files.length === 1 ? '' : 's'}
          {targets.length === 0 ? ' — this graph has no spectrogram or detect node' : ''}
        </span>
        <button className="small" onClick={() => setView(zoom(v, 0.5, (v.t0 + v.t1) / 2, lay.total))} data-testid="zoom-in" title="Zoom in">
          +
        </button>
        <button className="small" onClick={() => setView(zoom(v, 2, (v.t0 + v.t1) / 2, lay.total))} data-testid="zoom-out" title="Zoom out">
          −
        </button>
        <button className="small" onClick={() => setView({ t0: 0, t1: Math.max(lay.total, 0.25) })} data-testid="zoom-fit">
          Fit
        </button>
        <button className={view ? 'small' : 'small on'} onClick={() => setView(null)} title="Follow the end while the run streams">
          Follow
        </button>
        {sampled && (
          <button
            className="small"
            onClick={addPreviewSinks}
            data-testid="birdview-keep"
            title="A tap samples the rows of a fast run: add preview sinks that keep them all (the graph then runs only in the studio)"
          >
            Keep every row
          </button>
        )}
        <span className="muted">space: play/pause · ←/→: detections · wheel: zoom</span>
      </div>
      <div className="birdview-plot" ref={box} onWheel={onWheel}>
        <canvas ref={canvas} data-testid="spectrogram" />
        {shown.map((d) => {
          const t = at(d);
          const x0 = timeToX(t, v, width);
          const x1 = timeToX(t + d.end - d.start, v, width);
          if (x1 < 0 || x0 > width) return null;
          const l = Math.max(0, x0);
          return (
            <div
              key={d.id}
              className={`det-box${d.id === selected ? ' on' : ''}`}
              data-testid="det-box"
              data-start={d.start}
              data-end={d.end}
              data-file={d.file}
              title={`${d.label} ${d.confidence.toFixed(2)} (${d.start.toFixed(2)}–${d.end.toFixed(2)} s)`}
              style={{ left: AXIS_W + l, width: Math.max(3, Math.min(width, x1) - l), top: (stack.lane.get(d.id) ?? 0) * laneH, height: laneH }}
              onClick={() => play(d)}
            >
              <span>
                {d.label} {d.confidence.toFixed(2)}
              </span>
            </div>
          );
        })}
        {cursor !== null && cursor >= v.t0 && cursor <= v.t1 && (
          <div className="play-cursor" data-testid="play-cursor" style={{ left: AXIS_W + timeToX(cursor, v, width), height: PLOT_H }} />
        )}
      </div>
      <audio
        ref={audio}
        data-testid="birdview-audio"
        controls
        onPlay={() => setPlaying(true)}
        onPause={() => setPlaying(false)}
        onEnded={() => setPlaying(false)}
      />
      {files.length > 1 && <DayTimeline dets={shown} />}
      <DetectionsTable
        dets={shown}
        all={total}
        labels={labels}
        filter={filter}
        setFilter={setFilter}
        sort={sort}
        setSort={setSort}
        selected={selected}
        onPick={play}
      />
    </div>
  );
}

function DetectionsTable(p: {
  dets: Detection[];
  all: number;
  labels: string[];
  filter: Filter;
  setFilter: (f: Filter) => void;
  sort: SortKey;
  setSort: (k: SortKey) => void;
  selected: string;
  onPick: (d: Detection) => void;
}) {
  const head = (k: SortKey, text: string) => (
    <th className={p.sort === k ? 'sorted' : ''} onClick={() => p.setSort(k)} data-testid={`det-sort-${k}`}>
      {text}
      {p.sort === k ? ' ▾' : ''}
    </th>
  );
  return (
    <div className="det-table">
      <div className="section-head">
        <label>
          Label{' '}
          <select value={p.filter.label} onChange={(e) => p.setFilter({ ...p.filter, label: e.target.value })} data-testid="det-label">
            <option value="">all</option>
            {p.labels.map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <label>
          min confidence{' '}
          <input
            type="number"
            min={0}
            max={1}
            step={0.05}
            value={p.filter.minConfidence}
            onChange={(e) => p.setFilter({ ...p.filter, minConfidence: Number(e.target.value) || 0 })}
            data-testid="det-min"
          />
        </label>
        <span className="muted" data-testid="det-count">
          {p.dets.length} of {p.all}
        </span>
      </div>
      <table className="rows-table" data-testid="det-table">
        <thead>
          <tr>
            {head('label', 'label')}
            {head('start', 'start')}
            <th>end</th>
            {head('confidence', 'confidence')}
            {head('file', 'file')}
          </tr>
        </thead>
        <tbody>
          {p.dets.map((d) => (
            <tr key={d.id} className={d.id === p.selected ? 'on' : ''} onClick={() => p.onPick(d)} data-testid="det-row">
              <td>{d.label}</td>
              <td>{d.start.toFixed(2)}</td>
              <td>{d.end.toFixed(2)}</td>
              <td>{d.confidence.toFixed(2)}</td>
              <td title={d.file}>{d.file.split('/').pop()}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
