package tflite

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// seanetBlock returns the tensors, operators and an input of the block TestSEANetStyleInt16Block
// runs (tensor 0 in, tensor 10 out).
func seanetBlock(r *rand.Rand) ([]testTensor, []testOp, []byte) {
	const H, W, C, O, KW = 2, 6, 4, 4, 4
	q := func(shape []int32, typ DType, scale float32) testTensor {
		return testTensor{shape: shape, typ: typ, scale: []float32{scale}, zp: []int64{0}}
	}
	wScale := make([]float32, O)
	for i := range wScale {
		wScale[i] = 0.005 + 0.01*r.Float32()
	}
	bias := make([]int64, O)
	for i := range bias {
		bias[i] = r.Int64N(1<<20) - 1<<19
	}
	in, up := shape32(1, H, W, C), shape32(1, H, 2*W, O)
	tensors := []testTensor{
		q(in, Int16, 1.0/4096), // 0 input
		q(in, Int16, 1.0/5000), // 1 leaky
		{shape: shape32(4), typ: Int32, data: i32Bytes(1, H, 2*W, O)},                                                   // 2 output_shape
		{shape: shape32(O, 1, KW, C), typ: Int8, data: i8Bytes(randI8(r, O*KW*C)), scale: wScale, zp: make([]int64, O)}, // 3 filter
		{shape: shape32(O), typ: Int64, data: i64Bytes(bias)},                                                           // 4 bias
		q(up, Int16, 1.0/1000),                                  // 5 transposed
		{shape: shape32(2), typ: Int32, data: i32Bytes(H, 2*W)}, // 6 size
		q(up, Int16, 1.0/5000),                                  // 7 shortcut
		q(up, Int16, 1.0/3000),                                  // 8 sum
		q(up, Int16, 1.0/32768),                                 // 9 tanh
		q(up, Int32, 1.0/(1<<20)),                               // 10 output
	}
	ops := []testOp{
		{code: OpLeakyRelu, in: []int32{0}, out: []int32{1}, optsType: 75, opts: tbl{0: float32(0.2)}},
		{code: OpTransposeConv, in: []int32{2, 3, 1, 4}, out: []int32{5}, optsType: 49, opts: tbl{0: int8(0), 1: int32(2), 2: int32(1)}},
		{code: OpResizeNearestNeighbor, in: []int32{1, 6}, out: []int32{7}, optsType: 74},
		{code: OpAdd, in: []int32{5, 7}, out: []int32{8}, optsType: 11},
		{code: OpTanh, in: []int32{8}, out: []int32{9}},
		{code: OpQuantize, in: []int32{9}, out: []int32{10}},
	}
	x := i16Bytes(randI16(r, H*W*C))

	return tensors, ops, x
}

// TestSEANetStyleInt16Block runs a decoder block of the kind SEANet uses, all int16 activations
// in one model: LEAKY_RELU, a stride-2 TRANSPOSE_CONV (16x8, int64 bias) upsampling the time
// axis, a RESIZE_NEAREST_NEIGHBOR shortcut of the same input, their ADD, TANH, and a QUANTIZE to
// INT32 as the model output. The whole model must give exactly what its operators give one at a
// time (each one checked against the reference arithmetic or tflite-micro's goldens in the
// other tests), with one and two threads: the memory plan and the int64 scratch of the
// transposed convolution must not disturb a value. Invoke allocates nothing.
func TestSEANetStyleInt16Block(t *testing.T) {
	tensors, ops, x := seanetBlock(rand.New(rand.NewPCG(81, 82)))
	// One operator at a time, each fed what the previous ones produced.
	vals := map[int32][]byte{0: x}
	for _, op := range ops {
		var feeds [][]byte
		for _, i := range op.in {
			if tensors[i].data == nil {
				feeds = append(feeds, vals[i])
			}
		}
		vals[op.out[0]] = slices.Clone(runSingleOp(t, tensors, op, feeds...).Data)
	}
	want := vals[10]

	model := buildModel(tensors, ops, []int32{0}, []int32{10})
	for _, threads := range []int{1, 2} {
		m, err := Load(model, Options{Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		it, err := m.NewInterpreter()
		if err != nil {
			t.Fatal(err)
		}
		for run := range 2 { // a second Invoke on the same arena gives the same bits
			if err := it.SetInput(0, x); err != nil {
				t.Fatal(err)
			}
			if err := it.Invoke(); err != nil {
				t.Fatal(err)
			}
			got := it.Output(0).Int32()
			w := view[int32](want)
			for i := range w {
				if got[i] != w[i] {
					t.Fatalf("threads %d run %d: output %d = %d, one operator at a time gives %d", threads, run, i, got[i], w[i])
				}
			}
		}
		if !raceEnabled { // the race detector's instrumentation allocates
			if n := testing.AllocsPerRun(5, func() { _ = it.Invoke() }); n != 0 {
				t.Errorf("threads %d: %v allocations per Invoke", threads, n)
			}
		}
		it.Close()
	}
	// The output spans more than a few values (the block is not saturated into a constant).
	distinct := map[int32]bool{}
	for _, v := range view[int32](want) {
		distinct[v] = true
	}
	if len(distinct) < 20 {
		t.Fatalf("only %d distinct output values: %s", len(distinct), fmt.Sprint(view[int32](want)[:16]))
	}
}
