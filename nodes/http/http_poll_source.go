package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"strings"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

var httpPollSourceSpec = engine.Spec{
	ID:       "source.http_poll",
	Category: "source",
	Summary:  "Polls a URL at an interval and emits the rows of each JSON response.",
	Docs: `Sends ` + "`method`" + ` ` + "`url`" + ` (with ` + "`headers`" + ` and ` + "`body`" + `) every ` + "`interval_ms`" + ` and emits
the rows of the response: the JSON value at ` + "`rows_path`" + ` (keys separated by dots, array
elements by index: ` + "`data`" + `, ` + "`result.items`" + `, ` + "`data.0.regions`" + `; empty: the whole body) is one
object (one row) or an array of objects (a row each). Nested objects become their JSON text in a
string field (rows are flat); a ` + "`transform.map`" + ` reads them with ` + "`fromJSON(field).key`" + `. A
response of JSON lines is read with ` + "`format: jsonl`" + `.

Conditional requests: the ` + "`ETag`" + ` and ` + "`Last-Modified`" + ` of the last response whose rows were
handled are sent back as ` + "`If-None-Match`" + ` and ` + "`If-Modified-Since`" + `; a ` + "`304 Not Modified`" + ` emits
nothing (metric ` + "`not_modified`" + `).

A failed poll — a network error, a status other than 2xx or 304, a body that is not JSON or has
nothing at ` + "`rows_path`" + ` — goes to ` + "`errors`" + ` as a row with ` + "`url`" + `, ` + "`status`" + ` (0 for a
network error) and ` + "`body`" + ` (the first 1 KiB), the message naming the URL and status; the node
polls again at the next interval. ` + "`max_polls`" + ` ends the source after that many polls (0: poll
until stopped).

One response is in flight at a time: the next poll waits until the rows of the previous one have
reached every sink, so a slow pipeline slows the polling instead of piling up responses.

### Delivery guarantee

**At-least-once for what the server keeps serving** (a current reading, a list that grows): the
validators (` + "`ETag`" + `, ` + "`Last-Modified`" + `) advance only once the rows of a response are handled, so
a response whose rows were lost is fetched again; they are not persisted, so the first poll after a
restart fetches everything again (duplicates). **At-most-once for an endpoint that serves each item
once** (a queue that empties on read): a crash between the response and its handling loses it.`,
	Headless: true,
	Outputs:  []engine.Port{{Name: "out", Type: "rows"}},
	Fields: []engine.Field{
		{Name: "url", Type: "string", Doc: "http or https URL to poll", Required: true,
			Schema: map[string]any{"type": "string", "minLength": 1, "pattern": "^https?://"}},
		{Name: "method", Type: "string", Doc: "HTTP method", Default: "GET", Enum: []any{"GET", "POST", "PUT"}},
		{Name: "headers", Type: "object", Doc: "request headers (name → value)", Default: map[string]any{}, Schema: headersSchema},
		{Name: "body", Type: "string", Doc: "request body (POST, PUT)", Default: ""},
		{Name: "interval_ms", Type: "integer", Doc: "time between the start of two polls, in milliseconds", Default: 60000, Min: engine.Num(10)},
		{Name: "timeout_ms", Type: "integer", Doc: "request timeout, in milliseconds", Default: 10000, Min: engine.Num(1)},
		{Name: "rows_path", Type: "string", Doc: "dot path of the rows in the JSON response (empty: the whole body)", Default: ""},
		{Name: "format", Type: "string", Doc: "response body: json (an object or array at rows_path) or jsonl (one object per line)", Default: "json", Enum: []any{"json", "jsonl"}},
		{Name: "max_body_bytes", Type: "integer", Doc: "largest response body read", Default: 16 << 20, Min: engine.Num(1), Max: engine.Num(1 << 30)},
		{Name: "max_polls", Type: "integer", Doc: "stop after this many polls (0: until stopped)", Default: 0, Min: engine.Num(0)},
	},
	Examples: []engine.Example{
		{Name: "carbon intensity every 30 minutes", Config: json.RawMessage(`{"url":"https://api.carbonintensity.org.uk/intensity","rows_path":"data","interval_ms":1800000}`)},
		{Name: "authenticated search", Config: json.RawMessage(`{"url":"https://api.example.com/v1/search","method":"POST","headers":{"Authorization":"Bearer change-me","Content-Type":"application/json"},"body":"{\"since\":\"1h\"}","rows_path":"result.items","interval_ms":10000}`)},
	},
	Defaults: httpPollDefaults(),
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, httpPollDefaults())
		if err != nil {
			return nil, err
		}
		return &pollSource{cfg: cfg}, nil
	},
}

type httpPollConfig struct {
	URL          string            `json:"url"`
	Method       string            `json:"method"`
	Headers      map[string]string `json:"headers"`
	Body         string            `json:"body"`
	IntervalMS   int               `json:"interval_ms"`
	TimeoutMS    int               `json:"timeout_ms"`
	RowsPath     string            `json:"rows_path"`
	Format       string            `json:"format"`
	MaxBodyBytes int64             `json:"max_body_bytes"`
	MaxPolls     int               `json:"max_polls"`
}

// httpPollDefaults returns fresh defaults (the map must not be shared between decodes).
func httpPollDefaults() httpPollConfig {
	return httpPollConfig{Method: "GET", Headers: map[string]string{}, IntervalMS: 60000, TimeoutMS: 10000,
		Format: "json", MaxBodyBytes: 16 << 20}
}

func init() { nodes.Register(httpPollSourceSpec) }

type pollSource struct {
	cfg    httpPollConfig
	client *nethttp.Client

	// Validators of the last response whose rows were handled, written by its acknowledgement
	// before it closes the channel Run waits on ahead of the next poll.
	etag, lastModified string
	notModified, polls int
}

func (s *pollSource) Validate() error {
	if err := checkRequest(s.cfg.URL, s.cfg.Method, s.cfg.Format, "GET", "POST", "PUT"); err != nil {
		return err
	}
	if s.cfg.Format == "jsonl" && s.cfg.RowsPath != "" {
		return errors.New("config: rows_path applies to format json only")
	}
	if s.cfg.IntervalMS < 1 || s.cfg.TimeoutMS < 1 || s.cfg.MaxBodyBytes < 1 || s.cfg.MaxPolls < 0 {
		return errors.New("config: interval_ms, timeout_ms and max_body_bytes must be >= 1, max_polls >= 0")
	}
	return checkHeaders(s.cfg.Headers)
}

func (s *pollSource) Run(ctx context.Context, out engine.Output) error {
	if err := s.Validate(); err != nil {
		return err
	}
	s.client = &nethttp.Client{Timeout: time.Duration(s.cfg.TimeoutMS) * time.Millisecond}
	interval := time.Duration(s.cfg.IntervalMS) * time.Millisecond
	var pending chan struct{} // acknowledgement of the last emitted response
	next := time.Now()
	for n := 0; s.cfg.MaxPolls == 0 || n < s.cfg.MaxPolls; n++ {
		if !waitUntil(ctx, next) {
			return nil
		}
		if pending != nil { // one response in flight at a time
			select {
			case <-pending:
			case <-ctx.Done():
				return nil
			}
			pending = nil
		}
		next = time.Now().Add(interval)
		p, ok := s.poll(ctx, out)
		if !ok {
			return nil
		}
		pending = p
	}
	return nil
}

// stopGrace is how long a poll in flight may still take once the run stops.
const stopGrace = 500 * time.Millisecond

// waitUntil sleeps until t and reports false when ctx ended first.
func waitUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// poll makes one request and emits its rows. It returns the channel closed when they are
// acknowledged (nil when nothing was emitted) and false when the run was cancelled.
func (s *pollSource) poll(ctx context.Context, out engine.Output) (chan struct{}, bool) {
	s.polls++
	out.Gauge("polls", float64(s.polls))
	var body io.Reader
	if s.cfg.Body != "" {
		body = strings.NewReader(s.cfg.Body)
	}
	// A stop lets a response in flight arrive for a moment (a stop drains; the server may
	// already have sent it), a cancel too, but within the second a shutdown may take.
	reqCtx, cancelReq := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelReq()
	stopAfter := context.AfterFunc(ctx, func() { time.AfterFunc(stopGrace, cancelReq) })
	defer stopAfter()
	req, err := nethttp.NewRequestWithContext(reqCtx, s.cfg.Method, s.cfg.URL, body)
	if err != nil {
		s.fail(out, 0, nil, err)
		return nil, true
	}
	for k, v := range s.cfg.Headers {
		req.Header.Set(k, v)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if s.etag != "" {
		req.Header.Set("If-None-Match", s.etag)
	}
	if s.lastModified != "" {
		req.Header.Set("If-Modified-Since", s.lastModified)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false
		}
		s.fail(out, 0, nil, err)
		return nil, true
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, s.cfg.MaxBodyBytes+1))
	resp.Body.Close()
	if err != nil {
		if ctx.Err() != nil {
			return nil, false
		}
		s.fail(out, resp.StatusCode, data, fmt.Errorf("reading the body: %w", err))
		return nil, true
	}
	switch {
	case resp.StatusCode == nethttp.StatusNotModified:
		s.notModified++
		out.Gauge("not_modified", float64(s.notModified))
		return nil, true
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		s.fail(out, resp.StatusCode, data, errors.New(statusText(resp.StatusCode)))
		return nil, true
	case int64(len(data)) > s.cfg.MaxBodyBytes:
		s.fail(out, resp.StatusCode, data[:s.cfg.MaxBodyBytes], fmt.Errorf("body larger than max_body_bytes (%d)", s.cfg.MaxBodyBytes))
		return nil, true
	}
	sel, err := selectPath(data, s.cfg.RowsPath)
	var rs []rows.Row
	if err == nil {
		rs, err = parseRows(sel, s.cfg.Format)
	}
	if err != nil {
		s.fail(out, resp.StatusCode, data, err)
		return nil, true
	}
	etag, lastModified := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	acked := make(chan struct{})
	onAck := func() {
		s.etag, s.lastModified = etag, lastModified
		close(acked)
	}
	if len(rs) == 0 {
		onAck()
		return acked, true
	}
	// Emitted even when a stop has begun: the response is here, and a stop drains.
	if err := out.EmitAcked("out", &rows.Batch{Rows: rs}, onAck); err != nil {
		return nil, false
	}
	return acked, true
}

// fail sends a failed poll to errors.
func (s *pollSource) fail(out engine.Output, status int, body []byte, err error) {
	msg := fmt.Sprintf("%s %s", s.cfg.Method, s.cfg.URL)
	if status != 0 {
		msg += fmt.Sprintf(": status %d", status)
	}
	ex := excerpt(body, 1024)
	reason := fmt.Errorf("%s: %w", msg, err)
	if ex != "" {
		reason = fmt.Errorf("%s: %w; body: %s", msg, err, ex)
	}
	out.Reject(rows.Row{
		{Name: "url", Value: rows.String(s.cfg.URL)},
		{Name: "status", Value: rows.Int(int64(status))},
		{Name: "body", Value: rows.String(ex)},
	}, reason)
}

var (
	_ engine.Source    = (*pollSource)(nil)
	_ engine.Validator = (*pollSource)(nil)
)
