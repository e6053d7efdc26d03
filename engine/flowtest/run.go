package flowtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
)

// Env is what running a test needs from its caller: the node catalog (the runner's or the
// studio's), how assets resolve, engine services (the base directory of relative paths), and
// the directory that files named by the test are relative to.
type Env struct {
	Catalog  *engine.Catalog
	Assets   engine.AssetResolver
	Services map[string]any
	// Dir is the directory of the test file (source and expectation files are relative to it).
	Dir string
	// Headless refuses studio-only nodes that the test does not replace.
	Headless bool
	// MaxRows bounds the rows kept per captured target (default 1,000,000); the count goes on.
	MaxRows int
	// Log receives the nodes' logs; nil discards them.
	Log func(engine.LogEntry)
	// Paths, when set, confines every host path a test uses: the graph's path fields (as
	// engine.Options.Paths) and the test's source and expectation files (resolved against Dir).
	// The studio sets it; `atoll test` on the user's own files does not.
	Paths engine.PathPolicy
}

// checkFiles asks env.Paths about the test's source and expectation files.
func (env Env) checkFiles(t *Test) error {
	if env.Paths == nil {
		return nil
	}
	check := func(what, f string) error {
		if f == "" {
			return nil
		}
		if !filepath.IsAbs(f) {
			f = filepath.Join(env.Dir, f)
		}
		if err := env.Paths(f); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	for _, id := range sortedKeys(t.Sources) {
		if err := check(fmt.Sprintf("source %q: file", id), t.Sources[id].File); err != nil {
			return err
		}
	}
	for _, target := range sortedKeys(t.Expect) {
		if e := t.Expect[target]; e != nil {
			if err := check(fmt.Sprintf("expect %q: file", target), e.File); err != nil {
				return err
			}
		}
	}
	return nil
}

// DefaultMaxRows is the default bound on the rows kept per captured target.
const DefaultMaxRows = 1_000_000

// ShownRows bounds the rows of each side a Result carries for display.
const ShownRows = 200

// Result is the outcome of one test.
type Result struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	// Error says why the test could not run (an invalid graph, a missing file, a failed run).
	Error     string   `json:"error,omitempty"`
	Diffs     []Diff   `json:"diffs,omitempty"`
	Targets   []Target `json:"targets,omitempty"`
	ElapsedMS float64  `json:"elapsed_ms"`

	got     map[string][]rows.Row
	metrics map[string]engine.NodeMetrics
}

// Target is what one tested target received, beside what was expected (the first ShownRows of
// each), for a side-by-side view.
type Target struct {
	Target string            `json:"target"`
	Label  string            `json:"label"`
	Want   []json.RawMessage `json:"want,omitempty"`
	Got    []json.RawMessage `json:"got"`
	Count  int64             `json:"count"`
}

// First returns the message of the first difference (or the error), "" when the test passed.
func (r *Result) First() string {
	if r.Error != "" {
		return r.Error
	}
	if len(r.Diffs) > 0 {
		return r.Diffs[0].Message
	}
	return ""
}

// Label names a target in messages: sink "file", errors "fn", edge "map.out".
func Label(doc *graph.Document, target string) string {
	for _, n := range doc.Nodes {
		if n.ID == target {
			return fmt.Sprintf("sink %q", target)
		}
	}
	if node, ok := strings.CutSuffix(target, "."+engine.ErrorsPort); ok {
		return fmt.Sprintf("errors %q", node)
	}
	return fmt.Sprintf("edge %q", target)
}

// Run runs one test of doc and compares. It returns an error only for a malformed call (no
// catalog); everything about the test itself is in the Result.
func Run(ctx context.Context, doc *graph.Document, t *Test, env Env) (*Result, error) {
	if env.Catalog == nil {
		return nil, errors.New("flowtest: no catalog")
	}
	res := &Result{Name: t.Name}
	start := time.Now()
	err := run(ctx, doc, t, env, res)
	res.ElapsedMS = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		res.Error = err.Error()
	}
	res.Passed = res.Error == "" && len(res.Diffs) == 0
	return res, nil
}

func run(ctx context.Context, doc *graph.Document, t *Test, env Env, res *Result) error {
	if env.MaxRows <= 0 {
		env.MaxRows = DefaultMaxRows
	}
	if err := env.checkFiles(t); err != nil {
		return err
	}
	plan, err := rewrite(doc, t, env)
	if err != nil {
		return err
	}
	// The expected rows are read before the run, so a missing or malformed expectation file
	// fails at once, not after the graph ran.
	wants := map[string][]json.RawMessage{}
	for _, target := range sortedKeys(t.Expect) {
		want, err := t.Expect[target].rows(env.Dir)
		if err != nil {
			return fmt.Errorf("%s: %w", plan.labels[target], err)
		}
		wants[target] = want
	}
	timeout := time.Duration(t.TimeoutMS) * time.Millisecond
	if timeout <= 0 {
		timeout = time.Minute
	}
	r, err := execute(ctx, plan, env, timeout, nil)
	if err != nil {
		return err
	}
	res.metrics = r.Metrics()
	res.got = map[string][]rows.Row{}
	for _, target := range sortedKeys(t.Expect) {
		c := plan.captures[target]
		got, total := c.result()
		if total > int64(len(got)) {
			return fmt.Errorf("%s: %d rows, more than the %d a test keeps", plan.labels[target], total, env.MaxRows)
		}
		res.got[target] = got
		e, want := t.Expect[target], wants[target]
		diffs, err := Compare(plan.labels[target], e, want, got)
		if err != nil {
			return err
		}
		res.Diffs = append(res.Diffs, diffs...)
		tr := Target{Target: target, Label: plan.labels[target], Count: total, Got: []json.RawMessage{}}
		for _, w := range want[:min(len(want), ShownRows)] {
			tr.Want = append(tr.Want, w)
		}
		for _, g := range got[:min(len(got), ShownRows)] {
			tr.Got = append(tr.Got, g.AppendJSON(nil))
		}
		res.Targets = append(res.Targets, tr)
	}
	for _, id := range sortedKeys(t.Metrics) {
		m, ok := res.metrics[id]
		if !ok {
			return fmt.Errorf("metrics: no node %q", id)
		}
		c := t.Metrics[id]
		for _, x := range []struct {
			name string
			want *int64
			got  int64
		}{{"rows_in", c.RowsIn, m.RowsIn}, {"rows_out", c.RowsOut, m.RowsOut}, {"errors", c.Errors, m.Errors}} {
			if x.want != nil && *x.want != x.got {
				res.Diffs = append(res.Diffs, Diff{Target: fmt.Sprintf("node %q", id), Field: x.name,
					Want: num(*x.want), Got: num(x.got),
					Message: fmt.Sprintf("node %q %s: %d, want %d", id, x.name, x.got, *x.want)})
			}
		}
	}
	return nil
}

// errTimeout is the cause of a run that outlived its timeout.
var errTimeout = errors.New("the run did not end")

// execute builds and runs a rewritten graph. The run fails after timeout; when enough is given,
// it is polled and the run is stopped (drained) once it reports true.
func execute(ctx context.Context, p *plan, env Env, timeout time.Duration, enough func() bool) (*engine.Run, error) {
	r, err := engine.Build(p.doc, engine.Options{Catalog: p.catalog, Assets: env.Assets, Services: env.Services,
		Headless: env.Headless, Log: env.Log, Paths: env.Paths})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("%w within %v", errTimeout, timeout))
	defer cancel()
	r.Start(rctx)
	if enough != nil {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
	wait:
		for {
			select {
			case <-r.Done():
				break wait
			case <-tick.C:
				if enough() {
					dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
					r.Stop(dctx)
					dcancel()
					break wait
				}
			}
		}
	}
	if err := r.Wait(); err != nil && !errors.Is(err, engine.ErrStopped) {
		return nil, fmt.Errorf("run: %w", err)
	}
	return r, nil
}

func num(n int64) json.RawMessage { b, _ := json.Marshal(n); return b }

// rows returns the expected rows: inline or from the expectation's file (nil: not compared).
func (e *Expect) rows(dir string) ([]json.RawMessage, error) {
	if e.File != "" {
		return readRawJSONL(filepath.Join(dir, e.File))
	}
	return e.Rows, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// plan is a graph rewritten for a test: sources replaced, sinks and tested ports captured.
type plan struct {
	doc      *graph.Document
	catalog  *engine.Catalog
	captures map[string]*capture // by target
	labels   map[string]string
}

// rewrite replaces every source of doc by what the test gives for it, every sink by a capture,
// and wires a capture to every tested port. Node ids stay, so metrics and messages name the
// graph's nodes.
func rewrite(doc *graph.Document, t *Test, env Env) (*plan, error) {
	p := &plan{catalog: env.Catalog.Clone(), captures: map[string]*capture{}, labels: map[string]string{}}
	nd := *doc
	nd.Nodes = make([]graph.Node, len(doc.Nodes))
	copy(nd.Nodes, doc.Nodes)
	nd.Edges = append([]graph.Edge(nil), doc.Edges...)
	ids := map[string]int{}
	for i, n := range nd.Nodes {
		ids[n.ID] = i
	}
	for id := range t.Config {
		if _, ok := ids[id]; !ok {
			return nil, fmt.Errorf("config: no node %q in the graph", id)
		}
	}
	for id := range t.Sources {
		i, ok := ids[id]
		if !ok {
			return nil, fmt.Errorf("source %q: no node %q in the graph", id, id)
		}
		if spec, ok := env.Catalog.Lookup(nd.Nodes[i].Type); ok && len(spec.Inputs) > 0 {
			return nil, fmt.Errorf("source %q: node %q (%s) is not a source", id, id, spec.ID)
		}
	}
	sinks := map[string]*capture{}
	for i := range nd.Nodes {
		n := &nd.Nodes[i]
		if patch, ok := t.Config[n.ID]; ok {
			merged, err := mergePatch(n.Config, patch)
			if err != nil {
				return nil, fmt.Errorf("config of node %q: %w", n.ID, err)
			}
			n.Config = merged
		}
		spec, ok := env.Catalog.Lookup(n.Type)
		if !ok {
			continue // validation names the unknown type
		}
		switch {
		case len(spec.Inputs) == 0:
			src, ok := t.Sources[n.ID]
			if !ok {
				return nil, fmt.Errorf("source %q: the test gives nothing for it (rows, file, sequence or keep)", n.ID)
			}
			if src.Keep {
				continue
			}
			rs, err := replacement(*n, spec, src, env)
			if err != nil {
				return nil, fmt.Errorf("source %q: %w", n.ID, err)
			}
			id := "flowtest.replay." + n.ID
			p.catalog.Register(rs.spec(id, spec))
			n.Type, n.Config = id, nil
		case len(spec.Outputs) == 0:
			c := &capture{limit: env.MaxRows}
			sinks[n.ID] = c
			id := "flowtest.capture." + n.ID
			p.catalog.Register(captureSpec(id, spec.Inputs, c))
			n.Type, n.Config = id, nil
		}
	}
	for _, target := range sortedKeys(t.Expect) {
		p.labels[target] = Label(doc, target)
		if c, ok := sinks[target]; ok {
			p.captures[target] = c
			continue
		}
		if _, isNode := ids[target]; isNode {
			return nil, fmt.Errorf("expect %q: node %q is not a sink: name one of its ports (%s.out)", target, target, target)
		}
		node, port, ok := cut(target)
		i, found := ids[node]
		if !ok || !found {
			return nil, fmt.Errorf("expect %q: no sink or node port of that name in the graph", target)
		}
		if spec, ok := env.Catalog.Lookup(doc.Nodes[i].Type); ok {
			if _, ok := spec.Output(port); !ok {
				return nil, fmt.Errorf("expect %q: node %q has no output port %q", target, node, port)
			}
		}
		c := &capture{limit: env.MaxRows}
		p.captures[target] = c
		cid := fmt.Sprintf("flowtest.capture.%d", len(nd.Nodes))
		p.catalog.Register(captureSpec(cid, []engine.Port{{Name: "in", Type: "any"}}, c))
		nid := "flowtest-capture-" + target
		nd.Nodes = append(nd.Nodes, graph.Node{ID: nid, Type: cid})
		nd.Edges = append(nd.Edges, graph.Edge{From: graph.Endpoint{Node: node, Port: port}, To: graph.Endpoint{Node: nid, Port: "in"}})
	}
	p.doc = &nd
	return p, nil
}

// cut splits "node.port" at the last dot.
func cut(target string) (node, port string, ok bool) {
	i := strings.LastIndexByte(target, '.')
	if i <= 0 || i == len(target)-1 {
		return "", "", false
	}
	return target[:i], target[i+1:], true
}

func captureSpec(id string, inputs []engine.Port, c *capture) engine.Spec {
	return engine.Spec{ID: id, Category: "sink", Summary: "flow test capture", Headless: true, Inputs: inputs,
		New: func(engine.BuildContext, json.RawMessage) (engine.Node, error) { return c, nil }}
}

// replacementSource is a source's stand-in before it is built.
type replacementSource struct {
	port     string
	batch    int
	rows     []rows.Row
	delegate *engine.Spec
	config   json.RawMessage
}

func (rs *replacementSource) spec(id string, orig *engine.Spec) engine.Spec {
	return engine.Spec{ID: id, Category: "source", Summary: "flow test replay of " + orig.ID, Headless: true, Outputs: orig.Outputs,
		New: func(bc engine.BuildContext, _ json.RawMessage) (engine.Node, error) {
			s := &replay{port: rs.port, batch: rs.batch, rows: rs.rows}
			if rs.delegate != nil {
				n, err := rs.delegate.New(bc, rs.config)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", rs.delegate.ID, err)
				}
				src, ok := n.(engine.Source)
				if !ok {
					return nil, fmt.Errorf("%s built a %T, not a source", rs.delegate.ID, n)
				}
				s.delegate = src
			}
			return s, nil
		}}
}

// replacement reads what a test gives for source node n.
func replacement(n graph.Node, spec *engine.Spec, src Source, env Env) (*replacementSource, error) {
	rs := &replacementSource{port: src.Port, batch: src.BatchSize}
	if rs.batch <= 0 {
		rs.batch = 64
	}
	if rs.port == "" {
		if len(spec.Outputs) == 0 {
			return nil, fmt.Errorf("node type %s has no output port", spec.ID)
		}
		rs.port = spec.Outputs[0].Name
	} else if _, ok := spec.Output(rs.port); !ok {
		return nil, fmt.Errorf("node type %s has no output port %q", spec.ID, rs.port)
	}
	switch {
	case src.Rows != nil:
		for i, raw := range src.Rows {
			r, err := typedRow(raw, src.Types)
			if err != nil {
				return nil, fmt.Errorf("row %d: %w", i+1, err)
			}
			rs.rows = append(rs.rows, r)
		}
	case src.Sequence != nil:
		step := src.Sequence.Step
		if step == 0 {
			step = 1
		}
		rs.rows = make([]rows.Row, src.Sequence.Count)
		for i := range rs.rows {
			rs.rows[i] = rows.Row{{Name: src.Sequence.Field, Value: rows.Int(src.Sequence.From + int64(i)*step)}}
		}
	case src.File != "":
		path := src.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(env.Dir, path)
		}
		path, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".jsonl", ".ndjson":
			var err error
			if rs.rows, err = readJSONL(path, src.Types); err != nil {
				return nil, err
			}
		case ".csv":
			cfg := map[string]any{"path": path, "format": "csv", "batch_size": rs.batch}
			if len(src.Columns) > 0 {
				cfg["columns"] = src.Columns
			}
			if err := rs.delegateTo(env, "source.file", cfg); err != nil {
				return nil, err
			}
		case ".wav":
			cfg := map[string]any{}
			if n.Type == "source.wav" && len(n.Config) > 0 {
				if err := json.Unmarshal(n.Config, &cfg); err != nil {
					return nil, err
				}
			}
			cfg["path"] = path
			if err := rs.delegateTo(env, "source.wav", cfg); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("file %s: want .jsonl, .ndjson, .csv or .wav", src.File)
		}
	}
	return rs, nil
}

func (rs *replacementSource) delegateTo(env Env, typ string, cfg map[string]any) error {
	spec, ok := env.Catalog.Lookup(typ)
	if !ok {
		return fmt.Errorf("reading this file needs node type %s, which this catalog lacks", typ)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	rs.delegate, rs.config = spec, b
	return nil
}

// mergePatch applies an RFC 7396 JSON merge patch to a config object.
func mergePatch(doc, patch json.RawMessage) (json.RawMessage, error) {
	var d any
	if len(doc) > 0 {
		v, err := decodeNumber(doc)
		if err != nil {
			return nil, err
		}
		d = v
	}
	p, err := decodeNumber(patch)
	if err != nil {
		return nil, err
	}
	return json.Marshal(merge(d, p))
}

func merge(d, p any) any {
	pm, ok := p.(map[string]any)
	if !ok {
		return p
	}
	dm, ok := d.(map[string]any)
	if !ok {
		dm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(dm, k)
		} else {
			dm[k] = merge(dm[k], v)
		}
	}
	return dm
}
