package app

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/nodes"
	_ "github.com/atoll-studio/atoll/nodes/all"
	_ "github.com/atoll-studio/atoll/nodes/studio"
	"github.com/atoll-studio/atoll/storage"
)

// studio is a Service on a fresh SQLite file with its HTTP transport on loopback.
type testStudio struct {
	svc   *Service
	srv   *httptest.Server
	token string
}

// testToken is the token of the test studios (Serve makes a random one per start).
const testToken = "test-token-0123456789"

func newStudio(t *testing.T) *testStudio {
	t.Helper()
	return newStudioWith(t, Options{})
}

// newStudioWith is newStudio with options (the database, catalog and drain timeout are set).
func newStudioWith(t testing.TB, opts Options) *testStudio {
	t.Helper()
	opts.DB, opts.Catalog, opts.DrainTimeout = filepath.Join(t.TempDir(), "atoll.db"), nodes.New(), 2*time.Second
	svc, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(svc, HandlerOptions{LoopbackOnly: true, Token: testToken}))
	t.Cleanup(func() {
		srv.Close()
		if err := svc.Close(); err != nil {
			t.Error(err)
		}
	})
	return &testStudio{svc: svc, srv: srv, token: testToken}
}

// do sends a request with a JSON body (a string is sent as is) and decodes a JSON answer into
// out; it returns the status.
func (s *testStudio) do(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(js)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

func (s *testStudio) must(t *testing.T, method, path string, body any, out any) {
	t.Helper()
	var raw json.RawMessage
	code := s.do(t, method, path, body, &raw)
	if code/100 != 2 {
		t.Fatalf("%s %s: status %d: %s", method, path, code, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
}

const pipelineDoc = `{"version":1,"id":"","name":"pipeline","nodes":[
 {"id":"gen","type":"source.generator","config":{"count":0,"rate":400,"batch_size":20},"ui":{"x":0,"y":0}},
 {"id":"double","type":"transform.map","config":{"set":{"d":"n * 2"}},"ui":{"x":200,"y":0}},
 {"id":"preview","type":"sink.preview","config":{"keep":50},"ui":{"x":400,"y":0}}],
 "edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"double","port":"in"}},
 {"from":{"node":"double","port":"out"},"to":{"node":"preview","port":"in"}}]}`

func TestCatalog(t *testing.T) {
	s := newStudio(t)
	var specs []struct {
		ID           string          `json:"id"`
		Headless     bool            `json:"headless"`
		Inputs       []engine.Port   `json:"inputs"`
		Outputs      []engine.Port   `json:"outputs"`
		ConfigSchema json.RawMessage `json:"config_schema"`
		Examples     []any           `json:"examples"`
	}
	s.must(t, "GET", "/api/catalog", nil, &specs)
	byID := map[string]int{}
	for i, sp := range specs {
		byID[sp.ID] = i
	}
	for _, id := range []string{"source.generator", "transform.map", "sink.discard", "sink.preview"} {
		if _, ok := byID[id]; !ok {
			t.Fatalf("catalog lacks %s (has %v)", id, byID)
		}
	}
	gen := specs[byID["source.generator"]]
	var schema struct {
		Type       string                     `json:"type"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(gen.ConfigSchema, &schema); err != nil || schema.Type != "object" || schema.Properties["rate"] == nil {
		t.Errorf("generator config_schema = %s (%v)", gen.ConfigSchema, err)
	}
	if !gen.Headless || len(gen.Outputs) == 0 {
		t.Errorf("generator spec: %+v", gen)
	}
	if p := specs[byID["sink.preview"]]; p.Headless || len(p.Inputs) != 1 {
		t.Errorf("sink.preview must be studio-only with one input: %+v", p)
	}
}

func TestGraphLifecycle(t *testing.T) {
	s := newStudio(t)
	var graphs []storage.GraphInfo
	s.must(t, "GET", "/api/graphs", nil, &graphs)
	if len(graphs) == 0 {
		t.Fatal("a fresh database has no example graphs")
	}

	var g storage.GraphInfo
	s.must(t, "POST", "/api/graphs", map[string]any{"name": "mine", "document": json.RawMessage(pipelineDoc)}, &g)
	if g.Name != "mine" || g.Version != 1 || g.ID == "" {
		t.Fatalf("created %+v", g)
	}
	var got struct {
		Info     storage.GraphInfo `json:"info"`
		Document struct {
			ID    string `json:"id"`
			Name  string `json:"name"`
			Nodes []struct {
				ID     string          `json:"id"`
				Config json.RawMessage `json:"config"`
			} `json:"nodes"`
		} `json:"document"`
	}
	s.must(t, "GET", "/api/graphs/"+g.ID, nil, &got)
	if got.Document.ID != g.ID || got.Document.Name != "mine" || len(got.Document.Nodes) != 3 {
		t.Fatalf("document %+v", got.Document)
	}

	// Version 2 changes the map's expression and moves nothing else.
	v2 := strings.Replace(pipelineDoc, `"n * 2"`, `"n * 3"`, 1)
	var vi storage.VersionInfo
	s.must(t, "PUT", "/api/graphs/"+g.ID, map[string]any{"document": json.RawMessage(v2), "message": "triple"}, &vi)
	if vi.Version != 2 || vi.Message != "triple" {
		t.Fatalf("saved %+v", vi)
	}
	var versions []storage.VersionInfo
	s.must(t, "GET", "/api/graphs/"+g.ID+"/versions", nil, &versions)
	if len(versions) != 2 || versions[0].Version != 2 {
		t.Fatalf("versions %+v (want newest first)", versions)
	}
	var diff storage.GraphDiff
	s.must(t, "GET", "/api/graphs/"+g.ID+"/diff?from=1&to=2", nil, &diff)
	if len(diff.NodesChanged) != 1 || diff.NodesChanged[0].ID != "double" || len(diff.NodesChanged[0].Fields) != 1 ||
		diff.NodesChanged[0].Fields[0].Path != "set.d" {
		t.Fatalf("diff %+v", diff)
	}
	var raw1 json.RawMessage
	s.must(t, "GET", "/api/graphs/"+g.ID+"/versions/1", nil, &raw1)
	if !bytes.Contains(raw1, []byte(`n * 2`)) {
		t.Fatalf("version 1 = %s", raw1)
	}
	s.must(t, "POST", "/api/graphs/"+g.ID+"/versions/1/restore", nil, &vi)
	if vi.Version != 3 {
		t.Fatalf("restore made %+v", vi)
	}
	s.must(t, "GET", "/api/graphs/"+g.ID, nil, &got)
	if !bytes.Contains(got.Document.Nodes[1].Config, []byte(`n * 2`)) {
		t.Fatalf("restored document has %s", got.Document.Nodes[1].Config)
	}

	s.must(t, "PATCH", "/api/graphs/"+g.ID, map[string]any{"name": "renamed"}, &g)
	if g.Name != "renamed" {
		t.Fatalf("rename gave %+v", g)
	}
	var dup storage.GraphInfo
	s.must(t, "POST", "/api/graphs/"+g.ID+"/duplicate", nil, &dup)
	if dup.ID == g.ID || dup.Name != "renamed (copy)" {
		t.Fatalf("duplicate gave %+v", dup)
	}

	// Errors: a document that is not a graph is 400, a missing graph or version 404.
	var e errorBody
	if code := s.do(t, "PUT", "/api/graphs/"+g.ID, map[string]any{"document": map[string]any{"nodes": 3}}, &e); code != 400 || e.Error == "" {
		t.Errorf("bad document: %d %+v", code, e)
	}
	if code := s.do(t, "GET", "/api/graphs/"+g.ID+"/versions/99", nil, &e); code != 404 {
		t.Errorf("missing version: %d %+v", code, e)
	}
	if code := s.do(t, "DELETE", "/api/graphs/"+g.ID, nil, nil); code != 204 {
		t.Errorf("delete: %d", code)
	}
	if code := s.do(t, "GET", "/api/graphs/"+g.ID, nil, &e); code != 404 {
		t.Errorf("deleted graph: %d %+v", code, e)
	}
	if code := s.do(t, "GET", "/api/nothing", nil, &e); code != 404 {
		t.Errorf("unknown endpoint: %d", code)
	}
}

func TestValidateProblemsOnNodes(t *testing.T) {
	s := newStudio(t)
	doc := `{"version":1,"id":"g","name":"bad","nodes":[
	 {"id":"gen","type":"source.generator","config":{"rate":-1}},
	 {"id":"mystery","type":"no.such"},
	 {"id":"expr","type":"transform.map","config":{"set":{"x":"n +* 2"}}},
	 {"id":"lonely","type":"sink.discard"}],
	 "edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"expr","port":"in"}}]}`
	var v struct {
		Problems []engine.Problem `json:"problems"`
	}
	s.must(t, "POST", "/api/validate", doc, &v)
	want := map[string]string{"gen": "/rate", "mystery": "unknown node type", "lonely": "not connected"}
	for node, frag := range want {
		found := false
		for _, p := range v.Problems {
			if p.Node == node && (strings.Contains(p.Message, frag) || p.Field == frag) {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem on %q mentioning %q in %+v", node, frag, v.Problems)
		}
	}

	// A graph the schema accepts but a constructor refuses: the build's problem is on the node.
	doc = strings.Replace(pipelineDoc, `"n * 2"`, `"n +* 2"`, 1)
	s.must(t, "POST", "/api/validate", doc, &v)
	if len(v.Problems) != 1 || v.Problems[0].Node != "double" {
		t.Errorf("build problem: %+v", v.Problems)
	}
	s.must(t, "POST", "/api/validate", pipelineDoc, &v)
	if len(v.Problems) != 0 {
		t.Errorf("valid graph has problems %+v", v.Problems)
	}
	s.must(t, "POST", "/api/validate", `{"version":1,"nodes":[],"bogus":1}`, &v)
	if len(v.Problems) != 1 || !strings.Contains(v.Problems[0].Message, "bogus") {
		t.Errorf("unparsable document: %+v", v.Problems)
	}

	// Running an invalid graph is 422 with the problems.
	var e errorBody
	if code := s.do(t, "POST", "/api/runs", map[string]any{"document": json.RawMessage(doc)}, &e); code != 422 ||
		len(e.Problems) != 1 || e.Problems[0].Node != "double" {
		t.Errorf("run of an invalid graph: %d %+v", code, e)
	}
}

// wsConn dials /api/ws with an optional Origin.
func (s *testStudio) ws(t *testing.T, origin string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/api/ws"
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	d := *websocket.DefaultDialer
	d.Subprotocols = []string{WSProtocol, TokenProtocolPrefix + s.token}
	return d.DialContext(t.Context(), u, h)
}

type event struct {
	Type    string                        `json:"type"`
	Run     json.RawMessage               `json:"run"`
	Node    string                        `json:"node"`
	Port    string                        `json:"port"`
	Nodes   map[string]engine.NodeMetrics `json:"nodes"`
	Rows    []map[string]any              `json:"rows"`
	Dropped int64                         `json:"dropped"`
	Error   string                        `json:"error"`
}

func TestRunStreamsMetricsAndRows(t *testing.T) {
	s := newStudio(t)
	var run RunInfo
	s.must(t, "POST", "/api/runs", map[string]any{"document": json.RawMessage(pipelineDoc)}, &run)
	if run.ID == "" || run.Status != "running" {
		t.Fatalf("started %+v", run)
	}
	conn, _, err := s.ws(t, s.srv.URL) // the studio's own page
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, m := range []map[string]string{
		{"type": "subscribe", "run": run.ID},
		{"type": "tap", "run": run.ID, "node": "double", "port": "out"},
		{"type": "tap", "run": run.ID, "node": "preview", "port": "in"},
	} {
		if err := conn.WriteJSON(m); err != nil {
			t.Fatal(err)
		}
	}
	var metrics, doubled, previewed, status int
	var lastMetrics map[string]engine.NodeMetrics
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for metrics < 3 || doubled == 0 || previewed == 0 || status == 0 {
		var e event
		if err := conn.ReadJSON(&e); err != nil {
			t.Fatalf("after %d metrics, %d+%d rows events: %v", metrics, doubled, previewed, err)
		}
		switch e.Type {
		case "metrics":
			metrics++
			lastMetrics = e.Nodes
		case "rows":
			if len(e.Rows) == 0 {
				t.Fatalf("empty rows event %+v", e)
			}
			r := e.Rows[len(e.Rows)-1]
			if r["d"] != r["n"].(float64)*2 {
				t.Fatalf("row %v: d is not n * 2", r)
			}
			if e.Node == "double" {
				doubled++
			} else if e.Node == "preview" && e.Port == "in" {
				previewed++
			}
		case "status":
			status++
		case "error":
			t.Fatalf("server error event: %s", e.Error)
		}
	}
	if m := lastMetrics["gen"]; m.RowsOut == 0 || m.State != "running" {
		t.Errorf("generator metrics %+v", m)
	}
	if _, ok := lastMetrics["preview"]; !ok {
		t.Errorf("no preview metrics in %v", lastMetrics)
	}

	s.must(t, "POST", "/api/runs/"+run.ID+"/stop", nil, &run)
	if run.Status != "stopped" || run.EndedAt == nil || run.Metrics["preview"].RowsIn == 0 {
		t.Fatalf("stopped run %+v", run)
	}
	// The status event of the stop reaches the subscriber, then the stored record has the metrics.
	for {
		var e event
		if err := conn.ReadJSON(&e); err != nil {
			t.Fatalf("waiting for the stopped status: %v", err)
		}
		if e.Type == "status" && bytes.Contains(e.Run, []byte(`"stopped"`)) {
			break
		}
	}
	rec, err := s.svc.store.GetRun(t.Context(), run.ID)
	if err != nil || rec.Status != "stopped" || !bytes.Contains(rec.Metrics, []byte(`"preview"`)) {
		t.Fatalf("stored run %+v: %v", rec, err)
	}
	var runs []RunInfo
	s.must(t, "GET", "/api/runs", nil, &runs)
	if len(runs) != 1 || runs[0].ID != run.ID {
		t.Errorf("runs %+v", runs)
	}
}

func TestRunFinishesAndRecords(t *testing.T) {
	s := newStudio(t)
	doc := strings.Replace(pipelineDoc, `"count":0,"rate":400`, `"count":1000,"rate":0`, 1)
	var g storage.GraphInfo
	s.must(t, "POST", "/api/graphs", map[string]any{"name": "finite", "document": json.RawMessage(doc)}, &g)
	var run RunInfo
	s.must(t, "POST", "/api/runs", map[string]any{"graph_id": g.ID, "document": json.RawMessage(doc)}, &run)
	deadline := time.Now().Add(20 * time.Second)
	for run.Status == "running" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		s.must(t, "GET", "/api/runs/"+run.ID, nil, &run)
	}
	if run.Status != "finished" || run.GraphID != g.ID || run.Metrics["preview"].RowsIn != 1000 {
		t.Fatalf("run %+v", run)
	}
	rec, err := s.svc.store.GetRun(t.Context(), run.ID)
	if err != nil || rec.GraphVersion != 1 || rec.Status != "finished" {
		t.Fatalf("stored %+v: %v", rec, err)
	}
	// A late tap on the preview sink still gets the rows it kept.
	conn, _, err := s.ws(t, "")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.WriteJSON(map[string]string{"type": "subscribe", "run": run.ID})
	var e event
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := conn.ReadJSON(&e); err != nil || e.Type != "status" {
		t.Fatalf("subscribe to a finished run: %+v %v", e, err)
	}
	var logs []LogLine
	s.must(t, "GET", "/api/runs/"+run.ID+"/logs", nil, &logs)
	if code := s.do(t, "GET", "/api/runs/nosuchrun/logs", nil, nil); code != 404 {
		t.Errorf("logs of a missing run: %d", code)
	}
}

func TestWebSocketOriginChecked(t *testing.T) {
	s := newStudio(t)
	for _, origin := range []string{"http://evil.example", "http://127.0.0.1:1", "null"} {
		conn, resp, err := s.ws(t, origin)
		if err == nil {
			conn.Close()
			t.Errorf("origin %s: websocket accepted", origin)
			continue
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin %s: %v (response %v), want 403", origin, err, resp)
		}
	}
	for _, origin := range []string{"", s.srv.URL, "wails://wails"} {
		conn, _, err := s.ws(t, origin)
		if err != nil {
			t.Errorf("origin %q refused: %v", origin, err)
			continue
		}
		conn.Close()
	}
	// A cross-site page cannot call the API either, and a rebound DNS name is refused.
	req, _ := http.NewRequest("POST", s.srv.URL+"/api/runs", strings.NewReader(`{"document":`+pipelineDoc+`}`))
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin POST: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("GET", s.srv.URL+"/api/graphs", nil)
	req.Host = "attacker.example:80"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Host: %d", resp.StatusCode)
	}
}

func TestServeNonLoopbackNeedsToken(t *testing.T) {
	svc, err := Open(Options{DB: filepath.Join(t.TempDir(), "atoll.db"), Catalog: nodes.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	url, token, stop := serveStudio(t, svc, ServeOptions{Addr: "0.0.0.0:0"})
	get := func(path string, h map[string]string) *http.Response {
		req, _ := http.NewRequest("GET", url+path, nil)
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
	if r := get("api/graphs", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d", r.StatusCode)
	}
	if r := get("api/graphs", map[string]string{"Authorization": "Bearer wrong"}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", r.StatusCode)
	}
	if r := get("api/graphs", map[string]string{"Authorization": "Bearer " + token}); r.StatusCode != 200 {
		t.Errorf("bearer token: %d", r.StatusCode)
	}
	if r := get("api/catalog?token="+token, nil); r.StatusCode != 200 {
		t.Errorf("?token=: %d", r.StatusCode)
	}
	stop()
}

func TestAssets(t *testing.T) {
	s := newStudio(t)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "labels.txt")
	content := []byte("robin\nwren\nblackbird\n")
	fw.Write(content)
	mw.WriteField("kind", "labels")
	mw.Close()
	resp, err := http.Post(s.srv.URL+"/api/assets?token="+s.token, mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	var info storage.AssetInfo
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if resp.StatusCode != 200 || info.Kind != "labels" || info.Size != int64(len(content)) || len(info.SHA256) != 64 {
		t.Fatalf("upload: %d %+v", resp.StatusCode, info)
	}
	var list []storage.AssetInfo
	s.must(t, "GET", "/api/assets", nil, &list)
	if len(list) != 1 || list[0].SHA256 != info.SHA256 {
		t.Fatalf("list %+v", list)
	}
	resp, err = http.Get(s.srv.URL + "/api/assets/" + info.SHA256 + "?token=" + s.token)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, content) {
		t.Fatalf("download %q", got)
	}
	// Nodes resolve the asset by hash, and paths still work.
	if b, err := s.svc.assets.Asset(info.SHA256); err != nil || !bytes.Equal(b, content) {
		t.Fatalf("resolve by hash: %q %v", b, err)
	}
	if _, err := s.svc.assets.Asset(strings.Repeat("0", 64)); err == nil {
		t.Error("an unknown hash resolved")
	}
	if code := s.do(t, "GET", "/api/assets/"+strings.Repeat("0", 64), nil, nil); code != 404 {
		t.Errorf("unknown asset: %d", code)
	}
}

func TestFrontendFallbackPage(t *testing.T) {
	h := NewHandler(nil, HandlerOptions{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "make frontend") {
		t.Errorf("no-frontend page: %d %s", rec.Code, rec.Body)
	}
}

func TestRunLogs(t *testing.T) {
	s := newStudio(t)
	doc := `{"version":1,"id":"","name":"logs","nodes":[
	 {"id":"gen","type":"source.generator","config":{"count":30,"rate":0,"batch_size":10}},
	 {"id":"log","type":"sink.log","config":{"max_rows_per_s":1000}}],
	 "edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"log","port":"in"}}]}`
	var run RunInfo
	s.must(t, "POST", "/api/runs", map[string]any{"document": json.RawMessage(doc)}, &run)
	deadline := time.Now().Add(20 * time.Second)
	for run.Status == "running" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		s.must(t, "GET", "/api/runs/"+run.ID, nil, &run)
	}
	var logs []LogLine
	s.must(t, "GET", "/api/runs/"+run.ID+"/logs", nil, &logs)
	if run.Status != "finished" || len(logs) == 0 || logs[0].Node != "log" || logs[0].Run != run.ID || logs[0].T == 0 {
		t.Fatalf("run %+v, logs %+v", run, logs)
	}
	// A subscriber gets the kept log lines after the status.
	conn, _, err := s.ws(t, "")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.WriteJSON(map[string]string{"type": "subscribe", "run": run.ID})
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n := 0
	for n < len(logs) {
		var e event
		if err := conn.ReadJSON(&e); err != nil {
			t.Fatalf("after %d log events: %v", n, err)
		}
		if e.Type == "log" {
			n++
		}
	}
}

// TestWindowEvents drives the desktop window's bound methods (Subscribe, Tap) with a fake
// emitter: the same events as the WebSocket, without a window.
func TestWindowEvents(t *testing.T) {
	s := newStudio(t)
	if err := s.svc.Subscribe("x"); err == nil {
		t.Fatal("Subscribe without a window succeeded")
	}
	events := make(chan json.RawMessage, 1024)
	done := make(chan struct{})
	defer close(done)
	s.svc.attachWindow(func(b json.RawMessage) {
		select {
		case events <- b:
		default:
		}
	}, done)
	run, err := s.svc.StartRun(json.RawMessage(pipelineDoc), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.svc.Subscribe(run.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.svc.Tap(run.ID, "gen", "out"); err != nil {
		t.Fatal(err)
	}
	if err := s.svc.Tap(run.ID, "nope", "out"); err == nil {
		t.Error("tap of a missing node succeeded")
	}
	seen := map[string]int{}
	timeout := time.After(20 * time.Second)
	for seen["metrics"] < 2 || seen["rows"] < 2 {
		select {
		case b := <-events:
			var e event
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatal(err)
			}
			seen[e.Type]++
		case <-timeout:
			t.Fatalf("window events after 20 s: %v", seen)
		}
	}
	if err := s.svc.Untap(run.ID, "gen", "out"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.StopRun(run.ID); err != nil {
		t.Fatal(err)
	}
	// Errors reach the window as the HTTP error body (what the frontend's Wails backend parses).
	_, err = s.svc.StartRun(json.RawMessage(`{"version":1,"nodes":[{"id":"a","type":"x"}],"edges":[]}`), "")
	var body errorBody
	if err == nil || json.Unmarshal([]byte(FormatError(err).(string)), &body) != nil || len(body.Problems) != 1 || body.Problems[0].Node != "a" {
		t.Errorf("formatted error %v → %+v", err, body)
	}
}

func TestSeedExamples(t *testing.T) {
	db := filepath.Join(t.TempDir(), "atoll.db")
	ex := fstest.MapFS{
		"a.json":     {Data: []byte(strings.Replace(pipelineDoc, `"name":"pipeline"`, `"name":"first"`, 1))},
		"sub/b.json": {Data: []byte(strings.Replace(pipelineDoc, `"name":"pipeline"`, `"name":"second"`, 1))},
		"README.md":  {Data: []byte("not a graph")},
	}
	open := func() *Service {
		svc, err := Open(Options{DB: db, Catalog: nodes.New(), Examples: ex})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	svc := open()
	gs, _ := svc.ListGraphs()
	if len(gs) != 2 {
		t.Fatalf("seeded %+v", gs)
	}
	// Deleted examples stay deleted: seeding happens once.
	for _, g := range gs {
		if err := svc.DeleteGraph(g.ID); err != nil {
			t.Fatal(err)
		}
	}
	svc.Close()
	svc = open()
	defer svc.Close()
	if gs, _ := svc.ListGraphs(); len(gs) != 0 {
		t.Fatalf("reseeded %+v", gs)
	}
}

// TestSlowClientNeverBlocks: a client that reads nothing loses events (counted) while the run
// goes at full speed and ends.
func TestSlowClientNeverBlocks(t *testing.T) {
	s := newStudio(t)
	doc := strings.Replace(pipelineDoc, `"count":0,"rate":400,"batch_size":20`, `"count":200000,"rate":0,"batch_size":64`, 1)
	run, err := s.svc.StartRun(json.RawMessage(doc), "")
	if err != nil {
		t.Fatal(err)
	}
	c := s.svc.newClient() // nobody drains c.out
	defer c.close()
	if err := c.subscribe(run.ID); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"gen", "double"} {
		if err := c.tap(run.ID, n, ""); err != nil {
			t.Fatal(err)
		}
	}
	rs, _ := s.svc.runState(run.ID)
	select {
	case <-rs.ended:
	case <-time.After(60 * time.Second):
		t.Fatal("the run did not end with a client that reads nothing")
	}
	if ri := rs.info(); ri.Status != "finished" || ri.Metrics["preview"].RowsIn != 200000 {
		t.Fatalf("run %+v", ri)
	}
	if len(c.out) != clientQueue {
		t.Logf("queue holds %d of %d (the run was quick)", len(c.out), clientQueue)
	}
	t.Logf("client queue %d, dropped %d events", len(c.out), c.dropped.Load())
}
