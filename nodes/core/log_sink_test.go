package core

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
)

// logOutput is an engine.Output that keeps log lines.
type logOutput struct {
	mu    sync.Mutex
	lines []string
}

func (o *logOutput) Emit(string, *rows.Batch) error              { return nil }
func (o *logOutput) EmitAcked(string, *rows.Batch, func()) error { return nil }
func (o *logOutput) Reject(rows.Row, error)                      {}
func (o *logOutput) Gauge(string, float64)                       {}
func (o *logOutput) Log(level, msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lines = append(o.lines, level+" "+msg)
}

func TestLogSinkSampling(t *testing.T) {
	n, err := logSinkSpec.New(engine.BuildContext{NodeID: "log"}, json.RawMessage(`{"level":"warn","max_rows_per_s":2}`))
	if err != nil {
		t.Fatal(err)
	}
	l := n.(*logSink)
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1000, 0)
	l.now = func() time.Time { return clock }
	var out logOutput
	batch := func(from, to int) *rows.Batch {
		b := &rows.Batch{}
		for i := from; i < to; i++ {
			b.Rows = append(b.Rows, rows.Row{{Name: "n", Value: rows.Int(int64(i))}})
		}
		return b
	}
	if err := l.Process(t.Context(), "in", batch(0, 5), &out); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(1500 * time.Millisecond)
	if err := l.Process(t.Context(), "in", batch(5, 6), &out); err != nil {
		t.Fatal(err)
	}
	if err := l.Process(t.Context(), "in", batch(6, 9), &out); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(t.Context(), &out); err != nil {
		t.Fatal(err)
	}
	want := `warn {"n":0}
warn {"n":1}
warn 3 rows not logged (over max_rows_per_s 2)
warn {"n":5}
warn {"n":6}
warn 2 rows not logged (over max_rows_per_s 2)`
	if got := strings.Join(out.lines, "\n"); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}

func TestLogSinkInGraph(t *testing.T) {
	var mu sync.Mutex
	var logged []string
	r, err := engine.Build(mustGraph(t, `{"version":1,"id":"g","name":"g","nodes":[
		{"id":"gen","type":"source.generator","config":{"count":3,"rate":0}},
		{"id":"log","type":"sink.log","config":{"max_rows_per_s":0}}],
		"edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"log","port":"in"}}]}`),
		engine.Options{Catalog: catalogWithCapture(&capture{}), Log: func(e engine.LogEntry) {
			mu.Lock()
			defer mu.Unlock()
			logged = append(logged, fmt.Sprintf("%s %s %s", e.Node, e.Level, e.Msg))
		}})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	want := "log info {\"n\":0}\nlog info {\"n\":1}\nlog info {\"n\":2}"
	if got := strings.Join(logged, "\n"); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}
