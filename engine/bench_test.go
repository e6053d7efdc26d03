package engine_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
)

// benchSource emits count rows {n} in batches of 256. It allocates them as the core generator
// does (one field slab per batch) or, with shared, emits the same read-only batch again and
// again, so that only the engine's per-batch costs remain.
type benchSource struct {
	count  int
	shared bool
}

func (s benchSource) Run(ctx context.Context, out engine.Output) error {
	const size = 256
	var one *rows.Batch
	for n := 0; n < s.count; n += size {
		if ctx.Err() != nil {
			return nil
		}
		b := one
		if b == nil {
			b = &rows.Batch{Rows: make([]rows.Row, size)}
			fields := make([]rows.Field, size*3)
			for i := range b.Rows {
				f := fields[i*3 : i*3 : i*3+3]
				b.Rows[i] = append(f, rows.Field{Name: "n", Value: rows.Int(int64(n + i))})
			}
			if s.shared {
				one = b
			}
		}
		if err := out.Emit("out", b); err != nil {
			return nil
		}
	}
	return nil
}

type benchPass struct{}

func (benchPass) Process(_ context.Context, _ string, b *rows.Batch, out engine.Output) error {
	return out.Emit("out", b)
}

type benchDiscard struct{}

func (benchDiscard) Process(context.Context, string, *rows.Batch, engine.Output) error { return nil }

// BenchmarkEngine measures the engine alone: a source → 3 processors that pass batches on → a
// sink that drops them, batches of 256. "passthrough" allocates every batch as the core
// generator does (allocation and GC then dominate); "shared" re-emits one read-only batch, the
// engine's own ceiling; "tapped" is shared with a drained tap on every edge (default
// throttling), to show that taps cost nothing measurable. Run with GOMAXPROCS=1 (make
// bench-engine).
func BenchmarkEngine(b *testing.B) {
	const rowsPerRun = 1 << 20
	cat := engine.NewCatalog()
	cat.Register(engine.Spec{ID: "bench.source", Outputs: []engine.Port{{Name: "out", Type: "rows"}},
		New: func(engine.BuildContext, json.RawMessage) (engine.Node, error) {
			return benchSource{count: rowsPerRun}, nil
		}})
	cat.Register(engine.Spec{ID: "bench.shared", Outputs: []engine.Port{{Name: "out", Type: "rows"}},
		New: func(engine.BuildContext, json.RawMessage) (engine.Node, error) {
			return benchSource{count: rowsPerRun, shared: true}, nil
		}})
	cat.Register(engine.Spec{ID: "bench.pass", Inputs: []engine.Port{{Name: "in", Type: "any"}}, Outputs: []engine.Port{{Name: "out", Type: "rows"}},
		New: func(engine.BuildContext, json.RawMessage) (engine.Node, error) { return benchPass{}, nil }})
	cat.Register(engine.Spec{ID: "bench.discard", Inputs: []engine.Port{{Name: "in", Type: "any"}},
		New: func(engine.BuildContext, json.RawMessage) (engine.Node, error) { return benchDiscard{}, nil }})
	for _, tc := range []struct {
		name, source string
		tapped       bool
	}{{"passthrough", "bench.source", false}, {"shared", "bench.shared", false}, {"tapped", "bench.shared", true}} {
		d := doc(b, []gnode{{id: "s", typ: tc.source}, {id: "p1", typ: "bench.pass"}, {id: "p2", typ: "bench.pass"},
			{id: "p3", typ: "bench.pass"}, {id: "k", typ: "bench.discard"}},
			"s.out->p1.in", "p1.out->p2.in", "p2.out->p3.in", "p3.out->k.in")
		tapped := tc.tapped
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r, err := engine.Build(d, engine.Options{Catalog: cat})
				if err != nil {
					b.Fatal(err)
				}
				if tapped {
					for _, id := range []string{"s", "p1", "p2", "p3"} {
						tap, err := r.Tap(id, "out", engine.TapOptions{Interval: 50 * time.Millisecond})
						if err != nil {
							b.Fatal(err)
						}
						go func() {
							for range tap.C() {
							}
						}()
					}
				}
				r.Start(context.Background())
				if err := r.Wait(); err != nil {
					b.Fatal(err)
				}
			}
			total := float64(b.N) * rowsPerRun
			b.ReportMetric(total/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
