package conformance

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/internal/testnodes"
)

func itoa(i int) string { return strconv.Itoa(i) }

// feed is the source that drives a sink under test: it emits batches (acknowledged) from a
// plan, then, when endless, Row(seq) batches of 10 until stopped. It records the acknowledged
// sequence numbers, as a real at-least-once source resuming from its acknowledged position
// would.
type feed struct {
	batches [][]rows.Row
	from    int  // endless: first seq
	to      int  // endless: seq to stop before (0: until stopped)
	endless bool // after batches, emit Row(from...) until stopped or to
	delay   time.Duration

	mu      sync.Mutex
	acked   map[int64]bool
	emitted atomic.Int64
}

func newFeed() *feed { return &feed{acked: map[int64]bool{}} }

func (f *feed) Run(ctx context.Context, out engine.Output) error {
	emit := func(rs []rows.Row) error {
		b := &rows.Batch{Rows: rs}
		var seqs []int64
		for _, r := range rs {
			if v, ok := r.Get("seq"); ok {
				s, _ := v.AsInt()
				seqs = append(seqs, s)
			}
		}
		f.emitted.Add(int64(len(rs)))
		return out.EmitAcked("out", b, func() {
			f.mu.Lock()
			for _, s := range seqs {
				f.acked[s] = true
			}
			f.mu.Unlock()
		})
	}
	for _, b := range f.batches {
		if err := emit(b); err != nil {
			return nil
		}
	}
	if !f.endless {
		return nil
	}
	for seq := f.from; f.to == 0 || seq < f.to; seq += 10 {
		if ctx.Err() != nil {
			return nil
		}
		end := seq + 10
		if f.to > 0 {
			end = min(end, f.to)
		}
		if err := emit(Rows(seq, end)); err != nil {
			return nil
		}
		if f.delay > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(f.delay):
			}
		}
	}
	return nil
}

// resume returns the first seq not acknowledged (every one before it was).
func (f *feed) resume() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := 0
	for f.acked[int64(i)] {
		i++
	}
	return i
}

func (f *feed) ackedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.acked)
}

// sinkRig is a feed wired to the sink under test, whose errors go to a capture.
type sinkRig struct {
	s    Sink
	env  SinkEnv
	cat  *engine.Catalog
	feed *feed
	errs *testnodes.Capture
	doc  *graph.Document
}

func newSinkRig(t *testing.T, s Sink) *sinkRig {
	t.Helper()
	g := &sinkRig{s: s, env: s.Start(t), cat: catalogOf(s.Catalog), feed: newFeed(), errs: &testnodes.Capture{}}
	g.cat.Register(engine.Spec{ID: "conformance.feed", Category: "source", Headless: true,
		Outputs: []engine.Port{{Name: "out", Type: "rows"}},
		New:     func(engine.BuildContext, json.RawMessage) (engine.Node, error) { return g.feed, nil }})
	testnodes.Register(g.cat, "conformance.errors", g.errs)
	g.doc = wire(t, g.cat, s.Type, g.env.Config(), "conformance.feed", false)
	return g
}

func (g *sinkRig) start(t *testing.T) *engine.Run {
	t.Helper()
	return startRun(t, g.doc, g.cat)
}

// runToEnd starts a run of a finite feed and waits for it to end.
func (g *sinkRig) runToEnd(t *testing.T) {
	t.Helper()
	r := g.start(t)
	select {
	case <-r.Done():
	case <-time.After(arriveTimeout):
		t.Fatalf("the run did not end within %v (%d rows emitted, %d acknowledged)", arriveTimeout, g.feed.emitted.Load(), g.feed.ackedCount())
	}
	if err := r.Err(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

func (g *sinkRig) received(t *testing.T) []rows.Row {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), arriveTimeout)
	defer cancel()
	got, err := g.env.Received(ctx)
	if err != nil {
		t.Fatalf("reading what the sink wrote: %v", err)
	}
	return got
}

// sinkOpenClose: built and dropped, or run with no rows, the sink ends cleanly and writes
// nothing; a second run opens the same place again.
func sinkOpenClose(t *testing.T, s Sink) {
	g := newSinkRig(t, s)
	stop(t, build(t, g.doc, g.cat))
	for i := 0; i < 2; i++ {
		g.runToEnd(t)
	}
	if got := g.received(t); len(got) != 0 {
		t.Fatalf("rows written with none sent: %s", describe(got))
	}
	noErrors(t, g.errs, "with nothing sent")
}

// sinkInOrder: N rows in batches of several sizes are written once each, in order, and every
// batch is acknowledged.
func sinkInOrder(t *testing.T, s Sink) {
	const n = 200
	g := newSinkRig(t, s)
	for i, size := 0, 1; i < n; i, size = i+size, size%40+7 {
		g.feed.batches = append(g.feed.batches, Rows(i, min(n, i+size)))
	}
	g.runToEnd(t)
	checkSeqs(t, g.received(t), n, false)
	if got := g.feed.ackedCount(); got != n {
		t.Fatalf("%d of %d rows acknowledged", got, n)
	}
	noErrors(t, g.errs, "")
}

// sinkRestart: a run is stopped mid-stream and a new one resumes from the first row not
// acknowledged; every row is written, first writes in order. A row acknowledged by the first
// run and missing afterwards is a lost row.
func sinkRestart(t *testing.T, s Sink) {
	const n = 300
	g := newSinkRig(t, s)
	g.feed.endless, g.feed.to, g.feed.delay = true, n, 2*time.Millisecond
	r := g.start(t)
	waitFor(t, r, arriveTimeout, func() bool { return g.feed.ackedCount() >= 30 },
		func() string { return "waiting for 30 acknowledged rows, " + itoa(g.feed.ackedCount()) + " so far" })
	stop(t, r)
	resume := g.feed.resume()
	if resume >= n {
		t.Fatalf("the whole stream (%d rows) went through before the stop: not a restart mid-stream", n)
	}
	var got []rows.Row
	for _, row := range g.received(t) {
		if v, _ := row.Get("seq"); v.Kind() == rows.KindInt {
			if s, _ := v.AsInt(); s < int64(resume) {
				got = append(got, row)
			}
		}
	}
	checkSeqs(t, got, resume, true) // every acknowledged row is there already
	g.feed.from = resume
	g.runToEnd(t)
	checkSeqs(t, g.received(t), n, true)
	noErrors(t, g.errs, "")
}

// sinkPoison: a row the external system refuses goes to errors with the reason; the rows around
// it are written and the run goes on.
func sinkPoison(t *testing.T, s Sink) {
	g := newSinkRig(t, s)
	p, ok := g.env.(Poisoner)
	if !ok {
		t.Logf("%s refuses no row: nothing to check", s.Type)
		return
	}
	bad, marker := p.Poison()
	g.feed.batches = [][]rows.Row{Rows(0, 2), {bad}, Rows(2, 4)}
	g.runToEnd(t)
	checkSeqs(t, g.received(t), 4, false)
	errs := g.errs.Rows()
	if len(errs) != 1 {
		t.Fatalf("%d error rows, want 1: %s", len(errs), describe(errs))
	}
	if !Contains(errs[0], bad) {
		t.Fatalf("the error row %s is not the refused row %s", errs[0].AppendJSON(nil), bad.AppendJSON(nil))
	}
	v, _ := errs[0].Get(engine.ErrorField)
	reason, _ := v.AsString()
	if !strings.Contains(reason, marker) {
		t.Fatalf("the error %q does not say %q", reason, marker)
	}
	if got := g.feed.resume(); got != 4 {
		t.Fatalf("seq %d of the 4 good rows not acknowledged", got)
	}
}

// sinkShutdown: a cancel ends the run within a second while rows stream in, even when the
// external system has stopped answering.
func sinkShutdown(t *testing.T, s Sink) {
	g := newSinkRig(t, s)
	g.feed.endless = true
	r := g.start(t)
	waitFor(t, r, arriveTimeout, func() bool { return g.feed.ackedCount() >= 20 },
		func() string { return "waiting for 20 acknowledged rows, " + itoa(g.feed.ackedCount()) + " so far" })
	if st, ok := g.env.(Staller); ok {
		st.Stall()
		time.Sleep(100 * time.Millisecond) // let a write block on it
	}
	cancelWithin(t, r)
}
