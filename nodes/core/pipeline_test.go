package core

import (
	"context"
	"fmt"
	"github.com/atoll-studio/atoll/internal/testnodes"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

// capture is the shared test sink.
type capture = testnodes.Capture

// catalogWithCapture returns the default catalog plus "test.capture" sinks that all write to c.
func catalogWithCapture(c *capture) *engine.Catalog {
	cat := nodes.New()
	testnodes.Register(cat, "test.capture", c)
	return cat
}

func mustGraph(t testing.TB, js string) *graph.Document {
	t.Helper()
	d, err := graph.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func runGraph(t testing.TB, doc *graph.Document, cat *engine.Catalog) *engine.Run {
	t.Helper()
	r, err := engine.Build(doc, engine.Options{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	testnodes.RunToEnd(t, r, 30*time.Second)
	return r
}

func TestGeneratorMapFilter(t *testing.T) {
	var c capture
	doc := mustGraph(t, `{"version":1,"id":"g","name":"g","nodes":[
		{"id":"gen","type":"source.generator","config":{"count":1000,"rate":0,"batch_size":64}},
		{"id":"double","type":"transform.map","config":{"set":{"d":"n * 2","half":"n / 2"},"drop":["half"]}},
		{"id":"even","type":"transform.filter","config":{"condition":"n % 4 == 0"}},
		{"id":"cap","type":"test.capture"}],
		"edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"double","port":"in"}},
		{"from":{"node":"double","port":"out"},"to":{"node":"even","port":"in"}},
		{"from":{"node":"even","port":"out"},"to":{"node":"cap","port":"in"}}]}`)
	r := runGraph(t, doc, catalogWithCapture(&c))
	got := c.Rows()
	if len(got) != 250 {
		t.Fatalf("got %d rows, want 250", len(got))
	}
	for i, row := range got {
		want := rows.Row{{Name: "n", Value: rows.Int(int64(i * 4))}, {Name: "d", Value: rows.Int(int64(i * 8))}}
		if !row.Equal(want) {
			t.Fatalf("row %d: got %v, want %v", i, row, want)
		}
	}
	m := r.Metrics()
	if m["gen"].RowsOut != 1000 || m["even"].RowsIn != 1000 || m["even"].RowsOut != 250 || m["cap"].RowsIn != 250 {
		t.Fatalf("metrics: %+v", m)
	}
}

func TestBadRowsGoToErrors(t *testing.T) {
	var c capture
	// Division by zero at n == 0 only: that row fails, the rest go on.
	doc := mustGraph(t, `{"version":1,"id":"g","name":"g","nodes":[
		{"id":"gen","type":"source.generator","config":{"count":10,"rate":0}},
		{"id":"inv","type":"transform.filter","config":{"condition":"n == 3 ? 'x' : true"}},
		{"id":"cap","type":"test.capture"}],
		"edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"inv","port":"in"}},
		{"from":{"node":"inv","port":"errors"},"to":{"node":"cap","port":"in"}}]}`)
	r := runGraph(t, doc, catalogWithCapture(&c))
	got := c.Rows()
	if len(got) != 1 {
		t.Fatalf("got %d error rows, want 1: %v", len(got), got)
	}
	n, _ := got[0].Get("n")
	reason, _ := got[0].Get(engine.ErrorField)
	node, _ := got[0].Get(engine.ErrorNodeField)
	if !n.Equal(rows.Int(3)) || !node.Equal(rows.String("inv")) || reason.String() == "" {
		t.Fatalf("error row: %v", got[0])
	}
	if m := r.Metrics()["inv"]; m.Errors != 1 || m.RowsOut != 9 {
		t.Fatalf("metrics: %+v", m)
	}
}

// BenchmarkPassthrough runs generator → 3 map nodes → discard with batches of 256 and reports
// rows/s and allocations per row. Run with GOMAXPROCS=1 for the figure in the README.
func BenchmarkPassthrough(b *testing.B) {
	const rowsPerRun = 1 << 20
	doc := mustGraph(b, fmt.Sprintf(`{"version":1,"id":"g","name":"g","nodes":[
		{"id":"gen","type":"source.generator","config":{"count":%d,"rate":0,"batch_size":256}},
		{"id":"m1","type":"transform.map","config":{"set":{"a":"n + 1"}}},
		{"id":"m2","type":"transform.map","config":{"set":{"b":"a * 2"}}},
		{"id":"m3","type":"transform.map","config":{"set":{"a":"b - n"}}},
		{"id":"sink","type":"sink.discard"}],
		"edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"m1","port":"in"}},
		{"from":{"node":"m1","port":"out"},"to":{"node":"m2","port":"in"}},
		{"from":{"node":"m2","port":"out"},"to":{"node":"m3","port":"in"}},
		{"from":{"node":"m3","port":"out"},"to":{"node":"sink","port":"in"}}]}`, rowsPerRun))
	b.ReportAllocs()
	for b.Loop() {
		r, err := engine.Build(doc, engine.Options{Catalog: nodes.Default})
		if err != nil {
			b.Fatal(err)
		}
		r.Start(context.Background())
		if err := r.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	total := float64(b.N) * rowsPerRun
	b.ReportMetric(total/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(0, "ns/op")
}
