package app

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/websocket"

	"github.com/atoll-studio/atoll/storage"
)

// HandlerOptions configure NewHandler.
type HandlerOptions struct {
	// Token, when set, is required on every API request and the WebSocket: `Authorization:
	// Bearer <token>`, the WebSocket subprotocol "atoll.token.<token>" (a browser cannot set
	// headers on a WebSocket), or `?token=` (for links the page cannot add a header to: asset
	// downloads). The studio's page itself (the built frontend) is served without it: the page
	// takes the token from the URL it was opened with (#token=) and sends it. Serve always sets
	// one; the desktop window's handler, reachable only from its own webview, has none.
	Token string
	// Web is the built frontend (index.html at its root). Nil, or without index.html, serves a
	// page saying to run `make frontend`.
	Web fs.FS
	// LoopbackOnly refuses requests whose Host is not a loopback name (127.0.0.1, localhost,
	// ::1): a web page that rebinds its DNS name to 127.0.0.1 cannot reach the studio.
	LoopbackOnly bool
}

// TokenProtocolPrefix starts the WebSocket subprotocol that carries the token; the server
// answers with WSProtocol.
const (
	TokenProtocolPrefix = "atoll.token."
	WSProtocol          = "atoll.v1"
)

// maxBody bounds JSON request bodies; assets may be larger (maxAsset).
const (
	maxBody  = 16 << 20
	maxAsset = 1 << 30
)

// NewHandler returns the HTTP transport of svc: the API of API.md under /api/ (with the
// WebSocket at /api/ws) and the studio's frontend everywhere else.
func NewHandler(svc *Service, opts HandlerOptions) http.Handler {
	h := &handler{svc: svc, opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/catalog", h.json(func(r *http.Request) (any, error) { return svc.Catalog() }))
	mux.HandleFunc("GET /api/graphs", h.json(func(r *http.Request) (any, error) { return svc.ListGraphs() }))
	mux.HandleFunc("POST /api/graphs", h.json(func(r *http.Request) (any, error) {
		var body struct {
			Name     string          `json:"name"`
			Document json.RawMessage `json:"document"`
		}
		if err := decode(r, &body); err != nil {
			return nil, err
		}
		return svc.CreateGraph(body.Name, body.Document)
	}))
	mux.HandleFunc("GET /api/graphs/{id}", h.json(func(r *http.Request) (any, error) { return svc.GetGraph(r.PathValue("id")) }))
	mux.HandleFunc("PUT /api/graphs/{id}", h.json(func(r *http.Request) (any, error) {
		var body struct {
			Document json.RawMessage `json:"document"`
			Message  string          `json:"message"`
		}
		if err := decode(r, &body); err != nil {
			return nil, err
		}
		return svc.SaveGraph(r.PathValue("id"), body.Document, body.Message)
	}))
	mux.HandleFunc("PATCH /api/graphs/{id}", h.json(func(r *http.Request) (any, error) {
		var body struct {
			Name string `json:"name"`
		}
		if err := decode(r, &body); err != nil {
			return nil, err
		}
		return svc.RenameGraph(r.PathValue("id"), body.Name)
	}))
	mux.HandleFunc("DELETE /api/graphs/{id}", h.json(func(r *http.Request) (any, error) {
		return nil, svc.DeleteGraph(r.PathValue("id"))
	}))
	mux.HandleFunc("POST /api/graphs/{id}/duplicate", h.json(func(r *http.Request) (any, error) {
		var body struct {
			Name string `json:"name"`
		}
		if err := decodeOptional(r, &body); err != nil {
			return nil, err
		}
		return svc.DuplicateGraph(r.PathValue("id"), body.Name)
	}))
	mux.HandleFunc("GET /api/graphs/{id}/versions", h.json(func(r *http.Request) (any, error) { return svc.ListVersions(r.PathValue("id")) }))
	mux.HandleFunc("GET /api/graphs/{id}/versions/{v}", h.json(func(r *http.Request) (any, error) {
		v, err := intParam(r.PathValue("v"), "version")
		if err != nil {
			return nil, err
		}
		return svc.GetVersion(r.PathValue("id"), v)
	}))
	mux.HandleFunc("GET /api/graphs/{id}/diff", h.json(func(r *http.Request) (any, error) {
		from, err := intParam(r.URL.Query().Get("from"), "from")
		if err != nil {
			return nil, err
		}
		to, err := intParam(r.URL.Query().Get("to"), "to")
		if err != nil {
			return nil, err
		}
		return svc.Diff(r.PathValue("id"), from, to)
	}))
	mux.HandleFunc("POST /api/graphs/{id}/versions/{v}/restore", h.json(func(r *http.Request) (any, error) {
		v, err := intParam(r.PathValue("v"), "version")
		if err != nil {
			return nil, err
		}
		return svc.RestoreVersion(r.PathValue("id"), v)
	}))
	mux.HandleFunc("POST /api/validate", h.json(func(r *http.Request) (any, error) {
		doc, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
		if err != nil {
			return nil, fmt.Errorf("read body: %w: %w", err, ErrInvalid)
		}
		return svc.Validate(doc)
	}))
	mux.HandleFunc("POST /api/runs", h.json(func(r *http.Request) (any, error) {
		var body struct {
			GraphID  string          `json:"graph_id"`
			Document json.RawMessage `json:"document"`
		}
		if err := decode(r, &body); err != nil {
			return nil, err
		}
		return svc.StartRun(body.Document, body.GraphID)
	}))
	mux.HandleFunc("GET /api/runs", h.json(func(r *http.Request) (any, error) { return svc.ListRuns() }))
	mux.HandleFunc("GET /api/runs/{id}", h.json(func(r *http.Request) (any, error) { return svc.GetRun(r.PathValue("id")) }))
	mux.HandleFunc("GET /api/runs/{id}/logs", h.json(func(r *http.Request) (any, error) { return svc.Logs(r.PathValue("id")) }))
	mux.HandleFunc("POST /api/runs/{id}/stop", h.json(func(r *http.Request) (any, error) { return svc.StopRun(r.PathValue("id")) }))
	mux.HandleFunc("GET /api/assets", h.json(func(r *http.Request) (any, error) { return svc.ListAssets() }))
	mux.HandleFunc("POST /api/assets", h.json(h.uploadAsset))
	mux.HandleFunc("GET /api/assets/{sha}", h.getAsset)
	h.bundleRoutes(mux)
	mux.HandleFunc("GET /api/settings", h.json(func(r *http.Request) (any, error) { return svc.GetSettings() }))
	mux.HandleFunc("PUT /api/settings", h.json(func(r *http.Request) (any, error) {
		var body struct {
			AllowedDirs []string `json:"allowed_dirs"`
		}
		if err := decode(r, &body); err != nil {
			return nil, err
		}
		return svc.SetAllowedDirs(body.AllowedDirs)
	}))
	mux.HandleFunc("GET /api/ws", h.websocket)
	h.testRoutes(mux)  // app/tests.go
	h.audioRoutes(mux) // app/audio.go
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, fmt.Errorf("no API endpoint %s %s: %w", r.Method, r.URL.Path, ErrNotFound))
	})
	mux.Handle("/", webHandler(opts.Web))
	return h.guard(mux)
}

type handler struct {
	svc  *Service
	opts HandlerOptions
}

// guard checks the Host (loopback binds), the token (API and WebSocket) and, for API calls
// from a browser, that the page is the studio's own (same host:port) or the Wails window. Every
// answer carries the headers that keep the studio out of other sites' frames (securityHeaders).
func (h *handler) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header(), r.Host)
		if h.opts.LoopbackOnly && !loopbackHost(r.Host) {
			http.Error(w, "atoll: the studio answers only to 127.0.0.1, localhost or [::1]", http.StatusForbidden)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/api/") {
			if h.opts.Token != "" && !h.authorized(r) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="atoll"`)
				writeJSON(w, http.StatusUnauthorized, errorBody{Error: "a token is required: open the studio with the URL that `atoll serve` printed (…/#token=…), or send Authorization: Bearer <token>"})
				return
			}
			if o := r.Header.Get("Origin"); o != "" && !originAllowed(o, r.Host) {
				writeJSON(w, http.StatusForbidden, errorBody{Error: fmt.Sprintf("origin %q may not use this studio", o)})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// authorized reports whether r carries the token: a bearer header, the WebSocket subprotocol or
// the token query parameter.
func (h *handler) authorized(r *http.Request) bool {
	ok := func(t string) bool {
		return t != "" && subtle.ConstantTimeCompare([]byte(t), []byte(h.opts.Token)) == 1
	}
	if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") && ok(strings.TrimPrefix(a, "Bearer ")) {
		return true
	}
	for _, p := range websocket.Subprotocols(r) {
		if t, found := strings.CutPrefix(p, TokenProtocolPrefix); found && ok(t) {
			return true
		}
	}
	return ok(r.URL.Query().Get("token"))
}

// contentSecurityPolicy is the studio page's CSP, with %[1]s the Host it was asked for (the
// WebSocket's origin is listed explicitly: older browsers do not count ws: as 'self'). Scripts
// come only from the studio's own files, never inline; 'unsafe-eval' is there because the config
// forms compile each node's JSON Schema into a validator function at run time (ajv, through
// rjsf), and the schemas come from the catalog. Inline styles are allowed (the canvas and charts
// set them).
const contentSecurityPolicy = "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self' data:; worker-src 'self' blob:; " +
	"connect-src 'self' ws://%[1]s wss://%[1]s; object-src 'none'; base-uri 'none'; form-action 'none'; " +
	"frame-ancestors 'none'"

// securityHeaders forbids framing the studio (clickjacking), sniffing content types and
// sending the page's address to other sites, and sets the CSP.
func securityHeaders(h http.Header, host string) {
	if strings.ContainsAny(host, " ;,'\"\r\n") {
		host = "invalid"
	}
	h.Set("Content-Security-Policy", fmt.Sprintf(contentSecurityPolicy, host))
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// loopbackHost reports whether a Host header names the loopback interface.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// wailsOrigins are the origins of the desktop window's pages.
var wailsOrigins = map[string]bool{"wails://wails": true, "wails://wails.localhost": true, "http://wails.localhost": true, "https://wails.localhost": true}

// originAllowed reports whether a browser Origin is the studio itself (same host:port) or the
// Wails window.
func originAllowed(origin, host string) bool {
	if wailsOrigins[origin] {
		return true
	}
	rest, ok := strings.CutPrefix(origin, "http://")
	if !ok {
		rest, ok = strings.CutPrefix(origin, "https://")
	}
	return ok && strings.EqualFold(rest, host)
}

// json adapts a service call to HTTP: the result as JSON (204 when nil), errors mapped.
func (h *handler) json(f func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := f(r)
		if err != nil {
			writeError(w, err)
			return
		}
		if v == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte("\n"))
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, statusOf(err), bodyOf(err))
}

// decode reads a JSON request body strictly.
func decode(r *http.Request, dst any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("request body: %w: %w", err, ErrInvalid)
	}
	return nil
}

// decodeOptional is decode for bodies that may be empty.
func decodeOptional(r *http.Request, dst any) error {
	if r.ContentLength == 0 {
		return nil
	}
	err := decode(r, dst)
	if err != nil && errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func intParam(s, name string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a number: %w", name, s, ErrInvalid)
	}
	return n, nil
}

func (h *handler) uploadAsset(r *http.Request) (any, error) {
	r.Body = http.MaxBytesReader(nil, r.Body, maxAsset)
	// Parts past 32 MiB spool to temporary files.
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		return nil, fmt.Errorf("upload: want multipart/form-data with a file part: %w: %w", err, ErrInvalid)
	}
	defer r.MultipartForm.RemoveAll()
	f, fh, err := r.FormFile("file")
	if err != nil {
		return nil, fmt.Errorf("upload: no \"file\" part: %w", ErrInvalid)
	}
	defer f.Close()
	name := fh.Filename
	if name == "" {
		name = "upload"
	}
	return h.svc.putAsset(name, strings.TrimSpace(r.FormValue("kind")), f)
}

func (h *handler) getAsset(w http.ResponseWriter, r *http.Request) {
	info, rc, err := h.svc.openAsset(r.PathValue("sha"))
	if err != nil {
		writeError(w, err)
		return
	}
	defer rc.Close()
	ct := "application/octet-stream"
	switch info.Kind {
	case storage.KindWasm:
		ct = "application/wasm"
	case storage.KindWAV:
		ct = "audio/wav"
	case storage.KindLabels:
		ct = "text/plain; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": info.Name}))
	w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	io.Copy(w, rc)
}
