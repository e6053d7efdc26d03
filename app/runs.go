package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/nodes/studio"
	"github.com/atoll-studio/atoll/storage"
)

// RunInfo is a run as the studio sees it: live while it runs, from storage once it has ended.
type RunInfo struct {
	ID        string                        `json:"id"`
	GraphID   string                        `json:"graph_id,omitempty"`
	Status    string                        `json:"status"` // running, stopping, finished, failed, stopped
	StartedAt time.Time                     `json:"started_at"`
	EndedAt   *time.Time                    `json:"ended_at,omitempty"`
	Error     string                        `json:"error,omitempty"`
	Metrics   map[string]engine.NodeMetrics `json:"metrics,omitempty"`
}

const (
	metricsEvery = 250 * time.Millisecond
	logRingLen   = 1000 // log lines kept per run
	keepFinished = 32   // finished runs kept in memory for their logs
)

// runState is one run the service started.
type runState struct {
	id      string
	graphID string
	doc     *graph.Document
	run     *engine.Run
	buffers *studio.Buffers
	started time.Time
	ended   chan struct{} // closed once the end is recorded

	mu       sync.Mutex
	status   string
	stopping bool
	endedAt  time.Time
	errText  string
	metrics  map[string]engine.NodeMetrics
	logs     []engine.LogEntry // ring of logRingLen
	logNext  int
	subs     map[*client]struct{}
	taps     map[*tapSub]struct{}
}

func (rs *runState) info() RunInfo {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.infoLocked()
}

func (rs *runState) infoLocked() RunInfo {
	ri := RunInfo{ID: rs.id, GraphID: rs.graphID, Status: rs.status, StartedAt: rs.started.UTC(), Error: rs.errText, Metrics: rs.metrics}
	if !rs.endedAt.IsZero() {
		t := rs.endedAt.UTC()
		ri.EndedAt = &t
	}
	return ri
}

func (rs *runState) running() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.endedAt.IsZero()
}

// build builds a document into a run that has not started. Problems come back as an
// *engine.InvalidGraphError.
func (s *Service) build(doc *graph.Document, buffers *studio.Buffers, log func(engine.LogEntry)) (*engine.Run, error) {
	if buffers == nil {
		buffers = studio.NewBuffers()
	}
	services := map[string]any{studio.BuffersService: buffers}
	for k, v := range s.opts.Services {
		services[k] = v
	}
	paths, err := s.pathPolicy()
	if err != nil {
		return nil, err
	}
	return engine.Build(doc, engine.Options{Catalog: s.catalog, Assets: s.assets, Services: services, Log: log, Paths: paths})
}

// StartRun validates and builds document and starts it. graphID (optional) ties the run to a
// saved graph; the run records that graph's version when the document is its latest. An
// invalid document is refused with an *engine.InvalidGraphError.
func (s *Service) StartRun(document json.RawMessage, graphID string) (RunInfo, error) {
	doc, err := parseDoc(document)
	if err != nil {
		return RunInfo{}, invalidDoc(err)
	}
	version := 0
	if graphID != "" {
		info, saved, err := s.store.LoadGraph(s.ctx, graphID)
		if err != nil {
			return RunInfo{}, err
		}
		if sameDoc(doc, saved) {
			version = info.Version
		}
	}
	buffers := studio.NewBuffers()
	logs := &logSink{}
	r, err := s.build(doc, buffers, logs.log)
	if err != nil {
		return RunInfo{}, err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		r.Cancel()
		return RunInfo{}, errors.New("studio is shutting down")
	}
	id, err := s.store.CreateRun(s.ctx, graphID, version)
	if err != nil {
		r.Cancel()
		return RunInfo{}, err
	}
	rs := &runState{id: id, graphID: graphID, doc: doc, run: r, buffers: buffers, started: time.Now(),
		ended: make(chan struct{}), status: storage.RunRunning, subs: map[*client]struct{}{}, taps: map[*tapSub]struct{}{}}
	s.mu.Lock()
	s.runs[id] = rs
	s.mu.Unlock()
	logs.attach(func(e engine.LogEntry) { s.addLog(rs, e) })
	r.Start(s.ctx)
	go s.monitor(rs)
	return rs.info(), nil
}

// sameDoc reports whether doc is the saved document, ignoring formatting and the identity (id
// and name) that storage writes into it.
func sameDoc(doc *graph.Document, saved []byte) bool {
	sd, err := graph.Parse(saved)
	if err != nil {
		return false
	}
	c := *doc
	c.ID, c.Name = sd.ID, sd.Name
	a, err1 := c.Marshal()
	b, err2 := sd.Marshal()
	return err1 == nil && err2 == nil && string(a) == string(b)
}

// monitor samples the run's metrics every 250 ms for its subscribers and records the end.
func (s *Service) monitor(rs *runState) {
	t := time.NewTicker(metricsEvery)
	defer t.Stop()
	for {
		select {
		case <-rs.run.Done():
			s.finish(rs)
			return
		case <-t.C:
			m := rs.run.Metrics()
			rs.mu.Lock()
			rs.metrics = m
			rs.mu.Unlock()
			rs.broadcast(encode(metricsEvent{Type: "metrics", Run: rs.id, Nodes: m}))
		}
	}
}

// finish records how the run ended, in memory and in storage, and tells subscribers.
func (s *Service) finish(rs *runState) {
	m := rs.run.Metrics()
	err := rs.run.Err()
	rs.mu.Lock()
	switch {
	case rs.stopping:
		rs.status = storage.RunStopped
	case err != nil:
		rs.status = storage.RunFailed
	default:
		rs.status = storage.RunFinished
	}
	if err != nil && !errors.Is(err, engine.ErrStopped) {
		rs.errText = err.Error()
	}
	rs.endedAt = time.Now()
	rs.metrics = m
	status, errText := rs.status, rs.errText
	taps := rs.taps
	rs.taps = map[*tapSub]struct{}{}
	rs.mu.Unlock()
	for ts := range taps {
		ts.close()
	}
	raw, _ := json.Marshal(m)
	// The service context may be cancelled (Close): the record must still be written.
	if ferr := s.store.FinishRun(context.WithoutCancel(s.ctx), rs.id, status, errText, raw); ferr != nil {
		s.addLog(rs, engine.LogEntry{Time: time.Now(), Level: "error", Msg: "record run end: " + ferr.Error()})
	}
	rs.broadcast(encode(metricsEvent{Type: "metrics", Run: rs.id, Nodes: m}))
	rs.broadcast(encode(statusEvent{Type: "status", Run: rs.info()}))
	close(rs.ended)

	s.mu.Lock()
	s.finished = append(s.finished, rs.id)
	for len(s.finished) > keepFinished {
		delete(s.runs, s.finished[0])
		s.finished = s.finished[1:]
	}
	s.mu.Unlock()
}

func (s *Service) addLog(rs *runState, e engine.LogEntry) {
	rs.mu.Lock()
	if len(rs.logs) < logRingLen {
		rs.logs = append(rs.logs, e)
	} else {
		rs.logs[rs.logNext] = e
		rs.logNext = (rs.logNext + 1) % logRingLen
	}
	rs.mu.Unlock()
	rs.broadcast(encode(logEventOf(rs.id, e)))
}

// logLines returns the run's kept log lines, oldest first.
func (rs *runState) logLines() []engine.LogEntry {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.logLinesLocked()
}

func (rs *runState) logLinesLocked() []engine.LogEntry {
	out := make([]engine.LogEntry, 0, len(rs.logs))
	out = append(out, rs.logs[rs.logNext:]...)
	return append(out, rs.logs[:rs.logNext]...)
}

// Logs returns the run's latest log lines (up to 1000), oldest first. Logs are kept in memory
// for the running runs and the last few finished ones.
func (s *Service) Logs(id string) ([]LogLine, error) {
	rs, ok := s.runState(id)
	if !ok {
		if _, err := s.store.GetRun(s.ctx, id); err != nil {
			return nil, err
		}
		return []LogLine{}, nil
	}
	entries := rs.logLines()
	out := make([]LogLine, len(entries))
	for i, e := range entries {
		out[i] = logEventOf(id, e)
	}
	return out, nil
}

func (s *Service) runState(id string) (*runState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, ok := s.runs[id]
	return rs, ok
}

// GetRun returns the run: live when the service runs it, else as stored.
func (s *Service) GetRun(id string) (RunInfo, error) {
	if rs, ok := s.runState(id); ok {
		return rs.info(), nil
	}
	r, err := s.store.GetRun(s.ctx, id)
	if err != nil {
		return RunInfo{}, err
	}
	return fromStored(r), nil
}

// ListRuns returns the runs, newest first (the last 200).
func (s *Service) ListRuns() ([]RunInfo, error) {
	stored, err := s.store.ListRuns(s.ctx, 200)
	if err != nil {
		return nil, err
	}
	out := make([]RunInfo, 0, len(stored))
	for _, r := range stored {
		if rs, ok := s.runState(r.ID); ok {
			out = append(out, rs.info())
		} else {
			out = append(out, fromStored(r))
		}
	}
	return out, nil
}

func fromStored(r storage.RunInfo) RunInfo {
	ri := RunInfo{ID: r.ID, GraphID: r.GraphID, Status: r.Status, StartedAt: r.StartedAt, EndedAt: r.EndedAt, Error: r.Error}
	if len(r.Metrics) > 0 {
		_ = json.Unmarshal(r.Metrics, &ri.Metrics)
	}
	return ri
}

// StopRun stops a run gracefully: sources end and what is in flight drains to the sinks; past
// the drain timeout the run is cancelled. It returns the run once it has ended.
func (s *Service) StopRun(id string) (RunInfo, error) {
	rs, ok := s.runState(id)
	if !ok {
		return s.GetRun(id) // not ours (or long finished): nothing to stop
	}
	s.stop(rs)
	return rs.info(), nil
}

func (s *Service) stop(rs *runState) {
	rs.mu.Lock()
	if !rs.endedAt.IsZero() {
		rs.mu.Unlock()
		return
	}
	first := !rs.stopping
	rs.stopping = true
	rs.status = storage.RunStopping
	rs.mu.Unlock()
	if first {
		rs.broadcast(encode(statusEvent{Type: "status", Run: rs.info()}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.DrainTimeout)
	defer cancel()
	_ = rs.run.Stop(ctx) // cancels hard once ctx ends
	<-rs.ended
}

// recoverRuns marks runs that a previous process left running as failed: their process is gone.
func (s *Service) recoverRuns() error {
	runs, err := s.store.ListRuns(s.ctx, 0)
	if err != nil {
		return err
	}
	for _, r := range runs {
		if r.Status == storage.RunRunning || r.Status == storage.RunStopping {
			if err := s.store.FinishRun(s.ctx, r.ID, storage.RunFailed, "interrupted: the studio exited during the run", r.Metrics); err != nil {
				return fmt.Errorf("recover run %q: %w", r.ID, err)
			}
		}
	}
	return nil
}

// logSink holds the log lines a run's nodes write before the run has an id (during the build)
// and passes them, then every later line, to the run once attached.
type logSink struct {
	mu      sync.Mutex
	pending []engine.LogEntry
	fn      func(engine.LogEntry)
}

func (l *logSink) log(e engine.LogEntry) {
	l.mu.Lock()
	fn := l.fn
	if fn == nil {
		l.pending = append(l.pending, e)
	}
	l.mu.Unlock()
	if fn != nil {
		fn(e)
	}
}

func (l *logSink) attach(fn func(engine.LogEntry)) {
	l.mu.Lock()
	l.fn = fn
	p := l.pending
	l.pending = nil
	l.mu.Unlock()
	for _, e := range p {
		fn(e)
	}
}
