package tflite

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"
)

// BenchmarkYAMNet times one 0.975 s frame. Sub-benchmarks: threads=1 (run it with
// GOMAXPROCS=1 / -cpu 1 for the single-core figure) and threads=all. Reported metrics: ms/frame
// (median of per-iteration times), x-realtime and GFLOP/s (2 × model MACs counted at load).
func BenchmarkYAMNet(b *testing.B) {
	frames := readTestFile(b, "models/yamnet/reference/birdnet_sample_frames.f32")
	counts := []int{1}
	if n := runtime.GOMAXPROCS(0); n > 1 {
		counts = append(counts, n)
	}
	for _, threads := range counts {
		name := fmt.Sprintf("threads=%d", threads)
		if threads > 1 {
			name = "threads=all"
		}
		b.Run(name, func(b *testing.B) {
			m, it := loadTestModel(b, "models/yamnet/yamnet.tflite", Options{Threads: threads})
			if err := it.SetInput(0, frames[:15600*4]); err != nil {
				b.Fatal(err)
			}
			if err := it.Invoke(); err != nil { // warm-up: the first Invoke creates the parallel jobs
				b.Fatal(err)
			}
			times := make([]time.Duration, 0, 1024)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				if err := it.Invoke(); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(t0))
			}
			slices.Sort(times)
			med := times[len(times)/2].Seconds()
			b.ReportMetric(med*1e3, "ms/frame")
			b.ReportMetric(0.975/med, "x-realtime")
			b.ReportMetric(float64(2*m.macs)/med/1e9, "GFLOP/s")
		})
	}
}
