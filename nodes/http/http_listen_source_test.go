package http

import (
	"context"
	"fmt"
	nethttp "net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine/rows"
)

// TestListenAnswers checks every refusal: its status, that the message names the problem, and
// that refused bodies go to errors naming the request.
func TestListenAnswers(t *testing.T) {
	addr := freeAddr(t)
	sink := &slowSink{}
	_, errs := startSource(t, "source.http_listen", fmt.Sprintf(`{"address":%q,"path":"/in","token":"s3cret","max_body_bytes":64}`, addr), sink)
	p := newPoster("http://" + addr + "/in")
	p.token = "s3cret"
	ctx := t.Context()
	eventually(t, "the endpoint listens", func() bool {
		_, _, err := p.post(ctx, "application/json", "", []byte(`[]`))
		return err == nil
	})
	cases := []struct {
		name, contentType, token, body string
		status                         int
		says                           string
		toErrors                       bool
	}{
		{"one object", "application/json", "s3cret", `{"a":1}`, 200, `{"rows":1}`, false},
		{"array", "application/json; charset=utf-8", "s3cret", `[{"a":2},{"a":3}]`, 200, `{"rows":2}`, false},
		{"json lines", "application/x-ndjson", "s3cret", "{\"a\":4}\n\n{\"a\":5}\n", 200, `{"rows":2}`, false},
		{"no token", "application/json", "", `{"a":1}`, 401, "bearer token", false},
		{"wrong token", "application/json", "guess", `{"a":1}`, 401, "bearer token", false},
		{"bad json", "application/json", "s3cret", `{"a":`, 400, `request "bad json"`, true},
		{"bad element", "application/json", "s3cret", `[{"a":1},7]`, 400, "element 1", true},
		{"bad line", "application/x-ndjson", "s3cret", "{\"a\":1}\n{oops}\n", 400, "line 2", true},
		{"not rows", "application/json", "s3cret", `"text"`, 400, "a JSON object or an array of objects", true},
		{"too large", "application/json", "s3cret", `[` + strings.Repeat(`{"a":1},`, 20) + `{"a":1}]`, 413, "larger than max_body_bytes (64)", true},
		{"wrong type", "text/plain", "s3cret", `{"a":1}`, 415, "text/plain is not application/json", true},
		{"no type", "", "s3cret", `{"a":1}`, 415, "no Content-Type", true},
	}
	wantErrors := 0
	for _, c := range cases {
		p.token = c.token
		status, answer, err := p.post(ctx, c.contentType, c.name, []byte(c.body))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if status != c.status || !strings.Contains(answer, c.says) {
			t.Errorf("%s: answered %d %q, want %d saying %q", c.name, status, answer, c.status, c.says)
		}
		if c.toErrors {
			wantErrors++
			eventually(t, c.name+" reaches errors", func() bool { return len(errs.Rows()) == wantErrors })
			e := errs.Rows()[wantErrors-1]
			if msg := errorText(e); !strings.Contains(msg, fmt.Sprintf("request %q", c.name)) || !strings.Contains(msg, c.says) {
				t.Errorf("%s: errors row says %q", c.name, msg)
			}
			if v, _ := e.Get("status"); v != rows.Int(int64(c.status)) {
				t.Errorf("%s: errors row status %v", c.name, v.Any())
			}
		}
	}
	// Other methods and paths.
	for _, c := range []struct{ method, path string }{{"GET", "/in"}, {"POST", "/elsewhere"}} {
		req, _ := nethttp.NewRequest(c.method, "http://"+addr+c.path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[string]int{"GET": 405, "POST": 404}[c.method]; resp.StatusCode != want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, want)
		}
	}
	if got := len(sink.Rows()); got != 5 {
		t.Errorf("%d rows arrived, want the 5 accepted", got)
	}
}

// TestListenAnswersAfterAck checks that a request is answered only once its rows have reached
// the sink, and 503 when the run stops before they do.
func TestListenAnswersAfterAck(t *testing.T) {
	addr := freeAddr(t)
	sink := &slowSink{gate: make(chan struct{})}
	r, _ := startSource(t, "source.http_listen", fmt.Sprintf(`{"address":%q}`, addr), sink)
	p := newPoster("http://" + addr + "/")
	type result struct {
		status int
		at     time.Time
	}
	done := make(chan result, 1)
	go func() {
		var status int
		for ctx := t.Context(); ctx.Err() == nil; time.Sleep(10 * time.Millisecond) {
			var err error
			if status, _, err = p.post(ctx, "application/json", "", []byte(`{"a":1}`)); err == nil {
				break
			}
		}
		done <- result{status, time.Now()}
	}()
	select {
	case res := <-done:
		t.Fatalf("answered %d before the sink took the row", res.status)
	case <-time.After(300 * time.Millisecond):
	}
	released := time.Now()
	close(sink.gate)
	res := <-done
	if res.status != 200 || res.at.Before(released) {
		t.Fatalf("answered %d at %v, the sink was released at %v", res.status, res.at, released)
	}

	// A cancel while a request waits: it is answered 503, the rows not confirmed.
	sink2 := &slowSink{gate: make(chan struct{})}
	addr2 := freeAddr(t)
	r2, _ := startSource(t, "source.http_listen", fmt.Sprintf(`{"address":%q}`, addr2), sink2)
	p2 := newPoster("http://" + addr2 + "/")
	statusCh := make(chan int, 1)
	go func() {
		for ctx := t.Context(); ctx.Err() == nil; time.Sleep(10 * time.Millisecond) {
			if status, _, err := p2.post(ctx, "application/json", "", []byte(`{"a":1}`)); err == nil {
				statusCh <- status
				return
			}
		}
	}()
	eventually(t, "the request waits in the pipeline", func() bool { return r2.Metrics()["partner"].RowsIn == 1 })
	r2.Cancel()
	if status := <-statusCh; status != 503 {
		t.Fatalf("a request cancelled before its ack got %d, want 503", status)
	}
	r.Cancel()
}

// TestListenConcurrentPosters: 50 posters send 10 bodies each into a slow pipeline through a
// small queue; they get 429s and retry; every body answered 2xx arrives exactly once.
func TestListenConcurrentPosters(t *testing.T) {
	const posters, bodies, perBody = 50, 10, 3
	addr := freeAddr(t)
	sink := &slowSink{delay: time.Millisecond}
	startSource(t, "source.http_listen", fmt.Sprintf(`{"address":%q,"max_queued":4,"retry_after_s":0}`, addr), sink)
	p := newPoster("http://" + addr + "/")
	p.client.Transport = &nethttp.Transport{MaxIdleConnsPerHost: posters}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errCh := make(chan error, posters)
	for i := 0; i < posters; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < bodies; j++ {
				var rs []rows.Row
				for k := 0; k < perBody; k++ {
					rs = append(rs, rows.Row{{Name: "poster", Value: rows.Int(int64(i))}, {Name: "body", Value: rows.Int(int64(j))}, {Name: "k", Value: rows.Int(int64(k))}})
				}
				if err := p.send(ctx, rs); err != nil {
					errCh <- fmt.Errorf("poster %d body %d: %w", i, j, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errCh)
	for err := range errCh {
		t.Fatal(err)
	}
	got := sink.Rows()
	seen := map[[3]int64]int{}
	for _, r := range got {
		var key [3]int64
		for i, name := range []string{"poster", "body", "k"} {
			v, _ := r.Get(name)
			key[i], _ = v.AsInt()
		}
		seen[key]++
	}
	if len(got) != posters*bodies*perBody || len(seen) != posters*bodies*perBody {
		t.Fatalf("%d rows arrived (%d distinct), want %d once each", len(got), len(seen), posters*bodies*perBody)
	}
	if p.busy.Load() == 0 {
		t.Fatal("no poster was ever answered 429: the queue never filled, backpressure was not exercised")
	}
	t.Logf("%d answers were 429 (retried)", p.busy.Load())
}
