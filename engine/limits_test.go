package engine_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
)

// A run whose rows failed into an errors port with no edge says so in its result, by node, with
// the first reason; with the port wired, nothing is reported.
func TestUnwiredErrorsReported(t *testing.T) {
	h := newHarness(t)
	r := h.run(doc(t, []gnode{src("s", sourceConfig{Count: 100, Batch: 10, Reject: 99}),
		pass("p", func(c *passConfig) { c.RejectOn = 5; c.FailOn = 42 }), sink("k", sinkConfig{})},
		"s.out->p.in", "p.out->k.in"), engine.Options{})
	u := r.UnwiredErrors()
	if u == nil {
		t.Fatal("no unwired errors reported")
	}
	if u.Rows() != 12 || len(u.Nodes) != 2 || u.Nodes[0].Node != "p" || u.Nodes[0].Rows != 11 || u.Nodes[1].Node != "s" || u.Nodes[1].Rows != 1 {
		t.Fatalf("unwired errors %+v, want 11 on p and 1 on s", u)
	}
	if u.Nodes[0].First != "bad n=5" || u.Nodes[1].First != "rejected by source" {
		t.Errorf("first reasons %q, %q", u.Nodes[0].First, u.Nodes[1].First)
	}
	if want := `12 rows failed with no edge from their errors port: node "p": 11 (first: bad n=5); node "s": 1 (first: rejected by source)`; u.Error() != want {
		t.Errorf("error %q\nwant  %q", u.Error(), want)
	}
	if m := r.Metrics(); m["p"].Unwired != 11 || m["s"].Unwired != 1 {
		t.Errorf("metrics unwired_errors: p %d, s %d", m["p"].Unwired, m["s"].Unwired)
	}

	h = newHarness(t)
	r = h.run(doc(t, []gnode{src("s", sourceConfig{Count: 100, Batch: 10}),
		pass("p", func(c *passConfig) { c.RejectOn = 5 }), sink("k", sinkConfig{}), sink("errs", sinkConfig{})},
		"s.out->p.in", "p.out->k.in", "p.errors->errs.in"), engine.Options{})
	if u := r.UnwiredErrors(); u != nil {
		t.Fatalf("wired errors reported as unwired: %v", u)
	}
}

// guestCatalog has one node type whose config caps guest memory as function.wasm's does.
func guestCatalog() *engine.Catalog {
	cat := engine.NewCatalog()
	cat.Register(engine.Spec{
		ID: "test.guest", Category: "function", Summary: "Claims guest memory.", Headless: true,
		Fields: []engine.Field{
			{Name: "memory_pages", Type: "integer", Default: 1024, Min: engine.Num(1), Max: engine.Num(65536)},
			{Name: "instances", Type: "integer", Default: 1, Min: engine.Num(1), Max: engine.Num(64)},
		},
		GuestMemory: &engine.GuestMemory{Pages: "memory_pages", Instances: "instances", PageBytes: 65536},
		New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
			return &testSource{h: &harness{}, id: bc.NodeID, cfg: sourceConfig{Count: 0, Batch: 1, Reject: -1}}, nil
		},
	})
	return cat
}

func guestDoc(configs ...string) *graph.Document {
	d := &graph.Document{Version: graph.FormatVersion, ID: "g", Name: "g"}
	for i, c := range configs {
		d.Nodes = append(d.Nodes, graph.Node{ID: fmt.Sprintf("fn%d", i+1), Type: "test.guest", Config: json.RawMessage(c)})
	}
	return d
}

// A graph whose nodes' guest memory caps (memory_pages × instances) add up to more than the
// run's budget is refused at validation, each claiming node named with its cap; one node could
// claim 256 GiB before.
func TestGuestMemoryBudget(t *testing.T) {
	cat := guestCatalog()
	for _, tc := range []struct {
		name    string
		doc     *graph.Document
		budget  int64
		refused []string
	}{
		{"defaults fit", guestDoc(`{}`, `{"instances":4}`), 0, nil},
		{"one node claims 256 GiB", guestDoc(`{"memory_pages":65536,"instances":64}`, `{}`), 0, []string{"fn1", "fn2"}},
		{"sixteen default instances fit 1 GiB", guestDoc(`{"instances":16}`), 0, nil},
		{"seventeen do not", guestDoc(`{"instances":16}`, `{"memory_pages":1}`), 0, []string{"fn1", "fn2"}},
		{"a smaller budget", guestDoc(`{"instances":2}`), 100 << 20, []string{"fn1"}},
		{"no budget", guestDoc(`{"memory_pages":65536,"instances":64}`), -1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probs := engine.Validate(tc.doc, cat, engine.ValidateOptions{GuestMemoryBudget: tc.budget})
			var nodes []string
			for _, p := range probs {
				nodes = append(nodes, p.Node)
				if !strings.Contains(p.Message, "guest memory: this node may claim") || p.Field != "memory_pages" {
					t.Errorf("problem %v", p)
				}
			}
			if strings.Join(nodes, ",") != strings.Join(tc.refused, ",") {
				t.Fatalf("problems on %v, want %v: %v", nodes, tc.refused, probs)
			}
		})
	}
	probs := engine.Validate(guestDoc(`{"memory_pages":65536,"instances":64}`), cat, engine.ValidateOptions{})
	want := `node "fn1" config memory_pages: guest memory: this node may claim 262144 MiB (memory_pages 65536 × 64 KiB × instances 64); the graph's 1 guest nodes may claim 262144 MiB together, over the run's budget of 1024 MiB (--guest-memory-mb)`
	if len(probs) != 1 || probs[0].String() != want {
		t.Errorf("problem %v\nwant %s", probs, want)
	}
	// The budget reaches Build through the run's services (how the studio passes it).
	_, err := engine.Build(guestDoc(`{"instances":2}`), engine.Options{Catalog: cat, Services: map[string]any{engine.GuestMemoryBudgetService: int64(100 << 20)}})
	if err == nil || !strings.Contains(err.Error(), "over the run's budget of 100 MiB") {
		t.Errorf("build with a 100 MiB budget: %v", err)
	}
}
