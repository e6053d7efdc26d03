package conformance

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/internal/testnodes"
)

// sourceRig is the source under test wired to two captures: its rows and its errors.
type sourceRig struct {
	s    Source
	env  SourceEnv
	cat  *engine.Catalog
	out  *testnodes.Capture
	errs *testnodes.Capture
	doc  *graph.Document
}

func newSourceRig(t *testing.T, s Source) *sourceRig {
	t.Helper()
	g := &sourceRig{s: s, env: s.Start(t), cat: catalogOf(s.Catalog), out: &testnodes.Capture{}, errs: &testnodes.Capture{}}
	testnodes.Register(g.cat, "conformance.capture", g.out)
	testnodes.Register(g.cat, "conformance.errors", g.errs)
	g.doc = wire(t, g.cat, s.Type, g.env.Config(), "conformance.capture", true)
	return g
}

// start builds and starts a run and waits for the environment to be ready for it.
func (g *sourceRig) start(t *testing.T) *engine.Run {
	t.Helper()
	r := startRun(t, g.doc, g.cat)
	if rd, ok := g.env.(Readier); ok {
		ctx, cancel := context.WithTimeout(t.Context(), arriveTimeout)
		defer cancel()
		if err := rd.Ready(ctx, r); err != nil {
			t.Fatalf("ready: %v", err)
		}
	}
	return r
}

func (g *sourceRig) send(t *testing.T, rs []rows.Row) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), arriveTimeout)
	defer cancel()
	if err := g.env.Send(ctx, rs); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// waitRows waits until n distinct seqs have arrived.
func (g *sourceRig) waitRows(t *testing.T, r *engine.Run, n int) {
	t.Helper()
	waitFor(t, r, arriveTimeout, func() bool { return distinct(g.out.Rows()) >= n },
		func() string {
			got := g.out.Rows()
			return "waiting for " + itoa(n) + " rows, " + itoa(distinct(got)) + " arrived: " + describe(got) + "; errors: " + describe(g.errs.Rows())
		})
}

// sourceOpenClose: a node that is built and dropped, or started and stopped with nothing to
// read, ends cleanly and gives back what it holds (a second run can open the same resources).
func sourceOpenClose(t *testing.T, s Source) {
	g := newSourceRig(t, s)
	// Built only (what the studio's validate does): dropped without a start.
	r := build(t, g.doc, g.cat)
	stop(t, r)
	for i := 0; i < 2; i++ {
		r := g.start(t)
		stop(t, r)
		if err := r.Err(); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	if got := g.out.Rows(); len(got) != 0 {
		t.Fatalf("rows arrived with nothing sent: %s", describe(got))
	}
	noErrors(t, g.errs, "with nothing sent")
}

// sourceInOrder: N rows sent in several messages arrive once each, in order, with their fields
// and types intact.
func sourceInOrder(t *testing.T, s Source) {
	const n = 200
	g := newSourceRig(t, s)
	r := g.start(t)
	for i := 0; i < n; i += 25 {
		g.send(t, Rows(i, i+25))
	}
	g.waitRows(t, r, n)
	stop(t, r)
	checkSeqs(t, g.out.Rows(), n, false)
	noErrors(t, g.errs, "")
}

// sourceRestart: the run is stopped while a producer is still sending and started again; every
// row arrives, first arrivals in order, duplicates only from a source that replays.
func sourceRestart(t *testing.T, s Source) {
	const n = 120
	g := newSourceRig(t, s)
	r := g.start(t)
	var wg sync.WaitGroup
	var sendErr error
	wg.Add(1)
	go func() { // the producer goes on across the restart
		defer wg.Done()
		ctx, cancel := context.WithTimeout(t.Context(), 2*arriveTimeout)
		defer cancel()
		for i := 0; i < n/2 && sendErr == nil; i += 10 {
			sendErr = g.env.Send(ctx, Rows(i, i+10))
		}
	}()
	g.waitRows(t, r, 10)
	stop(t, r)
	r2 := g.start(t)
	wg.Wait()
	if sendErr != nil {
		t.Fatalf("send across the restart: %v", sendErr)
	}
	for i := n / 2; i < n; i += 10 {
		g.send(t, Rows(i, i+10))
	}
	g.waitRows(t, r2, n)
	stop(t, r2)
	checkSeqs(t, g.out.Rows(), n, s.Replays)
	noErrors(t, g.errs, "")
}

// sourceMalformed: a message the node cannot read goes to errors, naming it; the rows around it
// still arrive, in order.
func sourceMalformed(t *testing.T, s Source) {
	g := newSourceRig(t, s)
	r := g.start(t)
	g.send(t, Rows(0, 2))
	ctx, cancel := context.WithTimeout(t.Context(), arriveTimeout)
	defer cancel()
	marker, err := g.env.SendMalformed(ctx)
	if err != nil {
		t.Fatalf("send malformed: %v", err)
	}
	if marker == "" {
		t.Fatal("conformance: SendMalformed returned no text to look for")
	}
	g.send(t, Rows(2, 4))
	g.waitRows(t, r, 4)
	waitFor(t, r, arriveTimeout, func() bool { return len(g.errs.Rows()) > 0 },
		func() string { return "waiting for the malformed message on errors" })
	stop(t, r)
	checkSeqs(t, g.out.Rows(), 4, false)
	errs := g.errs.Rows()
	if len(errs) != 1 {
		t.Fatalf("%d error rows, want 1: %s", len(errs), describe(errs))
	}
	v, _ := errs[0].Get(engine.ErrorField)
	reason, _ := v.AsString()
	if !strings.Contains(reason, marker) {
		t.Fatalf("the error %q does not name the message (%q)", reason, marker)
	}
	if v, _ := errs[0].Get(engine.ErrorNodeField); v.Kind() != rows.KindString {
		t.Fatalf("the error row does not name the node: %s", errs[0].AppendJSON(nil))
	}
}

// sourceShutdown: a cancel ends the run within a second, even while a producer is sending.
func sourceShutdown(t *testing.T, s Source) {
	g := newSourceRig(t, s)
	r := g.start(t)
	g.send(t, Rows(0, 10))
	g.waitRows(t, r, 10)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { // a producer still busy when the cancel comes
		defer close(done)
		for i := 10; ctx.Err() == nil; i += 10 {
			if g.env.Send(ctx, Rows(i, i+10)) != nil {
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	defer func() { cancel(); <-done }()
	cancelWithin(t, r)
}
