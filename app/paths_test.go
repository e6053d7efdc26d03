package app

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/internal/testdata"
	"github.com/atoll-studio/atoll/nodes"
)

// confinedStudio is a studio whose workspace is ws (graphs resolve relative paths against
// ws/graphs, as `atoll serve` sets it up), with a directory outside it.
type confinedStudio struct {
	*testStudio
	ws, outside string
}

func newConfinedStudio(t *testing.T) *confinedStudio {
	t.Helper()
	tmp := t.TempDir()
	ws, outside := filepath.Join(tmp, "workspace"), filepath.Join(tmp, "outside")
	for _, d := range []string{filepath.Join(ws, "graphs", "out"), filepath.Join(ws, "data"), outside, filepath.Join(tmp, "linked")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(ws, "data", "in.jsonl"), filepath.Join(outside, "secret.jsonl"), filepath.Join(tmp, "linked", "shared.jsonl")} {
		if err := os.WriteFile(f, []byte(`{"n":1}`+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A link at the top of the workspace (as the studio links the examples' functions and the
	// shared test data) grants its target; a link further down does not.
	if err := os.Symlink(filepath.Join(tmp, "linked"), filepath.Join(ws, "linked")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(ws, "graphs", "escape")); err != nil {
		t.Fatal(err)
	}
	svc, err := Open(Options{DB: filepath.Join(tmp, "atoll.db"), Catalog: nodes.New(), DrainTimeout: 2 * time.Second,
		BaseDir: filepath.Join(ws, "graphs"), Workspace: ws,
		Services: map[string]any{"base_dir": filepath.Join(ws, "graphs")}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(svc, HandlerOptions{LoopbackOnly: true, Token: testToken}))
	t.Cleanup(func() {
		srv.Close()
		svc.Close()
	})
	return &confinedStudio{testStudio: &testStudio{svc: svc, srv: srv, token: testToken}, ws: ws, outside: outside}
}

// fileGraph is source.file(in) → sink.file(out).
func fileGraph(in, out string) string {
	return fmt.Sprintf(`{"version":1,"id":"","name":"files","nodes":[
	 {"id":"src","type":"source.file","config":{"path":%q}},
	 {"id":"dst","type":"sink.file","config":{"path":%q}}],
	 "edges":[{"from":{"node":"src","port":"out"},"to":{"node":"dst","port":"in"}}]}`, in, out)
}

func (s *confinedStudio) problems(t *testing.T, doc string) []engine.Problem {
	t.Helper()
	var v struct {
		Problems []engine.Problem `json:"problems"`
	}
	s.must(t, "POST", "/api/validate", doc, &v)
	return v.Problems
}

// TestStudioPathsConfined: the attack of the hardening issue — a local caller posts a graph
// that reads /etc/passwd and writes ../../../../tmp/x — is refused at validation, naming each
// path and the rule; paths inside the workspace (and through the links at its top) are fine;
// links and ".." cannot climb out; adding a directory in the settings opens it.
func TestStudioPathsConfined(t *testing.T) {
	s := newConfinedStudio(t)
	target := filepath.Join(filepath.Dir(s.ws), "x-written")
	rel, _ := filepath.Rel(filepath.Join(s.ws, "graphs"), target)
	var e errorBody
	code := s.do(t, "POST", "/api/runs", map[string]any{"document": json.RawMessage(fileGraph("/etc/passwd", rel))}, &e)
	if code != 422 || len(e.Problems) != 2 {
		t.Fatalf("run reading /etc/passwd and writing %s: %d %+v, want 422 with two problems", rel, code, e)
	}
	for i, want := range []struct{ node, path string }{{"src", "/etc/passwd"}, {"dst", rel}} {
		p := e.Problems[i]
		if p.Node != want.node || p.Field != "/path" || !strings.Contains(p.Message, fmt.Sprintf("%q", want.path)) ||
			!strings.Contains(p.Message, "outside the workspace "+s.ws) || !strings.Contains(p.Message, "Settings") {
			t.Errorf("problem %d: %+v, want on %s /path naming %q and the rule", i, p, want.node, want.path)
		}
	}
	if _, err := os.Stat(target); err == nil {
		t.Errorf("%s was written", target)
	}

	outside := filepath.Join(s.outside, "secret.jsonl")
	for _, c := range []struct {
		name, in, out string
		refused       []string // node ids with a problem
	}{
		{"inside, relative", "../data/in.jsonl", "out/a.jsonl", nil},
		{"inside, absolute", filepath.Join(s.ws, "data", "in.jsonl"), filepath.Join(s.ws, "graphs", "out", "b.jsonl"), nil},
		{"a new directory inside", "../data/in.jsonl", "out/new/deeper/c.jsonl", nil},
		{"through a link at the top of the workspace", "../linked/shared.jsonl", "../linked/out.jsonl", nil},
		{"absolute outside", outside, "out/d.jsonl", []string{"src"}},
		{"through a link lower down", "escape/secret.jsonl", "escape/written.jsonl", []string{"src", "dst"}},
		{"dot-dot after a link", s.ws + "/graphs/escape/../outside/secret.jsonl", "out/e.jsonl", []string{"src"}},
		{"dot-dot climbing out", "../../outside/secret.jsonl", "../../../../tmp/x", []string{"src", "dst"}},
	} {
		probs := s.problems(t, fileGraph(c.in, c.out))
		var got []string
		for _, p := range probs {
			got = append(got, p.Node)
			if !strings.Contains(p.Message, "outside the workspace") {
				t.Errorf("%s: problem %+v does not name the rule", c.name, p)
			}
		}
		if strings.Join(got, ",") != strings.Join(c.refused, ",") {
			t.Errorf("%s: problems on %v, want %v: %+v", c.name, got, c.refused, probs)
		}
	}

	// function.wasm: the module, allow_dir and each model and file are confined too.
	fn := fmt.Sprintf(`{"version":1,"id":"","name":"fn","nodes":[
	 {"id":"gen","type":"source.generator","config":{"count":1}},
	 {"id":"fn","type":"function.wasm","config":{"module":%q,"allow_dir":"/","models":{"m":"/nope.tflite"}}}],
	 "edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"fn","port":"in"}}]}`, outside)
	fields := map[string]bool{}
	for _, p := range s.problems(t, fn) {
		fields[p.Field] = true
	}
	for _, f := range []string{"/module", "/allow_dir", "/models/m"} {
		if !fields[f] {
			t.Errorf("function.wasm: no problem on %s: %v", f, fields)
		}
	}

	// The settings: relative or missing directories are refused; an added one opens.
	if code := s.do(t, "PUT", "/api/settings", map[string]any{"allowed_dirs": []string{"relative/dir"}}, nil); code != 400 {
		t.Errorf("a relative allowed directory: %d, want 400", code)
	}
	if code := s.do(t, "PUT", "/api/settings", map[string]any{"allowed_dirs": []string{filepath.Join(s.outside, "missing")}}, nil); code != 400 {
		t.Errorf("a missing allowed directory: %d, want 400", code)
	}
	var st Settings
	s.must(t, "PUT", "/api/settings", map[string]any{"allowed_dirs": []string{s.outside, s.outside + "/"}}, &st)
	if st.Workspace != s.ws || len(st.AllowedDirs) != 1 || st.AllowedDirs[0] != s.outside {
		t.Errorf("settings after adding %s: %+v", s.outside, st)
	}
	if probs := s.problems(t, fileGraph(outside, "escape/written.jsonl")); len(probs) != 0 {
		t.Errorf("after adding %s: %+v", s.outside, probs)
	}
	s.must(t, "GET", "/api/settings", nil, &st)
	if len(st.AllowedDirs) != 1 {
		t.Errorf("settings read back: %+v", st)
	}
	// Removing it closes it again.
	s.must(t, "PUT", "/api/settings", map[string]any{"allowed_dirs": []string{}}, &st)
	if probs := s.problems(t, fileGraph(outside, "out/f.jsonl")); len(probs) != 1 {
		t.Errorf("after removing %s: %+v", s.outside, probs)
	}
}

func TestResolveLinks(t *testing.T) {
	tmp, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(tmp, "a", "b"), 0o755)
	os.MkdirAll(filepath.Join(tmp, "far", "away"), 0o755)
	os.Symlink(filepath.Join(tmp, "far", "away"), filepath.Join(tmp, "a", "abs"))
	os.Symlink("../../far", filepath.Join(tmp, "a", "b", "rel"))
	os.Symlink("loop2", filepath.Join(tmp, "loop1"))
	os.Symlink("loop1", filepath.Join(tmp, "loop2"))
	for in, want := range map[string]string{
		"a/b":                 "a/b",
		"a/./b/../b":          "a/b",
		"a/abs":               "far/away",
		"a/abs/..":            "far",
		"a/abs/../../a":       "a",
		"a/b/rel/away/x.txt":  "far/away/x.txt",
		"a/missing/../../x":   "x",
		"a/abs/new/file.json": "far/away/new/file.json",
	} {
		got, err := resolveLinks(tmp + "/" + in) // not filepath.Join: it would clean the ".." away
		if err != nil || got != filepath.Join(tmp, want) {
			t.Errorf("resolveLinks(%s) = %q, %v; want %s", in, got, err, filepath.Join(tmp, want))
		}
	}
	if _, err := resolveLinks(filepath.Join(tmp, "loop1", "x")); err == nil || !strings.Contains(err.Error(), "too many symbolic links") {
		t.Errorf("a link loop: %v", err)
	}
}

// TestStudioRelativePathsFromTheWorkspace: a relative path is checked where the nodes open it,
// the graphs directory of the workspace, never the studio's working directory: a recording
// beside wherever the studio was started is not reachable as "secret.wav".
func TestStudioRelativePathsFromTheWorkspace(t *testing.T) {
	s := newConfinedStudio(t)
	wav, err := os.ReadFile(testdata.Path(t, "audio/birds/birdnet_sample.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.outside, "secret.wav"), wav, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(s.outside)
	doc := `{"version":1,"id":"","name":"wav","nodes":[
	 {"id":"wav","type":"source.wav","config":{"path":"secret.wav"}},
	 {"id":"out","type":"sink.discard","config":{}}],
	 "edges":[{"from":{"node":"wav","port":"out"},"to":{"node":"out","port":"in"}}]}`
	probs := s.problems(t, doc)
	if len(probs) != 1 || probs[0].Node != "wav" || !strings.Contains(probs[0].Message, "secret.wav") {
		t.Fatalf("source.wav \"secret.wav\" with the studio started in %s: problems %+v, want one: not found in the workspace", s.outside, probs)
	}
	// The same file inside the workspace's graphs directory is read.
	if err := os.WriteFile(filepath.Join(s.ws, "graphs", "secret.wav"), wav, 0o644); err != nil {
		t.Fatal(err)
	}
	if probs := s.problems(t, doc); len(probs) != 0 {
		t.Errorf("source.wav inside the workspace: %+v", probs)
	}
}

// TestStudioFlowTestsConfined: the studio's flow tests are confined like its runs: a test whose
// source or expectation file is outside, or that runs a graph reading outside, fails naming the
// path, and reads nothing; recording a run of such a graph is refused.
func TestStudioFlowTestsConfined(t *testing.T) {
	s := newConfinedStudio(t)
	doc := fileGraph("../data/in.jsonl", "out/t.jsonl")
	var g struct{ ID string }
	s.must(t, "POST", "/api/graphs", map[string]any{"name": "files", "document": json.RawMessage(doc)}, &g)
	secret := filepath.Join(s.outside, "secret.jsonl")
	for _, test := range map[string]string{
		"source file":      fmt.Sprintf(`{"name":"source file","sources":{"src":{"file":%q}},"expect":{"dst":{"count":1}}}`, secret),
		"expectation file": fmt.Sprintf(`{"name":"expectation file","sources":{"src":{"rows":[{"n":1}]}},"expect":{"dst":{"file":%q}}}`, "../../outside/secret.jsonl"),
		"inside":           `{"name":"inside","sources":{"src":{"file":"../data/in.jsonl"}},"expect":{"dst":{"count":1}}}`,
	} {
		s.must(t, "PUT", "/api/graphs/"+g.ID+"/tests", map[string]any{"test": json.RawMessage(test)}, nil)
	}
	var tr TestRun
	s.must(t, "POST", "/api/graphs/"+g.ID+"/tests/run", map[string]any{}, &tr)
	for _, r := range tr.Results {
		refused := strings.Contains(r.Error, "outside the workspace")
		if (r.Name == "inside") == refused || (r.Name == "inside" && !r.Passed) {
			t.Errorf("test %q: passed %v, error %q", r.Name, r.Passed, r.Error)
		}
	}
	if len(tr.Results) != 3 {
		t.Errorf("%d results, want 3: %+v", len(tr.Results), tr.Results)
	}
	// A node the test does not replace keeps its paths, and they are checked: a function whose
	// module is outside.
	fnDoc := fmt.Sprintf(`{"version":1,"id":"","name":"fn","nodes":[
	 {"id":"src","type":"source.file","config":{"path":"../data/in.jsonl"}},
	 {"id":"fn","type":"function.wasm","config":{"module":%q}},
	 {"id":"dst","type":"sink.file","config":{"path":"out/t.jsonl"}}],
	 "edges":[{"from":{"node":"src","port":"out"},"to":{"node":"fn","port":"in"}},
	 {"from":{"node":"fn","port":"out"},"to":{"node":"dst","port":"in"}}]}`, secret)
	s.must(t, "POST", "/api/graphs/"+g.ID+"/tests/run", map[string]any{"document": json.RawMessage(fnDoc), "names": []string{"inside"}}, &tr)
	if len(tr.Results) != 1 || !strings.Contains(tr.Results[0].Error, "outside the workspace") || !strings.Contains(tr.Results[0].Error, "secret.jsonl") {
		t.Errorf("a test of a graph whose function module is %s: %+v", secret, tr.Results)
	}
	outsideDoc := fileGraph(secret, "out/t.jsonl")
	var e errorBody
	if code := s.do(t, "POST", "/api/tests/record", map[string]any{"document": json.RawMessage(outsideDoc), "name": "r", "targets": []string{"dst"}}, &e); code/100 == 2 ||
		!strings.Contains(e.Error, "outside the workspace") {
		t.Errorf("recording a graph that reads %s: %d %+v", secret, code, e)
	}
}

// TestStudioExportConfined: exporting a bundle packs the files a graph names; the studio packs
// only those its graphs may read, so a saved graph naming a file outside cannot carry it out in
// a download.
func TestStudioExportConfined(t *testing.T) {
	s := newConfinedStudio(t)
	secret := filepath.Join(s.outside, "secret.jsonl")
	doc := fmt.Sprintf(`{"version":1,"id":"","name":"exfil","nodes":[
	 {"id":"src","type":"source.file","config":{"path":"../data/in.jsonl"}},
	 {"id":"fn","type":"function.wasm","config":{"module":"../data/in.jsonl","files":{"loot":%q}}},
	 {"id":"dst","type":"sink.file","config":{"path":"out/t.jsonl"}}],
	 "edges":[{"from":{"node":"src","port":"out"},"to":{"node":"fn","port":"in"}},
	 {"from":{"node":"fn","port":"out"},"to":{"node":"dst","port":"in"}}]}`, secret)
	var g struct{ ID string }
	s.must(t, "POST", "/api/graphs", map[string]any{"name": "exfil", "document": json.RawMessage(doc)}, &g)
	body, resp := s.download(t, ExportRequest{GraphID: g.ID, Platforms: []string{"linux/amd64"}})
	if resp.StatusCode != 422 || !strings.Contains(string(body), "outside the workspace") || !strings.Contains(string(body), "files.loot") {
		t.Errorf("export of a graph naming %s: %d %q", secret, resp.StatusCode, body[:min(len(body), 300)])
	}
	if strings.Contains(string(body), `{"n":1}`) {
		t.Errorf("the export carried the outside file (%d bytes)", len(body))
	}
	var e errorBody
	if code := s.do(t, "POST", "/api/bundles/preview", map[string]any{"graph_id": g.ID, "platforms": []string{"linux/amd64"}}, &e); code != 422 {
		t.Errorf("preview of the export: %d %+v", code, e)
	}
}
