package tflite

import (
	"slices"
	"testing"
)

// TestResizeNearestNeighbor checks RESIZE_NEAREST_NEIGHBOR's source-pixel choice by hand for
// upsampling and downsampling under the three coordinate conventions, on int16 data with two
// channels (so rows, columns and channels must each land in place).
func TestResizeNearestNeighbor(t *testing.T) {
	in := []int16{10, -10, 20, -20, 30, -30, 40, -40, 50, -50} // [1, 1, 5, 2]: pixel p = (10p+10, −(10p+10))
	for _, tc := range []struct {
		w           int
		align, half bool
		src         []int // source pixel of each output column, worked out by hand
	}{
		{10, false, false, []int{0, 0, 1, 1, 2, 2, 3, 3, 4, 4}}, // floor(x·0.5)
		{10, false, true, []int{0, 0, 1, 1, 2, 2, 3, 3, 4, 4}},  // floor((x+0.5)·0.5)
		{10, true, false, []int{0, 0, 1, 1, 2, 2, 3, 3, 4, 4}},  // round(x·4/9): 0 .44 .89 1.33 1.78 2.22 2.67 3.11 3.56 4
		{2, false, false, []int{0, 2}},                          // floor(x·2.5)
		{2, true, false, []int{0, 4}},                           // round(x·4)
		{2, false, true, []int{1, 3}},                           // floor((x+0.5)·2.5): 1.25, 3.75
		{3, true, false, []int{0, 2, 4}},                        // round(x·2)
		{4, false, false, []int{0, 1, 2, 3}},                    // floor(x·1.25): 0 1.25 2.5 3.75
	} {
		tensors := []testTensor{{shape: shape32(1, 1, 5, 2), typ: Int16, scale: []float32{0.01}},
			{shape: shape32(2), typ: Int32, data: i32Bytes(2, int32(tc.w))},
			{shape: shape32(1, 2, tc.w, 2), typ: Int16, scale: []float32{0.01}}}
		got := runSingleOp(t, tensors, testOp{code: OpResizeNearestNeighbor, in: []int32{0, 1}, out: []int32{2}, optsType: 74,
			opts: tbl{0: tc.align, 1: tc.half}}, i16Bytes(in)).Int16()
		var want []int16
		for range 2 { // both output rows come from the single input row
			for _, p := range tc.src {
				want = append(want, in[2*p], in[2*p+1])
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("width 5 → %d align_corners=%v half_pixel_centers=%v: got %v, want %v", tc.w, tc.align, tc.half, got, want)
		}
	}
}
