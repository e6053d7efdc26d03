package audio

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

var detectSpec = engine.Spec{
	ID:       "transform.detect",
	Category: "dsp",
	Summary:  "Turns per-window classifier scores into detection events.",
	Docs: "Takes classifier rows (`label`, `score`, `index`, `t_start`, `t_end`; several rows per window " +
		"for top-k) and keeps those with `score` ≥ `threshold` whose class is wanted (`labels` by name, " +
		"`indices` as ranges like `106-116`; empty means all). Consecutive or overlapping windows of the " +
		"same class, no more than `max_gap` seconds apart, merge into one event: `label`, `index`, " +
		"`t_start`, `t_end`, `confidence` (the highest score), `mean_score` and `windows`. An event is " +
		"emitted once a later window shows it has ended, or at the end of the stream; events shorter than " +
		"`min_windows` windows are dropped.",
	Headless: true,
	Inputs:   []engine.Port{{Name: "in", Type: "any", Required: true, Doc: "classifier rows"}},
	Outputs:  []engine.Port{{Name: "out", Type: "detections"}},
	Fields: []engine.Field{
		{Name: "threshold", Type: "number", Doc: "lowest score kept", Default: 0.3, Min: engine.Num(0), Max: engine.Num(1)},
		{Name: "labels", Type: "array", Items: "string", Doc: "class names to keep (empty: all)", Default: []any{}},
		{Name: "indices", Type: "array", Items: "string", Doc: "class indices or ranges to keep, e.g. \"106-116\" (empty: all)", Default: []any{}},
		{Name: "max_gap", Type: "number", Doc: "seconds between windows that still merge", Default: 0.0, Min: engine.Num(0)},
		{Name: "min_windows", Type: "integer", Doc: "windows an event needs", Default: 1, Min: engine.Num(1)},
	},
	Examples: []engine.Example{{Name: "birds", Config: json.RawMessage(`{"threshold":0.2,"indices":["106-116"]}`)}},
	Defaults: detectDefaults,
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, detectDefaults)
		if err != nil {
			return nil, err
		}
		d := &detectNode{cfg: cfg, open: map[string]*event{}, labels: map[string]bool{}}
		for _, l := range cfg.Labels {
			d.labels[l] = true
		}
		for _, s := range cfg.Indices {
			var lo, hi int64
			if n, _ := fmt.Sscanf(s, "%d-%d", &lo, &hi); n == 2 {
			} else if n, _ := fmt.Sscanf(s, "%d", &lo); n == 1 {
				hi = lo
			} else {
				return nil, fmt.Errorf("config: indices: %q is not an index or a range like 106-116", s)
			}
			if hi < lo {
				return nil, fmt.Errorf("config: indices: range %q runs backwards", s)
			}
			d.ranges = append(d.ranges, [2]int64{lo, hi})
		}
		return d, nil
	},
}

type detectConfig struct {
	Threshold  float64  `json:"threshold"`
	Labels     []string `json:"labels"`
	Indices    []string `json:"indices"`
	MaxGap     float64  `json:"max_gap"`
	MinWindows int      `json:"min_windows"`
}

var detectDefaults = detectConfig{Threshold: 0.3, Labels: []string{}, Indices: []string{}, MinWindows: 1}

func init() { nodes.Register(detectSpec) }

type event struct {
	label          string
	index          int64
	start, end     float64
	best, sum      float64
	windows        int
	lastWindowFrom float64
}

type detectNode struct {
	cfg    detectConfig
	labels map[string]bool
	ranges [][2]int64
	open   map[string]*event
}

func (d *detectNode) wanted(label string, index int64) bool {
	if len(d.labels) == 0 && len(d.ranges) == 0 {
		return true
	}
	if d.labels[label] {
		return true
	}
	for _, r := range d.ranges {
		if index >= r[0] && index <= r[1] {
			return true
		}
	}
	return false
}

func (d *detectNode) Process(ctx context.Context, port string, b *rows.Batch, out engine.Output) error {
	var done []rows.Row
	for _, r := range b.Rows {
		label, index, score, start, end, err := classifierRow(r)
		if err != nil {
			out.Reject(r, err)
			continue
		}
		// Close events whose class has been quiet for longer than the gap.
		done = d.closeBefore(done, start)
		if score < d.cfg.Threshold || !d.wanted(label, index) {
			continue
		}
		if ev := d.open[label]; ev != nil {
			ev.end = max(ev.end, end)
			ev.best = max(ev.best, score)
			ev.sum += score
			if start != ev.lastWindowFrom {
				ev.windows++
				ev.lastWindowFrom = start
			}
			continue
		}
		d.open[label] = &event{label: label, index: index, start: start, end: end, best: score, sum: score, windows: 1, lastWindowFrom: start}
	}
	if len(done) == 0 {
		return nil
	}
	return out.Emit("out", &rows.Batch{Rows: done})
}

// closeBefore emits events that ended more than max_gap before t.
func (d *detectNode) closeBefore(dst []rows.Row, t float64) []rows.Row {
	var labels []string
	for l, ev := range d.open {
		if t > ev.end+d.cfg.MaxGap {
			labels = append(labels, l)
		}
	}
	return d.emit(dst, labels)
}

func (d *detectNode) emit(dst []rows.Row, labels []string) []rows.Row {
	sort.Slice(labels, func(i, j int) bool {
		a, b := d.open[labels[i]], d.open[labels[j]]
		if a.start != b.start {
			return a.start < b.start
		}
		return a.label < b.label
	})
	for _, l := range labels {
		ev := d.open[l]
		delete(d.open, l)
		if ev.windows < d.cfg.MinWindows {
			continue
		}
		dst = append(dst, rows.Row{
			{Name: "label", Value: rows.String(ev.label)},
			{Name: "index", Value: rows.Int(ev.index)},
			{Name: "t_start", Value: rows.Float(ev.start)},
			{Name: "t_end", Value: rows.Float(ev.end)},
			{Name: "confidence", Value: rows.Float(ev.best)},
			{Name: "mean_score", Value: rows.Float(ev.sum / float64(ev.windows))},
			{Name: "windows", Value: rows.Int(int64(ev.windows))},
		})
	}
	return dst
}

func (d *detectNode) Flush(ctx context.Context, out engine.Output) error {
	labels := make([]string, 0, len(d.open))
	for l := range d.open {
		labels = append(labels, l)
	}
	rs := d.emit(nil, labels)
	if len(rs) == 0 {
		return nil
	}
	return out.Emit("out", &rows.Batch{Rows: rs})
}

func classifierRow(r rows.Row) (label string, index int64, score, start, end float64, err error) {
	get := func(name string) (rows.Value, error) {
		v, ok := r.Get(name)
		if !ok {
			return v, fmt.Errorf("classifier row has no %q field", name)
		}
		return v, nil
	}
	var v rows.Value
	if v, err = get("label"); err != nil {
		return
	}
	label, _ = v.AsString()
	if v, err = get("index"); err != nil {
		return
	}
	index, _ = v.AsInt()
	for _, f := range []struct {
		name string
		dst  *float64
	}{{"score", &score}, {"t_start", &start}, {"t_end", &end}} {
		if v, err = get(f.name); err != nil {
			return
		}
		var ok bool
		if *f.dst, ok = v.AsFloat(); !ok {
			err = fmt.Errorf("field %q is %s, not a number", f.name, v.Kind())
			return
		}
	}
	return
}

var (
	_ engine.Processor = (*detectNode)(nil)
	_ engine.Flusher   = (*detectNode)(nil)
)
