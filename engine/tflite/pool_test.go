package tflite

import (
	"sync/atomic"
	"testing"
)

type countJob struct{ hits []atomic.Int32 }

func (j *countJob) Run(lo, hi int) {
	for i := lo; i < hi; i++ {
		j.hits[i].Add(1)
	}
}

// TestPoolRunsEveryIndexOnce runs jobs of many sizes on pools of 2 to 4 threads, back to back
// (so late workers meet the next run), and checks that every index ran exactly once.
func TestPoolRunsEveryIndexOnce(t *testing.T) {
	for _, threads := range []int{2, 3, 4} {
		p := newWorkerPool(threads - 1)
		c := &OpContext{Threads: threads, pool: p}
		for n := range 200 {
			j := &countJob{hits: make([]atomic.Int32, n)}
			for range 3 {
				c.parallel(n, j)
			}
			for i := range j.hits {
				if h := j.hits[i].Load(); h != 3 {
					t.Fatalf("threads %d, n %d: index %d ran %d times in 3 runs", threads, n, i, h)
				}
			}
		}
		p.close()
	}
}

// TestThreadsGiveIdenticalScores: splitting the work over threads (row and column blocks of the
// products, per-chunk maxima of the hybrid quantization) changes no bit of YAMNet's output.
func TestThreadsGiveIdenticalScores(t *testing.T) {
	frames := readTestFile(t, "models/yamnet/reference/birdnet_sample_frames.f32")
	var outs [][]float32
	for _, threads := range []int{1, 2, 3} {
		_, it := loadTestModel(t, "models/yamnet/yamnet.tflite", Options{Threads: threads})
		var all []float32
		for f := 0; f < 3 && (f+1)*15600*4 <= len(frames); f++ {
			if err := it.SetInput(0, frames[f*15600*4:(f+1)*15600*4]); err != nil {
				t.Fatal(err)
			}
			if err := it.Invoke(); err != nil {
				t.Fatal(err)
			}
			all = append(all, it.Output(0).Float32()...)
		}
		it.Close()
		outs = append(outs, all)
	}
	for k := 1; k < len(outs); k++ {
		for i := range outs[0] {
			if outs[k][i] != outs[0][i] {
				t.Fatalf("threads=%d: score %d is %g, one thread gives %g", k+1, i, outs[k][i], outs[0][i])
			}
		}
	}
}
