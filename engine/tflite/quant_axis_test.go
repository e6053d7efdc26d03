package tflite

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// depthwiseBiasAxisModel builds an int8 DEPTHWISE_CONV_2D (input [1,4,5,4], depth multiplier 2,
// 2×3 filter quantized per channel along dimension 3, VALID) whose 1-D int32 bias carries
// per-channel scales with quantized dimension biasAxis, the layout real converters write
// (biasAxis 3). It returns the model, the input bytes and the expected output computed here
// with the reference arithmetic.
func depthwiseBiasAxisModel(t *testing.T, biasAxis int32) ([]byte, []byte, []int8) {
	t.Helper()
	r := rand.New(rand.NewPCG(61, 62))
	const H, W, C, M, KH, KW = 4, 5, 4, 2, 2, 3
	const OC, OH, OW = C * M, H - KH + 1, W - KW + 1
	const inScale, inZP, outScale, outZP = 0.04, 5, 0.1, -7
	x := randI8(r, H*W*C)
	w := randI8(r, KH*KW*OC)
	wScale := make([]float32, OC)
	bScale := make([]float32, OC)
	bias := make([]int32, OC)
	for c := range OC {
		wScale[c] = 0.002 + 0.01*r.Float32()
		bScale[c] = inScale * wScale[c]
		bias[c] = r.Int32N(4001) - 2000
	}
	tensors := []testTensor{
		{shape: shape32(1, H, W, C), typ: Int8, scale: []float32{inScale}, zp: []int64{inZP}},
		{shape: shape32(1, KH, KW, OC), typ: Int8, data: i8Bytes(w), scale: wScale, zp: make([]int64, OC), axis: 3},
		{shape: shape32(OC), typ: Int32, data: i32Bytes(bias...), scale: bScale, zp: make([]int64, OC), axis: biasAxis},
		{shape: shape32(1, OH, OW, OC), typ: Int8, scale: []float32{outScale}, zp: []int64{outZP}},
	}
	op := testOp{code: OpDepthwiseConv2D, in: []int32{0, 1, 2}, out: []int32{3}, optsType: 2,
		opts: tbl{0: uint8(1), 1: int32(1), 2: int32(1), 3: int32(M)}}
	model := buildModel(tensors, []testOp{op}, []int32{0}, []int32{3})

	want := make([]int8, OH*OW*OC)
	for oy := range OH {
		for ox := range OW {
			for oc := range OC {
				acc := bias[oc]
				for ky := range KH {
					for kx := range KW {
						acc += (int32(x[((oy+ky)*W+ox+kx)*C+oc/M]) - inZP) * int32(w[(ky*KW+kx)*OC+oc])
					}
				}
				m, s := refQuantizeMultiplier(float64(float32(inScale)) * float64(wScale[oc]) / float64(float32(outScale)))
				v := refMBQM32(acc, m, s) + outZP
				want[(oy*OW+ox)*OC+oc] = int8(min(max(v, -128), 127))
			}
		}
	}
	return model, i8Bytes(x), want
}

// TestBiasCarriesFilterQuantizedDimension loads a per-channel int8 depthwise convolution whose
// 1-D bias has 8 scales along "dimension 3" (which a 1-D tensor does not have), as real int8
// vision models do: it loads, reads the bias along axis 0 as TFLite does, and computes the same
// outputs as the model written with axis 0 and as the reference arithmetic.
func TestBiasCarriesFilterQuantizedDimension(t *testing.T) {
	for _, axis := range []int32{3, 0} {
		model, in, want := depthwiseBiasAxisModel(t, axis)
		m, err := Load(model, Options{Threads: 1})
		if err != nil {
			t.Fatalf("bias quantized dimension %d: %v", axis, err)
		}
		if q := m.tensors[2].Quant; q == nil || q.Axis != 0 || len(q.Scale) != 8 {
			t.Fatalf("bias quantization read as %+v, want 8 scales along axis 0", q)
		}
		it, err := m.NewInterpreter()
		if err != nil {
			t.Fatal(err)
		}
		if err := it.SetInput(0, in); err != nil {
			t.Fatal(err)
		}
		if err := it.Invoke(); err != nil {
			t.Fatal(err)
		}
		got := it.Output(0).Int8()
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("bias axis %d: output %d = %d, want %d", axis, i, got[i], want[i])
			}
		}
		it.Close()
	}
}

// TestQuantizationErrorsSayWhatIsWrong checks that per-axis parameters which really do not fit
// a tensor are refused with the tensor, the dimension and the shape named, and are not called a
// malformed flatbuffer (the flatbuffer is fine).
func TestQuantizationErrorsSayWhatIsWrong(t *testing.T) {
	for _, tc := range []struct {
		shape []int32
		axis  int32
		want  string
	}{
		{shape32(2, 4), 0, `tensor 0 "ta": per-axis quantization has 4 scales, but dimension 0 of shape [2 4] has 2 entries`},
		{shape32(2, 3), 5, `tensor 0 "ta": per-axis quantization along dimension 5, but shape [2 3] has 2 dimensions`},
		{shape32(3), 0, `tensor 0 "ta": per-axis quantization has 4 scales, but dimension 0 of shape [3] has 3 entries`},
	} {
		tensors := []testTensor{
			{shape: tc.shape, typ: Int8, scale: []float32{1, 2, 3, 4}, zp: make([]int64, 4), axis: tc.axis},
			{shape: tc.shape, typ: Int8, scale: []float32{1}},
		}
		model := buildModel(tensors, []testOp{{code: OpRelu, in: []int32{0}, out: []int32{1}}}, []int32{0}, []int32{1})
		_, err := Load(model, Options{Threads: 1})
		if err == nil {
			t.Fatalf("shape %v axis %d: loaded", tc.shape, tc.axis)
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "malformed") {
			t.Errorf("shape %v axis %d:\n got %v\nwant %s (and no \"malformed\")", tc.shape, tc.axis, err, tc.want)
		}
	}
	// A file too short for the identifier is named as not a tflite model.
	good := buildModel([]testTensor{{shape: shape32(2), typ: Int8, scale: []float32{1}}, {shape: shape32(2), typ: Int8, scale: []float32{1}}},
		[]testOp{{code: OpRelu, in: []int32{0}, out: []int32{1}}}, []int32{0}, []int32{1})
	if _, err := Load(good[:6], Options{}); err == nil || !strings.Contains(err.Error(), "TFL3") {
		t.Errorf("6-byte model: %v", err)
	}
}
