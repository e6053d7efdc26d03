import { describe, expect, it } from 'vitest';
import {
  Collected,
  audioURL,
  filterDetections,
  follow,
  freqToY,
  lanes,
  layout,
  perHour,
  perLabelHour,
  ticks,
  timeLabel,
  timeToX,
  xToTime,
  yToFreq,
  zoom,
  type Detection,
} from './model';

const specRow = (file: string, t: number, extra: Record<string, unknown> = {}) => ({
  spectrogram: new Array(4 * 3).fill(0).map((_, i) => i),
  frames: 4,
  bins: 3,
  kind: 'db',
  rate: 16000,
  hop_s: 0.5,
  f_min: 0,
  f_max: 8000,
  t_start: t,
  t_end: t + 2,
  file,
  ...extra,
});
const det = (file: string, start: number, label: string, confidence: number, extra: Record<string, unknown> = {}) => ({
  label,
  index: 106,
  t_start: start,
  t_end: start + 1,
  confidence,
  file,
  ...extra,
});

describe('Collected', () => {
  it('keeps each spectrogram row and detection once, whatever order and repeats the taps bring', () => {
    const c = new Collected();
    expect(c.addRows([specRow('/a.wav', 0), specRow('/a.wav', 2), det('/a.wav', 1, 'Bird', 0.5)])).toBe(true);
    // A late tap on a preview sink resends what it kept.
    expect(c.addRows([specRow('/a.wav', 2), specRow('/a.wav', 0), det('/a.wav', 1, 'Bird', 0.5)])).toBe(false);
    c.addRows([specRow('/b.wav', 0), { label: 'x' }, { spectrogram: [1, 2], frames: 4, bins: 3, hop_s: 1 }]);
    expect(c.spec.size).toBe(3);
    expect(c.dets.size).toBe(1);
    expect(c.files).toEqual(['/a.wav', '/b.wav']);
  });
});

describe('layout', () => {
  it('puts files one after another and takes wall-clock origins from their times', () => {
    const c = new Collected();
    c.addRows([
      specRow('/a.wav', 0),
      specRow('/a.wav', 2), // a.wav lasts 4 s
      specRow('/b.wav', 0, { time: '2024-05-01T05:30:00Z' }),
      det('/b.wav', 1.5, 'Owl', 0.9, { time: '2024-05-01T05:30:01.5Z' }),
    ]);
    const lay = layout(c.files, c.spec.values(), c.dets.values());
    expect(lay.offsets.get('/a.wav')).toBe(0);
    expect(lay.offsets.get('/b.wav')).toBe(4);
    expect(lay.total).toBe(6.5); // b.wav lasts as long as its last detection (2.5 s), past its one row
    expect(timeLabel(3, lay, c.files)).toBe('3 s');
    expect(timeLabel(4 + 1.5, lay, c.files)).toBe('05:30:01');
  });
});

describe('coordinates', () => {
  it('maps seconds to pixels and back', () => {
    const v = { t0: 10, t1: 20 };
    expect(timeToX(15, v, 800)).toBe(400);
    expect(xToTime(200, v, 800)).toBe(12.5);
    expect(xToTime(timeToX(17.3, v, 800), v, 800)).toBeCloseTo(17.3, 9);
  });

  it('maps hertz linearly for dB rows and on the mel scale for log-mel rows', () => {
    const db = { fMin: 0, fMax: 8000, kind: 'db' };
    expect(freqToY(0, db, 200)).toBe(200);
    expect(freqToY(8000, db, 200)).toBe(0);
    expect(freqToY(4000, db, 200)).toBe(100);
    const mel = { fMin: 125, fMax: 7500, kind: 'log_mel' };
    // 1 kHz sits well above the middle of a mel axis from 125 Hz to 7.5 kHz (low frequencies get more room).
    const y = freqToY(1000, mel, 200);
    expect(y).toBeLessThan(freqToY(1000, { ...mel, kind: 'db' }, 200));
    expect(yToFreq(y, mel, 200)).toBeCloseTo(1000, 6);
    expect(yToFreq(freqToY(3000, db, 200), db, 200)).toBeCloseTo(3000, 9);
  });

  it('zooms around a point and stays within the recording', () => {
    const v = zoom({ t0: 0, t1: 20 }, 0.5, 10, 20);
    expect(v).toEqual({ t0: 5, t1: 15 });
    expect(zoom({ t0: 0, t1: 20 }, 0.5, 0, 20)).toEqual({ t0: 0, t1: 10 });
    expect(zoom({ t0: 15, t1: 20 }, 4, 20, 20)).toEqual({ t0: 0, t1: 20 });
    expect(zoom({ t0: 0, t1: 1 }, 0.01, 0.5, 20).t1 - zoom({ t0: 0, t1: 1 }, 0.01, 0.5, 20).t0).toBe(0.25);
    expect(follow(30, 10)).toEqual({ t0: 20, t1: 30 });
    expect(follow(3, 10)).toEqual({ t0: 0, t1: 10 });
  });

  it('places ticks on a 1-2-5 step', () => {
    expect(ticks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(ticks(0.3, 1.1, 4)).toEqual([0.4, 0.6, 0.8, 1]);
    expect(ticks(0, 8000, 4)).toEqual([0, 2000, 4000, 6000, 8000]);
  });
});

describe('filterDetections', () => {
  const c = new Collected();
  c.addRows([det('/a.wav', 3, 'Bird', 0.4), det('/a.wav', 1, 'Owl', 0.9), det('/b.wav', 0, 'Bird', 0.7), det('/a.wav', 5, 'Crow', 0.2)]);
  const all = [...c.dets.values()];
  const lay = layout(['/a.wav', '/b.wav'], [], all);
  const key = (ds: Detection[]) => ds.map((d) => `${d.label}@${d.start}`);

  it('filters by label and minimum confidence', () => {
    expect(key(filterDetections(all, { label: 'Bird', minConfidence: 0 }, 'start', lay))).toEqual(['Bird@3', 'Bird@0']);
    expect(key(filterDetections(all, { label: '', minConfidence: 0.5 }, 'start', lay))).toEqual(['Owl@1', 'Bird@0']);
    expect(filterDetections(all, { label: 'Owl', minConfidence: 0.95 })).toEqual([]);
  });

  it('sorts by time on the line, label, confidence or file', () => {
    const f = { label: '', minConfidence: 0 };
    expect(key(filterDetections(all, f, 'start', lay))).toEqual(['Owl@1', 'Bird@3', 'Crow@5', 'Bird@0']);
    expect(key(filterDetections(all, f, 'confidence', lay))).toEqual(['Owl@1', 'Bird@0', 'Bird@3', 'Crow@5']);
    expect(key(filterDetections(all, f, 'label', lay))).toEqual(['Bird@3', 'Bird@0', 'Crow@5', 'Owl@1']);
    expect(key(filterDetections(all, f, 'file', lay))).toEqual(['Owl@1', 'Bird@3', 'Crow@5', 'Bird@0']);
  });
});

describe('perHour and audioURL', () => {
  it('counts detections in the hours of their wall-clock time', () => {
    const c = new Collected();
    c.addRows([
      det('/x.wav', 0, 'Bird', 0.5, { time: '2024-05-01T05:00:10Z' }),
      det('/x.wav', 9, 'Bird', 0.5, { time: '2024-05-01T05:59:59Z' }),
      det('/y.wav', 0, 'Owl', 0.5, { time: '2024-05-01T23:10:00Z' }),
      det('/z.wav', 0, 'Owl', 0.5),
    ]);
    const h = perHour([...c.dets.values()]);
    expect(h[5]).toBe(2);
    expect(h[23]).toBe(1);
    expect(h.reduce((a, b) => a + b, 0)).toBe(3);
  });

  it('takes the hour as the recording states it (its zone) and stacks labels by their totals', () => {
    const c = new Collected();
    c.addRows([
      det('/x.wav', 0, 'Owl', 0.5, { time: '2024-05-01T05:00:10+02:00' }),
      det('/x.wav', 3, 'Bird', 0.5, { time: '2024-05-01T05:00:13+02:00' }),
      det('/y.wav', 0, 'Bird', 0.5, { time: '2024-05-01T21:00:00+02:00' }),
      det('/z.wav', 0, 'Crow', 0.5),
    ]);
    const ds = [...c.dets.values()];
    expect(perHour(ds)[5]).toBe(2); // not 3 (UTC)
    expect(perLabelHour(ds).map((l) => [l.label, l.hours[5], l.hours[21]])).toEqual([
      ['Bird', 1, 1],
      ['Owl', 1, 0],
    ]);
  });

  it('carries the path and the token in the query', () => {
    const u = new URL(audioURL('/rec/a b&c.wav', 'tok'), 'http://h/');
    expect(u.pathname).toBe('/api/audio');
    expect(u.searchParams.get('ref')).toBe('/rec/a b&c.wav');
    expect(u.searchParams.get('token')).toBe('tok');
  });
});

describe('lanes', () => {
  it('stacks detections that overlap in time and reuses a lane once it is free', () => {
    const c = new Collected();
    c.addRows([det('/a.wav', 0, 'Bird', 0.5), det('/a.wav', 0.5, 'Chirp', 0.9), det('/a.wav', 1, 'Owl', 0.4), det('/b.wav', 0, 'Crow', 0.3)]);
    const all = [...c.dets.values()];
    const lay = layout(['/a.wav', '/b.wav'], [], all); // a.wav lasts 2 s, so b.wav starts at 2
    const { lane, count } = lanes(all, lay);
    const of = (label: string) => lane.get(all.find((d) => d.label === label)!.id);
    expect(of('Bird')).toBe(0);
    expect(of('Chirp')).toBe(1); // overlaps Bird (0–1 s)
    expect(of('Owl')).toBe(0); // starts when Bird ends
    expect(of('Crow')).toBe(0); // at 2 s on the line: every lane is free again
    expect(count).toBe(2);
  });
});
