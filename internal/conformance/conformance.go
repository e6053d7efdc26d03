// Package conformance is the one stream conformance suite that every source and sink runs
// (modelled on Benthos's integration.StreamTests): open and close; N rows arrive in order; a
// restart mid-stream loses nothing; malformed input goes to errors naming the message or line;
// the run shuts down within a second of a cancel.
//
// A connector takes part by describing, in its own package's tests, how to drive the external
// system its node talks to — a Source (how to put rows in) or a Sink (how to read rows back) —
// and calling TestSource or TestSink with it:
//
//	func TestConformance(t *testing.T) {
//		conformance.TestSource(t, conformance.Source{Type: "source.http_listen", Start: startListenEnv})
//	}
//
// The suite builds real graphs with the engine: the node under test wired to capture sinks (for
// a source) or fed by a source that counts acknowledgements (for a sink).
package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/internal/testnodes"
	"github.com/atoll-studio/atoll/nodes"
)

// Source describes a source connector to the suite.
type Source struct {
	// Type is the node type id under test, e.g. "source.http_listen".
	Type string
	// Catalog holds Type; nil means nodes.Default (import the connector's package).
	Catalog *engine.Catalog
	// Start starts the external system for one subtest (stopping it with t.Cleanup) and returns
	// how to drive it.
	Start func(t *testing.T) SourceEnv
	// Replays says that rows delivered before a restart may arrive again after it (the source
	// resumes from a point it does not persist: at-least-once with duplicates). Without it a
	// duplicate after a restart fails the test.
	Replays bool
}

// SourceEnv is one subtest's external system, driven from outside the node.
type SourceEnv interface {
	// Config is the node's config, pointing at the external system.
	Config() json.RawMessage
	// Send puts rows into the external system in order, as a producer would (a webhook POST, a
	// line appended, a message published, a page to serve). The suite calls it only while a run
	// is going or being restarted: a push producer retries until the node accepts, as a real
	// one would, and returns once the node answered. ctx bounds it.
	Send(ctx context.Context, rs []rows.Row) error
	// SendMalformed puts one message the node cannot read into the external system and returns
	// the text that the errors row must contain to name it (its line, its message id).
	SendMalformed(ctx context.Context) (string, error)
}

// Readier is implemented by a SourceEnv that must wait for a started run to be ready (the node
// subscribed, say) before Send may be called.
type Readier interface {
	Ready(ctx context.Context, r *engine.Run) error
}

// Sink describes a sink connector to the suite.
type Sink struct {
	// Type is the node type id under test, e.g. "sink.sqlite".
	Type string
	// Catalog holds Type; nil means nodes.Default.
	Catalog *engine.Catalog
	// Start starts the external system for one subtest (stopping it with t.Cleanup) and returns
	// how to read it.
	Start func(t *testing.T) SinkEnv
}

// SinkEnv is one subtest's external system, read from outside the node.
type SinkEnv interface {
	// Config is the node's config, pointing at the external system.
	Config() json.RawMessage
	// Received returns the rows the external system holds so far, in the order it got them,
	// read back into rows (fields the sink adds are allowed; the sent ones must be equal).
	Received(ctx context.Context) ([]rows.Row, error)
}

// Poisoner is implemented by a SinkEnv whose external system refuses some rows: Poison returns
// such a row and the text that its errors row must contain (a status, a field name).
type Poisoner interface {
	Poison() (rows.Row, string)
}

// Staller is implemented by a SinkEnv that can make its external system stop answering (until
// the subtest ends), so that the shutdown test checks the node does not hang on it.
type Staller interface {
	Stall()
}

// Timeouts of the suite: how long rows may take to arrive and how fast a cancel must end a run.
const (
	arriveTimeout   = 15 * time.Second
	shutdownTimeout = time.Second
)

// TestSource runs the suite over a source connector.
func TestSource(t *testing.T, s Source) {
	t.Helper()
	if s.Start == nil || s.Type == "" {
		t.Fatal("conformance: Source needs a Type and a Start")
	}
	t.Run("open_close", func(t *testing.T) { sourceOpenClose(t, s) })
	t.Run("rows_in_order", func(t *testing.T) { sourceInOrder(t, s) })
	t.Run("restart_mid_stream", func(t *testing.T) { sourceRestart(t, s) })
	t.Run("malformed_to_errors", func(t *testing.T) { sourceMalformed(t, s) })
	t.Run("shutdown_on_cancel", func(t *testing.T) { sourceShutdown(t, s) })
}

// TestSink runs the suite over a sink connector.
func TestSink(t *testing.T, s Sink) {
	t.Helper()
	if s.Start == nil || s.Type == "" {
		t.Fatal("conformance: Sink needs a Type and a Start")
	}
	t.Run("open_close", func(t *testing.T) { sinkOpenClose(t, s) })
	t.Run("rows_in_order", func(t *testing.T) { sinkInOrder(t, s) })
	t.Run("restart_mid_stream", func(t *testing.T) { sinkRestart(t, s) })
	t.Run("malformed_to_errors", func(t *testing.T) { sinkPoison(t, s) })
	t.Run("shutdown_on_cancel", func(t *testing.T) { sinkShutdown(t, s) })
}

// Row returns the suite's row number seq: an int sequence number, a string with non-ASCII text,
// a float and a bool. Adapters may use it to check their own encodings.
func Row(seq int) rows.Row {
	return rows.Row{
		{Name: "seq", Value: rows.Int(int64(seq))},
		{Name: "name", Value: rows.String(fmt.Sprintf("row %d, «ü»", seq))},
		{Name: "value", Value: rows.Float(float64(seq)*0.25 + 0.125)},
		{Name: "ok", Value: rows.Bool(seq%2 == 0)},
	}
}

// Rows returns Row(from) … Row(to-1).
func Rows(from, to int) []rows.Row {
	out := make([]rows.Row, 0, max(0, to-from))
	for i := from; i < to; i++ {
		out = append(out, Row(i))
	}
	return out
}

// Contains reports whether got has every field of want with an equal value (got may have more).
func Contains(got, want rows.Row) bool {
	for _, f := range want {
		v, ok := got.Get(f.Name)
		if !ok || !(rows.Row{{Name: f.Name, Value: v}}).Equal(rows.Row{f}) {
			return false
		}
	}
	return true
}

// noErrors fails the test when anything reached the errors capture.
func noErrors(t *testing.T, errs *testnodes.Capture, when string) {
	t.Helper()
	if got := errs.Rows(); len(got) != 0 {
		t.Fatalf("errors %s: %s", when, describe(got))
	}
}

// cancelWithin cancels a run and fails the test when it has not ended within shutdownTimeout.
func cancelWithin(t *testing.T, r *engine.Run) {
	t.Helper()
	start := time.Now()
	ended := make(chan struct{})
	go func() { r.Cancel(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(shutdownTimeout):
		t.Fatalf("the run had not ended %v after the cancel", shutdownTimeout)
	}
	t.Logf("ended %v after the cancel", time.Since(start).Round(time.Millisecond))
}

// wire builds the graph of the node under test ("under_test") and the suite's node of type
// partner ("partner"): for a source, under_test's first output feeds partner; for a sink,
// partner feeds under_test's first input. under_test's errors go to a "conformance.errors"
// capture.
func wire(t *testing.T, cat *engine.Catalog, nodeType string, config json.RawMessage, partner string, source bool) *graph.Document {
	t.Helper()
	spec, ok := cat.Lookup(nodeType)
	if !ok {
		t.Fatalf("conformance: node type %q is not in the catalog (is its package imported?)", nodeType)
	}
	var edge graph.Edge
	switch {
	case source && len(spec.Outputs) > 0:
		edge = graph.Edge{From: graph.Endpoint{Node: "under_test", Port: spec.Outputs[0].Name}, To: graph.Endpoint{Node: "partner", Port: "in"}}
	case !source && len(spec.Inputs) > 0:
		edge = graph.Edge{From: graph.Endpoint{Node: "partner", Port: "out"}, To: graph.Endpoint{Node: "under_test", Port: spec.Inputs[0].Name}}
	default:
		t.Fatalf("conformance: %s has no port to wire", nodeType)
	}
	return &graph.Document{Version: graph.FormatVersion, ID: "conformance", Name: "conformance",
		Nodes: []graph.Node{
			{ID: "under_test", Type: nodeType, Config: config,
				// A failing node must fail the run at once: the suite is not testing supervision.
				Supervision: &graph.Supervision{Policy: "stop"}},
			{ID: "partner", Type: partner},
			{ID: "errs", Type: "conformance.errors"},
		},
		Edges: []graph.Edge{edge,
			{From: graph.Endpoint{Node: "under_test", Port: engine.ErrorsPort}, To: graph.Endpoint{Node: "errs", Port: "in"}}},
	}
}

func build(t *testing.T, doc *graph.Document, cat *engine.Catalog) *engine.Run {
	t.Helper()
	r, err := engine.Build(doc, engine.Options{Catalog: cat, Headless: true,
		Log: func(e engine.LogEntry) {
			if e.Level == "error" || e.Level == "warn" {
				t.Logf("node %s %s: %s", e.Node, e.Level, e.Msg)
			}
		}})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return r
}

// startRun builds and starts a run, cancelled when the test ends.
func startRun(t *testing.T, doc *graph.Document, cat *engine.Catalog) *engine.Run {
	t.Helper()
	r := build(t, doc, cat)
	r.Start(context.Background())
	t.Cleanup(r.Cancel)
	return r
}

// stop stops a run gracefully and fails the test if it does not end within a few seconds or
// ends with an error.
func stop(t *testing.T, r *engine.Run) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("stop: the run did not drain within 5 s")
	}
}

// waitFor polls cond until it holds or the timeout passes, then fails with what().
func waitFor(t *testing.T, r *engine.Run, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if r != nil {
			select {
			case <-r.Done():
				if cond() {
					return
				}
				t.Fatalf("the run ended (err: %v) before %s", r.Err(), what())
			default:
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkSeqs checks that every seq in [0, n) arrived, each row equal to Row(seq) on its fields,
// first arrivals in ascending order, and duplicates only when allowed.
func checkSeqs(t *testing.T, got []rows.Row, n int, dupsAllowed bool) {
	t.Helper()
	seen := make([]int, n)
	next := 0
	for i, r := range got {
		v, _ := r.Get("seq")
		seq, ok := v.AsInt()
		if !ok || seq < 0 || seq >= int64(n) {
			t.Fatalf("row %d has no seq in [0,%d): %s", i, n, r.AppendJSON(nil))
		}
		if !Contains(r, Row(int(seq))) {
			t.Fatalf("row %d: got %s, want the fields of %s", i, r.AppendJSON(nil), Row(int(seq)).AppendJSON(nil))
		}
		if seen[seq] > 0 {
			if !dupsAllowed {
				t.Fatalf("row %d: seq %d arrived twice", i, seq)
			}
		} else if int(seq) != next {
			t.Fatalf("row %d: seq %d arrived first, want seq %d next (out of order or lost)", i, seq, next)
		} else {
			next++
		}
		seen[seq]++
	}
	if next != n {
		t.Fatalf("%d of %d rows arrived; seq %d is the first missing", next, n, next)
	}
}

// distinct counts the distinct seq values among rs.
func distinct(rs []rows.Row) int {
	m := map[int64]bool{}
	for _, r := range rs {
		if v, ok := r.Get("seq"); ok {
			if s, ok := v.AsInt(); ok {
				m[s] = true
			}
		}
	}
	return len(m)
}

func describe(rs []rows.Row) string {
	var b strings.Builder
	for i, r := range rs {
		if i == 5 {
			fmt.Fprintf(&b, " … (%d rows)", len(rs))
			break
		}
		b.Write(r.AppendJSON(nil))
		b.WriteByte(' ')
	}
	return b.String()
}

// catalogOf returns a copy of the catalog the connector's type lives in, to add the suite's
// nodes to.
func catalogOf(c *engine.Catalog) *engine.Catalog {
	if c == nil {
		return nodes.New()
	}
	return c.Clone()
}
