package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/atoll-studio/atoll/engine/flowtest"
	"github.com/atoll-studio/atoll/nodes/studio"
	"github.com/atoll-studio/atoll/storage"
)

// Flow tests (engine/flowtest) live with their graph in storage, one test per record, each save
// a new version (storage.SaveTest). The studio records them from runs, edits, saves and runs
// them; the seeded examples bring their NAME.test.json files.

// GraphTest is one saved test of a graph: its latest version and its document.
type GraphTest struct {
	Info storage.TestInfo `json:"info"`
	Test json.RawMessage  `json:"test"`
}

// RecordRequest asks for a test recorded from a run of a document.
type RecordRequest struct {
	Document json.RawMessage `json:"document"`
	Name     string          `json:"name"`
	// Targets are sinks (node ids) and edges ("node.port"); none means every sink.
	Targets []string `json:"targets"`
	// MaxRows is the rows taken from each source (default 100, at most 10,000).
	MaxRows int `json:"max_rows"`
}

// TestRun is the outcome of running a graph's tests.
type TestRun struct {
	Results []*flowtest.Result `json:"results"`
	Passed  int                `json:"passed"`
	Failed  int                `json:"failed"`
}

// testEnv is the environment of the studio's flow tests: confined like its runs (paths.go).
func (s *Service) testEnv() (flowtest.Env, error) {
	services := map[string]any{studio.BuffersService: studio.NewBuffers()}
	for k, v := range s.opts.Services {
		services[k] = v
	}
	paths, err := s.pathPolicy()
	if err != nil {
		return flowtest.Env{}, err
	}
	return flowtest.Env{Catalog: s.catalog, Assets: s.assets, Services: services, Dir: s.opts.BaseDir, Paths: paths}, nil
}

// ListTests returns the graph's tests, sorted by name.
func (s *Service) ListTests(graphID string) ([]GraphTest, error) {
	if _, _, err := s.store.LoadGraph(s.ctx, graphID); err != nil {
		return nil, err
	}
	infos, docs, err := s.store.ListTests(s.ctx, graphID)
	if err != nil {
		return nil, err
	}
	out := make([]GraphTest, len(infos))
	for i := range infos {
		out[i] = GraphTest{Info: infos[i], Test: docs[i]}
	}
	return out, nil
}

// SaveTest checks a test and saves it as the next version of the graph's test of that name.
func (s *Service) SaveTest(graphID string, test json.RawMessage) (storage.TestInfo, error) {
	t, err := flowtest.ParseTest(test)
	if err != nil {
		return storage.TestInfo{}, fmt.Errorf("%w test: %w", ErrInvalid, err)
	}
	doc, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return storage.TestInfo{}, err
	}
	return s.store.SaveTest(s.ctx, graphID, t.Name, doc)
}

// DeleteTest deletes the graph's test name (its versions stay in the history).
func (s *Service) DeleteTest(graphID, name string) error {
	return s.store.DeleteTest(s.ctx, graphID, name)
}

// RecordTest records a test from a run of the document: the first MaxRows rows of each source,
// replayed through the graph, and what the targets received (flowtest.Record). The test is
// returned for editing, not saved.
func (s *Service) RecordTest(req RecordRequest) (json.RawMessage, error) {
	doc, err := parseDoc(req.Document)
	if err != nil {
		return nil, invalidDoc(err)
	}
	if req.MaxRows < 0 || req.MaxRows > flowtest.MaxRecordRows {
		return nil, fmt.Errorf("%w max_rows %d: want 0 to %d", ErrInvalid, req.MaxRows, flowtest.MaxRecordRows)
	}
	env, err := s.testEnv()
	if err != nil {
		return nil, err
	}
	t, err := flowtest.Record(s.ctx, doc, flowtest.RecordOptions{Name: req.Name, Targets: req.Targets, MaxRows: req.MaxRows}, env)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	return json.MarshalIndent(t, "", "  ")
}

// RunTests runs the graph's saved tests (all, or those named) against document, or against the
// graph's latest saved version when document is empty.
func (s *Service) RunTests(graphID string, document json.RawMessage, names []string) (TestRun, error) {
	raw := document
	if isNull(raw) {
		_, saved, err := s.store.LoadGraph(s.ctx, graphID)
		if err != nil {
			return TestRun{}, err
		}
		raw = saved
	}
	doc, err := parseDoc(raw)
	if err != nil {
		return TestRun{}, invalidDoc(err)
	}
	tests, err := s.ListTests(graphID)
	if err != nil {
		return TestRun{}, err
	}
	want := map[string]bool{} // the names asked for: true once found
	for _, n := range names {
		want[n] = false
	}
	for _, gt := range tests {
		if _, ok := want[gt.Info.Name]; ok {
			want[gt.Info.Name] = true
		}
	}
	for n, found := range want { // before running any, not after
		if !found {
			return TestRun{}, fmt.Errorf("graph %q test %q: %w", graphID, n, ErrNotFound)
		}
	}
	env, err := s.testEnv()
	if err != nil {
		return TestRun{}, err
	}
	tr := TestRun{Results: []*flowtest.Result{}}
	for _, gt := range tests {
		if len(names) > 0 && !want[gt.Info.Name] {
			continue
		}
		t, err := flowtest.ParseTest(gt.Test)
		var res *flowtest.Result
		if err != nil {
			res = &flowtest.Result{Name: gt.Info.Name, Error: err.Error()}
		} else if res, err = flowtest.Run(s.ctx, doc, t, env); err != nil {
			return TestRun{}, err
		}
		if res.Passed {
			tr.Passed++
		} else {
			tr.Failed++
		}
		tr.Results = append(tr.Results, res)
	}
	return tr, nil
}

// seedTests saves the tests of an example graph (graphPath's NAME.test.json in fsys, when there
// is one) with the graph the example became.
func (s *Service) seedTests(fsys fs.FS, graphPath, graphID string) error {
	if fsys == nil {
		return nil
	}
	p := strings.TrimSuffix(graphPath, ".json") + flowtest.Suffix
	data, err := fs.ReadFile(fsys, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	f, err := flowtest.Parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if f.Graph != "" && path.Clean(f.Graph) != path.Base(graphPath) {
		return nil // the tests of another graph
	}
	for _, t := range f.Tests {
		b, err := json.MarshalIndent(t, "", "  ")
		if err != nil {
			return err
		}
		if _, err := s.store.SaveTest(s.ctx, graphID, t.Name, b); err != nil {
			return err
		}
	}
	return nil
}

// testRoutes registers the flow-test endpoints (API.md, "Flow tests").
func (h *handler) testRoutes(mux *http.ServeMux) {
	svc := h.svc
	mux.HandleFunc("GET /api/graphs/{id}/tests", h.json(func(r *http.Request) (any, error) { return svc.ListTests(r.PathValue("id")) }))
	mux.HandleFunc("PUT /api/graphs/{id}/tests", h.json(func(r *http.Request) (any, error) {
		var body struct {
			Test json.RawMessage `json:"test"`
		}
		if err := decode(r, &body); err != nil {
			return nil, err
		}
		return svc.SaveTest(r.PathValue("id"), body.Test)
	}))
	mux.HandleFunc("DELETE /api/graphs/{id}/tests/{name}", h.json(func(r *http.Request) (any, error) {
		return nil, svc.DeleteTest(r.PathValue("id"), r.PathValue("name"))
	}))
	mux.HandleFunc("POST /api/graphs/{id}/tests/run", h.json(func(r *http.Request) (any, error) {
		var body struct {
			Document json.RawMessage `json:"document"`
			Names    []string        `json:"names"`
		}
		if err := decodeOptional(r, &body); err != nil {
			return nil, err
		}
		return svc.RunTests(r.PathValue("id"), body.Document, body.Names)
	}))
	mux.HandleFunc("POST /api/tests/record", h.json(func(r *http.Request) (any, error) {
		var body RecordRequest
		if err := decode(r, &body); err != nil {
			return nil, err
		}
		return svc.RecordTest(body)
	}))
}
