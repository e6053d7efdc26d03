package studio

import (
	"context"
	"fmt"
	"github.com/atoll-studio/atoll/internal/testnodes"
	"strings"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
	_ "github.com/atoll-studio/atoll/nodes/core"
)

func TestPreviewKeepsLatestRows(t *testing.T) {
	p := &Preview{keep: 3}
	for i := 0; i < 5; i++ {
		b := &rows.Batch{Rows: []rows.Row{{{Name: "n", Value: rows.Int(int64(2 * i))}}, {{Name: "n", Value: rows.Int(int64(2*i + 1))}}}}
		if err := p.Process(context.Background(), "in", b, nil); err != nil {
			t.Fatal(err)
		}
	}
	kept, total := p.Rows()
	if total != 10 || fmt.Sprint(kept) != fmt.Sprint([]rows.Row{
		{{Name: "n", Value: rows.Int(7)}}, {{Name: "n", Value: rows.Int(8)}}, {{Name: "n", Value: rows.Int(9)}}}) {
		t.Fatalf("kept %v of %d", kept, total)
	}
}

func TestPreviewInGraph(t *testing.T) {
	doc, err := graph.Parse([]byte(`{"version":1,"id":"g","name":"g","nodes":[
	 {"id":"gen","type":"source.generator","config":{"count":500,"rate":0}},
	 {"id":"show","type":"sink.preview","config":{"keep":10}}],
	 "edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"show","port":"in"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	// Studio-only: a headless build refuses it, naming the node.
	_, err = engine.Build(doc, engine.Options{Catalog: nodes.New(), Headless: true})
	if err == nil || !strings.Contains(err.Error(), `node "show"`) {
		t.Fatalf("headless build: %v", err)
	}
	bufs := NewBuffers()
	r, err := engine.Build(doc, engine.Options{Catalog: nodes.New(), Services: map[string]any{BuffersService: bufs}})
	if err != nil {
		t.Fatal(err)
	}
	testnodes.RunToEnd(t, r, 30*time.Second)
	p, ok := bufs.Get("show")
	if !ok {
		t.Fatal("the preview sink did not register its buffer")
	}
	kept, total := p.Rows()
	last, _ := kept[len(kept)-1].Get("n")
	if n, _ := last.AsInt(); total != 500 || len(kept) != 10 || n != 499 {
		t.Fatalf("kept %d rows of %d, last n %v", len(kept), total, last)
	}
}
