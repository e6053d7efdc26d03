package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
)

// The engine must not import nodes/ (nodes imports engine), so its tests bring their own node
// types. A harness holds the state those nodes share with the test: captured rows, acks, builds.
type harness struct {
	t   testing.TB
	cat *engine.Catalog

	mu      sync.Mutex
	sinks   map[string]*capture // by node id
	acks    map[int64]int       // first n of an acked batch -> times acked
	ackErrs []string            // acks that came before the sinks had the rows
	builds  map[string]int      // node id -> constructions
	panics  map[string]int      // node id -> panics so far
	emitted map[string]int64    // source node id -> rows whose Emit returned nil
	flushes map[string]int      // node id -> Flush calls
	active  map[string]*atomic.Int32
	maxPar  map[string]int32 // node id -> most concurrent Process calls seen
	release chan struct{}    // closed to let blocking sinks go on
	ackWant func(first int64, n int) error
}

type capture struct {
	mu      sync.Mutex
	rows    []rows.Row
	batches int
}

func (c *capture) add(b *rows.Batch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range b.Rows {
		c.rows = append(c.rows, r.Clone())
	}
	c.batches++
}

func (c *capture) snapshot() []rows.Row {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]rows.Row(nil), c.rows...)
}

// sourceConfig configures "test.source": rows {n: int} numbered from start.
type sourceConfig struct {
	Count   int64 `json:"count"`   // rows; 0 with forever
	Batch   int   `json:"batch"`   // rows per batch
	Start   int64 `json:"start"`   // first n
	Forever bool  `json:"forever"` // emit until stopped
	Acked   bool  `json:"acked"`   // use EmitAcked
	Reject  int64 `json:"reject"`  // reject the row with this n instead of emitting it (-1: none)
	PaceUS  int   `json:"pace_us"` // sleep between batches
	Fail    bool  `json:"fail"`    // return an error after emitting
}

// passConfig configures "test.pass": a processor that passes batches on, optionally misbehaving.
type passConfig struct {
	PanicOn  int64  `json:"panic_on"`  // panic on batches starting at this n or later (-1: none)
	Panics   int    `json:"panics"`    // how many times to panic in all (across rebuilds)
	FailOn   int64  `json:"fail_on"`   // return an error for a batch holding this n
	RejectOn int64  `json:"reject_on"` // reject the row with this n
	DropOdd  bool   `json:"drop_odd"`  // filter: drop rows with odd n
	Set      string `json:"set"`       // set this field to the node id on every row
	DelayUS  int    `json:"delay_us"`  // sleep per batch
	Workers  int    `json:"workers"`
	Swallow  bool   `json:"swallow"` // ignore Emit's error (as a careless node would)
}

type sinkConfig struct {
	DelayUS int  `json:"delay_us"` // sleep per batch
	Block   bool `json:"block"`    // wait for the harness release (or ctx) on every batch
}

func none() passConfig { return passConfig{PanicOn: -1, FailOn: -1, RejectOn: -1} }

func newHarness(t testing.TB) *harness {
	h := &harness{t: t, sinks: map[string]*capture{}, acks: map[int64]int{}, builds: map[string]int{},
		panics: map[string]int{}, emitted: map[string]int64{}, flushes: map[string]int{},
		active: map[string]*atomic.Int32{}, maxPar: map[string]int32{}, release: make(chan struct{})}
	h.cat = testCatalog(h)
	return h
}

// testCatalog returns the test node types; with h nil the nodes still build (for validation
// and fuzzing) but share no state.
func testCatalog(h *harness) *engine.Catalog {
	if h == nil {
		h = &harness{sinks: map[string]*capture{}, acks: map[int64]int{}, builds: map[string]int{},
			panics: map[string]int{}, emitted: map[string]int64{}, flushes: map[string]int{},
			active: map[string]*atomic.Int32{}, maxPar: map[string]int32{}, release: make(chan struct{})}
	}
	cat := engine.NewCatalog()
	cat.Register(engine.Spec{
		ID: "test.source", Category: "source", Summary: "Counts.", Headless: true,
		Outputs: []engine.Port{{Name: "out", Type: "rows"}},
		Fields: []engine.Field{
			{Name: "count", Type: "integer", Min: engine.Num(0)},
			{Name: "batch", Type: "integer", Min: engine.Num(1)},
			{Name: "start", Type: "integer"},
			{Name: "forever", Type: "boolean"},
			{Name: "acked", Type: "boolean"},
			{Name: "reject", Type: "integer"},
			{Name: "pace_us", Type: "integer", Min: engine.Num(0)},
			{Name: "fail", Type: "boolean"},
		},
		New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
			cfg, err := engine.DecodeConfig(raw, sourceConfig{Count: 10, Batch: 1, Reject: -1})
			if err != nil {
				return nil, err
			}
			h.built(bc.NodeID)
			return &testSource{h: h, id: bc.NodeID, cfg: cfg}, nil
		},
	})
	cat.Register(engine.Spec{
		ID: "test.pass", Category: "transform", Summary: "Passes.", Headless: true,
		Inputs:  []engine.Port{{Name: "in", Type: "any"}},
		Outputs: []engine.Port{{Name: "out", Type: "rows"}},
		Fields: []engine.Field{
			{Name: "panic_on", Type: "integer"}, {Name: "panics", Type: "integer"},
			{Name: "fail_on", Type: "integer"}, {Name: "reject_on", Type: "integer"},
			{Name: "drop_odd", Type: "boolean"}, {Name: "set", Type: "string"},
			{Name: "delay_us", Type: "integer"}, {Name: "swallow", Type: "boolean"}, {Name: "workers", Type: "integer", Min: engine.Num(0), Max: engine.Num(64)},
		},
		New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
			cfg, err := engine.DecodeConfig(raw, none())
			if err != nil {
				return nil, err
			}
			h.built(bc.NodeID)
			p := &testPass{h: h, id: bc.NodeID, cfg: cfg}
			if cfg.Workers > 1 {
				return &testWorkers{p}, nil
			}
			return p, nil
		},
	})
	cat.Register(engine.Spec{
		ID: "test.sink", Category: "sink", Summary: "Captures.", Headless: true,
		Inputs: []engine.Port{{Name: "in", Type: "any", Required: true}},
		Fields: []engine.Field{{Name: "delay_us", Type: "integer", Min: engine.Num(0)}, {Name: "block", Type: "boolean"}},
		New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
			cfg, err := engine.DecodeConfig(raw, sinkConfig{})
			if err != nil {
				return nil, err
			}
			h.built(bc.NodeID)
			return &testSink{h: h, c: h.sink(bc.NodeID), cfg: cfg}, nil
		},
	})
	cat.Register(engine.Spec{
		ID: "test.buffer", Category: "transform", Summary: "Holds every row until the end.", Headless: true,
		Inputs:  []engine.Port{{Name: "in", Type: "any", Required: true}},
		Outputs: []engine.Port{{Name: "out", Type: "rows"}},
		New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
			return &testBuffer{h: h, id: bc.NodeID}, nil
		},
	})
	cat.Register(engine.Spec{
		ID: "test.audio", Category: "source", Summary: "Emits audio frames.", Headless: true,
		Outputs: []engine.Port{{Name: "frames", Type: "audio"}},
		New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
			return &testSource{h: h, id: bc.NodeID, cfg: sourceConfig{Count: 1, Batch: 1, Reject: -1}}, nil
		},
	})
	cat.Register(engine.Spec{
		ID: "test.detector", Category: "transform", Summary: "Takes audio and rows.", Headless: true,
		Inputs:  []engine.Port{{Name: "audio", Type: "audio", Required: true}, {Name: "labels", Type: "rows"}},
		Outputs: []engine.Port{{Name: "detections", Type: "detections"}},
		Fields: []engine.Field{
			{Name: "threshold", Type: "number", Required: true, Min: engine.Num(0), Max: engine.Num(1)},
			{Name: "mode", Type: "string", Enum: []any{"max", "mean"}},
			{Name: "classes", Type: "array", Items: "string"},
		},
		New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
			return &testPass{h: h, id: bc.NodeID, cfg: none()}, nil
		},
	})
	cat.Register(engine.Spec{
		ID: "studio.preview", Category: "sink", Summary: "Studio only.", Headless: false,
		Inputs: []engine.Port{{Name: "in", Type: "any", Required: true}},
		New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
			return &testSink{h: h, c: h.sink(bc.NodeID)}, nil
		},
	})
	return cat
}

func (h *harness) built(id string) {
	h.mu.Lock()
	h.builds[id]++
	h.mu.Unlock()
}

func (h *harness) sink(id string) *capture {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.sinks[id]
	if c == nil {
		c = &capture{}
		h.sinks[id] = c
	}
	return c
}

func (h *harness) rows(id string) []rows.Row { return h.sink(id).snapshot() }

func (h *harness) count(m map[string]int, id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return m[id]
}

func (h *harness) ackCounts() map[int64]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[int64]int, len(h.acks))
	for k, v := range h.acks {
		out[k] = v
	}
	return out
}

type testSource struct {
	h   *harness
	id  string
	cfg sourceConfig
}

func (s *testSource) Run(ctx context.Context, out engine.Output) error {
	n := s.cfg.Start
	end := s.cfg.Start + s.cfg.Count
	for s.cfg.Forever || n < end {
		if ctx.Err() != nil {
			return nil
		}
		size := int64(s.cfg.Batch)
		if !s.cfg.Forever {
			size = min(size, end-n)
		}
		b := &rows.Batch{Rows: make([]rows.Row, 0, size)}
		first := n
		for i := int64(0); i < size; i++ {
			r := rows.Row{{Name: "n", Value: rows.Int(n)}}
			if n == s.cfg.Reject {
				out.Reject(r, errors.New("rejected by source"))
			} else {
				b.Rows = append(b.Rows, r)
			}
			n++
		}
		var err error
		if s.cfg.Acked {
			rowsIn := len(b.Rows)
			err = out.EmitAcked("out", b, func() { s.h.acked(first, rowsIn) })
		} else {
			err = out.Emit("out", b)
		}
		if err != nil {
			return err
		}
		s.h.mu.Lock()
		s.h.emitted[s.id] += size
		s.h.mu.Unlock()
		if s.cfg.PaceUS > 0 {
			time.Sleep(time.Duration(s.cfg.PaceUS) * time.Microsecond)
		}
	}
	if s.cfg.Fail {
		return errors.New("source broke")
	}
	return nil
}

func (h *harness) acked(first int64, n int) {
	h.mu.Lock()
	h.acks[first]++
	check := h.ackWant
	h.mu.Unlock()
	if check != nil {
		if err := check(first, n); err != nil {
			h.mu.Lock()
			h.ackErrs = append(h.ackErrs, err.Error())
			h.mu.Unlock()
		}
	}
}

type testPass struct {
	h   *harness
	id  string
	cfg passConfig
}

func (p *testPass) Process(ctx context.Context, port string, b *rows.Batch, out engine.Output) error {
	h := p.h
	h.mu.Lock()
	act := h.active[p.id]
	if act == nil {
		act = new(atomic.Int32)
		h.active[p.id] = act
	}
	h.mu.Unlock()
	cur := act.Add(1)
	defer act.Add(-1)
	h.mu.Lock()
	if cur > h.maxPar[p.id] {
		h.maxPar[p.id] = cur
	}
	h.mu.Unlock()
	if p.cfg.DelayUS > 0 {
		time.Sleep(time.Duration(p.cfg.DelayUS) * time.Microsecond)
	}
	if len(b.Rows) > 0 && p.cfg.PanicOn >= 0 && nOf(b.Rows[0]) >= p.cfg.PanicOn {
		h.mu.Lock()
		doPanic := h.panics[p.id] < p.cfg.Panics
		if doPanic {
			h.panics[p.id]++
		}
		h.mu.Unlock()
		if doPanic {
			panic(fmt.Sprintf("test panic at n=%d", nOf(b.Rows[0])))
		}
	}
	for _, r := range b.Rows {
		n := nOf(r)
		if n == p.cfg.FailOn {
			return fmt.Errorf("cannot handle n=%d", n)
		}
	}
	kept := b.Rows[:0]
	for _, r := range b.Rows {
		n := nOf(r)
		switch {
		case n == p.cfg.RejectOn:
			out.Reject(r, fmt.Errorf("bad n=%d", n))
			continue
		case p.cfg.DropOdd && n%2 != 0:
			continue
		}
		if p.cfg.Set != "" {
			r.Set(p.cfg.Set, rows.String(p.id))
		}
		kept = append(kept, r)
	}
	b.Rows = kept
	if len(kept) == 0 {
		return nil
	}
	if err := out.Emit("out", b); err != nil && !p.cfg.Swallow {
		return err
	}
	return nil
}

type testWorkers struct{ *testPass }

func (w *testWorkers) Workers() int { return w.cfg.Workers }

type testSink struct {
	h   *harness
	c   *capture
	cfg sinkConfig
}

func (s *testSink) Process(ctx context.Context, port string, b *rows.Batch, out engine.Output) error {
	if s.cfg.Block {
		select {
		case <-s.h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.cfg.DelayUS > 0 {
		time.Sleep(time.Duration(s.cfg.DelayUS) * time.Microsecond)
	}
	s.c.add(b)
	return nil
}

type testBuffer struct {
	h    *harness
	id   string
	held []rows.Row
}

func (t *testBuffer) Process(ctx context.Context, port string, b *rows.Batch, out engine.Output) error {
	t.held = append(t.held, b.Rows...)
	return nil
}

func (t *testBuffer) Flush(ctx context.Context, out engine.Output) error {
	t.h.mu.Lock()
	t.h.flushes[t.id]++
	t.h.mu.Unlock()
	if len(t.held) == 0 {
		return nil
	}
	return out.Emit("out", &rows.Batch{Rows: t.held})
}

var (
	_ engine.Source    = (*testSource)(nil)
	_ engine.Processor = (*testPass)(nil)
	_ engine.Workers   = (*testWorkers)(nil)
	_ engine.Processor = (*testSink)(nil)
	_ engine.Flusher   = (*testBuffer)(nil)
)

func nOf(r rows.Row) int64 {
	v, _ := r.Get("n")
	n, _ := v.AsInt()
	return n
}

// g builds a graph document from nodes written as "id:type:config" and edges "a.out->b.in".
type gnode struct {
	id, typ string
	config  any
	sup     *graph.Supervision
}

func doc(t testing.TB, nodes []gnode, edges ...string) *graph.Document {
	t.Helper()
	d := &graph.Document{Version: graph.FormatVersion, ID: "test", Name: t.Name()}
	for _, n := range nodes {
		gn := graph.Node{ID: n.id, Type: n.typ, Supervision: n.sup}
		if n.config != nil {
			raw, err := json.Marshal(n.config)
			if err != nil {
				t.Fatal(err)
			}
			gn.Config = raw
		}
		d.Nodes = append(d.Nodes, gn)
	}
	for _, e := range edges {
		var fn, fp, tn, tp string
		if _, err := fmt.Sscanf(replaceArrow(e), "%s %s %s %s", &fn, &fp, &tn, &tp); err != nil {
			t.Fatalf("edge %q: %v", e, err)
		}
		d.Edges = append(d.Edges, graph.Edge{From: graph.Endpoint{Node: fn, Port: fp}, To: graph.Endpoint{Node: tn, Port: tp}})
	}
	return d
}

func replaceArrow(e string) string {
	out := make([]byte, 0, len(e))
	for i := 0; i < len(e); i++ {
		switch {
		case e[i] == '.':
			out = append(out, ' ')
		case e[i] == '-' && i+1 < len(e) && e[i+1] == '>':
			out = append(out, ' ')
			i++
		default:
			out = append(out, e[i])
		}
	}
	return string(out)
}

func (h *harness) build(d *graph.Document, opts engine.Options) *engine.Run {
	h.t.Helper()
	opts.Catalog = h.cat
	r, err := engine.Build(d, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// run builds, starts and waits for a graph, failing the test on a run error.
func (h *harness) run(d *graph.Document, opts engine.Options) *engine.Run {
	h.t.Helper()
	r := h.build(d, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r.Start(ctx)
	if err := r.Wait(); err != nil {
		h.t.Fatalf("run: %v", err)
	}
	return r
}

// ns returns the sorted n values of rows.
func ns(rs []rows.Row) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = nOf(r)
	}
	slices.Sort(out)
	return out
}

// seq returns from, from+1, ... to-1 minus the excluded values.
func seq(from, to int64, except ...int64) []int64 {
	skip := map[int64]bool{}
	for _, e := range except {
		skip[e] = true
	}
	var out []int64
	for i := from; i < to; i++ {
		if !skip[i] {
			out = append(out, i)
		}
	}
	return out
}

func equalInts(a, b []int64) bool { return slices.Equal(a, b) }
