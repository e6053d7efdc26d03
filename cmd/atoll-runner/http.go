package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
)

// status is what /healthz and /metrics report about the run.
type status struct {
	run     *engine.Run
	doc     *graph.Document
	started time.Time

	mu    sync.Mutex
	state string // running, stopping, finished, failed
}

func (s *status) set(state string) {
	s.mu.Lock()
	s.state = state
	s.mu.Unlock()
}

func (s *status) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

func (s *status) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /metrics", s.metrics)
	return mux
}

// healthz answers 200 while the run is running or draining, 503 once it failed.
func (s *status) healthz(w http.ResponseWriter, r *http.Request) {
	state := s.get()
	code := http.StatusOK
	if state == "failed" {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{
		"status":   state,
		"graph":    s.doc.ID,
		"uptime_s": time.Since(s.started).Seconds(),
		"version":  version,
	})
}

// metrics writes the Prometheus text exposition format (version 0.0.4).
func (s *status) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	types := map[string]string{}
	for _, n := range s.doc.Nodes {
		types[n.ID] = n.Type
	}
	ms := s.run.Metrics()
	ids := s.run.NodeIDs()

	fmt.Fprintf(bw, "# HELP atoll_runner_info The runner's version and graph.\n# TYPE atoll_runner_info gauge\n")
	fmt.Fprintf(bw, "atoll_runner_info{version=%s,graph=%s} 1\n", label(version), label(s.doc.ID))
	fmt.Fprintf(bw, "# HELP atoll_runner_uptime_seconds Seconds since the run started.\n# TYPE atoll_runner_uptime_seconds gauge\n")
	fmt.Fprintf(bw, "atoll_runner_uptime_seconds %g\n", time.Since(s.started).Seconds())

	writeNodeMetrics(bw, types, ids, ms)
}

// writeNodeMetrics writes the per-node series.
func writeNodeMetrics(bw *bufio.Writer, types map[string]string, ids []string, ms map[string]engine.NodeMetrics) {
	series := []struct {
		name, typ, help string
		value           func(engine.NodeMetrics) float64
	}{
		{"atoll_node_rows_in_total", "counter", "Rows received by the node.", func(m engine.NodeMetrics) float64 { return float64(m.RowsIn) }},
		{"atoll_node_rows_out_total", "counter", "Rows emitted by the node.", func(m engine.NodeMetrics) float64 { return float64(m.RowsOut) }},
		{"atoll_node_errors_total", "counter", "Rows the node sent to errors, and node failures.", func(m engine.NodeMetrics) float64 { return float64(m.Errors) }},
		{"atoll_node_restarts_total", "counter", "Times the node was rebuilt after a failure.", func(m engine.NodeMetrics) float64 { return float64(m.Restarts) }},
		{"atoll_node_queue_depth", "gauge", "Batches waiting at the node's input.", func(m engine.NodeMetrics) float64 { return float64(m.QueueDepth) }},
		{"atoll_node_latency_milliseconds", "gauge", "Mean time the node spends on a batch.", func(m engine.NodeMetrics) float64 { return m.LatencyMS }},
		{"atoll_node_rows_per_second", "gauge", "Recent rows per second out (in, for sinks).", func(m engine.NodeMetrics) float64 { return m.RowsPerS }},
	}
	for _, se := range series {
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", se.name, se.help, se.name, se.typ)
		for _, id := range ids {
			fmt.Fprintf(bw, "%s{node=%s,type=%s} %g\n", se.name, label(id), label(types[id]), se.value(ms[id]))
		}
	}
	fmt.Fprintf(bw, "# HELP atoll_node_state 1 for the node's current state.\n# TYPE atoll_node_state gauge\n")
	for _, id := range ids {
		fmt.Fprintf(bw, "atoll_node_state{node=%s,state=%s} 1\n", label(id), label(ms[id].State))
	}
	fmt.Fprintf(bw, "# HELP atoll_node_gauge Node-specific gauges (progress, acked_offset, rtf, fuel, ...).\n# TYPE atoll_node_gauge gauge\n")
	for _, id := range ids {
		g := ms[id].Gauges
		for _, k := range slices.Sorted(maps.Keys(g)) {
			fmt.Fprintf(bw, "atoll_node_gauge{node=%s,name=%s} %g\n", label(id), label(k), g[k])
		}
	}
	fmt.Fprintf(bw, "# HELP atoll_node_status 1 for each text a node reports (connection, last_error, ...).\n# TYPE atoll_node_status gauge\n")
	for _, id := range ids {
		st := ms[id].Status
		for _, k := range slices.Sorted(maps.Keys(st)) {
			fmt.Fprintf(bw, "atoll_node_status{node=%s,name=%s,value=%s} 1\n", label(id), label(k), label(st[k]))
		}
	}
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// label quotes a Prometheus label value.
func label(s string) string { return `"` + labelEscaper.Replace(s) + `"` }
