package app

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/atoll-studio/atoll/nodes"
)

// servedURL reads Serve's output up to the line that opens the studio and returns the served
// URL and the token it carries.
func servedURL(t *testing.T, r io.Reader) (url, token string) {
	t.Helper()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var open string
	timeout := time.After(20 * time.Second)
	for open == "" {
		var line string
		select {
		case l, more := <-lines:
			if !more {
				t.Fatalf("serve ended after printing url %q and no line \"atoll: open ...\"", url)
			}
			line = l
		case <-timeout:
			t.Fatalf("serve printed url %q and no line \"atoll: open ...#token=...\" within 20 s", url)
		}
		if u, ok := strings.CutPrefix(line, "atoll: serving "); ok {
			url = u
		}
		if u, ok := strings.CutPrefix(line, "atoll: open "); ok {
			open, _, _ = strings.Cut(u, " ")
		}
	}
	go func() {
		for range lines {
		}
	}()
	base, token, ok := strings.Cut(open, "#token=")
	if url == "" || !ok || base != url || len(token) < 32 {
		t.Fatalf("serve printed url %q and open %q: want the url, then the url with #token=<at least 32 characters>", url, open)
	}
	return url, token
}

// serveStudio runs Serve with opts (Out set here) and returns the URL and token it printed, and
// stop, which ends it and fails the test if Serve returned an error.
func serveStudio(t *testing.T, svc *Service, opts ServeOptions) (url, token string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	opts.Out = pw
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, svc, opts); pw.Close() }()
	url, token = servedURL(t, pr)
	return url, token, func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestServeLoopbackNeedsToken: on 127.0.0.1 too, every API call and the WebSocket need the
// per-start token (any local user can reach a loopback port); the page itself loads without it
// (it reads the token from the URL's fragment) and cannot be framed.
func TestServeLoopbackNeedsToken(t *testing.T) {
	svc, err := Open(Options{DB: filepath.Join(t.TempDir(), "atoll.db"), Catalog: nodes.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	web := fstest.MapFS{"index.html": {Data: []byte("<!doctype html><title>studio</title>")}}
	url, token, stop := serveStudio(t, svc, ServeOptions{Addr: "127.0.0.1:0", Web: web})
	do := func(method, path string, h map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, url+path, strings.NewReader(`{"document":`+pipelineDoc+`}`))
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	bearer := map[string]string{"Authorization": "Bearer " + token}
	for _, c := range []struct {
		method, path string
		h            map[string]string
		want         int
	}{
		{"GET", "api/graphs", nil, http.StatusUnauthorized},
		{"POST", "api/runs", nil, http.StatusUnauthorized},
		{"POST", "api/validate", nil, http.StatusUnauthorized},
		{"GET", "api/catalog", map[string]string{"Authorization": "Bearer " + token[:len(token)-1]}, http.StatusUnauthorized},
		{"GET", "api/catalog", map[string]string{"Cookie": "atoll_token=" + token}, http.StatusUnauthorized},
		{"GET", "api/graphs", bearer, http.StatusOK},
		{"GET", "api/catalog?token=" + token, nil, http.StatusOK},
		// The token does not let another site's page in: Origin is still checked.
		{"GET", "api/graphs", map[string]string{"Authorization": "Bearer " + token, "Origin": "http://evil.example"}, http.StatusForbidden},
		// The page (the built frontend) has nothing secret: it loads, and asks for the token.
		{"GET", "", nil, http.StatusOK},
		{"GET", "graphs/some-client-route", nil, http.StatusOK},
	} {
		if r := do(c.method, c.path, c.h); r.StatusCode != c.want {
			t.Errorf("%s /%s with %v: %d, want %d", c.method, c.path, c.h, r.StatusCode, c.want)
		}
	}

	// The page cannot be framed, and runs only the studio's own scripts.
	r := do("GET", "", nil)
	if got := r.Header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options %q, want DENY", got)
	}
	csp := r.Header.Get("Content-Security-Policy")
	for _, want := range []string{"frame-ancestors 'none'", "script-src 'self'", "default-src 'self'", "object-src 'none'", "connect-src 'self' ws://" + strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	// Scripts only from the studio's own files: no inline script, no other source. ('unsafe-eval'
	// is there for the forms' schema validators; see contentSecurityPolicy.)
	scripts, _, _ := strings.Cut(strings.SplitN(csp, "script-src", 2)[1], ";")
	for _, src := range strings.Fields(scripts) {
		if src != "'self'" && src != "'unsafe-eval'" {
			t.Errorf("Content-Security-Policy %q lets scripts come from %s", csp, src)
		}
	}

	// The WebSocket: refused without the token, open with it as a subprotocol, and the answer
	// names the protocol, never the token.
	wsURL := "ws" + strings.TrimPrefix(url, "http") + "api/ws"
	origin := http.Header{"Origin": {strings.TrimSuffix(url, "/")}}
	if conn, resp, err := websocket.DefaultDialer.DialContext(t.Context(), wsURL, origin); err == nil {
		conn.Close()
		t.Error("websocket without the token: accepted")
	} else if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("websocket without the token: %v (%v), want 401", err, resp)
	}
	d := *websocket.DefaultDialer
	d.Subprotocols = []string{WSProtocol, TokenProtocolPrefix + "wrong"}
	if conn, resp, err := d.DialContext(t.Context(), wsURL, origin); err == nil {
		conn.Close()
		t.Error("websocket with a wrong token: accepted")
	} else if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("websocket with a wrong token: %v (%v), want 401", err, resp)
	}
	d.Subprotocols = []string{WSProtocol, TokenProtocolPrefix + token}
	conn, _, err := d.DialContext(t.Context(), wsURL, origin)
	if err != nil {
		t.Fatalf("websocket with the token: %v", err)
	}
	if p := conn.Subprotocol(); p != WSProtocol {
		t.Errorf("websocket answered subprotocol %q, want %q", p, WSProtocol)
	}
	conn.Close()
	// A cross-site page holding the token still cannot open it.
	if conn, resp, err := d.DialContext(t.Context(), wsURL, http.Header{"Origin": {"http://evil.example"}}); err == nil {
		conn.Close()
		t.Error("websocket from another origin with the token: accepted")
	} else if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("websocket from another origin: %v (%v), want 403", err, resp)
	}

	stop()
}

// TestTokenEachStart: two starts print two different tokens, and one start's token does not
// open the other.
func TestTokenEachStart(t *testing.T) {
	svc, err := Open(Options{DB: filepath.Join(t.TempDir(), "atoll.db"), Catalog: nodes.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	var urls, tokens [2]string
	for i := range 2 {
		var stop func()
		urls[i], tokens[i], stop = serveStudio(t, svc, ServeOptions{Addr: "127.0.0.1:0"})
		if i == 1 {
			req, _ := http.NewRequest("GET", urls[1]+"api/graphs", nil)
			req.Header.Set("Authorization", "Bearer "+tokens[0])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("the previous start's token: %d, want 401", resp.StatusCode)
			}
		}
		stop()
	}
	if tokens[0] == tokens[1] {
		t.Errorf("two starts printed the same token %q", tokens[0])
	}
}
