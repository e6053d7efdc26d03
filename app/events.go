package app

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
)

// Server → client events: the WebSocket messages, and the payload of the desktop window's
// "atoll:event" Wails event.
type (
	metricsEvent struct {
		Type  string                        `json:"type"` // "metrics"
		Run   string                        `json:"run"`
		Nodes map[string]engine.NodeMetrics `json:"nodes"`
	}
	rowsEvent struct {
		Type    string     `json:"type"` // "rows"
		Run     string     `json:"run"`
		Node    string     `json:"node"`
		Port    string     `json:"port"`
		Rows    []rows.Row `json:"rows"`
		Dropped int64      `json:"dropped"`
		T       int64      `json:"t"`
	}
	statusEvent struct {
		Type string  `json:"type"` // "status"
		Run  RunInfo `json:"run"`
	}
	errorEvent struct {
		Type  string `json:"type"` // "error": a client message the service refused
		Error string `json:"error"`
	}
)

// LogLine is one line of a run's log: the WebSocket's "log" message, and what Logs returns.
type LogLine struct {
	Type  string `json:"type"` // "log"
	Run   string `json:"run"`
	Node  string `json:"node,omitempty"`
	Level string `json:"level"` // debug, info, warn, error
	Msg   string `json:"msg"`
	T     int64  `json:"t"` // unix ms
}

func logEventOf(run string, e engine.LogEntry) LogLine {
	return LogLine{Type: "log", Run: run, Node: e.Node, Level: e.Level, Msg: e.Msg, T: e.Time.UnixMilli()}
}

// encode marshals an event once for every client that gets it.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(errorEvent{Type: "error", Error: "encode event: " + err.Error()})
	}
	return b
}

// clientQueue is how many events wait for a slow client before new ones are dropped.
const clientQueue = 256

// client is one event receiver: a WebSocket connection or the desktop window. Events are queued
// without ever blocking the sender (the engine, the metrics ticker): when the queue is full the
// event is dropped and counted.
type client struct {
	svc     *Service
	out     chan []byte
	dropped atomic.Int64

	mu     sync.Mutex
	runs   map[string]*runState
	taps   map[tapKey]*tapSub
	closed bool
}

type tapKey struct{ run, node, port string }

func (s *Service) newClient() *client {
	return &client{svc: s, out: make(chan []byte, clientQueue), runs: map[string]*runState{}, taps: map[tapKey]*tapSub{}}
}

// offer queues an event; false when it was dropped.
func (c *client) offer(b []byte) bool {
	select {
	case c.out <- b:
		return true
	default:
		c.dropped.Add(1)
		return false
	}
}

func (rs *runState) broadcast(b []byte) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for c := range rs.subs {
		c.offer(b)
	}
}

// subscribe sends the run's status, its kept log lines and latest metrics, then its events as
// they come.
func (c *client) subscribe(id string) error {
	rs, ok := c.svc.runState(id)
	if !ok {
		// A run the service no longer holds: its final status and metrics are all there is.
		ri, err := c.svc.GetRun(id)
		if err != nil {
			return err
		}
		if ri.Metrics != nil {
			c.offer(encode(metricsEvent{Type: "metrics", Run: id, Nodes: ri.Metrics}))
		}
		c.offer(encode(statusEvent{Type: "status", Run: ri}))
		return nil
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("client closed")
	}
	c.runs[id] = rs
	c.mu.Unlock()
	// Under the run's lock, so that no event falls between the backlog and the live events
	// (offer never blocks).
	rs.mu.Lock()
	defer rs.mu.Unlock()
	c.offer(encode(statusEvent{Type: "status", Run: rs.infoLocked()}))
	for _, e := range rs.logLinesLocked() {
		c.offer(encode(logEventOf(id, e)))
	}
	if rs.metrics != nil {
		c.offer(encode(metricsEvent{Type: "metrics", Run: id, Nodes: rs.metrics}))
	}
	rs.subs[c] = struct{}{}
	return nil
}

func (c *client) unsubscribe(id string) {
	c.mu.Lock()
	rs := c.runs[id]
	delete(c.runs, id)
	c.mu.Unlock()
	if rs != nil {
		rs.mu.Lock()
		delete(rs.subs, c)
		rs.mu.Unlock()
	}
}

// tapSub forwards one engine tap's samples to one client.
type tapSub struct {
	c       *client
	key     tapKey
	tap     *engine.Tap // nil when the run had ended: only the preview buffer was sent
	rs      *runState
	dropped int64 // rows this client failed to take, reported with the next sample
	once    sync.Once
}

// tap starts streaming the rows that leave node's port. A sink.preview node (or any input
// port) is previewed through the tap on its upstream output; a preview sink's kept rows are
// sent first, so a late tap or an ended run still shows rows.
func (c *client) tap(run, node, port string) error {
	key := tapKey{run, node, port}
	rs, ok := c.svc.runState(run)
	if !ok {
		if _, err := c.svc.GetRun(run); err != nil {
			return err
		}
		return fmt.Errorf("run %q has ended: %w", run, ErrInvalid)
	}
	gn, ok := rs.doc.Node(node)
	if !ok {
		return fmt.Errorf("tap: run %q has no node %q: %w", run, node, ErrInvalid)
	}
	spec, hasSpec := c.svc.catalog.Lookup(gn.Type)
	if port == "" && hasSpec && len(spec.Outputs) > 0 {
		port = spec.Outputs[0].Name // events keep the port as asked (key.port)
	}
	from, fromPort := node, port
	if hasSpec {
		if _, isOut := spec.Output(port); !isOut {
			// An input port (or a sink's preview): tap what flows into it.
			from, fromPort = "", ""
			for _, e := range rs.doc.Edges {
				if e.To.Node == node && (e.To.Port == port || port == "" || len(spec.Inputs) == 1) {
					from, fromPort = e.From.Node, e.From.Port
					break
				}
			}
		}
	}
	if p, ok := rs.buffers.Get(node); ok {
		if kept, total := p.Rows(); len(kept) > 0 {
			c.offer(encode(rowsEvent{Type: "rows", Run: run, Node: node, Port: key.port, Rows: kept,
				Dropped: total - int64(len(kept)), T: time.Now().UnixMilli()}))
		}
	}
	ts := &tapSub{c: c, key: key, rs: rs}
	if from == "" || !rs.running() {
		return nil
	}
	t, err := rs.run.Tap(from, fromPort, engine.TapOptions{})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	ts.tap = t
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		t.Close()
		return fmt.Errorf("client closed")
	}
	if old := c.taps[key]; old != nil {
		defer old.close()
	}
	c.taps[key] = ts
	c.mu.Unlock()
	rs.mu.Lock()
	if !rs.endedAt.IsZero() {
		rs.mu.Unlock()
		ts.close()
		return nil
	}
	rs.taps[ts] = struct{}{}
	rs.mu.Unlock()
	go ts.forward()
	return nil
}

func (ts *tapSub) forward() {
	for s := range ts.tap.C() {
		ev := rowsEvent{Type: "rows", Run: ts.key.run, Node: ts.key.node, Port: ts.key.port, Rows: s.Rows,
			Dropped: s.Skipped + ts.dropped, T: s.Time.UnixMilli()}
		if ts.c.offer(encode(ev)) {
			ts.dropped = 0
		} else {
			ts.dropped = ev.Dropped + int64(len(s.Rows))
		}
	}
}

func (ts *tapSub) close() {
	ts.once.Do(func() {
		if ts.tap != nil {
			ts.tap.Close()
		}
		ts.rs.mu.Lock()
		delete(ts.rs.taps, ts)
		ts.rs.mu.Unlock()
	})
}

func (c *client) untap(run, node, port string) {
	key := tapKey{run, node, port}
	c.mu.Lock()
	ts := c.taps[key]
	delete(c.taps, key)
	c.mu.Unlock()
	if ts != nil {
		ts.close()
	}
}

// close ends every subscription and tap of the client.
func (c *client) close() {
	c.mu.Lock()
	c.closed = true
	runs := c.runs
	taps := c.taps
	c.runs, c.taps = map[string]*runState{}, map[tapKey]*tapSub{}
	c.mu.Unlock()
	for _, rs := range runs {
		rs.mu.Lock()
		delete(rs.subs, c)
		rs.mu.Unlock()
	}
	for _, ts := range taps {
		ts.close()
	}
}

// Window events: the desktop window is one client whose events the desktop shell emits as
// "atoll:event". Subscribe, Unsubscribe, Tap and Untap are its bound methods.

// attachWindow connects the desktop window: emit is called, from one goroutine, with every event
// for the window (a JSON object) until done is closed.
func (s *Service) attachWindow(emit func(json.RawMessage), done <-chan struct{}) {
	c := s.newClient()
	s.mu.Lock()
	old := s.window
	s.window = c
	s.mu.Unlock()
	if old != nil {
		old.close()
	}
	go func() {
		defer c.close()
		for {
			select {
			case b := <-c.out:
				emit(b)
			case <-done:
				return
			}
		}
	}()
}

func (s *Service) windowClient() (*client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.window == nil {
		return nil, fmt.Errorf("no window attached (events reach the browser over /api/ws): %w", ErrInvalid)
	}
	return s.window, nil
}

// Subscribe sends the run's status, logs and metrics (every 250 ms) to the window.
func (s *Service) Subscribe(run string) error {
	c, err := s.windowClient()
	if err != nil {
		return err
	}
	return c.subscribe(run)
}

// Unsubscribe stops the run's events to the window.
func (s *Service) Unsubscribe(run string) error {
	c, err := s.windowClient()
	if err != nil {
		return err
	}
	c.unsubscribe(run)
	return nil
}

// Tap streams rows leaving a node port of a run to the window.
func (s *Service) Tap(run, node, port string) error {
	c, err := s.windowClient()
	if err != nil {
		return err
	}
	return c.tap(run, node, port)
}

// Untap stops a tap of the window.
func (s *Service) Untap(run, node, port string) error {
	c, err := s.windowClient()
	if err != nil {
		return err
	}
	c.untap(run, node, port)
	return nil
}
