package core

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
)

// TestFastExprMatchesVM evaluates expressions both ways over many rows: wherever the fast path
// gives an answer it must be the VM's, converted to a row value.
func TestFastExprMatchesVM(t *testing.T) {
	exprs := []string{
		"n + 1", "a * 2", "b - n", "n / 2", "n % 3", "n % z", "x + n", "x * x - 1.5", "x / 0", "n / 0",
		"-n", "-x", "!ok", "not ok", "n > 3", "n >= x", "x < n", "x <= 0.5", "n == 4", "n != x", "s == 'owl'",
		"s < t", "s != t", "ok == true", "ok != (n > 2)", "n > 2 && ok", "n > 2 and x < 1", "ok || n > 100",
		"ok or s == 'x'", "n > 2 ? 'big' : 'small'", "ok ? n : x", "(n + a) * (b - 2) % 7", "n * 9223372036854775807",
		"missing + 1", "nul == nil", "s + t", "n ** 2", "n > 2 ? a : missing", "x == x", "nan < 1", "nan == nan",
		"ok && n", "2 + 3 * n", "1.5 + 2", "'a' < 'b'", "-(n - 10)", "n in [1, 2]", "abs(n)",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	vals := func() []rows.Value {
		return []rows.Value{rows.Int(int64(rng.IntN(21) - 10)), rows.Int(math.MaxInt64), rows.Int(math.MinInt64),
			rows.Float(rng.Float64()*4 - 2), rows.Float(0), rows.Bool(rng.IntN(2) == 0), rows.String([]string{"owl", "x", ""}[rng.IntN(3)]),
			rows.Null(), rows.Float(math.NaN())}
	}
	covered := 0
	for _, src := range exprs {
		x, err := compileRowExpr(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		env := newExprEnv()
		for i := 0; i < 2000; i++ {
			pick := func() rows.Value { v := vals(); return v[rng.IntN(len(v))] }
			r := rows.Row{{Name: "n", Value: pick()}, {Name: "a", Value: pick()}, {Name: "b", Value: pick()},
				{Name: "x", Value: pick()}, {Name: "z", Value: rows.Int(int64(rng.IntN(2)))}, {Name: "ok", Value: pick()},
				{Name: "s", Value: pick()}, {Name: "t", Value: pick()}, {Name: "nul", Value: rows.Null()}, {Name: "nan", Value: rows.Float(math.NaN())}}
			if x.fast == nil {
				break
			}
			got, ok := x.fast(r)
			if !ok {
				continue
			}
			covered++
			res, err := env.eval(x, r)
			if err != nil {
				t.Fatalf("%s over %v: fast path gave %v, the VM failed: %v", src, r, got, err)
			}
			want, err := rows.FromAny(res)
			if err != nil {
				t.Fatalf("%s over %v: fast path gave %v, the VM %T", src, r, got, res)
			}
			if !got.Equal(want) {
				t.Fatalf("%s over %v: fast path %v, VM %v", src, r, got, want)
			}
		}
	}
	if covered < 20000 {
		t.Fatalf("fast path answered only %d times", covered)
	}
}

// BenchmarkRowExpr is one map expression over one row, fast path and VM.
func BenchmarkRowExpr(b *testing.B) {
	x, err := compileRowExpr("n + 1")
	if err != nil {
		b.Fatal(err)
	}
	r := rows.Row{{Name: "n", Value: rows.Int(1000)}, {Name: "a", Value: rows.Int(5)}}
	b.Run("fast", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			r[0].Value = rows.Int(int64(i))
			if _, ok := x.fast(r); !ok {
				b.Fatal("not covered")
			}
		}
	})
	b.Run("vm", func(b *testing.B) {
		env := newExprEnv()
		for i := 0; b.Loop(); i++ {
			r[0].Value = rows.Int(int64(i))
			if _, err := env.eval(x, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type nullOutput struct{}

func (nullOutput) Emit(string, *rows.Batch) error              { return nil }
func (nullOutput) EmitAcked(string, *rows.Batch, func()) error { return nil }
func (nullOutput) Reject(rows.Row, error)                      {}
func (nullOutput) Log(string, string)                          {}
func (nullOutput) Gauge(string, float64)                       {}

// BenchmarkMapBatch is the passthrough benchmark's three map nodes over one batch of 256 rows,
// without the engine, the generator or the GC: ns/row of expression work.
func BenchmarkMapBatch(b *testing.B) {
	var maps []*mapNode
	for _, set := range []string{`{"set":{"a":"n + 1"}}`, `{"set":{"b":"a * 2"}}`, `{"set":{"a":"b - n"}}`} {
		n, err := mapSpec.New(engine.BuildContext{NodeID: "m"}, json.RawMessage(set))
		if err != nil {
			b.Fatal(err)
		}
		maps = append(maps, n.(*mapNode))
	}
	const size = 256
	fields := make([]rows.Field, size*3)
	batch := &rows.Batch{Rows: make([]rows.Row, size)}
	for b.Loop() {
		for i := range batch.Rows {
			batch.Rows[i] = append(fields[i*3:i*3:i*3+3], rows.Field{Name: "n", Value: rows.Int(int64(i))})
		}
		for _, m := range maps {
			if err := m.Process(context.Background(), "in", batch, nullOutput{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/row")
}
