package wasinn_test

import (
	"bufio"
	"context"
	"encoding/json"
	"github.com/atoll-studio/atoll/examples"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/nodes"
)

// graphAssets resolves asset paths against the graph's directory (the documented rule for
// relative paths in graphs).
type graphAssets string

func (d graphAssets) Asset(ref string) ([]byte, error) {
	if !filepath.IsAbs(ref) {
		ref = filepath.Join(string(d), ref)
	}
	return os.ReadFile(ref)
}

// TestIntegrationBirdsGraph runs examples/graphs/birds_yamnet.json headless with the
// default catalog (nodes/all): tawnyowl.wav → resample → frame → function.wasm (the classifier
// guest, YAMNet through wasi-nn, labels from a file) → detect (106–116) → sink.file. The
// detections must be bird-family events, and "Bird" must span most of the recording.
func TestIntegrationBirdsGraph(t *testing.T) {
	classifierWasm(t)
	for _, rel := range []string{"audio/birds/tawnyowl.wav", "models/yamnet/yamnet.tflite", "models/yamnet/yamnet_class_map.csv"} {
		readData(t, rel) // fail loudly, naming the file, when the test data is absent
	}
	// A copy of the examples with the functions and the shared test data linked, as the studio
	// and the other example tests run them.
	ws := t.TempDir()
	if err := os.CopyFS(ws, examples.FS); err != nil {
		t.Fatal(err)
	}
	if missing, err := examples.Link(ws, filepath.Join(repoRoot(), "examples")); err != nil || len(missing) > 0 {
		t.Fatalf("link the example functions and test data: %v (missing %v)", err, missing)
	}
	dir := filepath.Join(ws, "graphs")
	doc, err := graph.ReadFile(filepath.Join(dir, "birds_yamnet.json"))
	if err != nil {
		t.Fatal(err)
	}
	spec, ok := nodes.Default.Lookup("function.wasm")
	if !ok {
		t.Fatalf("function.wasm is not in the default catalog: nodes/all must import nodes/function (see engine/wasinn/RATIONALE.md, \"Wiring\")")
	}
	hasModels := false
	for _, f := range spec.Fields {
		hasModels = hasModels || f.Name == "models"
	}
	if !hasModels {
		t.Fatalf("function.wasm has no `models` field: the wasi-nn hook is not wired into nodes/function/wasm_function.go (see engine/wasinn/RATIONALE.md, \"Wiring\")")
	}
	out := filepath.Join(t.TempDir(), "birds.jsonl")
	for i, n := range doc.Nodes {
		if n.Type == "sink.file" {
			var cfg map[string]any
			if err := json.Unmarshal(n.Config, &cfg); err != nil {
				t.Fatal(err)
			}
			cfg["path"] = out
			doc.Nodes[i].Config, _ = json.Marshal(cfg)
		}
	}
	if probs := engine.Validate(doc, nodes.Default, engine.ValidateOptions{Headless: true}); len(probs) > 0 {
		t.Fatalf("birds_yamnet.json: %v", probs)
	}
	var mu sync.Mutex
	var logs []engine.LogEntry
	r, err := engine.Build(doc, engine.Options{
		Catalog: nodes.Default, Headless: true, Assets: graphAssets(dir),
		Services: map[string]any{"base_dir": dir},
		Log: func(e engine.LogEntry) {
			mu.Lock()
			logs = append(logs, e)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	r.Start(ctx)
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	for _, e := range logs {
		if e.Level == "error" || (e.Level == "warn" && e.Node == "yamnet") {
			t.Errorf("node %q logged %s: %s", e.Node, e.Level, e.Msg)
		}
	}
	if m := r.Metrics()["yamnet"]; m.Errors > 0 || m.RowsIn < 25 {
		t.Fatalf("classifier: %+v", m)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var events []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	if len(events) == 0 {
		t.Fatal("no detections")
	}
	var birdSpan float64
	for _, ev := range events {
		idx := ev["index"].(float64)
		if idx < 106 || idx > 116 {
			t.Errorf("detection outside the bird family: %v", ev)
		}
		if ev["label"] == "Bird" {
			birdSpan += ev["t_end"].(float64) - ev["t_start"].(float64)
		}
	}
	t.Logf("%d detections; \"Bird\" spans %.1f s of 15 s", len(events), birdSpan)
	if birdSpan < 7.5 {
		t.Fatalf("\"Bird\" detected over %.1f s, want most of the 15 s recording", birdSpan)
	}
}
