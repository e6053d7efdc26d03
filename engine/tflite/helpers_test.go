package tflite

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBranchFreeHelpersMatchPlain checks clampSlice's RELU/RELU6 bit paths and the branch-free
// rounding in quantizeRowSymmetric against the plain formulas, value for value.
func TestBranchFreeHelpersMatchPlain(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	x := randF32(r, 4096)
	x = append(x, 0, float32(math.Copysign(0, -1)), 6, -6, 0.5, -0.5, 1.5, -1.5, float32(math.Inf(1)), float32(math.Inf(-1)))
	for i := range 64 {
		x[i] *= 10 // beyond 6
	}
	for _, b := range [][2]float32{{0, float32(math.Inf(1))}, {0, 6}, {-1, 1}} {
		got := append([]float32(nil), x...)
		clampSlice(got, b[0], b[1])
		for i, v := range x {
			want := min(max(v, b[0]), b[1])
			if got[i] != want { // -0 and +0 compare equal
				t.Fatalf("clamp %v of %g = %g, want %g", b, v, got[i], want)
			}
		}
	}
	q := make([]int8, len(x)-2)
	xs := x[:len(x)-2] // finite values
	scale := quantizeRowSymmetric(xs, q)
	var m float64
	for _, v := range xs {
		m = math.Max(m, math.Abs(float64(v)))
	}
	inv := 127 / float32(m)
	for i, v := range xs {
		r := v * inv
		if r >= 0 {
			r += 0.5
		} else {
			r -= 0.5
		}
		if want := int8(min(max(int32(r), -127), 127)); q[i] != want {
			t.Fatalf("quantize %g: %d, want %d", v, q[i], want)
		}
	}
	if scale != float32(m)/127 {
		t.Fatalf("scale %g, want %g", scale, float32(m)/127)
	}
}
