package http

import (
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestPollETag polls a server that answers 304 while its ETag matches: each version's rows are
// emitted once, the ETag and Last-Modified go back as If-None-Match and If-Modified-Since, and
// the 304s are counted.
func TestPollETag(t *testing.T) {
	var mu sync.Mutex
	version := 1
	var requests []string // "<If-None-Match>|<If-Modified-Since> -> status"
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		mu.Lock()
		defer mu.Unlock()
		etag := fmt.Sprintf(`"v%d"`, version)
		modified := fmt.Sprintf("Wed, 02 Dec 2026 1%d:00:00 GMT", version)
		got := r.Header.Get("If-None-Match") + "|" + r.Header.Get("If-Modified-Since")
		if r.Header.Get("If-None-Match") == etag {
			requests = append(requests, got+" -> 304")
			w.WriteHeader(nethttp.StatusNotModified)
			return
		}
		requests = append(requests, got+" -> 200")
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", modified)
		fmt.Fprintf(w, `{"data":{"regions":[{"version":%d,"region":"north"},{"version":%d,"region":"south"}]}}`, version, version)
	}))
	defer srv.Close()
	sink := &slowSink{}
	r, errs := startSource(t, "source.http_poll", fmt.Sprintf(`{"url":%q,"rows_path":"data.regions","interval_ms":10}`, srv.URL), sink)
	count304 := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, q := range requests {
			if strings.HasSuffix(q, "304") {
				n++
			}
		}
		return n
	}
	eventually(t, "three 304 answers", func() bool { return count304() >= 3 })
	mu.Lock()
	version = 2
	mu.Unlock()
	eventually(t, "version 2's rows", func() bool { return len(sink.Rows()) >= 4 })
	eventually(t, "a 304 for version 2", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.HasSuffix(requests[len(requests)-1], "304") && strings.HasPrefix(requests[len(requests)-1], `"v2"`)
	})
	r.Cancel()
	var got []string
	for _, row := range sink.Rows() {
		got = append(got, string(row.AppendJSON(nil)))
	}
	want := `{"version":1,"region":"north"} {"version":1,"region":"south"} {"version":2,"region":"north"} {"version":2,"region":"south"}`
	if strings.Join(got, " ") != want {
		t.Fatalf("rows: %s\nwant %s", strings.Join(got, " "), want)
	}
	n304 := count304()
	mu.Lock()
	defer mu.Unlock()
	if requests[0] != "| -> 200" {
		t.Errorf("first request %q: sent validators it cannot have", requests[0])
	}
	if requests[1] != `"v1"|Wed, 02 Dec 2026 11:00:00 GMT -> 304` {
		t.Errorf("second request %q: want If-None-Match \"v1\" and If-Modified-Since", requests[1])
	}
	if g := r.Metrics()["node"].Gauges["not_modified"]; int(g) != n304 {
		t.Errorf("not_modified gauge %v, server sent %d", g, n304)
	}
	if len(errs.Rows()) != 0 {
		t.Errorf("errors: %v", errs.Rows())
	}
}

// TestPollErrors checks that failed polls go to errors with the URL, status and body, and that
// the poller goes on: a 503, a body without the rows path, a network error.
func TestPollErrors(t *testing.T) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		if r.Method != "POST" || r.Header.Get("X-Key") != "k1" {
			nethttp.Error(w, "want POST with X-Key", 400)
			return
		}
		switch k {
		case 1:
			nethttp.Error(w, `{"error":"maintenance"}`, nethttp.StatusServiceUnavailable)
		case 2:
			fmt.Fprint(w, `{"result":{"other":[]}}`)
		default:
			fmt.Fprintf(w, `{"result":{"items":[{"n":%d}]}}`, k)
		}
	}))
	defer srv.Close()
	sink := &slowSink{}
	cfg := fmt.Sprintf(`{"url":%q,"method":"POST","headers":{"X-Key":"k1"},"body":"{}","rows_path":"result.items","interval_ms":10,"max_polls":3}`, srv.URL+"/api")
	r, errs := startSource(t, "source.http_poll", cfg, sink)
	<-r.Done()
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if got := sink.Rows(); len(got) != 1 || string(got[0].AppendJSON(nil)) != `{"n":3}` {
		t.Fatalf("rows %v, want the third poll's", got)
	}
	e := errs.Rows()
	if len(e) != 2 {
		t.Fatalf("%d error rows, want 2: %v", len(e), e)
	}
	for i, want := range []string{
		"POST " + srv.URL + "/api: status 503: service unavailable; body: {\"error\":\"maintenance\"}",
		`POST ` + srv.URL + `/api: status 200: path "result.items": "result" has no key "items"`,
	} {
		if msg := errorText(e[i]); !strings.HasPrefix(msg, want) {
			t.Errorf("error %d: %q, want %q", i, msg, want)
		}
	}
	if v, _ := e[0].Get("status"); v.Any() != int64(503) {
		t.Errorf("status field %v", v.Any())
	}

	// Nothing listening: status 0, and the poller goes on to the next interval.
	dead := freeAddr(t)
	r2, errs2 := startSource(t, "source.http_poll", fmt.Sprintf(`{"url":"http://%s/x","interval_ms":10,"max_polls":2}`, dead), &slowSink{})
	<-r2.Done()
	if e := errs2.Rows(); len(e) != 2 || !strings.Contains(errorText(e[0]), "GET http://"+dead+"/x: ") || !strings.Contains(errorText(e[0]), "refused") {
		t.Fatalf("network errors: %v", e)
	}
}

// TestSelectPath covers the path syntax and its errors.
func TestSelectPath(t *testing.T) {
	body := []byte(`{"a":{"b":[{"c":1},{"c":[{"x":2}]}]},"n":3}`)
	for _, c := range []struct{ path, want string }{
		{"", string(body)}, {"n", "3"}, {"a.b.0", `{"c":1}`}, {"a.b.1.c", `[{"x":2}]`},
		{"a.x", `path "a.x": "a" has no key "x"`}, {"a.b.k", `path "a.b.k": "a.b" is an array, and "k" is not an index`},
		{"a.b.5", `path "a.b.5": "a.b" has 2 elements, no index 5`}, {"n.m", `path "n.m": "n" is not an object`},
	} {
		got, err := selectPath(body, c.path)
		s := string(got)
		if err != nil {
			s = err.Error()
		}
		if !strings.HasPrefix(s, c.want) {
			t.Errorf("%q: got %s, want %s", c.path, s, c.want)
		}
	}
}
