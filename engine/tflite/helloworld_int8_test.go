package tflite

import (
	"math"
	"os"
	"testing"

	"github.com/atoll-studio/atoll/internal/testdata"
)

// loadModelFile loads a model from the shared test data, failing loudly when it is absent.
func loadModelFile(t testing.TB, rel string, opts Options) *Model {
	t.Helper()
	b, err := os.ReadFile(testdata.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(b, opts)
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return m
}

// dequantizedForward runs a stack of FULLY_CONNECTED layers in float64 with dequantized weights
// and biases (ReLU on all but the last): what the int8 model computes before activation
// quantization.
func dequantizedForward(m *Model, x float64) float64 {
	v := []float64{x}
	for i, op := range m.ops {
		w, b := op.ctx.Inputs[1], op.ctx.Inputs[2]
		ws, bs := float64(w.Quant.Scale[0]), float64(b.Quant.Scale[0])
		out := make([]float64, w.Shape[0])
		for o := range out {
			s := bs * float64(b.Int32()[o])
			for k := range v {
				s += ws * float64(w.Int8()[o*w.Shape[1]+k]) * v[k]
			}
			if i < len(m.ops)-1 {
				s = math.Max(s, 0)
			}
			out[o] = s
		}
		v = out
	}
	return v[0]
}

// TestHelloWorldInt8 runs tflite-micro's int8 sine model over [0, 2π]. The model itself is
// coarse: evaluated in float64 with its dequantized weights it is up to 0.11 away from sin(x)
// near 3π/2 and 2π, so the check against sin uses 0.12, and the int8 kernels are checked
// against that dequantized evaluation within 0.05 (activation quantization noise).
func TestHelloWorldInt8(t *testing.T) {
	m := loadModelFile(t, "tflite/hello_world/hello_world_int8.tflite", Options{Threads: 1})
	it, err := m.NewInterpreter()
	if err != nil {
		t.Fatal(err)
	}
	in, out := it.Input(0), it.Output(0)
	is, izp, err := quantOf(in)
	if err != nil {
		t.Fatal(err)
	}
	os_, ozp, err := quantOf(out)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i := 0; i <= 100; i++ {
		x := 2 * math.Pi * float64(i) / 100
		q := int32(math.Round(x/float64(is))) + izp
		in.Int8()[0] = int8(min(max(q, -128), 127))
		if err := it.Invoke(); err != nil {
			t.Fatal(err)
		}
		y := float64(os_) * float64(int32(out.Int8()[0])-ozp)
		xq := float64(is) * float64(int32(in.Int8()[0])-izp)
		ref := max(dequantizedForward(m, xq), float64(os_)*float64(-128-ozp))
		worst = max(worst, math.Abs(y-math.Sin(x)))
		if math.Abs(y-math.Sin(x)) > 0.12 {
			t.Errorf("sin(%.3f): model %.4f, want %.4f", x, y, math.Sin(x))
		}
		if math.Abs(y-ref) > 0.05 {
			t.Errorf("x=%.3f: int8 %.4f, dequantized float evaluation %.4f", x, y, ref)
		}
	}
	t.Logf("worst error %.4f", worst)
}
