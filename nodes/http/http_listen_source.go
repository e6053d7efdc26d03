package http

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	nethttp "net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

var httpListenSourceSpec = engine.Spec{
	ID:       "source.http_listen",
	Category: "source",
	Summary:  "A webhook endpoint: rows POSTed to it go into the graph; it answers once they are handled.",
	Docs: `Listens on ` + "`address`" + ` (loopback by default) and takes ` + "`POST`" + ` (or ` + "`PUT`" + `) requests on
` + "`path`" + `. The body is rows as their JSON view, by ` + "`Content-Type`" + `:

- ` + "`application/json`" + ` (or any ` + "`+json`" + ` type): one object (one row) or an array of objects;
- ` + "`application/x-ndjson`" + `, ` + "`application/jsonl`" + ` or ` + "`application/json-lines`" + `: one object per line.

Each request becomes one batch. The answer waits until every row of it has reached every sink (or
` + "`errors`" + `):

| Status | When |
|---|---|
| 200 | the rows are handled; the body is ` + "`{\"rows\": N}`" + ` |
| 400 | the body is not rows (the message names the line or element and the byte) |
| 401 | ` + "`token`" + ` is set and the request lacks ` + "`Authorization: Bearer <token>`" + ` |
| 404, 405 | another path, another method |
| 413 | the body is larger than ` + "`max_body_bytes`" + ` |
| 415 | the ` + "`Content-Type`" + ` is not one of the above |
| 429 | ` + "`max_queued`" + ` requests already wait for the pipeline (backpressure); ` + "`Retry-After`" + ` says when to retry |
| 503 | the run is stopping, or the rows were not handled within ` + "`timeout_ms`" + `; retry |

A refused body (400, 413, 415) also goes to ` + "`errors`" + ` as a row with ` + "`request_id`" + `, ` + "`remote`" + `
and ` + "`raw`" + ` (the first 4 KiB); the message names the request by its ` + "`X-Request-ID`" + ` header, or by
the id the node gave it, returned in ` + "`X-Request-ID`" + `.

Binding anything but a loopback address exposes the endpoint to the network: set ` + "`token`" + `
(the node logs a warning when it is empty).

### Delivery guarantee

**At-least-once, for clients that retry** every answer other than 2xx (429 and 503 included, after
` + "`Retry-After`" + `): a 2xx is sent only once every row of the request has been handled, so rows a
crash or a cancel leaves unhandled were never confirmed. A client whose 2xx is lost (a timeout)
and retries delivers the rows twice. A client that does not retry gets at-most-once.

Metrics: ` + "`requests`" + ` (answered 2xx), ` + "`refused`" + ` (4xx), ` + "`busy`" + ` (429), ` + "`queued`" + `.`,
	Headless: true,
	Outputs:  []engine.Port{{Name: "out", Type: "rows"}},
	Fields: []engine.Field{
		{Name: "address", Type: "string", Doc: "host:port to listen on (loopback by default; :0 picks a free port)", Default: "127.0.0.1:8088",
			Schema: map[string]any{"type": "string", "minLength": 1}},
		{Name: "path", Type: "string", Doc: "URL path of the endpoint", Default: "/",
			Schema: map[string]any{"type": "string", "pattern": "^/"}},
		{Name: "token", Type: "string", Doc: "bearer token the requests must carry (empty: none)", Default: ""},
		{Name: "max_body_bytes", Type: "integer", Doc: "largest body accepted (413 beyond)", Default: 1 << 20, Min: engine.Num(1), Max: engine.Num(1 << 30)},
		{Name: "max_queued", Type: "integer", Doc: "requests that may wait for the pipeline before 429", Default: 16, Min: engine.Num(1), Max: engine.Num(65536)},
		{Name: "retry_after_s", Type: "integer", Doc: "Retry-After sent with 429 and 503, in seconds", Default: 1, Min: engine.Num(0)},
		{Name: "timeout_ms", Type: "integer", Doc: "how long a request waits for its rows to be handled before 503", Default: 30000, Min: engine.Num(1)},
	},
	Examples: []engine.Example{
		{Name: "local webhook", Config: json.RawMessage(`{"address":"127.0.0.1:8088","path":"/ingest"}`)},
		{Name: "on the network, with a token", Config: json.RawMessage(`{"address":"0.0.0.0:8443","path":"/hooks/sensors","token":"change-me","max_body_bytes":65536}`)},
	},
	Defaults: httpListenDefaults,
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, httpListenDefaults)
		if err != nil {
			return nil, err
		}
		return newListenSource(bc.NodeID, cfg), nil
	},
}

type httpListenConfig struct {
	Address      string `json:"address"`
	Path         string `json:"path"`
	Token        string `json:"token"`
	MaxBodyBytes int64  `json:"max_body_bytes"`
	MaxQueued    int    `json:"max_queued"`
	RetryAfterS  int    `json:"retry_after_s"`
	TimeoutMS    int    `json:"timeout_ms"`
}

var httpListenDefaults = httpListenConfig{Address: "127.0.0.1:8088", Path: "/", MaxBodyBytes: 1 << 20, MaxQueued: 16, RetryAfterS: 1, TimeoutMS: 30000}

func init() { nodes.Register(httpListenSourceSpec) }

// listenJob is one request's rows waiting for the Run loop.
type listenJob struct {
	batch *rows.Batch
	// acked is closed by the engine's acknowledgement; dropped by the Run loop when the job
	// was never emitted (the run stopped first).
	acked   chan struct{}
	dropped chan struct{}
}

type listenSource struct {
	id  string
	cfg httpListenConfig

	jobs    chan *listenJob
	rejects chan listenReject
	stopped chan struct{} // closed when Run has returned: nothing more is emitted
	closed  chan struct{} // closed by Close: no acknowledgement will come any more
	once    sync.Once
	srv     *nethttp.Server
	addr    atomic.Value // string: the bound address
	nextID  atomic.Int64

	requests, refused, busy atomic.Int64
}

// listenReject is a refused body's error row, waiting for the Run loop.
type listenReject struct {
	row    rows.Row
	reason error
}

func newListenSource(id string, cfg httpListenConfig) *listenSource {
	return &listenSource{id: id, cfg: cfg, jobs: make(chan *listenJob, max(1, cfg.MaxQueued)),
		rejects: make(chan listenReject, 16), stopped: make(chan struct{}), closed: make(chan struct{})}
}

func (s *listenSource) Validate() error {
	_, port, err := net.SplitHostPort(s.cfg.Address)
	if err != nil {
		return fmt.Errorf("config: address %q: %w", s.cfg.Address, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("config: address %q: port %q is not a number below 65536", s.cfg.Address, port)
	}
	if !strings.HasPrefix(s.cfg.Path, "/") {
		return fmt.Errorf("config: path %q must start with /", s.cfg.Path)
	}
	if s.cfg.MaxBodyBytes < 1 || s.cfg.MaxQueued < 1 || s.cfg.TimeoutMS < 1 || s.cfg.RetryAfterS < 0 {
		return errors.New("config: max_body_bytes, max_queued and timeout_ms must be >= 1, retry_after_s >= 0")
	}
	return nil
}

// Addr returns the address the node listens on once it runs (the port chosen for ":0").
func (s *listenSource) Addr() string {
	a, _ := s.addr.Load().(string)
	return a
}

// Run serves the endpoint and emits each accepted request's rows; it returns when ctx ends.
// Requests waiting for their acknowledgement go on being answered after Run returns, until
// Close: a stop drains the pipeline and acknowledges them.
func (s *listenSource) Run(ctx context.Context, out engine.Output) error {
	if err := s.Validate(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.Address, err)
	}
	s.addr.Store(ln.Addr().String())
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); s.cfg.Token == "" && !isLoopback(host) {
		out.Log("warn", fmt.Sprintf("listening on %s, beyond loopback, without a token: anyone who reaches it can post rows", ln.Addr()))
	}
	out.Log("info", fmt.Sprintf("listening on http://%s%s", ln.Addr(), s.cfg.Path))
	s.srv = &nethttp.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.srv.Serve(ln) }()

	defer func() {
		// No new connections; open ones are answered 503 (see ServeHTTP) until Close.
		ln.Close()
		close(s.stopped)
		for {
			select {
			case j := <-s.jobs:
				close(j.dropped)
			default:
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-serveErr:
			return fmt.Errorf("serve %s: %w", s.cfg.Address, err)
		case rj := <-s.rejects:
			out.Reject(rj.row, rj.reason)
			out.Gauge("refused", float64(s.refused.Load()))
		case j := <-s.jobs:
			out.Gauge("queued", float64(len(s.jobs)))
			acked := j.acked
			if err := out.EmitAcked("out", j.batch, func() { close(acked) }); err != nil {
				return nil // cancelled: the batch is abandoned; its request is answered 503 at Close
			}
			out.Gauge("requests", float64(s.requests.Load()))
			out.Gauge("refused", float64(s.refused.Load()))
			out.Gauge("busy", float64(s.busy.Load()))
		}
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Close ends the server: requests still waiting for an acknowledgement are answered 503.
func (s *listenSource) Close() error {
	s.once.Do(func() { close(s.closed) })
	if s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	return nil
}

func (s *listenSource) retryAfter(w nethttp.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(s.cfg.RetryAfterS))
}

// ServeHTTP answers one request.
func (s *listenSource) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	reqID := r.Header.Get("X-Request-ID")
	if reqID == "" || len(reqID) > 128 {
		reqID = fmt.Sprintf("%s-%d", s.id, s.nextID.Add(1))
	}
	w.Header().Set("X-Request-ID", reqID)
	select {
	case <-s.stopped:
		w.Header().Set("Connection", "close")
		s.retryAfter(w)
		nethttp.Error(w, "the pipeline is stopping: retry", nethttp.StatusServiceUnavailable)
		return
	default:
	}
	if r.URL.Path != s.cfg.Path {
		nethttp.Error(w, fmt.Sprintf("no endpoint at %s (it is %s)", r.URL.Path, s.cfg.Path), nethttp.StatusNotFound)
		return
	}
	if r.Method != nethttp.MethodPost && r.Method != nethttp.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		nethttp.Error(w, "method "+r.Method+" not allowed: POST rows", nethttp.StatusMethodNotAllowed)
		return
	}
	if s.cfg.Token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="atoll"`)
			nethttp.Error(w, "missing or wrong bearer token", nethttp.StatusUnauthorized)
			return
		}
	}
	who := fmt.Sprintf("request %q from %s", reqID, r.RemoteAddr)
	format, err := bodyFormat(r.Header.Get("Content-Type"))
	if err != nil {
		s.refuse(w, r, reqID, nil, nethttp.StatusUnsupportedMediaType, fmt.Errorf("%s: %w", who, err))
		return
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		s.refuse(w, r, reqID, nil, nethttp.StatusRequestEntityTooLarge,
			fmt.Errorf("%s: body of %d bytes is larger than max_body_bytes (%d)", who, r.ContentLength, s.cfg.MaxBodyBytes))
		return
	}
	body, err := io.ReadAll(nethttp.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *nethttp.MaxBytesError
		if errors.As(err, &tooBig) {
			s.refuse(w, r, reqID, nil, nethttp.StatusRequestEntityTooLarge,
				fmt.Errorf("%s: body is larger than max_body_bytes (%d)", who, s.cfg.MaxBodyBytes))
			return
		}
		nethttp.Error(w, "reading the body: "+err.Error(), nethttp.StatusBadRequest)
		return
	}
	rs, err := parseRows(body, format)
	if err != nil {
		s.refuse(w, r, reqID, body, nethttp.StatusBadRequest, fmt.Errorf("%s: %w", who, err))
		return
	}
	if len(rs) == 0 {
		writeRows(w, 0)
		return
	}
	j := &listenJob{batch: &rows.Batch{Rows: rs}, acked: make(chan struct{}), dropped: make(chan struct{})}
	select {
	case s.jobs <- j:
	default:
		s.busy.Add(1)
		s.retryAfter(w)
		nethttp.Error(w, fmt.Sprintf("%d requests already wait for the pipeline: retry", cap(s.jobs)), nethttp.StatusTooManyRequests)
		return
	}
	timer := time.NewTimer(time.Duration(s.cfg.TimeoutMS) * time.Millisecond)
	defer timer.Stop()
	select {
	case <-j.acked:
		s.requests.Add(1)
		writeRows(w, len(rs))
	case <-j.dropped:
		s.retryAfter(w)
		nethttp.Error(w, "the pipeline stopped before taking the rows: retry", nethttp.StatusServiceUnavailable)
	case <-s.closed:
		s.retryAfter(w)
		nethttp.Error(w, "the pipeline stopped before handling the rows: retry", nethttp.StatusServiceUnavailable)
	case <-timer.C:
		s.retryAfter(w)
		nethttp.Error(w, fmt.Sprintf("the rows were not handled within %d ms: retry", s.cfg.TimeoutMS), nethttp.StatusServiceUnavailable)
	case <-r.Context().Done():
		// The client went away; the rows may still be handled.
	}
}

func writeRows(w nethttp.ResponseWriter, n int) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"rows\":%d}\n", n)
}

// refuse answers a client error and sends the refused body to errors (through the Run loop,
// the only goroutine that may use the node's Output).
func (s *listenSource) refuse(w nethttp.ResponseWriter, r *nethttp.Request, reqID string, body []byte, status int, reason error) {
	s.refused.Add(1)
	row := rows.Row{
		{Name: "request_id", Value: rows.String(reqID)},
		{Name: "remote", Value: rows.String(r.RemoteAddr)},
		{Name: "status", Value: rows.Int(int64(status))},
		{Name: "raw", Value: rows.String(excerpt(body, 4096))},
	}
	select {
	case s.rejects <- listenReject{row: row, reason: reason}:
	case <-s.stopped: // nothing is emitted any more; the client still gets its answer
	case <-r.Context().Done():
	}
	nethttp.Error(w, reason.Error(), status)
}

// bodyFormat maps a Content-Type to "json" or "jsonl".
func bodyFormat(contentType string) (string, error) {
	if contentType == "" {
		return "", errors.New("no Content-Type: send application/json or application/x-ndjson")
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", fmt.Errorf("Content-Type %q: %w", contentType, err)
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return "json", nil
	case mt == "application/x-ndjson" || mt == "application/jsonl" || mt == "application/json-lines" ||
		mt == "application/x-jsonlines" || mt == "application/jsonlines":
		return "jsonl", nil
	}
	return "", fmt.Errorf("Content-Type %s is not application/json or application/x-ndjson", mt)
}

var (
	_ engine.Source    = (*listenSource)(nil)
	_ engine.Validator = (*listenSource)(nil)
	_ io.Closer        = (*listenSource)(nil)
	_ nethttp.Handler  = (*listenSource)(nil)
)
