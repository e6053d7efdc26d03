package wasmhost_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/engine/wasmhost"
)

// max_call_ms is CPU time: a guest that sleeps three times its max_call_ms per batch (on a busy
// machine, or waiting for something) keeps its batch; it used to lose it to a wall-clock
// deadline. A spinning guest is still stopped, by CPU time.
func TestMaxCallMSIsCPUTime(t *testing.T) {
	f := newFunction(t, "bad-sleep", wasmhost.Limits{MaxCallMS: 100}, wasmhost.FunctionConfig{InstanceConfig: wasmhost.InstanceConfig{Config: []byte(`{"ms":300}`)}})
	in := &rows.Batch{Rows: momentRows().Rows[:3]}
	for round := 0; round < 2; round++ {
		start := time.Now()
		res, err := f.Process(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Failed) > 0 {
			t.Fatalf("round %d: a guest sleeping 300 ms with max_call_ms 100 lost its batch: %s", round, res.Failed[0].Reason)
		}
		if len(res.Out.Rows) != len(in.Rows) || time.Since(start) < 300*time.Millisecond {
			t.Fatalf("round %d: %d rows out after %v", round, len(res.Out.Rows), time.Since(start))
		}
	}
	spin := newFunction(t, "bad-cloop", wasmhost.Limits{MaxCallMS: 100}, wasmhost.FunctionConfig{})
	res, err := spin.Process(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != len(in.Rows) || !strings.HasPrefix(res.Failed[0].Reason, "call ") {
		t.Fatalf("a spinning guest was not stopped: %d failed, %v", len(res.Failed), res.Failed)
	}
}

// A Go guest that runs out of memory is reported as out of memory (first, before the deadline
// that may pass while it prints its stack), and its stack trace (95 lines here) is counted in
// the log rather than logged line by line.
func TestOutOfMemoryIsReportedAsSuch(t *testing.T) {
	var logs []string
	var mu sync.Mutex
	f := newFunction(t, "bad-hog", wasmhost.Limits{MemoryPages: 512}, wasmhost.FunctionConfig{InstanceConfig: wasmhost.InstanceConfig{
		Log: func(level, msg string) { mu.Lock(); logs = append(logs, level+": "+msg); mu.Unlock() },
	}})
	res, err := f.Process(t.Context(), &rows.Batch{Rows: momentRows().Rows[:2]})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 2 {
		t.Fatalf("%d rows failed, want 2", len(res.Failed))
	}
	reason := res.Failed[0].Reason
	t.Log(reason)
	if !strings.HasPrefix(reason, "out of memory: the guest uses ") || !strings.Contains(reason, "of its 32 MiB cap (memory_pages 512)") {
		t.Errorf("reason %q, want out of memory with the cap", reason)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logs) > 6 || !strings.Contains(logs[len(logs)-1], "lines of the guest's stack trace not logged") {
		t.Errorf("%d log lines for one out-of-memory guest (want the message and a count, not the stack): %q", len(logs), logs[:min(len(logs), 12)])
	}
}
