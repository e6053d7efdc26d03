package examples_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/flowtest"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/examples/functions/go/moment/momentfn"
	"github.com/atoll-studio/atoll/internal/wasmexamples"
	"github.com/atoll-studio/atoll/nodes"
	"github.com/atoll-studio/atoll/nodes/core"
)

// nativeMoment is the moment function as a native node: momentfn.Apply on every row, failures
// to errors. Only this test registers it.
type nativeMoment struct{}

func (nativeMoment) Process(_ context.Context, _ string, b *rows.Batch, out engine.Output) error {
	keep := b.Rows[:0]
	for _, r := range b.Rows {
		o, err := momentfn.Apply(r)
		if err != nil {
			out.Reject(r, err)
			continue
		}
		keep = append(keep, o)
	}
	b.Rows = keep
	return out.Emit("out", b)
}

// TestMomentExampleTests runs the moment example's flow tests (generator_moment_to_file.test.json:
// a whole day at one-second steps, REEF's four counts) with the Go, C and Rust guests, and the
// whole-day test again with the native function in place of the Wasm node.
func TestMomentExampleTests(t *testing.T) {
	wasmexamples.Path(t, "go-moment") // builds the modules, or fails naming the make target
	g := graphNamed(t, "generator_moment_to_file")
	root := copyExamples(t, g)
	dir := filepath.Join(root, "graphs")
	gp := filepath.Join(dir, "generator_moment_to_file.json")
	doc, err := graph.ReadFile(gp)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := flowtest.Load(filepath.Join(dir, "generator_moment_to_file.test.json"))
	if err != nil {
		t.Fatal(err)
	}
	env := flowtest.Env{Catalog: nodes.New(), Assets: fileAssets(dir), Services: map[string]any{core.BaseDirService: dir}, Dir: dir, Headless: true}
	guests := map[string]bool{}
	for i := range tf.Tests {
		tt := &tf.Tests[i]
		res, err := flowtest.Run(t.Context(), doc, tt, env)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Passed {
			t.Errorf("%s: %s", tt.Name, res.First())
		}
		if guest, _, ok := strings.Cut(tt.Name, " guest: a whole day"); ok {
			guests[guest] = true
		}
	}
	if len(guests) != 3 || !guests["go"] || !guests["c"] || !guests["rust"] {
		t.Fatalf("whole-day tests for the guests %v, want go, c and rust", guests)
	}

	cat := nodes.New()
	cat.Register(engine.Spec{ID: "function.moment_native", Category: "function", Summary: "momentfn natively", Headless: true,
		Inputs: []engine.Port{{Name: "in", Type: "any"}}, Outputs: []engine.Port{{Name: "out", Type: "rows"}},
		New: func(engine.BuildContext, json.RawMessage) (engine.Node, error) { return nativeMoment{}, nil }})
	native := *doc
	native.Nodes = append([]graph.Node(nil), doc.Nodes...)
	for i := range native.Nodes {
		if native.Nodes[i].ID == "moment" {
			native.Nodes[i].Type, native.Nodes[i].Config = "function.moment_native", nil
		}
	}
	env.Catalog = cat
	day := tf.Tests[0]
	if !strings.HasPrefix(day.Name, "go guest: a whole day") {
		t.Fatalf("the first test is %q, want the Go guest's whole day", day.Name)
	}
	delete(day.Config, "moment")
	res, err := flowtest.Run(t.Context(), &native, &day, env)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed {
		t.Fatalf("native: %s", res.First())
	}
}
