package wasmhost_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/engine/wasmhost"
	"github.com/atoll-studio/atoll/engine/wasmhost/internal/bench"
	examples "github.com/atoll-studio/atoll/internal/wasmexamples"
)

// BenchmarkMoment runs the moment function natively and in each guest, metered and not, over
// batches of 1, 64 and 1024 rows. `make bench-wasm` prints the same as table rows.
func BenchmarkMoment(b *testing.B) {
	for _, size := range bench.BatchSizes {
		in := bench.MomentBatch(size)
		b.Run(fmt.Sprintf("native/batch=%d", size), func(b *testing.B) {
			b.SetBytes(0)
			for b.Loop() {
				bench.NativeMoment(in)
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "rows/s")
		})
		for _, guest := range momentGuests {
			for _, metered := range []bool{true, false} {
				name := fmt.Sprintf("%s/metered=%v/batch=%d", guest, metered, size)
				b.Run(name, func(b *testing.B) {
					f := newFunction(b, guest, wasmhost.Limits{NoMetering: !metered}, wasmhost.FunctionConfig{})
					ctx := context.Background()
					res, err := f.Process(ctx, in)
					if err != nil {
						b.Fatal(err)
					}
					if err := bench.SameAsNative(in, res.Out); err != nil {
						b.Fatalf("not the native function's output: %v", err)
					}
					for b.Loop() {
						if _, err := f.Process(ctx, in); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "rows/s")
				})
			}
		}
	}
}

// BenchmarkEmptyCall is the overhead of one call with an empty batch.
func BenchmarkEmptyCall(b *testing.B) {
	for _, guest := range momentGuests {
		b.Run(guest, func(b *testing.B) {
			f := newFunction(b, guest, wasmhost.Limits{}, wasmhost.FunctionConfig{})
			ctx := context.Background()
			empty := &rows.Batch{}
			for b.Loop() {
				if _, err := f.Process(ctx, empty); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkModuleStart loads a module found in the compilation cache and starts one instance.
func BenchmarkModuleStart(b *testing.B) {
	for _, guest := range momentGuests {
		b.Run(guest, func(b *testing.B) {
			wasm := examples.Bytes(b, guest)
			dir := b.TempDir()
			warm, err := wasmhost.NewRuntime(context.Background(), wasmhost.Config{CacheDir: dir, FuelPerMS: 1e6})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := warm.Load(context.Background(), wasm, wasmhost.Limits{}); err != nil {
				b.Fatal(err)
			}
			warm.Close(context.Background())
			for b.Loop() {
				r, err := wasmhost.NewRuntime(context.Background(), wasmhost.Config{CacheDir: dir, FuelPerMS: 1e6})
				if err != nil {
					b.Fatal(err)
				}
				m, err := r.Load(context.Background(), wasm, wasmhost.Limits{})
				if err != nil {
					b.Fatal(err)
				}
				f, err := m.NewFunction(wasmhost.FunctionConfig{})
				if err != nil {
					b.Fatal(err)
				}
				f.Close()
				r.Close(context.Background())
			}
		})
	}
}
