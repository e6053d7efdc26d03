package engine_test

import (
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
)

func tapGraph(t *testing.T, h *harness, cfg sourceConfig) *engine.Run {
	return h.build(doc(t, []gnode{src("s", cfg), pass("p", nil), sink("k", sinkConfig{})}, "s.out->p.in", "p.out->k.in"), engine.Options{})
}

func TestTapSamples(t *testing.T) {
	h := newHarness(t)
	r := tapGraph(t, h, sourceConfig{Forever: true, Batch: 50, PaceUS: 200})
	tap, err := r.Tap("p", "out", engine.TapOptions{Interval: 5 * time.Millisecond, MaxRows: 3})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	defer r.Cancel()
	var last int64 = -1
	for i := 0; i < 5; i++ {
		s := <-tap.C()
		if len(s.Rows) != 3 || s.Time.IsZero() {
			t.Fatalf("sample %d: %d rows, want the last 3 of a batch", i, len(s.Rows))
		}
		if n := nOf(s.Rows[2]); n%50 != 49 || n <= last || nOf(s.Rows[0]) != n-2 {
			t.Fatalf("sample %d: rows %v are not the newest of a batch", i, s.Rows)
		}
		if s.Skipped < 47 {
			t.Fatalf("sample %d: skipped %d, want at least the 47 rows left out of the batch", i, s.Skipped)
		}
		last = nOf(s.Rows[2])
	}
}

// Throttling bounds the sample rate whatever the row rate.
func TestTapThrottle(t *testing.T) {
	h := newHarness(t)
	r := tapGraph(t, h, sourceConfig{Forever: true, Batch: 1})
	const interval = 20 * time.Millisecond
	start := time.Now()
	tap, err := r.Tap("s", "out", engine.TapOptions{Interval: interval, Buffer: 1000})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	time.Sleep(200 * time.Millisecond)
	r.Cancel()
	elapsed := time.Since(start)
	samples, skipped := 0, int64(0)
	for s := range tap.C() { // the run's end closed the tap
		samples++
		skipped += s.Skipped
	}
	if limit := int(elapsed/interval) + 1; samples > limit || samples == 0 {
		t.Fatalf("%d samples in %v, want 1..%d", samples, elapsed, limit)
	}
	if m := r.Metrics()["s"]; skipped < m.RowsOut/2 {
		t.Fatalf("skipped %d of %d rows", skipped, m.RowsOut)
	}
}

// A tap nobody reads never holds the pipeline back: the run finishes, and the buffer keeps
// the newest samples.
func TestTapUnreadNeverBlocks(t *testing.T) {
	h := newHarness(t)
	r := tapGraph(t, h, sourceConfig{Count: 20000, Batch: 1})
	tap, err := r.Tap("p", "out", engine.TapOptions{Interval: time.Millisecond, Buffer: 2})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := len(h.rows("k")); got != 20000 {
		t.Fatalf("sink got %d rows", got)
	}
	var newest int64 = -1
	for s := range tap.C() {
		newest = nOf(s.Rows[len(s.Rows)-1])
	}
	if newest < 10000 { // a ring: the old samples were dropped, not the new ones
		t.Fatalf("last sample holds n=%d, want one of the newest rows", newest)
	}
}

func TestTapClose(t *testing.T) {
	h := newHarness(t)
	r := tapGraph(t, h, sourceConfig{Forever: true, Batch: 10})
	if _, err := r.Tap("nope", "out", engine.TapOptions{}); err == nil {
		t.Fatal("tap on a missing node")
	}
	if _, err := r.Tap("p", "nope", engine.TapOptions{}); err == nil {
		t.Fatal("tap on a missing port")
	}
	errTap, err := r.Tap("p", engine.ErrorsPort, engine.TapOptions{})
	if err != nil {
		t.Fatalf("tap on errors: %v", err)
	}
	tap, err := r.Tap("p", "out", engine.TapOptions{Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	<-tap.C()
	tap.Close()
	tap.Close() // twice is fine
	for range tap.C() {
	}
	waitFor(t, func() bool { return r.Metrics()["k"].RowsIn > 1000 }, "rows after the tap closed")
	r.Cancel()
	if _, ok := <-errTap.C(); ok {
		t.Fatal("errors tap not closed at the end of the run")
	}
	late, err := r.Tap("p", "out", engine.TapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := <-late.C(); ok {
		t.Fatal("a tap made after the run is not closed")
	}
}
