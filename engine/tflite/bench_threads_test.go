//go:build unix

package tflite

import (
	"slices"
	"syscall"
	"testing"
	"time"
)

// cpuNow returns the process's user+system CPU time.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkYAMNetThreadsAB alternates one Invoke on a 1-thread and one on a 2-thread
// interpreter of YAMNet, so that both see the same load on a shared machine. Metrics: median
// wall ms per Invoke for each, their ratio (speedup), and mean process CPU ms per Invoke (the
// cost of the second thread; on a saturated machine the 2-thread wall time equals its CPU time).
func BenchmarkYAMNetThreadsAB(b *testing.B) {
	frames := readTestFile(b, "models/yamnet/reference/birdnet_sample_frames.f32")
	_, it1 := loadTestModel(b, "models/yamnet/yamnet.tflite", Options{Threads: 1})
	_, it2 := loadTestModel(b, "models/yamnet/yamnet.tflite", Options{Threads: 2})
	for _, it := range []*Interpreter{it1, it2} {
		if err := it.SetInput(0, frames[:15600*4]); err != nil {
			b.Fatal(err)
		}
		if err := it.Invoke(); err != nil {
			b.Fatal(err)
		}
	}
	var t1, t2 []time.Duration
	var c1, c2 time.Duration
	for b.Loop() {
		t0, u0 := time.Now(), cpuNow()
		if err := it1.Invoke(); err != nil {
			b.Fatal(err)
		}
		t1 = append(t1, time.Since(t0))
		u1 := cpuNow()
		c1 += u1 - u0
		t0 = time.Now()
		if err := it2.Invoke(); err != nil {
			b.Fatal(err)
		}
		t2 = append(t2, time.Since(t0))
		c2 += cpuNow() - u1
	}
	slices.Sort(t1)
	slices.Sort(t2)
	n := float64(len(t1))
	b.ReportMetric(float64(t1[len(t1)/2].Microseconds())/1e3, "ms-1thread")
	b.ReportMetric(float64(t2[len(t2)/2].Microseconds())/1e3, "ms-2threads")
	b.ReportMetric(t1[len(t1)/2].Seconds()/t2[len(t2)/2].Seconds(), "speedup")
	b.ReportMetric(c1.Seconds()*1e3/n, "cpu-ms-1thread")
	b.ReportMetric(c2.Seconds()*1e3/n, "cpu-ms-2threads")
}
