package audio

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

var detectSpec = engine.Spec{
	ID:       "transform.detect",
	Category: "dsp",
	Summary:  "Turns per-window classifier scores into detection events.",
	Docs: "Takes classifier rows (`label`, `score`, `index`, `t_start`, `t_end`; several rows per window " +
		"for top-k) and keeps those whose class is wanted and whose `score` reaches the class's " +
		"threshold. A class is wanted when it is in the inclusion list (`labels` by name, `indices` as " +
		"indices or ranges like `106-116`; both empty: every class) and not in the exclusion list " +
		"(`exclude_labels`, `exclude_indices`), which wins. `threshold` applies to every class unless " +
		"`thresholds` names it (`{\"Owl\": 0.15, \"114\": 0.2}`: by label or index).\n\n" +
		"An event needs confirmation: at least `confirm_n` of the last `confirm_m` windows must reach " +
		"the threshold for the class (1 of 1: every window counts), and once confirmed it starts at the " +
		"first of those windows. Consecutive or overlapping windows of the same class, no more than " +
		"`max_gap` seconds apart, extend it. An event is `label`, `index`, `t_start`, `t_end`, " +
		"`confidence` (the highest score), `mean_score` and `windows`, plus `file` and `time` " +
		"(wall-clock start) when the audio came from a folder of recordings; events never span two " +
		"files. An event is emitted once a later window shows it has ended, or at the end of the " +
		"stream; events shorter than `min_windows` windows are dropped. Windows must arrive in time " +
		"order within a file: a classifier node with `instances` > 1 may reorder batches (the " +
		"engine keeps order only along a single worker), which splits and merges events " +
		"differently, so keep one instance before this node when the events must be exact.\n\n" +
		"`labels_file` is the model's labels (YAMNet's class map CSV with a `display_name` column, or " +
		"one label per line, as the classifier reads them): with it every name in the lists and in " +
		"`thresholds` is checked against the model's classes when the graph is built, and the " +
		"studio offers the names to pick from (`GET /api/audio/labels?ref=…`).",
	Headless: true,
	Inputs:   []engine.Port{{Name: "in", Type: "any", Required: true, Doc: "classifier rows"}},
	Outputs:  []engine.Port{{Name: "out", Type: "detections"}},
	Fields: []engine.Field{
		{Name: "threshold", Type: "number", Doc: "lowest score kept", Default: 0.3, Min: engine.Num(0), Max: engine.Num(1)},
		{Name: "labels", Type: "array", Items: "string", Doc: "class names to keep (empty with indices empty: all)", Default: []any{}},
		{Name: "indices", Type: "array", Items: "string", Doc: "class indices or ranges to keep, e.g. \"106-116\"", Default: []any{}},
		{Name: "exclude_labels", Type: "array", Items: "string", Doc: "class names never kept", Default: []any{}},
		{Name: "exclude_indices", Type: "array", Items: "string", Doc: "class indices or ranges never kept", Default: []any{}},
		{Name: "thresholds", Type: "object", Doc: "per-class thresholds by label or index",
			Schema: map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "number", "minimum": 0, "maximum": 1}}},
		{Name: "confirm_n", Type: "integer", Doc: "windows over the threshold an event needs ...", Default: 1, Min: engine.Num(1)},
		{Name: "confirm_m", Type: "integer", Doc: "... among this many consecutive windows", Default: 1, Min: engine.Num(1), Max: engine.Num(1000)},
		{Name: "max_gap", Type: "number", Doc: "seconds between windows that still merge", Default: 0.0, Min: engine.Num(0)},
		{Name: "min_windows", Type: "integer", Doc: "windows an event needs", Default: 1, Min: engine.Num(1)},
		{Name: "labels_file", Type: "string", Doc: "the model's labels (CSV class map or one per line), to check names against", Format: "asset", AssetKind: "labels", Path: true},
	},
	Examples: []engine.Example{
		{Name: "birds", Config: json.RawMessage(`{"threshold":0.2,"indices":["106-116"]}`)},
		{Name: "birds but pigeons, owls confirmed twice", Config: json.RawMessage(`{"threshold":0.2,"indices":["106-116"],"exclude_labels":["Pigeon, dove","Coo"],"thresholds":{"Owl":0.1},"confirm_n":2,"confirm_m":3,"labels_file":"../shared/testdata/models/yamnet/yamnet_class_map.csv"}`)},
	},
	Defaults: detectDefaults,
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, detectDefaults)
		if err != nil {
			return nil, err
		}
		if cfg.ConfirmN > cfg.ConfirmM {
			return nil, fmt.Errorf("config: confirm_n %d is more than confirm_m %d", cfg.ConfirmN, cfg.ConfirmM)
		}
		d := &detectNode{cfg: cfg, open: map[string]*event{}, hits: map[string][]hit{}, lastStart: math.NaN()}
		if d.include, err = newClassSet(cfg.Labels, cfg.Indices, "labels", "indices"); err != nil {
			return nil, err
		}
		if d.exclude, err = newClassSet(cfg.ExcludeLabels, cfg.ExcludeIndices, "exclude_labels", "exclude_indices"); err != nil {
			return nil, err
		}
		d.byLabel, d.byIndex = map[string]float64{}, map[int64]float64{}
		for k, v := range cfg.Thresholds {
			if i, err := strconv.ParseInt(k, 10, 64); err == nil {
				d.byIndex[i] = v
			} else {
				d.byLabel[k] = v
			}
		}
		if cfg.LabelsFile != "" {
			if err := d.checkNames(bc, cfg.LabelsFile); err != nil {
				return nil, err
			}
		}
		return d, nil
	},
}

type detectConfig struct {
	Threshold      float64            `json:"threshold"`
	Labels         []string           `json:"labels"`
	Indices        []string           `json:"indices"`
	ExcludeLabels  []string           `json:"exclude_labels"`
	ExcludeIndices []string           `json:"exclude_indices"`
	Thresholds     map[string]float64 `json:"thresholds"`
	ConfirmN       int                `json:"confirm_n"`
	ConfirmM       int                `json:"confirm_m"`
	MaxGap         float64            `json:"max_gap"`
	MinWindows     int                `json:"min_windows"`
	LabelsFile     string             `json:"labels_file"`
}

var detectDefaults = detectConfig{Threshold: 0.3, Labels: []string{}, Indices: []string{}, ExcludeLabels: []string{},
	ExcludeIndices: []string{}, ConfirmN: 1, ConfirmM: 1, MinWindows: 1}

func init() { nodes.Register(detectSpec) }

// classSet is a set of classes by label and by index range.
type classSet struct {
	labels map[string]bool
	ranges [][2]int64
}

func newClassSet(labels, indices []string, labelsField, indicesField string) (classSet, error) {
	c := classSet{labels: map[string]bool{}}
	for _, l := range labels {
		c.labels[l] = true
	}
	for _, s := range indices {
		var lo, hi int64
		if n, _ := fmt.Sscanf(s, "%d-%d", &lo, &hi); n == 2 {
		} else if n, _ := fmt.Sscanf(s, "%d", &lo); n == 1 {
			hi = lo
		} else {
			return c, fmt.Errorf("config: %s: %q is not an index or a range like 106-116", indicesField, s)
		}
		if hi < lo {
			return c, fmt.Errorf("config: %s: range %q runs backwards", indicesField, s)
		}
		c.ranges = append(c.ranges, [2]int64{lo, hi})
	}
	return c, nil
}

func (c classSet) empty() bool { return len(c.labels) == 0 && len(c.ranges) == 0 }

func (c classSet) has(label string, index int64) bool {
	if c.labels[label] {
		return true
	}
	for _, r := range c.ranges {
		if index >= r[0] && index <= r[1] {
			return true
		}
	}
	return false
}

// checkNames reads the model's labels and refuses names the model does not have.
func (d *detectNode) checkNames(bc engine.BuildContext, ref string) error {
	var data []byte
	var err error
	if bc.Assets != nil {
		data, err = bc.Assets.Asset(ref)
	} else {
		data, err = os.ReadFile(ref)
	}
	if err != nil {
		return fmt.Errorf("config: labels_file: %w", err)
	}
	labels, err := ReadLabels(data)
	if err != nil {
		return fmt.Errorf("config: labels_file %q: %w", ref, err)
	}
	known := make(map[string]bool, len(labels))
	for _, l := range labels {
		known[l] = true
	}
	check := func(field, name string) error {
		if !known[name] {
			return fmt.Errorf("config: %s: %q is not one of the %d classes in %q", field, name, len(labels), ref)
		}
		return nil
	}
	for _, l := range d.cfg.Labels {
		if err := check("labels", l); err != nil {
			return err
		}
	}
	for _, l := range d.cfg.ExcludeLabels {
		if err := check("exclude_labels", l); err != nil {
			return err
		}
	}
	for l := range d.byLabel {
		if err := check("thresholds", l); err != nil {
			return err
		}
	}
	for i := range d.byIndex {
		if i < 0 || i >= int64(len(labels)) {
			return fmt.Errorf("config: thresholds: index %d is outside the %d classes in %q", i, len(labels), ref)
		}
	}
	return nil
}

// ReadLabels parses a model's labels: a CSV class map with a header naming a display_name (or
// name, or label) column, as YAMNet's yamnet_class_map.csv, or a file with one label per line.
func ReadLabels(data []byte) ([]string, error) {
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	first, _, _ := strings.Cut(text, "\n")
	if strings.Contains(first, ",") {
		recs, err := csv.NewReader(strings.NewReader(text)).ReadAll()
		if err != nil {
			return nil, err
		}
		col := -1
		for i, h := range recs[0] {
			if h := strings.ToLower(strings.TrimSpace(h)); h == "display_name" || h == "name" || h == "label" {
				col = i
			}
		}
		if col < 0 {
			return nil, fmt.Errorf("line 1: a CSV class map needs a display_name, name or label column (header %q)", first)
		}
		out := make([]string, 0, len(recs)-1)
		for _, r := range recs[1:] {
			out = append(out, r[col])
		}
		return out, nil
	}
	var out []string
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		out = append(out, strings.TrimSpace(l))
	}
	if len(out) == 0 || (len(out) == 1 && out[0] == "") {
		return nil, fmt.Errorf("no labels")
	}
	return out, nil
}

type event struct {
	label          string
	index          int64
	start, end     float64
	best, sum      float64
	windows        int
	lastWindowFrom float64
}

// hit is one window in which a class reached its threshold, before the event is confirmed.
type hit struct {
	window            int64
	start, end, score float64
	reported          bool // part of an event already
}

type detectNode struct {
	cfg              detectConfig
	include, exclude classSet
	byLabel          map[string]float64
	byIndex          map[int64]float64
	open             map[string]*event
	hits             map[string][]hit // hits by label within the last confirm_m windows
	rec              recording        // the recording being read
	window           int64            // windows seen in this recording
	lastStart        float64          // t_start of the current window
}

func (d *detectNode) wanted(label string, index int64) bool {
	if d.exclude.has(label, index) {
		return false
	}
	return d.include.empty() || d.include.has(label, index)
}

func (d *detectNode) threshold(label string, index int64) float64 {
	if t, ok := d.byLabel[label]; ok {
		return t
	}
	if t, ok := d.byIndex[index]; ok {
		return t
	}
	return d.cfg.Threshold
}

func (d *detectNode) Process(ctx context.Context, port string, b *rows.Batch, out engine.Output) error {
	var done []rows.Row
	for _, r := range b.Rows {
		label, index, score, start, end, err := classifierRow(r)
		if err != nil {
			out.Reject(r, err)
			continue
		}
		if rec := recordingOf(r); rec.file != d.rec.file {
			// A new recording: no event spans two files.
			done = d.emit(done, d.openLabels())
			clear(d.hits)
			d.rec, d.window, d.lastStart = rec, 0, math.NaN()
		}
		if start != d.lastStart {
			d.window++
			d.lastStart = start
		}
		// Close events whose class has been quiet for longer than the gap.
		done = d.closeBefore(done, start)
		if !d.wanted(label, index) || score < d.threshold(label, index) {
			continue
		}
		if ev := d.open[label]; ev != nil {
			d.recordHit(label, hit{window: d.window, reported: true})
			ev.end = max(ev.end, end)
			ev.best = max(ev.best, score)
			ev.sum += score
			if start != ev.lastWindowFrom {
				ev.windows++
				ev.lastWindowFrom = start
			}
			continue
		}
		d.confirm(label, index, hit{window: d.window, start: start, end: end, score: score})
	}
	if len(done) == 0 {
		return nil
	}
	return out.Emit("out", &rows.Batch{Rows: done})
}

// confirm records a hit and opens an event once confirm_n of the last confirm_m windows hit
// (hits already reported in an earlier event count toward the confirmation but do not start the
// new event).
func (d *detectNode) confirm(label string, index int64, h hit) {
	hs := d.recordHit(label, h)
	if len(hs) < d.cfg.ConfirmN {
		return
	}
	var ev *event
	for i := range hs {
		p := &hs[i]
		if p.reported {
			continue
		}
		p.reported = true
		if ev == nil {
			ev = &event{label: label, index: index, start: p.start, end: p.end, best: p.score, sum: p.score, windows: 1, lastWindowFrom: p.start}
			continue
		}
		ev.end, ev.best, ev.sum = max(ev.end, p.end), max(ev.best, p.score), ev.sum+p.score
		ev.windows++
		ev.lastWindowFrom = p.start
	}
	d.open[label] = ev
}

// recordHit adds a hit to the class's hits within the last confirm_m windows and returns them.
func (d *detectNode) recordHit(label string, h hit) []hit {
	old := d.hits[label]
	hs := old[:0]
	for _, p := range old {
		if p.window > h.window-int64(d.cfg.ConfirmM) && p.window != h.window {
			hs = append(hs, p)
		}
	}
	hs = append(hs, h)
	d.hits[label] = hs
	return hs
}

func (d *detectNode) openLabels() []string {
	labels := make([]string, 0, len(d.open))
	for l := range d.open {
		labels = append(labels, l)
	}
	return labels
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
		dst = append(dst, d.rec.stamp(rows.Row{
			{Name: "label", Value: rows.String(ev.label)},
			{Name: "index", Value: rows.Int(ev.index)},
			{Name: "t_start", Value: rows.Float(ev.start)},
			{Name: "t_end", Value: rows.Float(ev.end)},
			{Name: "confidence", Value: rows.Float(ev.best)},
			{Name: "mean_score", Value: rows.Float(ev.sum / float64(ev.windows))},
			{Name: "windows", Value: rows.Int(int64(ev.windows))},
		}, ev.start))
	}
	return dst
}

func (d *detectNode) Flush(ctx context.Context, out engine.Output) error {
	rs := d.emit(nil, d.openLabels())
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
