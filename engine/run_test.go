package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
)

func src(id string, cfg sourceConfig) gnode {
	if cfg.Batch == 0 {
		cfg.Batch = 10
	}
	if cfg.Reject == 0 {
		cfg.Reject = -1
	}
	return gnode{id: id, typ: "test.source", config: cfg}
}

func pass(id string, mod func(*passConfig)) gnode {
	cfg := none()
	if mod != nil {
		mod(&cfg)
	}
	return gnode{id: id, typ: "test.pass", config: cfg}
}

func sink(id string, cfg sinkConfig) gnode { return gnode{id: id, typ: "test.sink", config: cfg} }

func TestLinearPipeline(t *testing.T) {
	h := newHarness(t)
	h.run(doc(t, []gnode{src("s", sourceConfig{Count: 1000, Batch: 64}), pass("p", nil), sink("k", sinkConfig{})},
		"s.out->p.in", "p.out->k.in"), engine.Options{})
	got := h.rows("k")
	if len(got) != 1000 {
		t.Fatalf("got %d rows, want 1000", len(got))
	}
	for i, r := range got { // one path keeps order
		if nOf(r) != int64(i) {
			t.Fatalf("row %d has n=%d", i, nOf(r))
		}
	}
}

// A slow sink slows the source: rows in flight stay bounded by the queues, every node's queue
// holds at most QueueLen batches, and nothing is dropped.
func TestBackpressure(t *testing.T) {
	for _, queueLen := range []int{1, 2, 8} {
		t.Run(fmt.Sprint("queue=", queueLen), func(t *testing.T) {
			h := newHarness(t)
			const batch, total = 10, 3000
			r := h.build(doc(t, []gnode{src("s", sourceConfig{Count: total, Batch: batch}), pass("p", nil),
				sink("k", sinkConfig{DelayUS: 200})}, "s.out->p.in", "p.out->k.in"), engine.Options{QueueLen: queueLen})
			r.Start(t.Context())
			// In flight: a queue and one batch in hand per processor, plus the batch the source
			// is emitting.
			bound := int64((2*(queueLen+1) + 1) * batch)
			var maxInFlight int64
			for done := false; !done; {
				select {
				case <-r.Done():
					done = true
				case <-time.After(time.Millisecond):
				}
				m := r.Metrics()
				for id, nm := range m {
					if nm.QueueDepth > queueLen {
						t.Fatalf("node %s queue depth %d > %d", id, nm.QueueDepth, queueLen)
					}
				}
				h.mu.Lock()
				emitted := h.emitted["s"]
				h.mu.Unlock()
				// Sink rows are read after the source count: the difference can only be larger.
				if d := emitted - int64(len(h.rows("k"))); d > maxInFlight {
					maxInFlight = d
				}
			}
			if err := r.Err(); err != nil {
				t.Fatal(err)
			}
			if maxInFlight > bound {
				t.Errorf("up to %d rows in flight, want <= %d: the source did not block", maxInFlight, bound)
			}
			if got := ns(h.rows("k")); !equalInts(got, seq(0, total)) {
				t.Fatalf("sink got %d rows, want %d, none dropped", len(got), total)
			}
		})
	}
}

// Fan-out gives each branch its own copy: a branch that modifies rows does not change the
// other's.
func TestFanOutCopies(t *testing.T) {
	h := newHarness(t)
	h.run(doc(t, []gnode{src("s", sourceConfig{Count: 500, Batch: 16}),
		pass("a", func(c *passConfig) { c.Set = "branch" }),
		pass("b", func(c *passConfig) { c.Set = "branch" }),
		sink("ka", sinkConfig{}), sink("kb", sinkConfig{}), sink("raw", sinkConfig{})},
		"s.out->a.in", "s.out->b.in", "s.out->raw.in", "a.out->ka.in", "b.out->kb.in"), engine.Options{})
	for _, tc := range []struct{ sink, want string }{{"ka", "a"}, {"kb", "b"}, {"raw", ""}} {
		got := h.rows(tc.sink)
		if !equalInts(ns(got), seq(0, 500)) {
			t.Fatalf("%s: got %d rows, want all 500", tc.sink, len(got))
		}
		for _, r := range got {
			v, ok := r.Get("branch")
			s, _ := v.AsString()
			if tc.want == "" && ok || tc.want != "" && s != tc.want || len(r) > 2 {
				t.Fatalf("%s: row %v: branches share rows", tc.sink, r)
			}
		}
	}
}

// Fan-in merges every producer into one input; the input closes when the last producer ends.
func TestFanInMerge(t *testing.T) {
	h := newHarness(t)
	h.run(doc(t, []gnode{src("s1", sourceConfig{Count: 300, Batch: 7}), src("s2", sourceConfig{Count: 200, Start: 1000, Batch: 3, PaceUS: 50}),
		pass("p", nil), sink("k", sinkConfig{})},
		"s1.out->p.in", "s2.out->p.in", "p.out->k.in"), engine.Options{})
	want := append(seq(0, 300), seq(1000, 1200)...)
	if got := ns(h.rows("k")); !equalInts(got, want) {
		t.Fatalf("got %d rows, want %d from both sources", len(got), len(want))
	}
}

func TestErrorsPort(t *testing.T) {
	t.Run("wired", func(t *testing.T) {
		h := newHarness(t)
		r := h.run(doc(t, []gnode{src("s", sourceConfig{Count: 100, Batch: 10, Reject: 99}),
			pass("p", func(c *passConfig) { c.RejectOn = 5; c.FailOn = 42 }),
			sink("k", sinkConfig{}), sink("errs", sinkConfig{})},
			"s.out->p.in", "p.out->k.in", "p.errors->errs.in", "s.errors->errs.in"), engine.Options{})
		if got, want := ns(h.rows("k")), seq(0, 99, append(seq(40, 50), 5)...); !equalInts(got, want) {
			t.Fatalf("sink: got %v, want %v", got, want)
		}
		errRows := h.rows("errs")
		if got, want := ns(errRows), append(append([]int64{5}, seq(40, 50)...), 99); !equalInts(got, want) {
			t.Fatalf("errors: got %v, want %v", got, want)
		}
		for _, row := range errRows {
			reason, _ := row.Get(engine.ErrorField)
			node, _ := row.Get(engine.ErrorNodeField)
			rs, _ := reason.AsString()
			nd, _ := node.AsString()
			var want, wantNode string
			switch n := nOf(row); {
			case n == 5:
				want, wantNode = "bad n=5", "p"
			case n == 99:
				want, wantNode = "rejected by source", "s"
			default:
				want, wantNode = "cannot handle n=42", "p"
			}
			if rs != want || nd != wantNode {
				t.Fatalf("error row %v: want reason %q from %q", row, want, wantNode)
			}
		}
		m := r.Metrics()
		if m["p"].Errors != 11 || m["s"].Errors != 1 || m["p"].RowsOut != 88 || m["p"].RowsIn != 99 {
			t.Fatalf("metrics: %+v", m)
		}
	})
	t.Run("unwired", func(t *testing.T) {
		h := newHarness(t)
		var mu sync.Mutex
		var warns []string
		r := h.run(doc(t, []gnode{src("s", sourceConfig{Count: 100, Batch: 10}),
			pass("p", func(c *passConfig) { c.RejectOn = 5; c.FailOn = 42 }), sink("k", sinkConfig{})},
			"s.out->p.in", "p.out->k.in"), engine.Options{Log: func(e engine.LogEntry) {
			mu.Lock()
			defer mu.Unlock()
			if e.Node == "p" && e.Level == "warn" {
				warns = append(warns, e.Msg)
			}
		}})
		if m := r.Metrics()["p"]; m.Errors != 11 {
			t.Fatalf("errors counted: %d, want 11", m.Errors)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(warns) == 0 || !strings.Contains(warns[0], "errors port not wired") {
			t.Fatalf("no sampled log line for unwired errors: %q", warns)
		}
		if got := len(h.rows("k")); got != 89 {
			t.Fatalf("sink got %d rows, want 89", got)
		}
	})
}

func TestSupervision(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sup      *graph.Supervision
		panics   int
		wantErr  string // "" = the run succeeds
		builds   int
		restarts int
	}{
		{"restart", &graph.Supervision{Policy: "restart", BackoffMS: 1}, 1, "", 2, 1},
		{"restart twice", &graph.Supervision{Policy: "restart", BackoffMS: 1}, 2, "", 3, 2},
		{"default policy", &graph.Supervision{BackoffMS: 1}, 1, "", 2, 1},
		{"skip", &graph.Supervision{Policy: "skip"}, 3, "", 1, 0},
		{"stop", &graph.Supervision{Policy: "stop"}, 1, "panic: test panic at n=30", 1, 0},
		{"max restarts", &graph.Supervision{Policy: "restart", MaxRestarts: 2, BackoffMS: 1}, 100, "gave up after 2 restarts", 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			// The node panics on the batches from n=30 on, tc.panics times in all.
			p := pass("p", func(c *passConfig) { c.PanicOn = 30; c.Panics = tc.panics })
			p.sup = tc.sup
			d := doc(t, []gnode{src("s", sourceConfig{Count: 100, Batch: 10}), p, sink("k", sinkConfig{}), sink("errs", sinkConfig{})},
				"s.out->p.in", "p.out->k.in", "p.errors->errs.in")
			r := h.build(d, engine.Options{})
			r.Start(t.Context())
			err := r.Wait()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("run failed: %v", err)
				}
			} else {
				var ne *engine.NodeError
				if !errors.As(err, &ne) || ne.Node != "p" || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("run error %v, want a NodeError on p containing %q", err, tc.wantErr)
				}
			}
			if b := h.count(h.builds, "p"); b != tc.builds {
				t.Errorf("p built %d times, want %d", b, tc.builds)
			}
			if got := r.Metrics()["p"].Restarts; got != tc.restarts {
				t.Errorf("restarts %d, want %d", got, tc.restarts)
			}
			if tc.wantErr == "" {
				// The panicking batch went to errors with the reason; every other row went on.
				failed := ns(h.rows("errs"))
				if len(failed) == 0 || len(failed)%10 != 0 {
					t.Fatalf("errors got %v, want whole failed batches", failed)
				}
				reason, _ := h.rows("errs")[0].Get(engine.ErrorField)
				if s, _ := reason.AsString(); !strings.HasPrefix(s, "panic: test panic") {
					t.Fatalf("error reason %q", s)
				}
				all := append(ns(h.rows("k")), failed...)
				slices.Sort(all)
				if !equalInts(all, seq(0, 100)) {
					t.Fatalf("sink+errors got %v, want every row once", all)
				}
			}
		})
	}
}

func TestSourceSupervision(t *testing.T) {
	t.Run("restart", func(t *testing.T) {
		h := newHarness(t)
		s := src("s", sourceConfig{Count: 5, Batch: 5, Fail: true})
		s.sup = &graph.Supervision{Policy: "restart", MaxRestarts: 2, BackoffMS: 1}
		r := h.build(doc(t, []gnode{s, sink("k", sinkConfig{})}, "s.out->k.in"), engine.Options{})
		r.Start(t.Context())
		err := r.Wait()
		var ne *engine.NodeError
		if !errors.As(err, &ne) || ne.Node != "s" {
			t.Fatalf("run error %v, want a NodeError on s", err)
		}
		if b := h.count(h.builds, "s"); b != 3 {
			t.Fatalf("source built %d times, want 3", b)
		}
		if got := len(h.rows("k")); got != 15 { // at least once: each run re-emits
			t.Fatalf("sink got %d rows, want 15", got)
		}
	})
	t.Run("skip", func(t *testing.T) {
		h := newHarness(t)
		s := src("s", sourceConfig{Count: 5, Batch: 5, Fail: true})
		s.sup = &graph.Supervision{Policy: "skip"}
		r := h.run(doc(t, []gnode{s, sink("k", sinkConfig{})}, "s.out->k.in"), engine.Options{})
		if m := r.Metrics()["s"]; m.Errors != 1 || m.State != "done" {
			t.Fatalf("metrics %+v", m)
		}
	})
}

// Acks: a source using EmitAcked is told exactly once per batch, after every sink has the
// batch's rows, whatever happens to the rows on the way.
func TestAcks(t *testing.T) {
	const total, batch = 400, 8
	for _, tc := range []struct {
		name  string
		nodes []gnode
		edges []string
		sinks []string // sinks that must hold a batch's surviving rows before its ack
		keep  func(n int64) bool
	}{
		{"linear", []gnode{pass("p", nil), sink("k", sinkConfig{DelayUS: 20})}, []string{"s.out->p.in", "p.out->k.in"}, []string{"k"}, nil},
		{"fan-out", []gnode{pass("p", nil), sink("k1", sinkConfig{DelayUS: 50}), sink("k2", sinkConfig{})},
			[]string{"s.out->p.in", "p.out->k1.in", "s.out->k2.in"}, []string{"k1", "k2"}, nil},
		{"filter drops rows", []gnode{pass("p", func(c *passConfig) { c.DropOdd = true }), sink("k", sinkConfig{})},
			[]string{"s.out->p.in", "p.out->k.in"}, []string{"k"}, func(n int64) bool { return n%2 == 0 }},
		{"error rows wired", []gnode{pass("p", func(c *passConfig) { c.FailOn = 17; c.RejectOn = 30 }), sink("k", sinkConfig{}), sink("errs", sinkConfig{DelayUS: 100})},
			[]string{"s.out->p.in", "p.out->k.in", "p.errors->errs.in"}, []string{"k"}, func(n int64) bool { return n != 30 && (n < 16 || n >= 24) }},
		{"error rows unwired", []gnode{pass("p", func(c *passConfig) { c.FailOn = 17 }), sink("k", sinkConfig{})},
			[]string{"s.out->p.in", "p.out->k.in"}, []string{"k"}, func(n int64) bool { return n < 16 || n >= 24 }},
		{"workers", []gnode{pass("p", func(c *passConfig) { c.Workers = 4; c.DelayUS = 100 }), sink("k", sinkConfig{})},
			[]string{"s.out->p.in", "p.out->k.in"}, []string{"k"}, nil},
		{"panic", []gnode{{id: "p", typ: "test.pass", config: passConfig{PanicOn: 50, Panics: 1, FailOn: -1, RejectOn: -1}, sup: &graph.Supervision{BackoffMS: 1}}, sink("k", sinkConfig{})},
			[]string{"s.out->p.in", "p.out->k.in"}, []string{"k"}, func(n int64) bool { return n < 56 || n >= 64 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.ackWant = func(first int64, _ int) error {
				for _, k := range tc.sinks {
					have := map[int64]bool{}
					for _, r := range h.rows(k) {
						have[nOf(r)] = true
					}
					for n := first; n < first+batch; n++ {
						if (tc.keep == nil || tc.keep(n)) && !have[n] {
							return fmt.Errorf("ack of batch %d before sink %s had row %d", first, k, n)
						}
					}
				}
				return nil
			}
			nodes := append([]gnode{src("s", sourceConfig{Count: total, Batch: batch, Acked: true})}, tc.nodes...)
			h.run(doc(t, nodes, tc.edges...), engine.Options{QueueLen: 2})
			acks := h.ackCounts()
			if len(acks) != total/batch {
				t.Fatalf("%d batches acked, want %d", len(acks), total/batch)
			}
			for first, n := range acks {
				if n != 1 || first%batch != 0 {
					t.Fatalf("batch %d acked %d times", first, n)
				}
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if len(h.ackErrs) > 0 {
				t.Fatal(h.ackErrs[0])
			}
		})
	}
}

// Cancel abandons the batches in flight: none of them is acknowledged.
func TestCancelNoAck(t *testing.T) {
	h := newHarness(t)
	// p swallows its Emit error when cancelled and returns nil: its batch must still not be
	// acknowledged.
	r := h.build(doc(t, []gnode{src("s", sourceConfig{Forever: true, Batch: 4, Acked: true}), pass("p", func(c *passConfig) { c.Swallow = true }),
		sink("k", sinkConfig{Block: true})}, "s.out->p.in", "p.out->k.in"), engine.Options{QueueLen: 2})
	r.Start(t.Context())
	waitFor(t, func() bool { return r.Metrics()["p"].QueueDepth == 2 }, "queues to fill")
	r.Cancel()
	if acks := h.ackCounts(); len(acks) != 0 {
		t.Fatalf("abandoned batches were acked: %v", acks)
	}
	if err := r.Wait(); err != nil {
		t.Fatalf("cancelled run: %v", err)
	}
}

// Stop drains: every row the source emitted before it stopped reaches the sink.
func TestStopDrains(t *testing.T) {
	h := newHarness(t)
	r := h.build(doc(t, []gnode{src("s", sourceConfig{Forever: true, Batch: 5, Acked: true}), pass("p", func(c *passConfig) { c.DelayUS = 100 }),
		sink("k", sinkConfig{DelayUS: 100})}, "s.out->p.in", "p.out->k.in"), engine.Options{QueueLen: 4})
	r.Start(t.Context())
	waitFor(t, func() bool { return r.Metrics()["k"].RowsIn > 50 }, "rows to flow")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	emitted := h.emitted["s"]
	h.mu.Unlock()
	if got := ns(h.rows("k")); !equalInts(got, seq(0, emitted)) {
		t.Fatalf("sink got %d rows, the source emitted %d", len(got), emitted)
	}
	if acks := h.ackCounts(); int64(len(acks)) != emitted/5 {
		t.Fatalf("%d acks for %d batches drained", len(acks), emitted/5)
	}
	for id, m := range r.Metrics() {
		if m.State != "done" {
			t.Errorf("node %s state %q after Stop", id, m.State)
		}
	}
}

// Stop whose context ends first cancels the run hard.
func TestStopTimeoutCancels(t *testing.T) {
	h := newHarness(t)
	r := h.build(doc(t, []gnode{src("s", sourceConfig{Forever: true, Batch: 4}), sink("k", sinkConfig{Block: true})}, "s.out->k.in"), engine.Options{})
	r.Start(t.Context())
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.Done():
	default:
		t.Fatal("run still going after Stop returned")
	}
}

func TestCancelPrompt(t *testing.T) {
	h := newHarness(t)
	r := h.build(doc(t, []gnode{src("s", sourceConfig{Forever: true, Batch: 100}), pass("p", func(c *passConfig) { c.Workers = 3 }),
		sink("k", sinkConfig{Block: true})}, "s.out->p.in", "p.out->k.in"), engine.Options{})
	r.Start(t.Context())
	waitFor(t, func() bool { return r.Metrics()["p"].RowsIn > 0 }, "rows to flow")
	start := time.Now()
	r.Cancel()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Cancel took %v", d)
	}
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
}

// The context given to Start ending the run is a failure Wait reports.
func TestStartContextEnds(t *testing.T) {
	h := newHarness(t)
	r := h.build(doc(t, []gnode{src("s", sourceConfig{Forever: true, Batch: 4}), sink("k", sinkConfig{Block: true})}, "s.out->k.in"), engine.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	r.Start(ctx)
	if err := r.Wait(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait: %v, want deadline exceeded", err)
	}
}

func TestStopBeforeStart(t *testing.T) {
	h := newHarness(t)
	r := h.build(doc(t, []gnode{src("s", sourceConfig{Count: 1}), sink("k", sinkConfig{})}, "s.out->k.in"), engine.Options{})
	if err := r.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context()) // a no-op now
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	r2 := h.build(doc(t, []gnode{src("s", sourceConfig{Count: 1}), sink("k", sinkConfig{})}, "s.out->k.in"), engine.Options{})
	r2.Cancel()
	<-r2.Done()
}

func TestFlusher(t *testing.T) {
	h := newHarness(t)
	h.run(doc(t, []gnode{src("s", sourceConfig{Count: 95, Batch: 10}), {id: "buf", typ: "test.buffer"}, sink("k", sinkConfig{})},
		"s.out->buf.in", "buf.out->k.in"), engine.Options{})
	if n := h.count(h.flushes, "buf"); n != 1 {
		t.Fatalf("Flush called %d times, want 1", n)
	}
	if got := ns(h.rows("k")); !equalInts(got, seq(0, 95)) {
		t.Fatalf("sink got %d rows after flush, want 95", len(got))
	}
}

func TestWorkers(t *testing.T) {
	h := newHarness(t)
	h.run(doc(t, []gnode{src("s", sourceConfig{Count: 400, Batch: 10}), pass("p", func(c *passConfig) { c.Workers = 4; c.DelayUS = 2000 }),
		sink("k", sinkConfig{})}, "s.out->p.in", "p.out->k.in"), engine.Options{QueueLen: 8})
	h.mu.Lock()
	par := h.maxPar["p"]
	h.mu.Unlock()
	if par < 2 || par > 4 {
		t.Fatalf("at most %d Process calls at once, want 2..4", par)
	}
	if got := ns(h.rows("k")); !equalInts(got, seq(0, 400)) {
		t.Fatalf("sink got %d rows", len(got))
	}
}

func TestMetrics(t *testing.T) {
	h := newHarness(t)
	r := h.build(doc(t, []gnode{src("s", sourceConfig{Count: 1500, Batch: 10}), pass("p", func(c *passConfig) { c.RejectOn = 7; c.DelayUS = 1000 }),
		sink("k", sinkConfig{})}, "s.out->p.in", "p.out->k.in"), engine.Options{QueueLen: 3})
	r.Start(t.Context())
	maxDepth := 0
	var rate float64
	for done := false; !done; {
		select {
		case <-r.Done():
			done = true
		case <-time.After(5 * time.Millisecond):
		}
		m := r.Metrics()["p"]
		maxDepth = max(maxDepth, m.QueueDepth)
		rate = max(rate, r.Metrics()["k"].RowsPerS)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	m := r.Metrics()
	if m["s"].RowsOut != 1500 || m["p"].RowsIn != 1500 || m["p"].RowsOut != 1499 || m["p"].Errors != 1 || m["k"].RowsIn != 1499 {
		t.Fatalf("counts: %+v", m)
	}
	if maxDepth < 1 || maxDepth > 3 {
		t.Fatalf("queue depth reached %d, want 1..3 (the slow node's queue fills, bounded)", maxDepth)
	}
	if m["p"].LatencyMS < 1 {
		t.Fatalf("latency %v ms for a node that sleeps 1 ms a batch", m["p"].LatencyMS)
	}
	if rate <= 0 {
		t.Fatalf("rows_per_s never positive")
	}
	for id, nm := range m {
		if nm.State != "done" {
			t.Fatalf("node %s state %q", id, nm.State)
		}
	}
}

func TestGauges(t *testing.T) {
	h := newHarness(t)
	cat := h.cat.Clone()
	cat.Register(engine.Spec{ID: "test.gauge", Outputs: []engine.Port{{Name: "out", Type: "rows"}},
		New: func(engine.BuildContext, json.RawMessage) (engine.Node, error) { return gaugeSource{}, nil }})
	r, err := engine.Build(doc(t, []gnode{{id: "g", typ: "test.gauge"}}), engine.Options{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	m := r.Metrics()["g"]
	if m.Progress == nil || *m.Progress != 1 || m.RTF == nil || *m.RTF != 0.25 || m.Gauges["custom"] != 7 {
		t.Fatalf("gauges: %+v", m)
	}
}

type gaugeSource struct{}

func (gaugeSource) Run(ctx context.Context, out engine.Output) error {
	out.Gauge("progress", 1)
	out.Gauge("rtf", 0.25)
	out.Gauge("custom", 7)
	return nil
}

// A processor nothing feeds ends at once instead of waiting forever. Its input is closed at
// build time; a fast source finishing before the processor starts once closed it twice.
func TestUnconnectedProcessorEnds(t *testing.T) {
	for i := 0; i < 50; i++ {
		h := newHarness(t)
		h.run(doc(t, []gnode{src("s", sourceConfig{Count: 0}), pass("lonely", nil), pass("p", nil), sink("k", sinkConfig{})},
			"s.out->p.in", "p.out->k.in"), engine.Options{})
	}
}

func TestBuildErrors(t *testing.T) {
	h := newHarness(t)
	_, err := engine.Build(doc(t, []gnode{{id: "x", typ: "nope"}}), engine.Options{Catalog: h.cat})
	var ig *engine.InvalidGraphError
	if !errors.As(err, &ig) || ig.Problems[0].Node != "x" {
		t.Fatalf("Build: %v", err)
	}
	_, err = engine.Build(doc(t, []gnode{{id: "s", typ: "test.source", config: map[string]any{"bogus": 1}}}), engine.Options{Catalog: h.cat})
	if !errors.As(err, &ig) || ig.Problems[0].Node != "s" {
		t.Fatalf("Build: %v", err)
	}
	if _, err := engine.Build(doc(t, []gnode{{id: "p", typ: "studio.preview"}, src("s", sourceConfig{})}, "s.out->p.in"),
		engine.Options{Catalog: h.cat, Headless: true}); !errors.As(err, &ig) {
		t.Fatalf("headless build of a studio node: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

type panicFlusher struct{}

func (panicFlusher) Process(context.Context, string, *rows.Batch, engine.Output) error { return nil }
func (panicFlusher) Flush(context.Context, engine.Output) error                        { panic("flush broke") }

type wrongPort struct{ err chan error }

func (w wrongPort) Run(ctx context.Context, out engine.Output) error {
	w.err <- out.Emit("nope", &rows.Batch{})
	return nil
}

// A panic in Flush is counted and logged, not fatal; an emit on a port the spec does not have
// is an error.
func TestFlushPanicAndUnknownPort(t *testing.T) {
	h := newHarness(t)
	cat := h.cat.Clone()
	cat.Register(engine.Spec{ID: "test.panicflush", Inputs: []engine.Port{{Name: "in", Type: "any"}},
		New: func(engine.BuildContext, json.RawMessage) (engine.Node, error) { return panicFlusher{}, nil }})
	errc := make(chan error, 1)
	cat.Register(engine.Spec{ID: "test.wrongport", Outputs: []engine.Port{{Name: "out", Type: "rows"}},
		New: func(engine.BuildContext, json.RawMessage) (engine.Node, error) { return wrongPort{errc}, nil }})
	r, err := engine.Build(doc(t, []gnode{src("s", sourceConfig{Count: 5}), {id: "f", typ: "test.panicflush"}, {id: "w", typ: "test.wrongport"}},
		"s.out->f.in"), engine.Options{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	if m := r.Metrics()["f"]; m.Errors != 1 || m.RowsIn != 5 {
		t.Fatalf("flush panic not counted: %+v", m)
	}
	if err := <-errc; err == nil || !strings.Contains(err.Error(), `unknown port "nope"`) {
		t.Fatalf("emit on an unknown port: %v", err)
	}
}
