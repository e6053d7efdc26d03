package tflite

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// Models with one quantized operator, built here, run through the loader and compared bit for
// bit with outputs derived in the test: hand-worked values, and a scalar restatement of TFLite's
// reference kernel arithmetic (refarith_test.go) over random shapes and parameters.

func randI16(r *rand.Rand, n int) []int16 {
	x := make([]int16, n)
	for i := range x {
		x[i] = int16(r.IntN(65536) - 32768)
	}
	return x
}

// transposeConvCase is one TRANSPOSE_CONV: NHWC input, OHWI filter, stride, padding, quantization.
type transposeConvCase struct {
	typ             DType // Int8 or Int16 activations
	biasType        DType // Int32 (int8), Int64 or Int16 (int16); 0 for no bias
	n, h, w, c, o   int
	kh, kw, s       int
	same            bool
	oh, ow          int
	act             int8
	inScale, outScl float32
	inZP, outZP     int32
	wScale          []float32
	x               []int32 // input values (int8 or int16 range)
	wt              []int8
	bias            []int64
	want            []int32 // filled by expect, or given by hand
}

// build returns the tensors and operator of the case.
func (tc *transposeConvCase) build() ([]testTensor, testOp, []byte) {
	var biasData []byte
	switch tc.biasType {
	case Int32:
		b := make([]int32, len(tc.bias))
		for i, v := range tc.bias {
			b[i] = int32(v)
		}
		biasData = i32Bytes(b...)
	case Int64:
		biasData = i64Bytes(tc.bias)
	case Int16:
		b := make([]int16, len(tc.bias))
		for i, v := range tc.bias {
			b[i] = int16(v)
		}
		biasData = i16Bytes(b)
	}
	var in []byte
	if tc.typ == Int8 {
		x := make([]int8, len(tc.x))
		for i, v := range tc.x {
			x[i] = int8(v)
		}
		in = i8Bytes(x)
	} else {
		x := make([]int16, len(tc.x))
		for i, v := range tc.x {
			x[i] = int16(v)
		}
		in = i16Bytes(x)
	}
	padding := int8(1)
	if tc.same {
		padding = 0
	}
	tensors := []testTensor{
		{shape: shape32(4), typ: Int32, data: i32Bytes(int32(tc.n), int32(tc.oh), int32(tc.ow), int32(tc.o))},
		{shape: shape32(tc.o, tc.kh, tc.kw, tc.c), typ: Int8, data: i8Bytes(tc.wt), scale: tc.wScale, zp: make([]int64, len(tc.wScale))},
		{shape: shape32(tc.n, tc.h, tc.w, tc.c), typ: tc.typ, scale: []float32{tc.inScale}, zp: []int64{int64(tc.inZP)}},
		{shape: shape32(tc.n, tc.oh, tc.ow, tc.o), typ: tc.typ, scale: []float32{tc.outScl}, zp: []int64{int64(tc.outZP)}},
	}
	op := testOp{code: OpTransposeConv, in: []int32{0, 1, 2}, out: []int32{3}, optsType: 49,
		opts: tbl{0: padding, 1: int32(tc.s), 2: int32(tc.s), 3: tc.act}}
	if tc.biasType != 0 {
		tensors = append(tensors, tensors[3])
		tensors[3] = testTensor{shape: shape32(tc.o), typ: tc.biasType, data: biasData}
		op.in, op.out = []int32{0, 1, 2, 3}, []int32{4}
	}
	return tensors, op, in
}

// expect computes the outputs in gather form (each output pixel sums the input pixels whose
// stride grid reaches it, the reverse of the kernel's scatter), then requantizes each channel
// with the reference MultiplyByQuantizedMultiplier: 32-bit double rounding plus the output zero
// point for int8, the 16x8 int64 form for int16; then the clamp of the fused activation.
func (tc *transposeConvCase) expect() {
	// Padding of the forward convolution from the output size back to the input (padding.h).
	pad := func(out, k int) int {
		fwd := (out - k + tc.s) / tc.s
		if tc.same {
			fwd = (out + tc.s - 1) / tc.s
		}
		return max((fwd-1)*tc.s+k-out, 0) / 2
	}
	pt, pl := pad(tc.oh, tc.kh), pad(tc.ow, tc.kw)
	lo, hi := typeRange(tc.typ)
	if tc.act == 1 { // RELU: Quantize(0) = output zero point
		lo = max(lo, tc.outZP)
	}
	tc.want = make([]int32, tc.n*tc.oh*tc.ow*tc.o)
	for b := range tc.n {
		for oy := range tc.oh {
			for ox := range tc.ow {
				for o := range tc.o {
					var sum int64
					for ky := range tc.kh {
						for kx := range tc.kw {
							ny, nx := oy+pt-ky, ox+pl-kx
							if ny < 0 || nx < 0 || ny%tc.s != 0 || nx%tc.s != 0 || ny/tc.s >= tc.h || nx/tc.s >= tc.w {
								continue
							}
							for c := range tc.c {
								xv := int64(tc.x[((b*tc.h+ny/tc.s)*tc.w+nx/tc.s)*tc.c+c]) - int64(tc.inZP)
								sum += xv * int64(tc.wt[((o*tc.kh+ky)*tc.kw+kx)*tc.c+c])
							}
						}
					}
					if tc.biasType != 0 {
						sum += tc.bias[o]
					}
					ws := tc.wScale[0]
					if len(tc.wScale) > 1 {
						ws = tc.wScale[o]
					}
					m, sh := refQuantizeMultiplier(float64(tc.inScale) * float64(ws) / float64(tc.outScl))
					var v int32
					if tc.typ == Int16 {
						v = refMBQM64(sum, m, sh)
					} else {
						v = refMBQM32(int32(sum), m, sh) + tc.outZP
					}
					tc.want[((b*tc.oh+oy)*tc.ow+ox)*tc.o+o] = min(max(v, lo), hi)
				}
			}
		}
	}
}

func (tc *transposeConvCase) run(t *testing.T, name string) {
	t.Helper()
	tensors, op, in := tc.build()
	out := runSingleOp(t, tensors, op, in)
	for i, want := range tc.want {
		var got int32
		if tc.typ == Int8 {
			got = int32(out.Int8()[i])
		} else {
			got = int32(out.Int16()[i])
		}
		if got != want {
			t.Fatalf("%s: output %d = %d, want %d", name, i, got, want)
		}
	}
}

// TestTransposeConvQuantizedHandChecked: a 1×1 input spread by a 2×2 filter with stride 2.
func TestTransposeConvQuantizedHandChecked(t *testing.T) {
	// int16: input scale 2^-10, weight scale 0.5, output scale 2^-10 (multiplier 0.5), int64
	// bias 7. Outputs (±1000·w + 7)·0.5 rounded half up: 503.5 → 504, …; −993·0.5 = −496.5 → −496.
	for _, x := range []int32{1000, -1000} {
		tc := transposeConvCase{typ: Int16, biasType: Int64, n: 1, h: 1, w: 1, c: 1, o: 1, kh: 2, kw: 2, s: 2,
			oh: 2, ow: 2, inScale: 1.0 / 1024, outScl: 1.0 / 1024, wScale: []float32{0.5},
			x: []int32{x}, wt: []int8{1, 2, 3, 4}, bias: []int64{7}}
		tc.want = []int32{504, 1004, 1504, 2004}
		if x < 0 {
			tc.want = []int32{-496, -996, -1496, -1996}
		}
		tc.run(t, fmt.Sprintf("int16 x=%d", x))
	}
	// int8: input zero point 1, value 11; output zero point −3; bias 1; multiplier 0.5:
	// (10·w + 1)·0.5 = 5.5, 10.5, 15.5, 20.5 → 6, 11, 16, 21 (half up), − 3.
	tc := transposeConvCase{typ: Int8, biasType: Int32, n: 1, h: 1, w: 1, c: 1, o: 1, kh: 2, kw: 2, s: 2,
		oh: 2, ow: 2, inScale: 1, outScl: 1, inZP: 1, outZP: -3, wScale: []float32{0.5},
		x: []int32{11}, wt: []int8{1, 2, 3, 4}, bias: []int64{1}}
	tc.want = []int32{3, 8, 13, 18}
	tc.run(t, "int8")
}

// TestTransposeConvQuantizedAgainstReference runs random int16x8 (int64, int16 or no bias) and
// int8 transposed convolutions: strides 1–3, SAME and VALID, odd output sizes, per-channel
// scales, RELU sometimes.
func TestTransposeConvQuantizedAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	for i := range 48 {
		tc := transposeConvCase{typ: Int16, biasType: []DType{Int64, Int16, 0}[i%3]}
		if i%4 == 3 {
			tc.typ, tc.biasType = Int8, []DType{Int32, 0}[i%2]
		}
		tc.n, tc.h, tc.w, tc.c, tc.o = 1+r.IntN(2), 1+r.IntN(4), 1+r.IntN(5), 1+r.IntN(5), 1+r.IntN(5)
		tc.kh, tc.kw, tc.s = 1+r.IntN(4), 1+r.IntN(4), 1+r.IntN(3)
		tc.same = r.IntN(2) == 0
		if tc.same {
			tc.oh, tc.ow = tc.h*tc.s-r.IntN(tc.s), tc.w*tc.s-r.IntN(tc.s)
		} else {
			tc.oh, tc.ow = (tc.h-1)*tc.s+tc.kh, (tc.w-1)*tc.s+tc.kw
		}
		if r.IntN(4) == 0 {
			tc.act = 1
		}
		k := float64(tc.kh * tc.kw * tc.c)
		tc.wScale = make([]float32, tc.o)
		for j := range tc.wScale {
			tc.wScale[j] = 0.005 + 0.02*r.Float32()
		}
		tc.wt = randI8(r, tc.o*tc.kh*tc.kw*tc.c)
		tc.x = make([]int32, tc.n*tc.h*tc.w*tc.c)
		if tc.typ == Int16 {
			tc.inScale = 1.0 / (1000 + 30000*r.Float32())
			for j, v := range randI16(r, len(tc.x)) {
				tc.x[j] = int32(v)
			}
			// Typical |sum| ≈ √k·19000·73; aim at ±12000 so that some outputs clamp.
			tc.outScl = float32(float64(tc.inScale) * 0.015 * math.Sqrt(k) * 19000 * 73 / 12000)
		} else {
			tc.inScale, tc.inZP, tc.outZP = 0.02+0.05*r.Float32(), int32(r.IntN(41)-20), int32(r.IntN(41)-20)
			for j, v := range randI8(r, len(tc.x)) {
				tc.x[j] = int32(v)
			}
			tc.outScl = float32(float64(tc.inScale) * 0.015 * math.Sqrt(k) * 75 * 73 / 60)
		}
		tc.bias = make([]int64, tc.o)
		for j := range tc.bias {
			switch tc.biasType {
			case Int64:
				tc.bias[j] = r.Int64N(1<<24) - 1<<23
			case Int16:
				tc.bias[j] = r.Int64N(65536) - 32768
			case Int32:
				tc.bias[j] = r.Int64N(20001) - 10000
			}
		}
		tc.expect()
		tc.run(t, fmt.Sprintf("case %d %s bias %v %dx%dx%dx%d k%dx%d s%d same=%v out %dx%d", i, tc.typ, tc.biasType,
			tc.n, tc.h, tc.w, tc.c, tc.kh, tc.kw, tc.s, tc.same, tc.oh, tc.ow))
	}
}

// TestLeakyReluQuantized checks LEAKY_RELU on int16 and int8: hand-worked values, then random
// inputs against the reference arithmetic (identity multiplier si/so for x ≥ zero point, alpha
// multiplier si·alpha/so below, both computed in float32 as TFLite's Prepare does).
func TestLeakyReluQuantized(t *testing.T) {
	run := func(typ DType, si, so, alpha float32, zi, zo int32, x []int32) []int32 {
		t.Helper()
		tensors := []testTensor{{shape: shape32(len(x)), typ: typ, scale: []float32{si}, zp: []int64{int64(zi)}},
			{shape: shape32(len(x)), typ: typ, scale: []float32{so}, zp: []int64{int64(zo)}}}
		var feed []byte
		if typ == Int16 {
			v := make([]int16, len(x))
			for i, e := range x {
				v[i] = int16(e)
			}
			feed = i16Bytes(v)
		} else {
			v := make([]int8, len(x))
			for i, e := range x {
				v[i] = int8(e)
			}
			feed = i8Bytes(v)
		}
		out := runSingleOp(t, tensors, testOp{code: OpLeakyRelu, in: []int32{0}, out: []int32{1}, optsType: 75,
			opts: tbl{0: alpha}}, feed)
		got := make([]int32, len(x))
		for i := range got {
			if typ == Int16 {
				got[i] = int32(out.Int16()[i])
			} else {
				got[i] = int32(out.Int8()[i])
			}
		}
		return got
	}
	// Scales 2^-10 in and out, alpha 0.25: identity is exact; −1001·0.25: the high multiply gives
	// −500.5 → −500 (half up), the shift by 1 −250; −1002 → −501 → −250.5 → −251 (half away);
	// −1003 → −501.5 → −501 → −251; −32768 → −8192.
	x := []int32{0, 1000, 32767, -1001, -1002, -1003, -32768}
	want := []int32{0, 1000, 32767, -250, -251, -251, -8192}
	got := run(Int16, 1.0/1024, 1.0/1024, 0.25, 0, 0, x)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("int16 LEAKY_RELU(%d) = %d, want %d", x[i], got[i], want[i])
		}
	}
	r := rand.New(rand.NewPCG(73, 74))
	for i := range 40 {
		typ := Int16
		if i%4 == 3 {
			typ = Int8
		}
		lo, hi := typeRange(typ)
		alpha := []float32{0.2, 0.01, 0.3333, -0.5, 1.5, 0}[i%6]
		si, so := 0.0001+0.01*r.Float32(), 0.0001+0.01*r.Float32()
		var zi, zo int32
		if typ == Int8 {
			si, so = 0.01+0.1*r.Float32(), 0.01+0.1*r.Float32()
			zi, zo = int32(r.IntN(256)-128), int32(r.IntN(256)-128)
		}
		x := make([]int32, 200)
		for j := range x {
			x[j] = lo + r.Int32N(hi-lo+1)
		}
		x[0], x[1], x[2] = lo, hi, zi
		got := run(typ, si, so, alpha, zi, zo, x)
		mID, sID := refQuantizeMultiplier(float64(float32(si / so)))
		mA, sA := refQuantizeMultiplier(float64(float32(float32(si*alpha) / so)))
		for j, v := range x {
			var y int32
			if d := v - zi; d >= 0 {
				y = refMBQM32(d, mID, sID)
			} else {
				y = refMBQM32(d, mA, sA)
			}
			if want := min(max(y+zo, lo), hi); got[j] != want {
				t.Fatalf("case %d %s alpha %g si %g so %g zi %d zo %d: LEAKY_RELU(%d) = %d, want %d", i, typ, alpha, si, so, zi, zo, v, got[j], want)
			}
		}
	}
}

// TestQuantizeInt32 checks QUANTIZE from INT32 to int8/int16 and from int8/int16 to INT32
// (TFLite's reference Requantize: q − zp_in wrapped to int32, one MultiplyByQuantizedMultiplier
// of s_in/s_out, + zp_out, clamped to the output type).
func TestQuantizeInt32(t *testing.T) {
	quantize := func(in, out DType, si, so float32, zi, zo int32, x []int32) []int32 {
		t.Helper()
		tensors := []testTensor{{shape: shape32(len(x)), typ: in, scale: []float32{si}, zp: []int64{int64(zi)}},
			{shape: shape32(len(x)), typ: out, scale: []float32{so}, zp: []int64{int64(zo)}}}
		var feed []byte
		switch in {
		case Int32:
			feed = i32Bytes(x...)
		case Int16:
			v := make([]int16, len(x))
			for i, e := range x {
				v[i] = int16(e)
			}
			feed = i16Bytes(v)
		default:
			v := make([]int8, len(x))
			for i, e := range x {
				v[i] = int8(e)
			}
			feed = i8Bytes(v)
		}
		o := runSingleOp(t, tensors, testOp{code: OpQuantize, in: []int32{0}, out: []int32{1}}, feed)
		got := make([]int32, len(x))
		for i := range got {
			switch out {
			case Int32:
				got[i] = o.Int32()[i]
			case Int16:
				got[i] = int32(o.Int16()[i])
			default:
				got[i] = int32(o.Int8()[i])
			}
		}
		return got
	}
	// Hand-worked: int32 → int16, s 1 → 4 (multiplier 0.25), zp 0 → 3: 10 → 2.5 → 3, + 3 = 6;
	// −10 → −2.5 → −3 (half away), + 3 = 0; MaxInt32 → clamped to 32767.
	if got := quantize(Int32, Int16, 1, 4, 0, 3, []int32{10, -10, math.MaxInt32}); got[0] != 6 || got[1] != 0 || got[2] != 32767 {
		t.Errorf("int32 → int16 = %v, want [6 0 32767]", got)
	}
	// int16 → int32, s 2 → 1 (multiplier 2), zp 100: −32768 → −65536 + 100.
	if got := quantize(Int16, Int32, 2, 1, 0, 100, []int32{-32768, 5}); got[0] != -65436 || got[1] != 110 {
		t.Errorf("int16 → int32 = %v, want [-65436 110]", got)
	}
	r := rand.New(rand.NewPCG(75, 76))
	pairs := [][2]DType{{Int32, Int8}, {Int32, Int16}, {Int16, Int32}, {Int8, Int32}}
	for i := range 40 {
		in, out := pairs[i%4][0], pairs[i%4][1]
		lo, hi := typeRange(in)
		olo, ohi := typeRange(out)
		si, so := float32(math.Exp(r.Float64()*12-6)), float32(math.Exp(r.Float64()*12-6))
		zi, zo := r.Int32N(201)-100, r.Int32N(201)-100
		if in != Int32 {
			zi = max(min(zi, hi), lo)
		} else {
			so = si * float32(math.Exp(r.Float64()*6)) // shrink int32 into the output range
		}
		if out == Int8 {
			zo = max(min(zo, 127), -128)
		}
		x := make([]int32, 300)
		for j := range x {
			x[j] = int32(int64(lo) + r.Int64N(int64(hi)-int64(lo)+1))
			if in == Int32 && j%3 == 0 {
				x[j] = r.Int32N(200001) - 100000
			}
		}
		x[0], x[1] = lo, hi
		got := quantize(in, out, si, so, zi, zo, x)
		m, s := refQuantizeMultiplier(float64(si) / float64(so))
		for j, v := range x {
			want := min(max(refMBQM32(v-zi, m, s)+zo, olo), ohi)
			if got[j] != want {
				t.Fatalf("case %d %s → %s (si %g so %g zi %d zo %d): %d → %d, want %d", i, in, out, si, so, zi, zo, v, got[j], want)
			}
		}
	}
}

// refSigmoidTable is TFLite's int16 sigmoid table restated: 65536·σ(i/24) moved by half the
// midpoint error of linear interpolation, rounded; the last entry saturates at 0xFFFF. σ is
// written through tanh here, σ(x) = (1 + tanh(x/2))/2.
func refSigmoidTable() [256]int64 {
	var t [256]int64
	s := func(i float64) float64 { return 32768 * (1 + math.Tanh(i/48)) }
	for i := range 255 {
		x := float64(i)
		mid := s(x+0.5) - (s(x)+s(x+1))/2
		t[i] = int64(math.Floor(s(x) + mid/2 + 0.5))
	}
	t[255] = 65535
	return t
}

// refSigmoid16 restates reference_integer_ops::Logistic / Tanh on int16: the input scaled to
// the table's unit (v = (x·mult + half) >> shift), |v| split into a table index and 9 (logistic)
// or 8 (tanh) fraction bits for linear interpolation, the sign folded back by symmetry, and the
// result rounded into Q0.15.
func refSigmoid16(tbl *[256]int64, x int16, mult int64, shift int, tanh bool) int64 {
	v := int64(x) * mult
	if shift > 0 {
		v = (v + 1<<(shift-1)) >> shift
	}
	a := v
	if a < 0 {
		a = -a
	}
	frac := int64(9)
	if tanh {
		frac = 8
	}
	h, f := a>>frac, a&(1<<frac-1)
	var y int64 // |result| with frac extra fraction bits, Q0.16
	if h >= 255 {
		y = 0xFFFF << frac
		if !tanh {
			y = 0x7FFF << 10
		}
	} else {
		y = tbl[h]<<frac + f*(tbl[h+1]-tbl[h])
	}
	if !tanh { // σ(x) = y/2^25; σ(−x) = 1 − σ(x); Q0.15 = >> 10, half up (down below zero)
		if v >= 0 {
			return (y + 1<<9) >> 10
		}
		return (1<<25 - y + 1<<9 - 1) >> 10
	}
	// tanh = 2σ(2x) − 1 = (y − 2^23)/2^23 in units of 2^-24; Q0.15 = >> 8.
	if v >= 0 {
		return (y - 1<<23 + 1<<7) >> 8
	}
	return (-y + 1<<23 + 1<<7 - 1) >> 8
}

// TestSigmoidTanhInt16 runs int16 LOGISTIC and TANH over every int16 input for power-of-two and
// general input scales: hand-worked values, the restated reference arithmetic bit for bit, and
// the distance to the true function.
func TestSigmoidTanhInt16(t *testing.T) {
	tbl := refSigmoidTable()
	all := make([]int16, 65536)
	for i := range all {
		all[i] = int16(i - 32768)
	}
	for _, tc := range []struct {
		tanh  bool
		scale float32
		mult  int64 // input scaling derived by hand from TFLite's Prepare
		shift int
		hand  map[int16]int16
	}{
		// 2^-12: the table's own unit, multiplier 3 (x·3·4096 in table steps of 4096·3/24).
		// σ(1) = 0.73106 → 23956 (23955.3 exactly); σ(−1) → 8812; σ(8) = 0.999665 → 32757;
		// tanh(±0.5) = ±0.46212 → ±15143.
		{false, 1.0 / 4096, 3, 0, map[int16]int16{0: 16384, 4096: 23956, -4096: 8812, 32767: 32757}},
		{true, 1.0 / 4096, 3, 0, map[int16]int16{0: 0, 2048: 15143, -2048: -15143}},
		// 2^-11: tanh takes it as a power of two (multiplier 6); logistic does not and doubles
		// 2^-11·12288 = 6 twelve times: 24576 >> 12.
		{true, 1.0 / 2048, 6, 0, nil},
		{false, 1.0 / 2048, 24576, 12, nil},
		// 0.0003·12288 = 3.6864, doubled 13 times = 30198.99 → 30198 >> 13.
		{false, 0.0003, 30198, 13, nil},
		{true, 0.0003, 30198, 13, nil},
		{true, 1.0 / 3000, 0, 0, nil},
		{false, 0.001, 0, 0, nil},
	} {
		name := fmt.Sprintf("logistic scale %g", tc.scale)
		op := OpLogistic
		if tc.tanh {
			name, op = fmt.Sprintf("tanh scale %g", tc.scale), OpTanh
		}
		if tc.mult == 0 { // derive as TFLite's Prepare does for a non power-of-two scale
			m := float64(tc.scale) * 4096 * 3
			for m <= 32767.0/2 && tc.shift <= 30 {
				tc.shift++
				m *= 2
			}
			tc.mult = int64(m)
		}
		tensors := []testTensor{{shape: shape32(len(all)), typ: Int16, scale: []float32{tc.scale}, zp: []int64{0}},
			{shape: shape32(len(all)), typ: Int16, scale: []float32{1.0 / 32768}, zp: []int64{0}}}
		got := runSingleOp(t, tensors, testOp{code: op, in: []int32{0}, out: []int32{1}}, i16Bytes(all)).Int16()
		for x, want := range tc.hand {
			if g := got[int(x)+32768]; g != want {
				t.Errorf("%s: f(%d) = %d, want %d (hand-worked)", name, x, g, want)
			}
		}
		worst := 0.0
		for i, x := range all {
			want := refSigmoid16(&tbl, x, tc.mult, tc.shift, tc.tanh)
			if int64(got[i]) != want {
				t.Fatalf("%s: f(%d) = %d, want %d", name, x, got[i], want)
			}
			real := float64(x) * float64(tc.scale)
			f := 1 / (1 + math.Exp(-real))
			if tc.tanh {
				f = math.Tanh(real)
			}
			worst = max(worst, math.Abs(float64(got[i])/32768-f))
		}
		// The table spans |x| < 10.6 (logistic) / 5.3 (tanh) in steps of 1/24 (1/48); beyond
		// it the output saturates. Interpolation and input rounding stay within a few steps.
		if worst > 1.5e-4 {
			t.Errorf("%s: worst distance to the true function %.2e", name, worst)
		}
		t.Logf("%s: input scaling %d >> %d, worst distance to the true function %.2e (%.1f steps of 2^-15)", name, tc.mult, tc.shift, worst, worst*32768)
	}
}

// TestSigmoidTanhInt16Refusals: TFLite requires zero points 0 and output scale 2^-15.
func TestSigmoidTanhInt16Refusals(t *testing.T) {
	for _, tc := range []struct {
		zpIn, zpOut int64
		outScale    float32
		want        string
	}{
		{0, 0, 1.0 / 256, "output scale must be 2^-15"},
		{3, 0, 1.0 / 32768, "zero point 0"},
	} {
		tensors := []testTensor{{shape: shape32(4), typ: Int16, scale: []float32{0.001}, zp: []int64{tc.zpIn}},
			{shape: shape32(4), typ: Int16, scale: []float32{tc.outScale}, zp: []int64{tc.zpOut}}}
		_, err := Load(buildModel(tensors, []testOp{{code: OpTanh, in: []int32{0}, out: []int32{1}}}, []int32{0}, []int32{1}), Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "operator 0 (TANH)") {
			t.Errorf("%+v: %v, want an error naming operator 0 (TANH) and %q", tc, err, tc.want)
		}
	}
}
