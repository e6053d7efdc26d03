package tflite

import (
	"fmt"
	"testing"
)

// TestInvokeAllocatesNothing checks that Invoke allocates nothing once an interpreter has run
// (the first Invoke creates the per-interpreter parallel jobs), for every model in the test
// data, with one thread and with two.
func TestInvokeAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates; run without -race")
	}
	models := []string{
		"models/yamnet/yamnet.tflite",
		"tflite/hello_world/hello_world_float.tflite",
		"tflite/hello_world/hello_world_int8.tflite",
		"tflite/micro_speech/audio_preprocessor_int8.tflite",
		"tflite/micro_speech/micro_speech_quantized.tflite",
		"tflite/seanet/conv/conv0.tflite",
		"tflite/seanet/add/add0.tflite",
		"tflite/seanet/pad/pad0.tflite",
	}
	for _, rel := range models {
		for _, threads := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/threads=%d", rel, threads), func(t *testing.T) {
				m := loadModelFile(t, rel, Options{Threads: threads})
				it := mustInterp(t, m)
				if n := testing.AllocsPerRun(5, func() {
					if err := it.Invoke(); err != nil {
						t.Fatal(err)
					}
				}); n != 0 {
					t.Errorf("%v allocations per Invoke", n)
				}
			})
		}
	}
}
