package tflite

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// Data-movement kernels are checked on int8 data (they must work for every type) against naive
// index arithmetic.

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// unravel returns the multi-index of flat index i in shape.
func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = i % shape[d]
		i /= shape[d]
	}
	return idx
}

func ravel(idx, shape []int) int {
	o := 0
	for d := range shape {
		o = o*shape[d] + idx[d]
	}
	return o
}

func TestTransposeInt8AgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for tc := 0; tc < 20; tc++ {
		rank := 1 + r.IntN(4)
		shape := make([]int, rank)
		for i := range shape {
			shape[i] = 1 + r.IntN(5)
		}
		perm := r.Perm(rank)
		oshape := make([]int, rank)
		p32 := make([]int32, rank)
		for i, p := range perm {
			oshape[i], p32[i] = shape[p], int32(p)
		}
		x := randBytes(r, numElements(shape))
		tensors := []testTensor{{shape: shape32(shape...), typ: Int8},
			{shape: shape32(rank), typ: Int32, data: i32Bytes(p32...)}, {shape: shape32(oshape...), typ: Int8}}
		got := runSingleOp(t, tensors, testOp{code: OpTranspose, in: []int32{0, 1}, out: []int32{2}}, x).Data
		for o := range got {
			oi := unravel(o, oshape)
			ii := make([]int, rank)
			for i, p := range perm {
				ii[p] = oi[i]
			}
			if got[o] != x[ravel(ii, shape)] {
				t.Fatalf("case %d: element %d wrong", tc, o)
			}
		}
	}
}

func TestStridedSliceAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	for tc := 0; tc < 40; tc++ {
		rank := 1 + r.IntN(3)
		shape := make([]int, rank)
		begin, end, stride := make([]int32, rank), make([]int32, rank), make([]int32, rank)
		var oshape []int
		type dim struct{ start, step, n int }
		dims := make([]dim, rank)
		var bm, em, sm int32
		for i := range shape {
			n := 1 + r.IntN(6)
			shape[i] = n
			s := 1 + r.IntN(2)
			if r.IntN(4) == 0 {
				s = -s
			}
			b, e := r.IntN(n), r.IntN(n+1)
			if s < 0 {
				b, e = r.IntN(n), r.IntN(n) // -1 would wrap to n-1; end_mask covers "through 0"
			}
			begin[i], end[i], stride[i] = int32(b), int32(e), int32(s)
			if r.IntN(5) == 0 {
				bm |= 1 << i
				if s > 0 {
					b = 0
				} else {
					b = n - 1
				}
			}
			if r.IntN(5) == 0 {
				em |= 1 << i
				if s > 0 {
					e = n
				} else {
					e = -1
				}
			}
			cnt := 0
			for v := b; (s > 0 && v < e) || (s < 0 && v > e); v += s {
				cnt++
			}
			if r.IntN(6) == 0 && bm&(1<<i) == 0 {
				sm |= 1 << i
				cnt, s = 1, 1
			} else {
				oshape = append(oshape, cnt)
			}
			dims[i] = dim{b, s, cnt}
		}
		x := randBytes(r, numElements(shape))
		if oshape == nil {
			oshape = []int{}
		}
		tensors := []testTensor{{shape: shape32(shape...), typ: Int8},
			{shape: shape32(rank), typ: Int32, data: i32Bytes(begin...)},
			{shape: shape32(rank), typ: Int32, data: i32Bytes(end...)},
			{shape: shape32(rank), typ: Int32, data: i32Bytes(stride...)},
			{shape: shape32(oshape...), typ: Int8}}
		got := runSingleOp(t, tensors, testOp{code: OpStridedSlice, in: []int32{0, 1, 2, 3}, out: []int32{4}, optsType: 32,
			opts: tbl{0: bm, 1: em, 4: sm}}, x).Data
		box := make([]int, rank)
		for i := range dims {
			box[i] = dims[i].n
		}
		var want []byte
		for o := 0; o < numElements(box); o++ {
			bi := unravel(o, box)
			ii := make([]int, rank)
			for d := range ii {
				ii[d] = dims[d].start + bi[d]*dims[d].step
			}
			want = append(want, x[ravel(ii, shape)])
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d shape %v begin %v end %v strides %v masks %b/%b/%b: got %v want %v",
				tc, shape, begin, end, stride, bm, em, sm, got, want)
		}
	}
}

func TestPadSliceConcatGatherInt8(t *testing.T) {
	r := rand.New(rand.NewPCG(35, 36))
	x := randBytes(r, 2*3*4)
	// PAD with the output zero point as fill.
	tensors := []testTensor{{shape: shape32(2, 3, 4), typ: Int8, scale: []float32{0.1}, zp: []int64{-5}},
		{shape: shape32(3, 2), typ: Int32, data: i32Bytes(0, 1, 2, 0, 1, 1)},
		{shape: shape32(3, 5, 6), typ: Int8, scale: []float32{0.1}, zp: []int64{-5}}}
	got := runSingleOp(t, tensors, testOp{code: OpPad, in: []int32{0, 1}, out: []int32{2}}, x).Data
	for o := range got {
		i := unravel(o, []int{3, 5, 6})
		want := byte(0xfb) // -5
		if i[0] < 2 && i[1] >= 2 && i[2] >= 1 && i[2] < 5 {
			want = x[ravel([]int{i[0], i[1] - 2, i[2] - 1}, []int{2, 3, 4})]
		}
		if got[o] != want {
			t.Fatalf("PAD element %v = %d, want %d", i, got[o], want)
		}
	}
	// SLICE with size -1.
	tensors = []testTensor{{shape: shape32(2, 3, 4), typ: Int8},
		{shape: shape32(3), typ: Int32, data: i32Bytes(1, 1, 0)},
		{shape: shape32(3), typ: Int32, data: i32Bytes(1, -1, 3)},
		{shape: shape32(1, 2, 3), typ: Int8}}
	got = runSingleOp(t, tensors, testOp{code: OpSlice, in: []int32{0, 1, 2}, out: []int32{3}}, x).Data
	for o := range got {
		i := unravel(o, []int{1, 2, 3})
		if got[o] != x[ravel([]int{i[0] + 1, i[1] + 1, i[2]}, []int{2, 3, 4})] {
			t.Fatalf("SLICE element %v wrong", i)
		}
	}
	// CONCATENATION along axis 1 (negative axis).
	y := randBytes(r, 2*2*4)
	tensors = []testTensor{{shape: shape32(2, 3, 4), typ: Int8}, {shape: shape32(2, 2, 4), typ: Int8}, {shape: shape32(2, 5, 4), typ: Int8}}
	got = runSingleOp(t, tensors, testOp{code: OpConcatenation, in: []int32{0, 1}, out: []int32{2}, optsType: 10,
		opts: tbl{0: int32(-2)}}, x, y).Data
	for o := range got {
		i := unravel(o, []int{2, 5, 4})
		want := byte(0)
		if i[1] < 3 {
			want = x[ravel(i, []int{2, 3, 4})]
		} else {
			want = y[ravel([]int{i[0], i[1] - 3, i[2]}, []int{2, 2, 4})]
		}
		if got[o] != want {
			t.Fatalf("CONCATENATION element %v wrong", i)
		}
	}
	// GATHER along axis 1 with a 2-D index tensor.
	tensors = []testTensor{{shape: shape32(2, 3, 4), typ: Int8},
		{shape: shape32(2, 2), typ: Int32, data: i32Bytes(2, 0, 1, 1)},
		{shape: shape32(2, 2, 2, 4), typ: Int8}}
	got = runSingleOp(t, tensors, testOp{code: OpGather, in: []int32{0, 1}, out: []int32{2}, optsType: 23,
		opts: tbl{0: int32(1)}}, x).Data
	idx := []int{2, 0, 1, 1}
	for o := range got {
		i := unravel(o, []int{2, 2, 2, 4})
		if got[o] != x[ravel([]int{i[0], idx[i[1]*2+i[2]], i[3]}, []int{2, 3, 4})] {
			t.Fatalf("GATHER element %v wrong", i)
		}
	}
	// RESHAPE / SQUEEZE / EXPAND_DIMS keep the bytes.
	for _, op := range []testOp{
		{code: OpReshape, in: []int32{0, 1}, out: []int32{2}},
		{code: OpSqueeze, in: []int32{0}, out: []int32{2}, optsType: 30, opts: tbl{0: []int32{0}}},
	} {
		tensors = []testTensor{{shape: shape32(1, 6, 4), typ: Int16},
			{shape: shape32(2), typ: Int32, data: i32Bytes(-1, 4)}, {shape: shape32(6, 4), typ: Int16}}
		xx := randBytes(r, 48)
		out := runSingleOp(t, tensors, op, xx)
		if !bytes.Equal(out.Data, xx) || fmt.Sprint(out.Shape) != "[6 4]" {
			t.Fatalf("%s: shape %v", op.code, out.Shape)
		}
	}
}
