package wasinn_test

import (
	"context"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/atoll-studio/atoll/engine/rows"
)

// BenchmarkYAMNetFrame times one 0.975 s YAMNet frame two ways, in alternating blocks on the
// same frames so that both see the same machine load: the direct interpreter call (SetInput, Invoke, copy
// out the 521 scores) and the classifier guest through wasi-nn (a one-row batch through the
// Wasm function: codec, set_input, compute, get_output, top 5, output rows). Both use one
// interpreter thread; run with GOMAXPROCS=1 (`make bench-wasinn`) for the one-core figure.
// Metrics: medians of per-frame times (direct, guest, and the host compute inside the guest
// call); the glue: the median of the guest call's time minus the host compute inside it (codec,
// copies, host calls, guest code); overhead-%: glue over the direct median — the guest path's
// extra work, measured inside each call so that machine load does not blur it; wall-diff-%: the
// median over adjacent block pairs of the guest block's median over the direct block's, which
// on a loaded machine stays noisy.
func BenchmarkYAMNetFrame(b *testing.B) {
	raw := readData(b, "models/yamnet/reference/birdnet_sample_frames.f32")
	n := len(raw) / 4 / 15600
	all := unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(raw))), n*15600)
	batches := make([]*rows.Batch, n)
	for i := range batches {
		batches[i] = &rows.Batch{Rows: []rows.Row{{
			{Name: "samples", Value: rows.Float32s(slices.Clone(all[i*15600 : (i+1)*15600]))},
			{Name: "rate", Value: rows.Int(16000)},
			{Name: "t_start", Value: rows.Float(float64(i) * 0.5)},
			{Name: "t_end", Value: rows.Float(float64(i)*0.5 + 0.975)},
		}}}
	}
	fn, env := classifier(b, map[string]any{"model": "yamnet", "top_k": 5}, 1)
	// The direct path runs the very model the guest's context runs (same weights in memory),
	// with its own interpreter, as a second context would.
	it, err := env.Model("yamnet").NewInterpreter()
	if err != nil {
		b.Fatal(err)
	}
	defer it.Close()
	ctx := context.Background()
	scores := make([]float32, 521)

	var direct, guest, glue, inner []time.Duration
	runDirect := func(samples []float32) time.Duration {
		t0 := time.Now()
		if err := it.SetInput(0, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(samples))), 4*len(samples))); err != nil {
			b.Fatal(err)
		}
		if err := it.Invoke(); err != nil {
			b.Fatal(err)
		}
		copy(scores, it.Output(0).Float32())
		return time.Since(t0)
	}
	runGuest := func(frame *rows.Batch) (time.Duration, time.Duration) {
		c0 := env.Stats().ComputeTime
		t0 := time.Now()
		res, err := fn.Process(ctx, frame)
		el := time.Since(t0)
		if err != nil || len(res.Failed) > 0 || len(res.Out.Rows) != 5 {
			b.Fatalf("guest: %v %v", err, res.Failed)
		}
		return el, el - (env.Stats().ComputeTime - c0)
	}
	b.ResetTimer()
	k := 0
	for b.Loop() {
		// Blocks of 8 frames per path, alternating: each path runs back to back as a node would
		// (its own caches warm), and both see the same machine load.
		frame := batches[k%n]
		samples, _ := frame.Rows[0][0].Value.AsFloat32s()
		if (k/8)%2 == 0 {
			direct = append(direct, runDirect(samples))
		} else {
			g, gl := runGuest(frame)
			guest, glue, inner = append(guest, g), append(glue, gl), append(inner, g-gl)
		}
		k++
	}
	b.StopTimer()
	med := func(d []time.Duration) float64 {
		slices.Sort(d)
		return d[len(d)/2].Seconds()
	}
	if len(direct) == 0 || len(guest) == 0 {
		return // the calibration round of b.Loop
	}
	// The wall-clock difference: per pair of adjacent blocks (same load), then the median.
	var pairs []float64
	for j := 0; 8*j+8 <= len(guest) && 8*j+8 <= len(direct); j++ {
		d := med(slices.Clone(direct[8*j : 8*j+8]))
		g := med(slices.Clone(guest[8*j : 8*j+8]))
		pairs = append(pairs, (g-d)/d*100)
	}
	slices.Sort(pairs)
	dm, gm := med(direct), med(guest)
	b.ReportMetric(dm*1e3, "direct-ms/frame")
	b.ReportMetric(gm*1e3, "guest-ms/frame")
	gl := med(glue)
	b.ReportMetric(gl*1e6, "glue-us/frame")
	b.ReportMetric(gl/dm*100, "overhead-%")
	if len(pairs) > 0 {
		b.ReportMetric(pairs[len(pairs)/2], "wall-diff-%")
	}
	b.ReportMetric(med(inner)*1e3, "guest-compute-ms/frame")
	b.ReportMetric(0, "ns/op")
}
