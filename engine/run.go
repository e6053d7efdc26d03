package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
)

// Options configure Build.
type Options struct {
	Catalog  *Catalog
	Assets   AssetResolver
	Services map[string]any
	// Headless refuses studio-only nodes (the runner sets it).
	Headless bool
	// Paths, when set, confines the host paths that configs name (see ValidateOptions.Paths).
	Paths PathPolicy
	// QueueLen is the capacity, in batches, of each node's input queue (default 4).
	QueueLen int
	// Log receives node logs, from the nodes' goroutines at once; nil discards them.
	Log func(LogEntry)
}

// LogEntry is one line of a node's log.
type LogEntry struct {
	Time  time.Time `json:"t"`
	Node  string    `json:"node"`
	Level string    `json:"level"`
	Msg   string    `json:"msg"`
}

// Run is a built graph: Start it, then Wait, Stop or Cancel it.
type Run struct {
	doc     *graph.Document
	opts    Options
	nodes   []*nodeRT
	byID    map[string]*nodeRT
	started atomic.Bool

	ctx       context.Context // hard cancellation
	cancel    context.CancelCauseFunc
	srcCtx    context.Context // sources only: Stop cancels it to drain
	srcCancel context.CancelFunc
	wg        sync.WaitGroup
	done      chan struct{}
	parent    context.Context

	tapMu    sync.Mutex
	tapsOpen map[*Tap]struct{}
	ended    bool // guarded by tapMu: taps made now are closed at once

	errMu sync.Mutex
	err   error

	rateMu   sync.Mutex
	lastRate map[string]rateSample
}

type rateSample struct {
	at   time.Time
	rows int64
	rate float64
}

type msg struct {
	port string
	b    *rows.Batch
	tok  *ackToken
}

// nodeRef boxes the current node so the hot path reads it with one atomic load.
type nodeRef struct{ n Node }

// outPort is one output port of a running node: where its batches go and who taps it.
type outPort struct {
	name  string
	dests []dest
	taps  atomic.Pointer[[]*Tap]
}

type dest struct {
	node *nodeRT
	port string
}

type nodeRT struct {
	run       *Run
	id        string
	spec      *Spec
	gnode     graph.Node
	sup       graph.Supervision
	mu        sync.Mutex // serialises rebuilds, closes and tap-set changes
	node      Node       // guarded by mu; the hot path reads cur
	cur       atomic.Pointer[nodeRef]
	in        chan msg
	producers atomic.Int32
	ports     map[string]*outPort // every output port, errors included

	state    atomic.Value // string
	rowsIn   atomic.Int64
	rowsOut  atomic.Int64
	errs     atomic.Int64
	busyNS   atomic.Int64 // time spent in Process over the timed batches
	timed    atomic.Int64 // batches whose Process time was measured
	lastNS   atomic.Int64 // the last measured Process time
	batches  atomic.Int64
	restarts atomic.Int32
	gaugeMu  sync.Mutex
	gauges   map[string]float64
	status   map[string]string // guarded by gaugeMu
	lastLog  atomic.Int64      // unix ns of the last unwired-errors log line
	unwired  atomic.Int64      // rows sent to errors with nothing wired to it
	firstErr atomic.Pointer[string]
}

// Build validates the graph and constructs every node. Validation problems and construction
// failures come back as an *InvalidGraphError addressed to node ids.
func Build(doc *graph.Document, opts Options) (*Run, error) {
	if opts.Catalog == nil {
		return nil, errors.New("engine: no catalog")
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = 4
	}
	budget, _ := opts.Services[GuestMemoryBudgetService].(int64)
	if probs := Validate(doc, opts.Catalog, ValidateOptions{Headless: opts.Headless, Paths: opts.Paths, GuestMemoryBudget: budget}); len(probs) > 0 {
		return nil, &InvalidGraphError{Problems: probs}
	}
	r := &Run{doc: doc, opts: opts, byID: map[string]*nodeRT{}, done: make(chan struct{}), lastRate: map[string]rateSample{}, tapsOpen: map[*Tap]struct{}{}}
	var probs []Problem
	for _, gn := range doc.Nodes {
		spec, _ := opts.Catalog.Lookup(gn.Type)
		rt := &nodeRT{run: r, id: gn.ID, spec: spec, gnode: gn, ports: map[string]*outPort{}, gauges: map[string]float64{}}
		rt.sup = supervisionOf(gn)
		rt.state.Store("idle")
		node, err := rt.build()
		if err != nil {
			probs = append(probs, Problem{Node: gn.ID, Message: err.Error()})
			continue
		}
		rt.setNode(node)
		_, isSrc := node.(Source)
		_, isProc := node.(Processor)
		if !isSrc && !isProc {
			probs = append(probs, Problem{Node: gn.ID, Message: fmt.Sprintf("node type %q built a %T, which is neither a source nor a processor", gn.Type, node)})
			continue
		}
		if isProc {
			rt.in = make(chan msg, opts.QueueLen)
		}
		for _, p := range append(spec.Outputs, Port{Name: ErrorsPort}) {
			rt.ports[p.Name] = &outPort{name: p.Name}
		}
		r.nodes = append(r.nodes, rt)
		r.byID[gn.ID] = rt
	}
	if len(probs) > 0 {
		r.closeNodes()
		return nil, &InvalidGraphError{Problems: probs}
	}
	for _, e := range doc.Edges {
		from, to := r.byID[e.From.Node], r.byID[e.To.Node]
		if to.in == nil {
			r.closeNodes()
			return nil, &InvalidGraphError{Problems: []Problem{{Node: to.id, Port: e.To.Port, Message: "node has input ports but built a source"}}}
		}
		op := from.ports[e.From.Port]
		op.dests = append(op.dests, dest{node: to, port: e.To.Port})
		to.producers.Add(1)
	}
	for _, rt := range r.nodes {
		if rt.in != nil && rt.producers.Load() == 0 {
			// An unconnected processor has nothing to read: its input is closed now, before any
			// producer could run, so that it ends as soon as it starts.
			close(rt.in)
		}
	}
	return r, nil
}

func supervisionOf(gn graph.Node) graph.Supervision {
	s := graph.Supervision{Policy: "restart", MaxRestarts: 5, BackoffMS: 100}
	if gn.Supervision != nil {
		if gn.Supervision.Policy != "" {
			s.Policy = gn.Supervision.Policy
		}
		if gn.Supervision.MaxRestarts > 0 {
			s.MaxRestarts = gn.Supervision.MaxRestarts
		}
		if gn.Supervision.BackoffMS > 0 {
			s.BackoffMS = gn.Supervision.BackoffMS
		}
	}
	return s
}

func (rt *nodeRT) build() (Node, error) {
	bc := BuildContext{NodeID: rt.id, Assets: rt.run.opts.Assets, Services: rt.run.opts.Services, Log: rt.log}
	node, err := rt.spec.New(bc, rt.gnode.Config)
	if err != nil {
		return nil, err
	}
	if v, ok := node.(Validator); ok {
		if err := v.Validate(); err != nil {
			closeNode(node)
			return nil, err
		}
	}
	return node, nil
}

func closeNode(n Node) {
	if c, ok := n.(io.Closer); ok {
		_ = c.Close()
	}
}

func (r *Run) closeNodes() {
	for _, rt := range r.nodes {
		rt.mu.Lock()
		if rt.node != nil {
			closeNode(rt.node)
			rt.node = nil
		}
		rt.mu.Unlock()
	}
}

// setNode installs n as the node's current implementation.
func (rt *nodeRT) setNode(n Node) {
	rt.node = n
	rt.cur.Store(&nodeRef{n})
}

// end marks the run as over before it started (Stop or Cancel before Start).
func (r *Run) endUnstarted() {
	if r.started.CompareAndSwap(false, true) {
		r.closeNodes()
		r.closeTaps()
		close(r.done)
	}
}

// Document returns the graph the run was built from.
func (r *Run) Document() *graph.Document { return r.doc }

// Start runs every node. ctx cancels the run hard (like Cancel).
func (r *Run) Start(ctx context.Context) {
	if !r.started.CompareAndSwap(false, true) {
		return
	}
	r.parent = ctx
	r.ctx, r.cancel = context.WithCancelCause(ctx)
	r.srcCtx, r.srcCancel = context.WithCancel(r.ctx)
	for _, rt := range r.nodes {
		rt.state.Store("running")
		if _, ok := rt.node.(Source); ok {
			r.wg.Add(1)
			go rt.runSource()
		} else {
			r.startProcessor(rt)
		}
	}
	go func() {
		r.wg.Wait()
		r.closeNodes()
		if err := r.parent.Err(); err != nil {
			// The caller's context ended the run: that is a failure, not a finish.
			r.errMu.Lock()
			if r.err == nil {
				r.err = context.Cause(r.parent)
			}
			r.errMu.Unlock()
		}
		r.cancel(nil)
		r.closeTaps()
		close(r.done)
	}()
}

// Wait blocks until the run ends and returns why it failed, or nil when it finished or was
// stopped (Stop or Cancel). When the context given to Start ends the run, Wait returns its
// cause.
func (r *Run) Wait() error {
	<-r.done
	return r.Err()
}

// Done is closed when the run has ended.
func (r *Run) Done() <-chan struct{} { return r.done }

// Err returns the run's failure, if any.
func (r *Run) Err() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.err
}

// Stop ends the sources and lets everything in flight drain through to the sinks. If ctx ends
// first the run is cancelled hard.
func (r *Run) Stop(ctx context.Context) error {
	r.endUnstarted()
	if r.srcCancel == nil {
		return nil
	}
	r.srcCancel()
	select {
	case <-r.done:
	case <-ctx.Done():
		r.cancel(ErrStopped)
		<-r.done
	}
	return r.Err()
}

// Cancel ends the run at once; batches in flight are abandoned (not acknowledged).
func (r *Run) Cancel() {
	r.endUnstarted()
	if r.cancel != nil {
		r.cancel(ErrStopped)
	}
	<-r.done
}

func (r *Run) fail(err error) {
	r.errMu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.errMu.Unlock()
	r.cancel(err)
}

func (rt *nodeRT) log(level, m string) {
	if f := rt.run.opts.Log; f != nil {
		f(LogEntry{Time: time.Now(), Node: rt.id, Level: level, Msg: m})
	}
}

// closeOutputs tells every downstream node that this producer is done.
func (rt *nodeRT) closeOutputs() {
	seen := map[*nodeRT]int{}
	for _, op := range rt.ports {
		for _, d := range op.dests {
			seen[d.node]++
		}
	}
	for n, k := range seen {
		if n.producers.Add(-int32(k)) == 0 {
			close(n.in)
		}
	}
}

func (rt *nodeRT) current() Node { return rt.cur.Load().n }

// rebuild replaces the node after a failure, waiting the backoff first. It reports whether the
// node may go on.
func (rt *nodeRT) rebuild(ctx context.Context, cause error) bool {
	n := rt.restarts.Add(1)
	if int(n) > rt.sup.MaxRestarts {
		rt.run.fail(&NodeError{Node: rt.id, Err: fmt.Errorf("gave up after %d restarts: %w", rt.sup.MaxRestarts, cause)})
		return false
	}
	rt.state.Store("restarting")
	backoff := time.Duration(rt.sup.BackoffMS) * time.Millisecond
	for i := int32(1); i < n && backoff < maxBackoff; i++ {
		backoff *= 2
	}
	backoff = min(backoff, maxBackoff)
	rt.log("warn", fmt.Sprintf("restarting in %v (restart %d of %d): %v", backoff, n, rt.sup.MaxRestarts, cause))
	select {
	case <-time.After(backoff):
	case <-ctx.Done():
		return false
	}
	node, err := rt.build()
	if err != nil {
		rt.run.fail(&NodeError{Node: rt.id, Err: fmt.Errorf("restart: %w", err)})
		return false
	}
	rt.mu.Lock()
	old := rt.node
	rt.setNode(node)
	rt.mu.Unlock()
	if old != nil {
		closeNode(old)
	}
	rt.state.Store("running")
	return true
}

// maxBackoff caps the doubling restart delay.
const maxBackoff = 5 * time.Second

func (rt *nodeRT) runSource() {
	defer rt.run.wg.Done()
	defer rt.closeOutputs()
	for {
		src := rt.current().(Source)
		// A source's rejects are not tied to a batch: they go out as they come.
		out := &emitter{rt: rt, ctx: rt.run.ctx, immediate: true}
		err, _ := rt.guard("run", func() error { return src.Run(rt.run.srcCtx, out) })
		if err == nil || rt.run.srcCtx.Err() != nil {
			rt.state.Store("done")
			return
		}
		rt.errs.Add(1)
		rt.log("error", err.Error())
		switch rt.sup.Policy {
		case "skip":
			rt.state.Store("done")
			return
		case "stop":
			rt.state.Store("failed")
			rt.run.fail(&NodeError{Node: rt.id, Err: err})
			return
		}
		if !rt.rebuild(rt.run.srcCtx, err) {
			rt.state.Store("failed")
			return
		}
	}
}

func (r *Run) startProcessor(rt *nodeRT) {
	workers := 1
	if w, ok := rt.node.(Workers); ok && w.Workers() > 1 {
		workers = w.Workers()
	}
	var wwg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			rt.processLoop(workers > 1)
		}()
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		wwg.Wait()
		if r.ctx.Err() == nil {
			if f, ok := rt.current().(Flusher); ok {
				rt.flush(f)
			}
		}
		rt.closeOutputs()
		if rt.state.Load() == "running" {
			rt.state.Store("done")
		}
	}()
}

// flush calls a Flusher once after its last input; a panic or an error there is logged and
// counted, never fatal to the process.
func (rt *nodeRT) flush(f Flusher) {
	out := &emitter{rt: rt, ctx: rt.run.ctx}
	err, _ := rt.guard("flush", func() error { return f.Flush(rt.run.ctx, out) })
	if err != nil {
		rt.errs.Add(1)
		rt.log("error", "flush: "+err.Error())
		if rt.sup.Policy == "stop" && rt.run.ctx.Err() == nil {
			rt.run.fail(&NodeError{Node: rt.id, Err: fmt.Errorf("flush: %w", err)})
		}
	}
	out.flushRejects()
}

func (rt *nodeRT) processLoop(concurrent bool) {
	ctx := rt.run.ctx
	// One emitter per worker, reused for every batch: Output is valid only during Process.
	out := &emitter{rt: rt, ctx: ctx}
	for {
		var m msg
		var ok bool
		select {
		case m, ok = <-rt.in:
		case <-ctx.Done():
			return
		}
		if !ok {
			return
		}
		rt.rowsIn.Add(int64(len(m.b.Rows)))
		node := rt.current()
		out.tok = m.tok
		// Reading the clock costs more than a fast node's whole batch on some machines: fast
		// nodes are timed one batch in 16, slow ones every batch.
		n := rt.batches.Add(1)
		timed := n <= 16 || n%16 == 0 || rt.lastNS.Load() > 50_000
		var start time.Time
		if timed {
			start = time.Now()
		}
		p := node.(Processor)
		err, panicked := rt.guard("batch", func() error { return p.Process(ctx, m.port, m.b, out) })
		if timed {
			d := int64(time.Since(start))
			rt.busyNS.Add(d)
			rt.timed.Add(1)
			rt.lastNS.Store(d)
		}
		if ctx.Err() != nil {
			// Cancelled: the batch is abandoned and never acknowledged (its token keeps a
			// count that nothing will release).
			return
		}
		if err != nil {
			rt.failBatch(out, m.b, err)
		}
		out.flushRejects()
		out.tok = nil
		m.tok.done()
		if err != nil {
			switch {
			case rt.sup.Policy == "stop":
				rt.state.Store("failed")
				rt.run.fail(&NodeError{Node: rt.id, Err: err})
				return
			case panicked && rt.sup.Policy == "restart" && !concurrent:
				if !rt.rebuild(ctx, err) {
					return
				}
			}
		}
	}
}

// guard calls f, turning a panic into an error (logged with its stack) so that it fails the
// batch, run or flush rather than the process.
func (rt *nodeRT) guard(what string, f func() error) (err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
			panicked = true
			rt.log("error", fmt.Sprintf("panic in %s: %v\n%s", what, r, debug.Stack()))
		}
	}()
	return f(), false
}

// failBatch sends every row of a failed batch to errors with the reason.
func (rt *nodeRT) failBatch(out *emitter, b *rows.Batch, err error) {
	rt.log("error", fmt.Sprintf("batch of %d rows failed: %v", len(b.Rows), err))
	for _, r := range b.Rows {
		out.Reject(r, err)
	}
}

// ackToken counts the places a source batch (and what derives from it) still is.
type ackToken struct {
	pending atomic.Int64
	ack     func()
}

func (t *ackToken) add(n int64) {
	if t != nil {
		t.pending.Add(n)
	}
}

func (t *ackToken) done() {
	if t != nil && t.pending.Add(-1) == 0 && t.ack != nil {
		t.ack()
	}
}

// emitter is the Output of one Process call (or one source run).
type emitter struct {
	rt      *nodeRT
	last    *outPort // the port of the previous emit: most nodes emit on one
	ctx     context.Context
	tok     *ackToken
	rejects []rows.Row
	// immediate sends each rejected row at once (sources, whose rejects belong to no batch).
	immediate bool
}

func (e *emitter) Emit(port string, b *rows.Batch) error {
	return e.emit(port, b, e.tok)
}

func (e *emitter) EmitAcked(port string, b *rows.Batch, ack func()) error {
	tok := &ackToken{ack: ack}
	tok.pending.Store(1)
	err := e.emit(port, b, tok)
	if err != nil {
		return err
	}
	tok.done()
	return nil
}

func (e *emitter) emit(port string, b *rows.Batch, tok *ackToken) error {
	rt := e.rt
	op := e.last
	if op == nil || op.name != port {
		if op = rt.ports[port]; op == nil {
			return fmt.Errorf("node %q: emit on unknown port %q", rt.id, port)
		}
		e.last = op
	}
	if port == ErrorsPort {
		rt.errs.Add(int64(len(b.Rows)))
	} else {
		rt.rowsOut.Add(int64(len(b.Rows)))
	}
	if ts := op.taps.Load(); ts != nil {
		for _, t := range *ts {
			t.offer(b)
		}
	}
	ds := op.dests
	if len(ds) == 0 {
		if port == ErrorsPort && len(b.Rows) > 0 {
			rt.unwiredErrors(b)
		}
		return nil
	}
	for i, d := range ds {
		bb := b
		if i < len(ds)-1 {
			bb = b.Clone()
		}
		tok.add(1)
		select {
		case d.node.in <- msg{port: d.port, b: bb, tok: tok}:
		case <-e.ctx.Done():
			// The count added for this destination is left in place: an abandoned batch
			// must never be acknowledged, even if the node ignores this error.
			return context.Cause(e.ctx)
		}
	}
	return nil
}

// unwiredErrors counts failed rows that nothing is wired to errors for (UnwiredErrors), keeps
// the first one's reason, and samples them to the log: at most one line a second per node; the
// errors metric counts them all. b has rows.
func (rt *nodeRT) unwiredErrors(b *rows.Batch) {
	rt.unwired.Add(int64(len(b.Rows)))
	first := rt.firstErr.Load() == nil
	now := time.Now().UnixNano()
	last := rt.lastLog.Load()
	logIt := now-last >= int64(time.Second) && rt.lastLog.CompareAndSwap(last, now)
	if !first && !logIt {
		return
	}
	reason, _ := b.Rows[0].Get(ErrorField)
	s, _ := reason.AsString()
	if first {
		rt.firstErr.CompareAndSwap(nil, &s)
	}
	if logIt {
		rt.log("warn", fmt.Sprintf("%d rows failed (errors port not wired; %d so far), e.g.: %s", len(b.Rows), rt.errs.Load(), s))
	}
}

func (e *emitter) Reject(row rows.Row, reason error) {
	r := row.Clone()
	r.Set(ErrorField, rows.String(reason.Error()))
	r.Set(ErrorNodeField, rows.String(e.rt.id))
	e.rejects = append(e.rejects, r)
	if e.immediate {
		e.flushRejects()
	}
}

func (e *emitter) flushRejects() {
	if len(e.rejects) == 0 {
		return
	}
	b := &rows.Batch{Rows: e.rejects}
	e.rejects = nil
	_ = e.emit(ErrorsPort, b, e.tok)
}

func (e *emitter) Log(level, m string) { e.rt.log(level, m) }

var _ StatusOutput = (*emitter)(nil)

func (e *emitter) Gauge(name string, v float64) {
	e.rt.gaugeMu.Lock()
	e.rt.gauges[name] = v
	e.rt.gaugeMu.Unlock()
}

// Status implements StatusOutput.
func (e *emitter) Status(name, value string) {
	e.rt.gaugeMu.Lock()
	defer e.rt.gaugeMu.Unlock()
	if value == "" {
		delete(e.rt.status, name)
		return
	}
	if e.rt.status == nil {
		e.rt.status = map[string]string{}
	}
	e.rt.status[name] = value
}

// UnwiredErrors is what a run lost on errors ports that nothing was wired to: rows that failed
// and went nowhere but the log. A run that finished with some did not do all its work, and says
// so (`atoll run` and `atoll-runner` exit with status 3).
type UnwiredErrors struct {
	Nodes []UnwiredNode `json:"nodes"`
}

// UnwiredNode is one node's share of UnwiredErrors.
type UnwiredNode struct {
	Node  string `json:"node"`
	Rows  int64  `json:"rows"`
	First string `json:"first"` // the first row's reason
}

// Rows returns the number of rows lost.
func (u *UnwiredErrors) Rows() int64 {
	var n int64
	for _, x := range u.Nodes {
		n += x.Rows
	}
	return n
}

func (u *UnwiredErrors) Error() string {
	parts := make([]string, len(u.Nodes))
	for i, x := range u.Nodes {
		parts[i] = fmt.Sprintf("node %q: %d (first: %s)", x.Node, x.Rows, x.First)
	}
	return fmt.Sprintf("%d rows failed with no edge from their errors port: %s", u.Rows(), strings.Join(parts, "; "))
}

// UnwiredErrors returns the rows that went to errors ports nothing is wired to, by node, or nil
// when there were none.
func (r *Run) UnwiredErrors() *UnwiredErrors {
	var u UnwiredErrors
	for _, rt := range r.nodes {
		if n := rt.unwired.Load(); n > 0 {
			first := ""
			if p := rt.firstErr.Load(); p != nil {
				first = *p
			}
			u.Nodes = append(u.Nodes, UnwiredNode{Node: rt.id, Rows: n, First: first})
		}
	}
	if len(u.Nodes) == 0 {
		return nil
	}
	sort.Slice(u.Nodes, func(i, j int) bool { return u.Nodes[i].Node < u.Nodes[j].Node })
	return &u
}

// NodeMetrics is a snapshot of one node's counters.
type NodeMetrics struct {
	State   string `json:"state"`
	RowsIn  int64  `json:"rows_in"`
	RowsOut int64  `json:"rows_out"`
	Errors  int64  `json:"errors"`
	// Unwired counts the errors that went nowhere: no edge leaves the errors port.
	Unwired    int64              `json:"unwired_errors,omitempty"`
	QueueDepth int                `json:"queue_depth"`
	RowsPerS   float64            `json:"rows_per_s"`
	LatencyMS  float64            `json:"latency_ms"`
	Batches    int64              `json:"batches"` // batches handled (LatencyMS × Batches ≈ time in Process)
	Restarts   int                `json:"restarts"`
	Progress   *float64           `json:"progress,omitempty"`
	Fuel       *float64           `json:"fuel,omitempty"`
	RTF        *float64           `json:"rtf,omitempty"`
	Gauges     map[string]float64 `json:"gauges,omitempty"`
	// Status holds the node's texts set through StatusOutput.
	Status map[string]string `json:"status,omitempty"`
}

// Metrics returns a snapshot of every node's metrics. rows_per_s is the rate of rows out (rows
// in for sinks) since the previous call.
func (r *Run) Metrics() map[string]NodeMetrics {
	now := time.Now()
	out := make(map[string]NodeMetrics, len(r.nodes))
	r.rateMu.Lock()
	defer r.rateMu.Unlock()
	for _, rt := range r.nodes {
		m := NodeMetrics{
			State:    rt.state.Load().(string),
			RowsIn:   rt.rowsIn.Load(),
			RowsOut:  rt.rowsOut.Load(),
			Errors:   rt.errs.Load(),
			Unwired:  rt.unwired.Load(),
			Restarts: int(rt.restarts.Load()),
		}
		if rt.in != nil {
			m.QueueDepth = len(rt.in)
		}
		m.Batches = rt.batches.Load()
		if n := rt.timed.Load(); n > 0 {
			m.LatencyMS = float64(rt.busyNS.Load()) / float64(n) / 1e6
		}
		count := m.RowsOut
		if len(rt.spec.Outputs) == 0 {
			count = m.RowsIn
		}
		prev, seen := r.lastRate[rt.id]
		switch {
		case !seen:
			r.lastRate[rt.id] = rateSample{at: now, rows: count}
		case now.Sub(prev.at) >= 100*time.Millisecond:
			rate := float64(count-prev.rows) / now.Sub(prev.at).Seconds()
			r.lastRate[rt.id] = rateSample{at: now, rows: count, rate: rate}
			m.RowsPerS = rate
		default:
			m.RowsPerS = prev.rate
		}
		rt.gaugeMu.Lock()
		if len(rt.gauges) > 0 {
			m.Gauges = make(map[string]float64, len(rt.gauges))
			for k, v := range rt.gauges {
				v := v
				m.Gauges[k] = v
				switch k {
				case "progress":
					m.Progress = &v
				case "fuel":
					m.Fuel = &v
				case "rtf":
					m.RTF = &v
				}
			}
		}
		if len(rt.status) > 0 {
			m.Status = make(map[string]string, len(rt.status))
			for k, v := range rt.status {
				m.Status[k] = v
			}
		}
		rt.gaugeMu.Unlock()
		out[rt.id] = m
	}
	return out
}

// NodeIDs returns the ids of the run's nodes, sorted.
func (r *Run) NodeIDs() []string {
	ids := make([]string, 0, len(r.nodes))
	for _, rt := range r.nodes {
		ids = append(ids, rt.id)
	}
	sort.Strings(ids)
	return ids
}
