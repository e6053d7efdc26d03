package tflite

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/atoll-studio/atoll/internal/testdata"
)

func readTestFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(testdata.Path(t, rel))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	return b
}

func loadTestModel(t testing.TB, rel string, opts Options) (*Model, *Interpreter) {
	t.Helper()
	m, err := Load(readTestFile(t, rel), opts)
	if err != nil {
		t.Fatalf("load %s: %v", rel, err)
	}
	it, err := m.NewInterpreter()
	if err != nil {
		t.Fatalf("interpreter: %v", err)
	}
	t.Cleanup(it.Close)
	return m, it
}

func f32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func TestHelloWorldFloat(t *testing.T) {
	_, it := loadTestModel(t, "tflite/hello_world/hello_world_float.tflite", Options{Threads: 1})
	worst := 0.0
	for i := 0; i <= 100; i++ {
		x := float32(2 * math.Pi * float64(i) / 100)
		if err := it.SetInput(0, f32Bytes([]float32{x})); err != nil {
			t.Fatal(err)
		}
		if err := it.Invoke(); err != nil {
			t.Fatal(err)
		}
		y := it.Output(0).Float32()[0]
		worst = max(worst, math.Abs(float64(y)-math.Sin(float64(x))))
	}
	if worst > 0.05 {
		t.Fatalf("max |y - sin(x)| = %.4f, want <= 0.05", worst)
	}
	t.Logf("max |y - sin(x)| = %.4f", worst)
}

type yamnetRef struct {
	Frames []struct {
		Index  int       `json:"index"`
		Scores []float64 `json:"scores"`
	} `json:"frames"`
}

func argmax[T float32 | float64](x []T) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// yamnetCheck runs every frame of a reference set and returns the worst absolute score diff.
func yamnetCheck(t *testing.T, it *Interpreter, framesFile, refFile string) float64 {
	t.Helper()
	raw := readTestFile(t, "models/yamnet/reference/"+framesFile)
	var ref yamnetRef
	if err := json.Unmarshal(readTestFile(t, "models/yamnet/reference/"+refFile), &ref); err != nil {
		t.Fatal(err)
	}
	const frame = 15600 * 4
	if len(raw) != frame*len(ref.Frames) {
		t.Fatalf("%s: %d bytes for %d frames", framesFile, len(raw), len(ref.Frames))
	}
	worst := 0.0
	for f, rf := range ref.Frames {
		if err := it.SetInput(0, raw[f*frame:(f+1)*frame]); err != nil {
			t.Fatal(err)
		}
		if err := it.Invoke(); err != nil {
			t.Fatal(err)
		}
		got := it.Output(0).Float32()
		if len(got) != 521 || len(rf.Scores) != 521 {
			t.Fatalf("frame %d: %d scores, reference %d", f, len(got), len(rf.Scores))
		}
		fw := 0.0
		for i, v := range got {
			fw = max(fw, math.Abs(float64(v)-rf.Scores[i]))
		}
		if fw > 0.02 {
			t.Errorf("%s frame %d: max score diff %.4f > 0.02", framesFile, f, fw)
		}
		if a, b := argmax(got), argmax(rf.Scores); a != b {
			t.Errorf("%s frame %d: top-1 %d (%.3f), reference %d (%.3f)", framesFile, f, a, got[a], b, rf.Scores[b])
		}
		t.Logf("%s frame %d: top-1 %d %.4f, max diff %.3g", framesFile, f, argmax(got), got[argmax(got)], fw)
		worst = max(worst, fw)
	}
	return worst
}

func TestYAMNetConformance(t *testing.T) {
	for _, threads := range []int{1, 2} {
		m, it := loadTestModel(t, "models/yamnet/yamnet.tflite", Options{Threads: threads})
		if in := m.Inputs(); len(in) != 1 || in[0].Type != Float32 {
			t.Fatalf("inputs %+v", in)
		}
		w1 := yamnetCheck(t, it, "birdnet_sample_frames.f32", "yamnet_ref_birdnet_sample.json")
		w2 := yamnetCheck(t, it, "synthetic_frames.f32", "yamnet_ref_synthetic.json")
		t.Logf("threads=%d: max |score - reference|: birdnet_sample %.3g, synthetic %.3g", threads, w1, w2)
	}
}
