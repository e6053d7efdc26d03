package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/internal/conformance"
)

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("no free loopback port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// poster is a webhook client that retries as a well-behaved producer does: on network errors,
// 429 and 5xx, after a short pause.
type poster struct {
	client *nethttp.Client
	url    string
	token  string
	ids    atomic.Int64
	// busy counts the 429 answers it got.
	busy atomic.Int64
}

func newPoster(url string) *poster {
	return &poster{client: &nethttp.Client{Timeout: 10 * time.Second}, url: url}
}

// post sends a body once and returns the status and answer.
func (p *poster) post(ctx context.Context, contentType, id string, body []byte) (int, string, error) {
	req, err := nethttp.NewRequestWithContext(ctx, "POST", p.url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", contentType)
	if id != "" {
		req.Header.Set("X-Request-ID", id)
	}
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer), nil
}

// send posts rows as JSON lines until a 2xx, retrying what a producer retries.
func (p *poster) send(ctx context.Context, rs []rows.Row) error {
	body := appendRows(nil, rs, "jsonl")
	id := fmt.Sprintf("send-%d", p.ids.Add(1))
	for {
		status, answer, err := p.post(ctx, "application/x-ndjson", id, body)
		switch {
		case err == nil && status/100 == 2:
			return nil
		case err == nil && status == nethttp.StatusTooManyRequests:
			p.busy.Add(1)
		case err == nil && status < 500:
			return fmt.Errorf("status %d: %s", status, answer)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up (last: status %d, %v): %w", status, err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// listenEnv drives source.http_listen as a webhook client.
type listenEnv struct {
	addr string
	p    *poster
	bad  atomic.Int64
}

func (e *listenEnv) Config() json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"address":%q,"path":"/ingest","retry_after_s":0}`, e.addr))
}

func (e *listenEnv) Send(ctx context.Context, rs []rows.Row) error { return e.p.send(ctx, rs) }

func (e *listenEnv) SendMalformed(ctx context.Context) (string, error) {
	id := fmt.Sprintf("malformed-%d", e.bad.Add(1))
	for {
		status, answer, err := e.p.post(ctx, "application/x-ndjson", id, []byte("{\"seq\": 1}\n{\"seq\": 2, broken\n"))
		if err == nil {
			if status != nethttp.StatusBadRequest || !strings.Contains(answer, "line 2") {
				return "", fmt.Errorf("malformed body answered %d %q, want 400 naming line 2", status, answer)
			}
			return fmt.Sprintf("request %q", id), nil
		}
		select {
		case <-ctx.Done():
			return "", err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestListenConformance(t *testing.T) {
	conformance.TestSource(t, conformance.Source{Type: "source.http_listen", Start: func(t *testing.T) conformance.SourceEnv {
		addr := freeAddr(t)
		return &listenEnv{addr: addr, p: newPoster("http://" + addr + "/ingest")}
	}})
}

// feedServer serves queued responses, one per request, as an API whose each item is served once
// (a queue): {"data": [rows...]}, or an empty list when nothing is queued.
type feedServer struct {
	srv   *httptest.Server
	mu    sync.Mutex
	queue [][]byte
	bad   int
}

func newFeedServer(t *testing.T) *feedServer {
	f := &feedServer{}
	f.srv = httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		f.mu.Lock()
		body := []byte(`{"data":[]}`)
		if len(f.queue) > 0 {
			body, f.queue = f.queue[0], f.queue[1:]
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *feedServer) Config() json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"url":%q,"rows_path":"data","interval_ms":10}`, f.srv.URL+"/feed"))
}

func (f *feedServer) push(body []byte) {
	f.mu.Lock()
	f.queue = append(f.queue, body)
	f.mu.Unlock()
}

func (f *feedServer) Send(_ context.Context, rs []rows.Row) error {
	f.push(append(append([]byte(`{"data":`), appendRows(nil, rs, "json")...), '}'))
	return nil
}

func (f *feedServer) SendMalformed(context.Context) (string, error) {
	f.mu.Lock()
	f.bad++
	token := fmt.Sprintf("broken-%d", f.bad)
	f.mu.Unlock()
	f.push([]byte(`{"data":[{"seq":` + token + `}]}`))
	return token, nil
}

func TestPollConformance(t *testing.T) {
	conformance.TestSource(t, conformance.Source{Type: "source.http_poll", Start: func(t *testing.T) conformance.SourceEnv {
		return newFeedServer(t)
	}})
}

// receiver is an HTTP server that keeps the rows posted to it, in arrival order.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	rows    []rows.Row
	bodies  int
	header  nethttp.Header // of the last request
	stalled chan struct{}  // closed: requests block until the test ends
	release chan struct{}
	// answer, when set, picks the status of a request (after it was read); 0 means 200.
	answer func(n int, rs []rows.Row) (int, string)
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{stalled: make(chan struct{}), release: make(chan struct{})}
	var stallOnce sync.Once
	rc.srv = httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		select {
		case <-rc.stalled:
			select {
			case <-rc.release:
			case <-r.Context().Done():
			}
			return
		default:
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			nethttp.Error(w, err.Error(), 400)
			return
		}
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		format := "json"
		if mt == "application/x-ndjson" {
			format = "jsonl"
		}
		rs, err := parseRows(body, format)
		if err != nil {
			nethttp.Error(w, err.Error(), 400)
			return
		}
		rc.mu.Lock()
		rc.header = r.Header.Clone()
		rc.bodies++
		n := rc.bodies
		rc.mu.Unlock()
		if rc.answer != nil {
			if status, msg := rc.answer(n, rs); status != 0 && status != 200 {
				nethttp.Error(w, msg, status)
				return
			}
		}
		rc.mu.Lock()
		rc.rows = append(rc.rows, rs...)
		rc.mu.Unlock()
		w.WriteHeader(nethttp.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	t.Cleanup(func() { stallOnce.Do(func() {}); close(rc.release) })
	return rc
}

func (rc *receiver) Received(context.Context) ([]rows.Row, error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]rows.Row(nil), rc.rows...), nil
}

func (rc *receiver) Stall() { close(rc.stalled) }

// sinkEnv is a receiver that refuses, with 400, a body holding a row with a "poison" field.
type sinkEnv struct {
	*receiver
	format string
}

func (e *sinkEnv) Config() json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"url":%q,"format":%q,"backoff_ms":5}`, e.srv.URL+"/in", e.format))
}

func (e *sinkEnv) Poison() (rows.Row, string) {
	r := conformance.Row(99)
	r.Set("poison", rows.Bool(true))
	return r, "status 400 after 1 attempt: bad request; body: poisoned row"
}

func TestSinkConformance(t *testing.T) {
	for _, format := range []string{"json", "jsonl"} {
		t.Run(format, func(t *testing.T) {
			conformance.TestSink(t, conformance.Sink{Type: "sink.http", Start: func(t *testing.T) conformance.SinkEnv {
				rc := newReceiver(t)
				rc.answer = func(_ int, rs []rows.Row) (int, string) {
					for _, r := range rs {
						if _, ok := r.Get("poison"); ok {
							return 400, "poisoned row"
						}
					}
					return 0, ""
				}
				return &sinkEnv{receiver: rc, format: format}
			}})
		})
	}
}
