import { perHour, perLabelHour, type Detection } from './model';

const PALETTE = ['#4fd1c5', '#f6ad55', '#9f7aea', '#68d391', '#fc8181', '#63b3ed', '#f6e05e', '#ed64a6'];
const H = 90;

/**
 * The day of a directory run: for each hour, a bar of the detections in recordings that began
 * then (by the time in their file names), stacked by label. The biodiversity user's first view.
 */
export function DayTimeline({ dets }: { dets: Detection[] }) {
  const hours = perHour(dets);
  const labels = perLabelHour(dets);
  const top = Math.max(1, ...hours);
  if (!labels.length) {
    return (
      <div className="day-timeline muted" data-testid="day-timeline-empty">
        No wall-clock times: name recordings PREFIX_YYYYMMDD_HHMMSS.wav (AudioMoth, Song Meter) for the day's timeline.
      </div>
    );
  }
  const colourOf = new Map(labels.map((l, i) => [l.label, PALETTE[i % PALETTE.length]]));
  return (
    <div className="day-timeline" data-testid="day-timeline">
      <div className="day-bars" style={{ height: H }}>
        {hours.map((n, h) => (
          <div key={h} className="day-col" title={`${String(h).padStart(2, '0')}:00 — ${n} detection${n === 1 ? '' : 's'}`}>
            {n > 0 && (
              <div className="day-bar" data-testid="hour-bar" data-hour={h} data-count={n} style={{ height: (n / top) * H }}>
                {labels.map((l) =>
                  l.hours[h] ? <div key={l.label} style={{ flex: l.hours[h], background: colourOf.get(l.label) }} title={`${l.label}: ${l.hours[h]}`} /> : null,
                )}
              </div>
            )}
          </div>
        ))}
      </div>
      <div className="day-axis">
        {hours.map((_, h) => (
          <span key={h}>{h % 3 === 0 ? String(h).padStart(2, '0') : ''}</span>
        ))}
      </div>
      <div className="day-legend">
        {labels.slice(0, 8).map((l) => (
          <span key={l.label}>
            <i style={{ background: colourOf.get(l.label) }} /> {l.label}
          </span>
        ))}
      </div>
    </div>
  );
}
