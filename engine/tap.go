package engine

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atoll-studio/atoll/engine/rows"
)

// TapOptions bound what a tap takes from an edge.
type TapOptions struct {
	// Interval is the least time between two samples (default 50 ms: at most 20 a second;
	// at least 1 ms).
	Interval time.Duration
	// MaxRows is how many of a batch's last rows a sample keeps (default 20).
	MaxRows int
	// Buffer is how many samples wait for a slow reader (default 16). It is a ring: when it is
	// full the oldest sample is dropped to make room for the newest.
	Buffer int
}

// TapSample is what a tap delivers: copies of the latest rows that left a node port, and how
// many rows passed without being sampled since the previous sample.
type TapSample struct {
	Rows    []rows.Row
	Skipped int64
	Time    time.Time
}

// Tap samples the rows leaving one node port. The pipeline never waits for a tap: a ticker
// marks the tap due once an interval, so a batch that passes costs two atomic operations unless
// it is sampled, and samples a reader does not take in time are dropped, oldest first. A tap
// is closed by Close or when the run ends.
type Tap struct {
	run      *Run
	rt       *nodeRT
	port     string
	ch       chan TapSample
	interval time.Duration
	maxRows  int
	due      atomic.Bool
	skipped  atomic.Int64
	stop     chan struct{}
	mu       sync.Mutex
	closed   bool
}

// Tap starts sampling the rows that node emits on port (an edge's preview taps its from end).
func (r *Run) Tap(node, port string, opts TapOptions) (*Tap, error) {
	rt, ok := r.byID[node]
	if !ok {
		return nil, fmt.Errorf("tap: no node %q", node)
	}
	op, ok := rt.ports[port]
	if !ok {
		return nil, fmt.Errorf("tap: node %q has no output port %q", node, port)
	}
	if opts.Interval <= 0 {
		opts.Interval = 50 * time.Millisecond
	}
	opts.Interval = max(opts.Interval, time.Millisecond)
	if opts.MaxRows <= 0 {
		opts.MaxRows = 20
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 16
	}
	t := &Tap{run: r, rt: rt, port: port, ch: make(chan TapSample, opts.Buffer), interval: opts.Interval,
		maxRows: opts.MaxRows, stop: make(chan struct{})}
	t.due.Store(true)
	r.tapMu.Lock()
	if r.ended {
		r.tapMu.Unlock()
		t.closeC()
		return t, nil
	}
	r.tapsOpen[t] = struct{}{}
	r.tapMu.Unlock()
	go t.tick()
	rt.mu.Lock() // serialises tap-set changes (copy on write)
	defer rt.mu.Unlock()
	var next []*Tap
	if cur := op.taps.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, t)
	op.taps.Store(&next)
	return t, nil
}

// tick marks the tap due once an interval until it is closed.
func (t *Tap) tick() {
	tk := time.NewTicker(t.interval)
	defer tk.Stop()
	for {
		select {
		case <-tk.C:
			t.due.Store(true)
		case <-t.stop:
			return
		}
	}
}

// closeTaps closes every open tap when the run ends, so that readers of C finish.
func (r *Run) closeTaps() {
	r.tapMu.Lock()
	r.ended = true
	open := make([]*Tap, 0, len(r.tapsOpen))
	for t := range r.tapsOpen {
		open = append(open, t)
	}
	r.tapMu.Unlock()
	for _, t := range open {
		t.Close()
	}
}

// C delivers the samples. It is closed when the tap is closed.
func (t *Tap) C() <-chan TapSample { return t.ch }

// Close stops sampling and closes C. It may be called more than once.
func (t *Tap) Close() {
	t.run.tapMu.Lock()
	delete(t.run.tapsOpen, t)
	t.run.tapMu.Unlock()
	slot := &t.rt.ports[t.port].taps
	t.rt.mu.Lock()
	if cur := slot.Load(); cur != nil {
		var next []*Tap
		for _, o := range *cur {
			if o != t {
				next = append(next, o)
			}
		}
		if len(next) == 0 {
			slot.Store(nil)
		} else {
			slot.Store(&next)
		}
	}
	t.rt.mu.Unlock()
	t.closeC()
}

func (t *Tap) closeC() {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		close(t.ch)
		close(t.stop)
	}
	t.mu.Unlock()
}

func (t *Tap) offer(b *rows.Batch) {
	if !t.due.Load() || !t.due.CompareAndSwap(true, false) {
		t.skipped.Add(int64(len(b.Rows)))
		return
	}
	now := time.Now().UnixNano()
	n := len(b.Rows)
	from := 0
	if n > t.maxRows {
		from = n - t.maxRows
	}
	s := TapSample{Rows: make([]rows.Row, 0, n-from), Time: time.Unix(0, now)}
	for _, r := range b.Rows[from:] {
		s.Rows = append(s.Rows, r.Clone())
	}
	s.Skipped = t.skipped.Swap(0) + int64(from)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	for {
		select {
		case t.ch <- s:
			return
		default:
		}
		// Full: drop the oldest sample (the reader may take it first; then just retry).
		select {
		case old := <-t.ch:
			s.Skipped += int64(len(old.Rows)) + old.Skipped
		default:
		}
	}
}
