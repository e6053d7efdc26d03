// Pure logic of the bird-song view: spectrogram rows and detections from a run's taps, laid out
// on one time line (the files of a directory run one after another), and the mappings between
// seconds, hertz and canvas pixels. No DOM here, so it is unit-tested.
import type { Row } from '../../backend/types';

/** One packed row of transform.spectrogram: frames × bins float32s, one frame after another. */
export type SpecRow = {
  file: string;
  tStart: number; // seconds within the file
  hop: number; // seconds between frames
  frames: number;
  bins: number;
  fMin: number;
  fMax: number;
  kind: string;
  time?: number; // unix ms of tStart, when the recording's name says when it started
  data: number[];
};

/** One event of transform.detect. */
export type Detection = {
  id: string;
  file: string;
  start: number; // seconds within the file
  end: number;
  label: string;
  confidence: number;
  time?: number; // unix ms of start
  hour?: number; // hour of the day of start as the recording's time states it (its own zone)
};

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
function ms(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const d = Date.parse(v);
  return Number.isNaN(d) ? undefined : d;
}

/** The spectrogram row in r, or undefined when r is not one. */
export function specRowOf(r: Row): SpecRow | undefined {
  const data = r.spectrogram;
  const frames = num(r.frames);
  const bins = num(r.bins);
  const hop = num(r.hop_s);
  if (!Array.isArray(data) || !frames || !bins || !hop || data.length < frames * bins) return undefined;
  return {
    file: str(r.file),
    tStart: num(r.t_start) ?? 0,
    hop,
    frames,
    bins,
    fMin: num(r.f_min) ?? 0,
    fMax: num(r.f_max) ?? (num(r.rate) ?? 2) / 2,
    kind: str(r.kind),
    time: ms(r.time),
    data: data as number[],
  };
}

/** The detection in r, or undefined when r is not one. */
export function detectionOf(r: Row): Detection | undefined {
  const start = num(r.t_start);
  const end = num(r.t_end);
  const label = str(r.label);
  const confidence = num(r.confidence);
  if (start === undefined || end === undefined || !label || confidence === undefined) return undefined;
  const file = str(r.file);
  const h = typeof r.time === 'string' ? /T(\d\d):/.exec(r.time) : null;
  return { id: `${file}|${start}|${label}`, file, start, end, label, confidence, time: ms(r.time), hour: h ? Number(h[1]) : undefined };
}

/**
 * Rows a run delivered so far, without duplicates: a tap on a preview sink first resends what
 * the sink kept, and a tap samples, so rows arrive again and out of order.
 */
export class Collected {
  spec = new Map<string, SpecRow>();
  dets = new Map<string, Detection>();
  files: string[] = [];

  private seeFile(f: string) {
    if (!this.files.includes(f)) this.files.push(f);
  }

  addRows(rows: Row[]): boolean {
    let changed = false;
    for (const r of rows) {
      const s = specRowOf(r);
      if (s) {
        const k = `${s.file}|${s.tStart}`;
        if (!this.spec.has(k)) {
          this.spec.set(k, s);
          this.seeFile(s.file);
          changed = true;
        }
        continue;
      }
      const d = detectionOf(r);
      if (d && !this.dets.has(d.id)) {
        this.dets.set(d.id, d);
        this.seeFile(d.file);
        changed = true;
      }
    }
    return changed;
  }
}

/** Where each file sits on the view's time line: files follow one another in arrival order. */
export type Layout = {
  offsets: Map<string, number>; // file → its first second on the line
  durations: Map<string, number>;
  origins: Map<string, number | undefined>; // file → unix ms of its second 0 (recorder names)
  total: number; // seconds
};

export function layout(files: string[], spec: Iterable<SpecRow>, dets: Iterable<Detection>): Layout {
  const durations = new Map<string, number>();
  const origins = new Map<string, number | undefined>();
  const grow = (f: string, t: number) => durations.set(f, Math.max(durations.get(f) ?? 0, t));
  for (const s of spec) {
    grow(s.file, s.tStart + s.frames * s.hop);
    if (s.time !== undefined) origins.set(s.file, s.time - s.tStart * 1000);
  }
  for (const d of dets) {
    grow(d.file, d.end);
    if (d.time !== undefined && !origins.has(d.file)) origins.set(d.file, d.time - d.start * 1000);
  }
  const offsets = new Map<string, number>();
  let total = 0;
  for (const f of files) {
    offsets.set(f, total);
    total += durations.get(f) ?? 0;
  }
  return { offsets, durations, origins, total };
}

/** The visible window of the time line, in seconds. */
export type View = { t0: number; t1: number };

export const timeToX = (t: number, v: View, width: number) => ((t - v.t0) / (v.t1 - v.t0)) * width;
export const xToTime = (x: number, v: View, width: number) => v.t0 + (x / width) * (v.t1 - v.t0);

const mel = (f: number) => 2595 * Math.log10(1 + f / 700);
const melInv = (m: number) => 700 * (10 ** (m / 2595) - 1);

/**
 * The canvas row (0 at the top) of frequency f on a plot `height` px high: linear bins for
 * magnitude and dB rows, the mel scale for log-mel rows (as the bands are spaced).
 */
export function freqToY(f: number, s: Pick<SpecRow, 'fMin' | 'fMax' | 'kind'>, height: number): number {
  const [a, b, x] = s.kind === 'log_mel' ? [mel(s.fMin), mel(s.fMax), mel(f)] : [s.fMin, s.fMax, f];
  return height - ((x - a) / (b - a)) * height;
}

export function yToFreq(y: number, s: Pick<SpecRow, 'fMin' | 'fMax' | 'kind'>, height: number): number {
  const p = (height - y) / height;
  if (s.kind === 'log_mel') return melInv(mel(s.fMin) + p * (mel(s.fMax) - mel(s.fMin)));
  return s.fMin + p * (s.fMax - s.fMin);
}

/** Zooms v by factor (<1: in) around time `at`, kept within [0, total] and at least minSpan wide. */
export function zoom(v: View, factor: number, at: number, total: number, minSpan = 0.25): View {
  const span = Math.min(Math.max((v.t1 - v.t0) * factor, minSpan), Math.max(total, minSpan));
  let t0 = at - ((at - v.t0) / (v.t1 - v.t0)) * span;
  t0 = Math.max(0, Math.min(t0, Math.max(0, total - span)));
  return { t0, t1: t0 + span };
}

/** While a run streams the view follows its end: the last `span` seconds. */
export function follow(total: number, span: number): View {
  const t1 = Math.max(total, span);
  return { t0: t1 - span, t1 };
}

/** Tick values from a to b, about `count` of them, on a 1-2-5 step. */
export function ticks(a: number, b: number, count: number): number[] {
  if (!(b > a) || count < 1) return [];
  const raw = (b - a) / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const out: number[] = [];
  for (let t = Math.ceil(a / step) * step; t <= b + 1e-9; t += step) out.push(+t.toFixed(9));
  return out;
}

/** A time line label: the wall-clock time when the file's name gave one, else seconds in the file. */
export function timeLabel(t: number, lay: Layout, files: string[]): string {
  let file = files[0];
  for (const f of files) if ((lay.offsets.get(f) ?? 0) <= t) file = f;
  const within = t - (lay.offsets.get(file) ?? 0);
  const origin = lay.origins.get(file);
  if (origin !== undefined) return new Date(origin + within * 1000).toISOString().slice(11, 19);
  return `${+within.toFixed(2)} s`;
}

export type Filter = { label: string; minConfidence: number };
export type SortKey = 'start' | 'label' | 'confidence' | 'file';

/** The detections that pass f, sorted by key (confidence highest first, the others ascending). */
export function filterDetections(dets: Detection[], f: Filter, key: SortKey = 'start', lay?: Layout): Detection[] {
  const at = (d: Detection) => (lay?.offsets.get(d.file) ?? 0) + d.start;
  const out = dets.filter((d) => (!f.label || d.label === f.label) && d.confidence >= f.minConfidence);
  const cmp: Record<SortKey, (a: Detection, b: Detection) => number> = {
    start: (a, b) => at(a) - at(b),
    label: (a, b) => a.label.localeCompare(b.label) || at(a) - at(b),
    confidence: (a, b) => b.confidence - a.confidence || at(a) - at(b),
    file: (a, b) => a.file.localeCompare(b.file) || a.start - b.start,
  };
  return out.sort(cmp[key]);
}

/** Detections per hour of the day (0–23) for those whose recording has a wall-clock time. */
export function perHour(dets: Detection[]): number[] {
  const h = new Array<number>(24).fill(0);
  for (const d of dets) if (d.hour !== undefined) h[d.hour]++;
  return h;
}

/** Detections per label and hour of the day, labels by their total (most first). */
export function perLabelHour(dets: Detection[]): { label: string; hours: number[] }[] {
  const m = new Map<string, number[]>();
  for (const d of dets) {
    if (d.hour === undefined) continue;
    let h = m.get(d.label);
    if (!h) m.set(d.label, (h = new Array<number>(24).fill(0)));
    h[d.hour]++;
  }
  const sum = (h: number[]) => h.reduce((a, b) => a + b, 0);
  return [...m].map(([label, hours]) => ({ label, hours })).sort((a, b) => sum(b.hours) - sum(a.hours) || a.label.localeCompare(b.label));
}

/** The /api/audio address of a recording, with the token an <audio> element cannot send as a header. */
export function audioURL(file: string, token: string): string {
  const q = new URLSearchParams({ ref: file });
  if (token) q.set('token', token);
  return `api/audio?${q}`;
}

/** The colour of a spectrogram value v between lo and hi (a dark-to-yellow ramp), as RGB. */
export function colour(v: number, lo: number, hi: number): [number, number, number] {
  const p = Math.max(0, Math.min(1, (v - lo) / (hi - lo || 1)));
  return [Math.round(255 * Math.min(1, p * 1.6)), Math.round(255 * Math.max(0, p * 1.4 - 0.4)), Math.round(90 * (1 - p) + 40 * p)];
}

/** Colour range of the rows: the 2nd and 99.5th percentile of a sample of their values. */
export function range(rows: Iterable<SpecRow>): [number, number] {
  const sample: number[] = [];
  for (const s of rows) for (let i = 0; i < s.data.length; i += 97) sample.push(s.data[i]);
  if (!sample.length) return [0, 1];
  sample.sort((a, b) => a - b);
  return [sample[Math.floor(sample.length * 0.02)], sample[Math.min(sample.length - 1, Math.floor(sample.length * 0.995))]];
}

/**
 * A lane for each detection so that boxes overlapping in time (several labels for one call) sit
 * one above another instead of covering each other: the first lane free at its start, by start.
 * Returns the lane of each detection id and how many lanes there are.
 */
export function lanes(dets: Detection[], lay: Layout): { lane: Map<string, number>; count: number } {
  const at = (d: Detection) => (lay.offsets.get(d.file) ?? 0) + d.start;
  const sorted = [...dets].sort((a, b) => at(a) - at(b) || b.confidence - a.confidence);
  const ends: number[] = [];
  const lane = new Map<string, number>();
  for (const d of sorted) {
    const t = at(d);
    let i = ends.findIndex((e) => e <= t);
    if (i < 0) i = ends.push(0) - 1;
    ends[i] = t + (d.end - d.start);
    lane.set(d.id, i);
  }
  return { lane, count: Math.max(1, ends.length) };
}
