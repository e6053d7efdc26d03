package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"
)

// handler serves /healthz and /metrics for a bundle run. Counters add up every run since the
// runner started, so they stay monotonic across live updates.
func (s *supervisor) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /metrics", s.metrics)
	return mux
}

// healthz answers 200 while running, swapping or draining, 503 once the run failed. It names
// the running bundle and the last update attempt.
func (s *supervisor) healthz(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	d, state, last, updates := s.cur, s.state, s.last, s.updates
	s.mu.Unlock()
	code := http.StatusOK
	if state == "failed" {
		code = http.StatusServiceUnavailable
	}
	m := d.b.Manifest
	body := map[string]any{
		"status":        state,
		"graph":         m.GraphID,
		"graph_version": m.GraphVersion,
		"sha256":        d.b.SHA256,
		"signer":        d.b.SignerID(),
		"trusted":       d.b.Trusted,
		"bundle":        d.file,
		"uptime_s":      time.Since(s.started).Seconds(),
		"run_uptime_s":  time.Since(d.started).Seconds(),
		"version":       version,
		"updates":       updates,
		"last_update":   last,
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(body)
}

func (s *supervisor) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	ms, d := s.totals()
	s.mu.Lock()
	updates := s.updates
	s.mu.Unlock()
	types := map[string]string{}
	for _, n := range d.doc.Nodes {
		types[n.ID] = n.Type
	}
	ids := make([]string, 0, len(ms))
	for id := range ms {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	m := d.b.Manifest
	fmt.Fprintf(bw, "# HELP atoll_runner_info The runner's version and the running bundle.\n# TYPE atoll_runner_info gauge\n")
	fmt.Fprintf(bw, "atoll_runner_info{version=%s,graph=%s,graph_version=%s,sha256=%s} 1\n", label(version), label(m.GraphID),
		label(fmt.Sprint(m.GraphVersion)), label(d.b.SHA256))
	fmt.Fprintf(bw, "# HELP atoll_runner_uptime_seconds Seconds since the runner started.\n# TYPE atoll_runner_uptime_seconds gauge\n")
	fmt.Fprintf(bw, "atoll_runner_uptime_seconds %g\n", time.Since(s.started).Seconds())
	fmt.Fprintf(bw, "# HELP atoll_runner_updates_total Update attempts (swapped, refused or unchanged).\n# TYPE atoll_runner_updates_total counter\n")
	fmt.Fprintf(bw, "atoll_runner_updates_total %d\n", updates)
	writeNodeMetrics(bw, types, ids, ms)
}
