package signal

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"
)

func TestSqrt(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		x := rng.Uint64() >> uint(rng.IntN(64))
		got := float64(Sqrt64(x))
		want := math.Sqrt(float64(x))
		// Rounded to nearest; below 2^32 Sqrt32 is used as in tflite-micro.
		if math.Abs(got-want) > 1 {
			t.Fatalf("Sqrt64(%d) = %v, want ≈%v", x, got, want)
		}
	}
}

// TestRfftInt16 compares the fixed-point FFT with a float DFT divided by the length (the
// scaling of the KISS FFT fixed-point butterflies).
func TestRfftInt16(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{8, 16, 64, 512, 24} {
		f, ok := NewRfftInt16(n)
		if !ok {
			t.Fatal(n)
		}
		in := make([]int16, n)
		for i := range in {
			in[i] = int16(rng.IntN(40000) - 20000)
		}
		out := make([]int16, n+2)
		f.Apply(in, out)
		for k := 0; k <= n/2; k++ {
			var s complex128
			for j, v := range in {
				s += complex(float64(v), 0) * cmplx.Exp(complex(0, -2*math.Pi*float64(j*k)/float64(n)))
			}
			s /= complex(float64(n), 0)
			got := complex(float64(out[2*k]), float64(out[2*k+1]))
			if cmplx.Abs(got-s) > 3+0.5*math.Log2(float64(n)) {
				t.Fatalf("n=%d bin %d: got %v, want ≈%v", n, k, got, s)
			}
		}
	}
}

func TestLogAndPCANMonotone(t *testing.T) {
	prev := uint32(0)
	for x := uint32(2); x < 1<<30; x = x*3/2 + 1 {
		l := Log32(x, 64) // ln(x)·64, the micro_speech output scale
		want := math.Log(float64(x)) * 64
		if math.Abs(float64(l)-want) > 1 {
			t.Fatalf("Log32(%d) = %d, want ≈%v", x, l, want)
		}
		if l < prev {
			t.Fatalf("Log32 not monotone at %d", x)
		}
		prev = l
	}
	if PcanShrink(1<<12) != (1<<24)>>20 || PcanShrink(3<<12) != (3<<6)-(1<<6) {
		t.Fatal("PcanShrink")
	}
}
