package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"strconv"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

var httpSinkSpec = engine.Spec{
	ID:       "sink.http",
	Category: "sink",
	Summary:  "POSTs batches of rows to a URL as a JSON array or JSON lines, retrying server failures.",
	Docs: `Sends each input batch (split into requests of at most ` + "`max_batch_rows`" + ` rows) to ` + "`url`" + ` as
one request: a JSON array of the rows' JSON view (` + "`format: json`" + `, ` + "`Content-Type: application/json`" + `)
or one object per line (` + "`format: jsonl`" + `, ` + "`application/x-ndjson`" + `), with ` + "`headers`" + `.

Any 2xx answer delivers the rows. A network error, a timeout (` + "`timeout_ms`" + `), a 5xx, a 408 or a
429 is retried up to ` + "`max_retries`" + ` times, waiting ` + "`backoff_ms`" + ` and doubling up to
` + "`max_backoff_ms`" + ` (a ` + "`Retry-After`" + ` in seconds from the server is followed, within that cap).
Any other 4xx is never retried: the server said the request itself is wrong. Rows still not
delivered go to ` + "`errors`" + `, each with a message naming the URL, the last status (0: a network
error), the number of attempts and the first 512 bytes of the answer, e.g.
` + "`POST https://…/ingest: status 400 after 1 attempt: bad request; body: {\"error\":\"…\"}`" + `.

### Delivery guarantee

**At-least-once.** The node returns from a batch only when the server answered 2xx or the rows went
to ` + "`errors`" + `, so the source is acknowledged only then. A request whose 2xx answer is lost (a
timeout after the server took it) is sent again: the server sees it twice. Make the receiver
idempotent (a key in the rows) when duplicates matter.

Metrics: ` + "`requests`" + ` (answered 2xx), ` + "`retries`" + `, ` + "`failed`" + ` (requests given up).`,
	Headless: true,
	Inputs:   []engine.Port{{Name: "in", Type: "any", Required: true}},
	Fields: []engine.Field{
		{Name: "url", Type: "string", Doc: "http or https URL to send to", Required: true,
			Schema: map[string]any{"type": "string", "minLength": 1, "pattern": "^https?://"}},
		{Name: "method", Type: "string", Doc: "HTTP method", Default: "POST", Enum: []any{"POST", "PUT", "PATCH"}},
		{Name: "headers", Type: "object", Doc: "request headers (name → value)", Default: map[string]any{}, Schema: headersSchema},
		{Name: "format", Type: "string", Doc: "json (an array of rows) or jsonl (one row per line)", Default: "json", Enum: []any{"json", "jsonl"}},
		{Name: "max_batch_rows", Type: "integer", Doc: "most rows in one request", Default: 500, Min: engine.Num(1)},
		{Name: "timeout_ms", Type: "integer", Doc: "timeout of one attempt, in milliseconds", Default: 10000, Min: engine.Num(1)},
		{Name: "max_retries", Type: "integer", Doc: "retries after the first attempt", Default: 3, Min: engine.Num(0), Max: engine.Num(100)},
		{Name: "backoff_ms", Type: "integer", Doc: "wait before the first retry, doubled each time", Default: 200, Min: engine.Num(0)},
		{Name: "max_backoff_ms", Type: "integer", Doc: "longest wait between two attempts", Default: 10000, Min: engine.Num(0)},
	},
	Examples: []engine.Example{
		{Name: "forward to a platform", Config: json.RawMessage(`{"url":"https://platform.example.com/ingest","headers":{"Authorization":"Bearer change-me"}}`)},
		{Name: "JSON lines, patient retries", Config: json.RawMessage(`{"url":"http://127.0.0.1:8088/","format":"jsonl","max_retries":10,"backoff_ms":500,"max_backoff_ms":30000}`)},
	},
	Defaults: httpSinkDefaults(),
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, httpSinkDefaults())
		if err != nil {
			return nil, err
		}
		return &httpSink{cfg: cfg}, nil
	},
}

type httpSinkConfig struct {
	URL          string            `json:"url"`
	Method       string            `json:"method"`
	Headers      map[string]string `json:"headers"`
	Format       string            `json:"format"`
	MaxBatchRows int               `json:"max_batch_rows"`
	TimeoutMS    int               `json:"timeout_ms"`
	MaxRetries   int               `json:"max_retries"`
	BackoffMS    int               `json:"backoff_ms"`
	MaxBackoffMS int               `json:"max_backoff_ms"`
}

// httpSinkDefaults returns fresh defaults (the map must not be shared between decodes).
func httpSinkDefaults() httpSinkConfig {
	return httpSinkConfig{Method: "POST", Headers: map[string]string{}, Format: "json", MaxBatchRows: 500,
		TimeoutMS: 10000, MaxRetries: 3, BackoffMS: 200, MaxBackoffMS: 10000}
}

func init() { nodes.Register(httpSinkSpec) }

type httpSink struct {
	cfg    httpSinkConfig
	client *nethttp.Client
	buf    []byte

	requests, retries, failed int
}

func (s *httpSink) Validate() error {
	if err := checkRequest(s.cfg.URL, s.cfg.Method, s.cfg.Format, "POST", "PUT", "PATCH"); err != nil {
		return err
	}
	if s.cfg.MaxBatchRows < 1 || s.cfg.TimeoutMS < 1 || s.cfg.MaxRetries < 0 || s.cfg.BackoffMS < 0 || s.cfg.MaxBackoffMS < 0 {
		return errors.New("config: max_batch_rows and timeout_ms must be >= 1; max_retries, backoff_ms and max_backoff_ms >= 0")
	}
	return checkHeaders(s.cfg.Headers)
}

func (s *httpSink) Process(ctx context.Context, _ string, b *rows.Batch, out engine.Output) error {
	if s.client == nil {
		if err := s.Validate(); err != nil {
			return err
		}
		s.client = &nethttp.Client{Timeout: time.Duration(s.cfg.TimeoutMS) * time.Millisecond}
	}
	for start := 0; start < len(b.Rows); start += s.cfg.MaxBatchRows {
		chunk := b.Rows[start:min(len(b.Rows), start+s.cfg.MaxBatchRows)]
		s.buf = appendRows(s.buf[:0], chunk, s.cfg.Format)
		err := s.deliver(ctx, s.buf)
		if ctx.Err() != nil {
			return context.Cause(ctx) // cancelled: the batch is abandoned, never acknowledged
		}
		if err != nil {
			s.failed++
			for _, r := range chunk {
				out.Reject(r, err)
			}
		} else {
			s.requests++
		}
	}
	out.Gauge("requests", float64(s.requests))
	out.Gauge("retries", float64(s.retries))
	out.Gauge("failed", float64(s.failed))
	return nil
}

// deliver sends one body, retrying what may succeed later. The error names the URL, the last
// status, the attempts and an excerpt of the last answer.
func (s *httpSink) deliver(ctx context.Context, body []byte) error {
	wait := time.Duration(s.cfg.BackoffMS) * time.Millisecond
	maxWait := time.Duration(s.cfg.MaxBackoffMS) * time.Millisecond
	for attempt := 1; ; attempt++ {
		status, answer, retryAfter, err := s.send(ctx, body)
		if err == nil && status >= 200 && status <= 299 {
			return nil
		}
		retry := err != nil || status >= 500 || status == nethttp.StatusRequestTimeout || status == nethttp.StatusTooManyRequests
		if !retry || attempt > s.cfg.MaxRetries || ctx.Err() != nil {
			attempts := "1 attempt"
			if attempt > 1 {
				attempts = strconv.Itoa(attempt) + " attempts"
			}
			if err != nil {
				return fmt.Errorf("%s %s: status 0 after %s: %w", s.cfg.Method, s.cfg.URL, attempts, err)
			}
			return fmt.Errorf("%s %s: status %d after %s: %s; body: %s", s.cfg.Method, s.cfg.URL, status, attempts,
				statusText(status), excerpt(answer, 512))
		}
		s.retries++
		d := min(wait, maxWait)
		if retryAfter > 0 {
			d = min(max(d, retryAfter), maxWait)
		}
		if !waitUntil(ctx, time.Now().Add(d)) {
			return ctx.Err()
		}
		wait = min(wait*2, maxWait) // capped before it can overflow (max_retries reaches 100)
	}
}

// send makes one attempt and returns the status, the start of the answer and its Retry-After.
func (s *httpSink) send(ctx context.Context, body []byte) (int, []byte, time.Duration, error) {
	req, err := nethttp.NewRequestWithContext(ctx, s.cfg.Method, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	if s.cfg.Format == "jsonl" {
		req.Header.Set("Content-Type", "application/x-ndjson")
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range s.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	resp.Body.Close()
	var retryAfter time.Duration
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
		retryAfter = time.Duration(n) * time.Second
	}
	return resp.StatusCode, answer, retryAfter, nil
}

var (
	_ engine.Processor = (*httpSink)(nil)
	_ engine.Validator = (*httpSink)(nil)
)
