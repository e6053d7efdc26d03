package wasinn_test

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/atoll-studio/atoll/engine/rows"
)

// TestConcurrentInstances runs the classifier with the tiny sine model on 3 instances from 6
// goroutines at once (run it under -race): each instance has its own graph and context, every
// answer equals a direct interpreter call, and the Env ends with one graph and one context per
// instance.
func TestConcurrentInstances(t *testing.T) {
	fn, env, err := startGuest(t, map[string]string{"sine": "tflite/hello_world/hello_world_float.tflite"},
		map[string]any{"model": "sine", "window": 1, "rate": 0, "top_k": 1}, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	it, err := env.Model("sine").NewInterpreter()
	if err != nil {
		t.Fatal(err)
	}
	want := map[float32]float64{}
	for k := range 40 {
		x := float32(k) * 0.15
		it.Input(0).Float32()[0] = x
		if err := it.Invoke(); err != nil {
			t.Fatal(err)
		}
		want[x] = float64(it.Output(0).Float32()[0])
	}
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 20 {
				var b rows.Batch
				for k := range 40 {
					if (k+g+round)%3 == 0 {
						b.Rows = append(b.Rows, rows.Row{{Name: "samples", Value: rows.Float32s([]float32{float32(k) * 0.15})}, {Name: "x", Value: rows.Float(float64(float32(k) * 0.15))}})
					}
				}
				res, err := fn.Process(context.Background(), &b)
				if err != nil || len(res.Failed) > 0 || len(res.Out.Rows) != len(b.Rows) {
					errs <- fmt.Errorf("goroutine %d: %v %v (%d rows for %d)", g, err, res.Failed, len(res.Out.Rows), len(b.Rows))
					return
				}
				for _, r := range res.Out.Rows {
					x, _ := r.Get("x")
					xf, _ := x.AsFloat()
					s, _ := r.Get("score")
					sf, _ := s.AsFloat()
					if w := want[float32(xf)]; sf != w || math.Abs(sf-math.Sin(xf)) > 0.1 {
						errs <- fmt.Errorf("goroutine %d: sine(%g) = %g, want %g", g, xf, sf, w)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := env.Stats(); st.Instances != 3 || st.Graphs != 3 || st.Contexts != 3 {
		t.Fatalf("stats %+v, want one graph and context per instance", st)
	}
}
