package http

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/internal/testnodes"
	"github.com/atoll-studio/atoll/nodes"
)

// slowSink is a capture that waits before taking each batch (a slow pipeline) and, when gate
// is set, until gate is closed.
type slowSink struct {
	testnodes.Capture
	delay time.Duration
	gate  chan struct{}
}

func (s *slowSink) Process(ctx context.Context, port string, b *rows.Batch, out engine.Output) error {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	return s.Capture.Process(ctx, port, b, out)
}

// startSource runs a source node of type typ with config cfg into sink; its errors go to the
// returned capture. The run is cancelled when the test ends.
func startSource(t *testing.T, typ, cfg string, sink engine.Processor) (*engine.Run, *testnodes.Capture) {
	t.Helper()
	cat := nodes.New()
	errs := &testnodes.Capture{}
	cat.Register(engine.Spec{ID: "test.sink", Category: "sink", Headless: true,
		Inputs: []engine.Port{{Name: "in", Type: "any", Required: true}},
		New:    func(engine.BuildContext, json.RawMessage) (engine.Node, error) { return sink, nil }})
	testnodes.Register(cat, "test.errors", errs)
	return start(t, cat, typ, cfg, "test.sink", errs, true), errs
}

// startSink runs src into a node of type typ with config cfg; its errors go to the returned
// capture.
func startSink(t *testing.T, typ, cfg string, src engine.Source) (*engine.Run, *testnodes.Capture) {
	t.Helper()
	cat := nodes.New()
	errs := &testnodes.Capture{}
	cat.Register(engine.Spec{ID: "test.source", Category: "source", Headless: true,
		Outputs: []engine.Port{{Name: "out", Type: "rows"}},
		New:     func(engine.BuildContext, json.RawMessage) (engine.Node, error) { return src, nil }})
	testnodes.Register(cat, "test.errors", errs)
	return start(t, cat, typ, cfg, "test.source", errs, false), errs
}

func start(t *testing.T, cat *engine.Catalog, typ, cfg, partner string, errs *testnodes.Capture, source bool) *engine.Run {
	t.Helper()
	edge := graph.Edge{From: graph.Endpoint{Node: "node", Port: "out"}, To: graph.Endpoint{Node: "partner", Port: "in"}}
	if !source {
		edge = graph.Edge{From: graph.Endpoint{Node: "partner", Port: "out"}, To: graph.Endpoint{Node: "node", Port: "in"}}
	}
	doc := &graph.Document{Version: 1, ID: "t", Name: "t",
		Nodes: []graph.Node{{ID: "node", Type: typ, Config: json.RawMessage(cfg)}, {ID: "partner", Type: partner}, {ID: "errs", Type: "test.errors"}},
		Edges: []graph.Edge{edge, {From: graph.Endpoint{Node: "node", Port: "errors"}, To: graph.Endpoint{Node: "errs", Port: "in"}}}}
	r, err := engine.Build(doc, engine.Options{Catalog: cat, Headless: true, Log: func(e engine.LogEntry) {
		if e.Level != "debug" {
			t.Logf("%s %s: %s", e.Node, e.Level, e.Msg)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(context.Background())
	t.Cleanup(r.Cancel)
	return r
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// errorText returns the _error of an error row.
func errorText(r rows.Row) string {
	v, _ := r.Get(engine.ErrorField)
	s, _ := v.AsString()
	return s
}

// rowsSource emits fixed batches, acknowledged into acks.
type rowsSource struct {
	batches [][]rows.Row
	acks    chan int
}

func (s *rowsSource) Run(ctx context.Context, out engine.Output) error {
	for i, b := range s.batches {
		if err := out.EmitAcked("out", &rows.Batch{Rows: b}, func() { s.acks <- i }); err != nil {
			return nil
		}
	}
	return nil
}
