package http

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/internal/conformance"
)

// TestSinkRetries: a server that fails the first attempts with 503 and then answers 400. The
// 503s are retried with a growing wait, the 400 is not, and the rows go to errors with the
// status and the answer's start; a batch whose retries end in a 2xx is delivered.
func TestSinkRetries(t *testing.T) {
	rc := newReceiver(t)
	var mu sync.Mutex
	var attempts []time.Time
	script := map[int]int{1: 503, 2: 503, 3: 400, 4: 503, 5: 200}
	rc.answer = func(n int, rs []rows.Row) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, time.Now())
		if script[n] == 400 {
			return 400, `{"error":"field \"seq\" rejected by the platform"}`
		}
		return script[n], "upstream down"
	}
	acks := make(chan int, 2)
	src := &rowsSource{batches: [][]rows.Row{conformance.Rows(0, 3), conformance.Rows(3, 5)}, acks: acks}
	r, errs := startSink(t, "sink.http", fmt.Sprintf(`{"url":%q,"max_retries":4,"backoff_ms":20}`, rc.srv.URL), src)
	<-r.Done()
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	e := errs.Rows()
	if len(e) != 3 {
		t.Fatalf("%d error rows, want the 3 rows of the refused batch: %v", len(e), e)
	}
	for i, row := range e {
		if !conformance.Contains(row, conformance.Row(i)) {
			t.Errorf("error row %d: %s", i, row.AppendJSON(nil))
		}
		want := fmt.Sprintf(`POST %s: status 400 after 3 attempts: bad request; body: {"error":"field \"seq\" rejected by the platform"}`, rc.srv.URL)
		if msg := errorText(row); msg != want+"\n" && msg != want {
			t.Errorf("error %q\nwant %q", msg, want)
		}
	}
	got, _ := rc.Received(t.Context())
	if len(got) != 2 || !conformance.Contains(got[0], conformance.Row(3)) || !conformance.Contains(got[1], conformance.Row(4)) {
		t.Fatalf("received %v, want rows 3 and 4 (delivered on the second attempt)", got)
	}
	if len(acks) != 2 {
		t.Fatalf("%d batches acknowledged, want 2 (refused rows are handled: they went to errors)", len(acks))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != 5 {
		t.Fatalf("%d attempts, want 5 (503, 503, 400 not retried; 503, 200)", len(attempts))
	}
	// The waits grow: 20 ms then 40 ms at least (no upper bound checked: the machine is shared).
	if d1, d2 := attempts[1].Sub(attempts[0]), attempts[2].Sub(attempts[1]); d1 < 20*time.Millisecond || d2 < 40*time.Millisecond {
		t.Errorf("waits %v and %v, want at least 20 ms then 40 ms", d1, d2)
	}
	if g := r.Metrics()["node"].Gauges; g["retries"] != 3 || g["failed"] != 1 || g["requests"] != 1 {
		t.Errorf("gauges %v, want retries 3, failed 1, requests 1", g)
	}
}

// TestSinkGivesUp: a server that always answers 503, then one that is not there: after the
// last retry the rows go to errors naming the status (0 for a network error) and the attempts.
func TestSinkGivesUp(t *testing.T) {
	rc := newReceiver(t)
	rc.answer = func(int, []rows.Row) (int, string) { return 502, "bad gateway from upstream" }
	src := &rowsSource{batches: [][]rows.Row{conformance.Rows(0, 1)}, acks: make(chan int, 1)}
	r, errs := startSink(t, "sink.http", fmt.Sprintf(`{"url":%q,"max_retries":2,"backoff_ms":1,"format":"jsonl"}`, rc.srv.URL), src)
	<-r.Done()
	if e := errs.Rows(); len(e) != 1 || !strings.Contains(errorText(e[0]), "status 502 after 3 attempts: bad gateway; body: bad gateway from upstream") {
		t.Fatalf("errors %v", e)
	}
	dead := freeAddr(t)
	src = &rowsSource{batches: [][]rows.Row{conformance.Rows(0, 1)}, acks: make(chan int, 1)}
	r, errs = startSink(t, "sink.http", fmt.Sprintf(`{"url":"http://%s/","max_retries":1,"backoff_ms":1}`, dead), src)
	<-r.Done()
	if e := errs.Rows(); len(e) != 1 || !strings.Contains(errorText(e[0]), "status 0 after 2 attempts") || !strings.Contains(errorText(e[0]), "refused") {
		t.Fatalf("errors %v", e)
	}
}

// TestSinkSplitsBatches checks max_batch_rows and the headers.
func TestSinkSplitsBatches(t *testing.T) {
	rc := newReceiver(t)
	var mu sync.Mutex
	var sizes []int
	rc.answer = func(_ int, rs []rows.Row) (int, string) {
		mu.Lock()
		sizes = append(sizes, len(rs))
		mu.Unlock()
		return 0, ""
	}
	src := &rowsSource{batches: [][]rows.Row{conformance.Rows(0, 25)}, acks: make(chan int, 1)}
	r, errs := startSink(t, "sink.http", fmt.Sprintf(`{"url":%q,"max_batch_rows":10,"headers":{"X-Device":"d1"}}`, rc.srv.URL), src)
	<-r.Done()
	if len(errs.Rows()) > 0 {
		t.Fatal(errs.Rows())
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(sizes) != "[10 10 5]" {
		t.Fatalf("request sizes %v, want [10 10 5]", sizes)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if h := rc.header; h.Get("X-Device") != "d1" || h.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", h)
	}
}
