package app

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/atoll-studio/atoll/engine/flowtest"
	"github.com/atoll-studio/atoll/nodes"
)

// TestRecordEditSaveRunTests goes through the studio's flow-test API: record a test from a run,
// mark a field as ignored, save it, run it, break the graph and see the difference.
func TestRecordEditSaveRunTests(t *testing.T) {
	s := newStudio(t)
	var g struct{ ID string }
	s.must(t, "POST", "/api/graphs", map[string]any{"name": "p", "document": json.RawMessage(pipelineDoc)}, &g)
	var rec flowtest.Test
	s.must(t, "POST", "/api/tests/record", map[string]any{"document": json.RawMessage(pipelineDoc), "name": "doubles",
		"targets": []string{"preview", "double.out"}, "max_rows": 30}, &rec)
	if len(rec.Sources["gen"].Rows) != 30 || len(rec.Expect["preview"].Rows) != 30 || len(rec.Expect["double.out"].Rows) != 30 {
		t.Fatalf("recorded %d source rows, %d preview rows", len(rec.Sources["gen"].Rows), len(rec.Expect["preview"].Rows))
	}
	// The recorded run's generator stamps rows with the time: t differs on every run.
	rec.Expect["preview"].Fields = map[string]flowtest.Rule{"d": {Kind: "ignore"}}
	var info struct {
		Name    string
		Version int
	}
	s.must(t, "PUT", "/api/graphs/"+g.ID+"/tests", map[string]any{"test": rec}, &info)
	if info.Name != "doubles" || info.Version != 1 {
		t.Fatalf("saved %+v", info)
	}
	var list []GraphTest
	s.must(t, "GET", "/api/graphs/"+g.ID+"/tests", nil, &list)
	if len(list) != 1 || !strings.Contains(string(list[0].Test), `"ignore"`) {
		t.Fatalf("list %+v", list)
	}
	var tr TestRun
	s.must(t, "POST", "/api/graphs/"+g.ID+"/tests/run", map[string]any{}, &tr)
	if tr.Passed != 1 || tr.Failed != 0 {
		t.Fatalf("the recorded test fails on its own graph: %+v", tr.Results[0])
	}
	broken := strings.Replace(pipelineDoc, `"d":"n * 2"`, `"d":"n * 3"`, 1)
	s.must(t, "POST", "/api/graphs/"+g.ID+"/tests/run", map[string]any{"document": json.RawMessage(broken)}, &tr)
	if tr.Failed != 1 {
		t.Fatalf("broken graph passes: %+v", tr)
	}
	r := tr.Results[0]
	if r.First() != `edge "double.out" row 2 field "d": want 2, got 3` {
		t.Fatalf("first difference %q", r.First())
	}
	for _, d := range r.Diffs {
		if strings.HasPrefix(d.Target, `sink "preview"`) {
			t.Fatalf("an ignored field was compared: %s", d.Message)
		}
	}
	if len(r.Targets) != 2 || len(r.Targets[0].Got) != 30 || len(r.Targets[0].Want) != 30 {
		t.Fatalf("targets for the side-by-side view: %+v", r.Targets)
	}
	if code := s.do(t, "POST", "/api/graphs/"+g.ID+"/tests/run", map[string]any{"names": []string{"doubles", "nope"}}, nil); code != http.StatusNotFound {
		t.Fatalf("an unknown test name: status %d", code)
	}
	if code := s.do(t, "PUT", "/api/graphs/"+g.ID+"/tests", map[string]any{"test": json.RawMessage(`{"name":""}`)}, nil); code != http.StatusBadRequest {
		t.Fatalf("a nameless test: status %d", code)
	}
	if code := s.do(t, "DELETE", "/api/graphs/"+g.ID+"/tests/doubles", nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete: status %d", code)
	}
	s.must(t, "GET", "/api/graphs/"+g.ID+"/tests", nil, &list)
	if len(list) != 0 {
		t.Fatalf("after delete %+v", list)
	}
	if code := s.do(t, "GET", "/api/graphs/nope/tests", nil, nil); code != http.StatusNotFound {
		t.Fatalf("unknown graph: status %d", code)
	}
}

func TestSeededExamplesBringTheirTests(t *testing.T) {
	doc := strings.Replace(pipelineDoc, `"count":0`, `"count":5`, 1)
	ex := fstest.MapFS{
		"a.json":      {Data: []byte(doc)},
		"a.test.json": {Data: []byte(`{"version":1,"tests":[{"name":"five","sources":{"gen":{"sequence":{"field":"n","from":0,"count":5}}},"expect":{"preview":{"count":5}}}]}`)},
	}
	svc, err := Open(Options{DB: filepath.Join(t.TempDir(), "atoll.db"), Catalog: nodes.New(), Examples: ex})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	gs, _ := svc.ListGraphs()
	if len(gs) != 1 {
		t.Fatalf("seeded %+v (a test file is not a graph)", gs)
	}
	tr, err := svc.RunTests(gs[0].ID, nil, nil)
	if err != nil || tr.Passed != 1 {
		t.Fatalf("%+v %v", tr, err)
	}
}
