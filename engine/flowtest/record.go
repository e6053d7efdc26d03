package flowtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
)

// DefaultRecordRows is how many rows Record takes from each source by default; MaxRecordRows
// is the most it takes.
const (
	DefaultRecordRows = 100
	MaxRecordRows     = 10_000
)

// RecordOptions tune Record.
type RecordOptions struct {
	// Name is the test's name.
	Name string
	// Targets are the sinks (node ids) and ports ("node.port") whose rows become the
	// expectations; none means every sink.
	Targets []string
	// MaxRows is the number of rows taken from each source (default DefaultRecordRows, at
	// most MaxRecordRows).
	MaxRows int
	// Timeout bounds the recording run (default 10 s): a live source that emits less than
	// MaxRows in that time gives what it emitted.
	Timeout time.Duration
}

// Record makes a test of doc from a run of it. It runs the graph with its real sources until
// each has emitted MaxRows rows (or ended, or Timeout passed), keeping the first MaxRows rows of
// each source's first output port; then it replays exactly those rows through the graph and
// takes what the targets received as the expected rows, so the recorded test passes against
// the graph it was recorded from. Every node's rows in and out and the errors count become
// metrics expectations.
func Record(ctx context.Context, doc *graph.Document, opts RecordOptions, env Env) (*Test, error) {
	if env.Catalog == nil {
		return nil, fmt.Errorf("flowtest: no catalog")
	}
	if opts.MaxRows <= 0 {
		opts.MaxRows = DefaultRecordRows
	}
	opts.MaxRows = min(opts.MaxRows, MaxRecordRows)
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if strings.TrimSpace(opts.Name) == "" {
		opts.Name = "recorded " + time.Now().UTC().Format("2006-01-02 15:04:05")
	}
	// Pass 1: the real sources, each source's port captured.
	t1 := &Test{Name: opts.Name, Sources: map[string]Source{}, Expect: map[string]*Expect{}}
	ports := map[string]string{}
	var sinks []string
	for _, n := range doc.Nodes {
		spec, ok := env.Catalog.Lookup(n.Type)
		if !ok {
			return nil, fmt.Errorf("node %q: unknown type %q", n.ID, n.Type)
		}
		switch {
		case len(spec.Inputs) == 0 && len(spec.Outputs) > 0:
			t1.Sources[n.ID] = Source{Keep: true}
			ports[n.ID] = spec.Outputs[0].Name
			t1.Expect[n.ID+"."+spec.Outputs[0].Name] = &Expect{}
		case len(spec.Outputs) == 0:
			sinks = append(sinks, n.ID)
		}
	}
	if len(ports) == 0 {
		return nil, fmt.Errorf("the graph has no source to record")
	}
	env1 := env
	env1.MaxRows = opts.MaxRows
	p1, err := rewrite(doc, t1, env1)
	if err != nil {
		return nil, err
	}
	enough := func() bool {
		for _, c := range p1.captures {
			if _, total := c.result(); total < int64(opts.MaxRows) {
				return false
			}
		}
		return true
	}
	if _, err := execute(ctx, p1, env1, opts.Timeout, enough); err != nil {
		if !errors.Is(err, errTimeout) {
			return nil, fmt.Errorf("recording run: %w", err)
		}
	}
	t := &Test{Name: opts.Name, Sources: map[string]Source{}, Expect: map[string]*Expect{}, Metrics: map[string]Counters{}}
	for id, port := range ports {
		got, _ := p1.captures[id+"."+port].result()
		src := Source{Rows: []json.RawMessage{}}
		for _, r := range got {
			src.Rows = append(src.Rows, r.AppendJSON(nil))
		}
		src.Types = typesOf(got)
		t.Sources[id] = src
	}
	targets := append([]string(nil), opts.Targets...) // sorted below: not the caller's slice
	if len(targets) == 0 {
		targets = sinks
	}
	sort.Strings(targets)
	for _, target := range targets {
		t.Expect[target] = &Expect{Rows: []json.RawMessage{}}
	}
	// Pass 2: replay what was recorded; the targets' rows become the expectations.
	res, err := Run(ctx, doc, t, env)
	if err != nil {
		return nil, err
	}
	if res.Error != "" {
		return nil, fmt.Errorf("replaying the recorded rows: %s", res.Error)
	}
	if err := res.Update(t, env.Dir); err != nil {
		return nil, err
	}
	for _, n := range doc.Nodes {
		if m, ok := res.metrics[n.ID]; ok {
			t.Metrics[n.ID] = Counters{RowsIn: ptr(m.RowsIn), RowsOut: ptr(m.RowsOut), Errors: ptr(m.Errors)}
		}
	}
	return t, nil
}

// typesOf names the fields whose JSON view does not read back as the same kind, so that
// replayed rows keep their types.
func typesOf(rs []rows.Row) map[string]string {
	types := map[string]string{}
	for _, r := range rs {
		for _, f := range r {
			switch k := f.Value.Kind(); k {
			case rows.KindTimestamp, rows.KindBytes, rows.KindFloat32s:
				types[f.Name] = k.String()
			}
		}
	}
	if len(types) == 0 {
		return nil
	}
	return types
}
