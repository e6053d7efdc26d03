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
