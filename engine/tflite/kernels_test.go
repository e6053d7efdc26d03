package tflite

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Every float kernel is checked against a naive implementation written here, over random shapes
// (odd sizes, strides, dilations, SAME/VALID padding), through the real loader.

func randF32(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func randI8(r *rand.Rand, n int) []int8 {
	x := make([]int8, n)
	for i := range x {
		x[i] = int8(r.IntN(255) - 127)
	}
	return x
}

func i8Bytes(x []int8) []byte {
	b := make([]byte, len(x))
	for i, v := range x {
		b[i] = byte(v)
	}
	return b
}

func i32Bytes(x ...int32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
	}
	return b
}

func shape32(s ...int) []int32 {
	out := make([]int32, len(s))
	for i, v := range s {
		out[i] = int32(v)
	}
	return out
}

// runSingleOp builds a model with one operator whose non-constant inputs are model inputs fed
// from feeds (in order), runs it and returns output 0 as float32 (or its raw bytes).
func runSingleOp(t *testing.T, tensors []testTensor, op testOp, feeds ...[]byte) *Tensor {
	t.Helper()
	var ins []int32
	for _, i := range op.in {
		if i >= 0 && tensors[i].data == nil {
			ins = append(ins, i)
		}
	}
	model := buildModel(tensors, []testOp{op}, ins, op.out[:1])
	m, err := Load(model, Options{Threads: 2})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	it, err := m.NewInterpreter()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(it.Close)
	for i, f := range feeds {
		if err := it.SetInput(i, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := it.Invoke(); err != nil {
		t.Fatalf("invoke: %v", err)
	}
	return it.Output(0)
}

func checkClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		d := math.Abs(float64(got[i] - want[i]))
		if d > tol*(1+math.Abs(float64(want[i]))) || math.IsNaN(float64(got[i])) != math.IsNaN(float64(want[i])) {
			t.Fatalf("%s: element %d = %g, want %g", what, i, got[i], want[i])
		}
	}
}

func applyAct(v float32, act int8) float32 {
	switch act {
	case 1:
		return max(v, 0)
	case 3:
		return min(max(v, 0), 6)
	case 2:
		return min(max(v, -1), 1)
	}
	return v
}

// naivePad mirrors the documented padding rule.
func naivePad(same bool, in, k, s, d int) (out, before int) {
	eff := (k-1)*d + 1
	if same {
		out = (in + s - 1) / s
	} else {
		out = 0
		if in >= eff {
			out = (in-eff)/s + 1
		}
	}
	return out, max((out-1)*s+eff-in, 0) / 2
}

// naiveSymQuant quantizes x symmetrically to int8 the slow way.
func naiveSymQuant(x []float32) ([]int32, float64) {
	m := 0.0
	for _, v := range x {
		m = math.Max(m, math.Abs(float64(v)))
	}
	q := make([]int32, len(x))
	if m == 0 {
		return q, 0
	}
	for i, v := range x {
		q[i] = int32(math.Max(-127, math.Min(127, math.Round(float64(v)*float64(float32(127/float32(m)))))))
	}
	return q, m / 127
}

func TestConv2DAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for tc := 0; tc < 60; tc++ {
		N, H, W, C, O := 1+r.IntN(2), 1+r.IntN(9), 1+r.IntN(9), 1+r.IntN(20), 1+r.IntN(9)
		kh, kw, sh, sw := 1+r.IntN(3), 1+r.IntN(3), 1+r.IntN(3), 1+r.IntN(3)
		dh, dw := 1+r.IntN(2), 1+r.IntN(2)
		same := r.IntN(2) == 0
		act := []int8{0, 1, 3}[r.IntN(3)]
		hybrid := tc%2 == 1
		oh, pt := naivePad(same, H, kh, sh, dh)
		ow, pl := naivePad(same, W, kw, sw, dw)
		if oh == 0 || ow == 0 {
			continue
		}
		x := randF32(r, N*H*W*C)
		bias := randF32(r, O)
		wf := randF32(r, O*kh*kw*C)
		wt := testTensor{shape: shape32(O, kh, kw, C), typ: Float32, data: f32Bytes(wf)}
		wscale := float32(0.02)
		var wq []int8
		if hybrid {
			wq = randI8(r, len(wf))
			for i, v := range wq {
				wf[i] = float32(v) * wscale
			}
			wt = testTensor{shape: shape32(O, kh, kw, C), typ: Int8, data: i8Bytes(wq), scale: []float32{wscale}, zp: []int64{0}}
		}
		padding := int8(1)
		if same {
			padding = 0
		}
		tensors := []testTensor{
			{shape: shape32(N, H, W, C), typ: Float32}, wt,
			{shape: shape32(O), typ: Float32, data: f32Bytes(bias)},
			{shape: shape32(N, oh, ow, O), typ: Float32},
		}
		op := testOp{code: OpConv2D, in: []int32{0, 1, 2}, out: []int32{3}, optsType: 1,
			opts: tbl{0: padding, 1: int32(sw), 2: int32(sh), 3: act, 4: int32(dw), 5: int32(dh)}}
		got := runSingleOp(t, tensors, op, f32Bytes(x)).Float32()
		want := make([]float32, N*oh*ow*O)
		for b := 0; b < N; b++ {
			img := x[b*H*W*C : (b+1)*H*W*C]
			var q []int32
			var qs float64
			if hybrid {
				q, qs = naiveSymQuant(img)
			}
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					for o := 0; o < O; o++ {
						var s float64
						var si int64
						for ky := 0; ky < kh; ky++ {
							for kx := 0; kx < kw; kx++ {
								iy, ix := oy*sh-pt+ky*dh, ox*sw-pl+kx*dw
								if iy < 0 || iy >= H || ix < 0 || ix >= W {
									continue
								}
								for ci := 0; ci < C; ci++ {
									wi := ((o*kh+ky)*kw+kx)*C + ci
									xi := (iy*W+ix)*C + ci
									if hybrid {
										si += int64(q[xi]) * int64(wq[wi])
									} else {
										s += float64(img[xi]) * float64(wf[wi])
									}
								}
							}
						}
						if hybrid {
							s = float64(si) * qs * float64(wscale)
						}
						want[((b*oh+oy)*ow+ox)*O+o] = applyAct(float32(s)+bias[o], act)
					}
				}
			}
		}
		checkClose(t, fmt.Sprintf("case %d (hybrid=%v N%d H%d W%d C%d O%d k%dx%d s%dx%d d%dx%d same=%v)",
			tc, hybrid, N, H, W, C, O, kh, kw, sh, sw, dh, dw, same), got, want, 1e-4)
	}
}

func TestDepthwiseConv2DAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for tc := 0; tc < 40; tc++ {
		N, H, W, C, mult := 1+r.IntN(2), 1+r.IntN(9), 1+r.IntN(9), 1+r.IntN(6), 1+r.IntN(3)
		kh, kw, sh, sw := 1+r.IntN(3), 1+r.IntN(3), 1+r.IntN(3), 1+r.IntN(3)
		dh, dw := 1+r.IntN(2), 1+r.IntN(2)
		same := r.IntN(2) == 0
		act := []int8{0, 1, 3}[r.IntN(3)]
		oh, pt := naivePad(same, H, kh, sh, dh)
		ow, pl := naivePad(same, W, kw, sw, dw)
		if oh == 0 || ow == 0 {
			continue
		}
		OC := C * mult
		x, wf, bias := randF32(r, N*H*W*C), randF32(r, kh*kw*OC), randF32(r, OC)
		padding := int8(1)
		if same {
			padding = 0
		}
		tensors := []testTensor{
			{shape: shape32(N, H, W, C), typ: Float32},
			{shape: shape32(1, kh, kw, OC), typ: Float32, data: f32Bytes(wf)},
			{shape: shape32(OC), typ: Float32, data: f32Bytes(bias)},
			{shape: shape32(N, oh, ow, OC), typ: Float32},
		}
		op := testOp{code: OpDepthwiseConv2D, in: []int32{0, 1, 2}, out: []int32{3}, optsType: 2,
			opts: tbl{0: padding, 1: int32(sw), 2: int32(sh), 3: int32(mult), 4: act, 5: int32(dw), 6: int32(dh)}}
		got := runSingleOp(t, tensors, op, f32Bytes(x)).Float32()
		want := make([]float32, N*oh*ow*OC)
		for b := 0; b < N; b++ {
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					for oc := 0; oc < OC; oc++ {
						ic := oc / mult
						s := float64(bias[oc])
						for ky := 0; ky < kh; ky++ {
							for kx := 0; kx < kw; kx++ {
								iy, ix := oy*sh-pt+ky*dh, ox*sw-pl+kx*dw
								if iy >= 0 && iy < H && ix >= 0 && ix < W {
									s += float64(x[((b*H+iy)*W+ix)*C+ic]) * float64(wf[(ky*kw+kx)*OC+oc])
								}
							}
						}
						want[((b*oh+oy)*ow+ox)*OC+oc] = applyAct(float32(s), act)
					}
				}
			}
		}
		checkClose(t, fmt.Sprintf("case %d", tc), got, want, 1e-4)
	}
}

func TestFullyConnectedAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for tc := 0; tc < 60; tc++ {
		B, K, U := 1+r.IntN(7), 1+r.IntN(70), 1+r.IntN(23)
		mode := tc % 3 // 0 float, 1 hybrid symmetric, 2 hybrid asymmetric
		act := []int8{0, 1, 3}[r.IntN(3)]
		x, wf, bias := randF32(r, B*K), randF32(r, U*K), randF32(r, U)
		wt := testTensor{shape: shape32(U, K), typ: Float32, data: f32Bytes(wf)}
		var wq []int8
		wscale := make([]float32, U)
		if mode > 0 {
			wq = randI8(r, U*K)
			for u := range wscale {
				wscale[u] = 0.01 + 0.01*float32(u%3)
			}
			zp := make([]int64, U)
			wt = testTensor{shape: shape32(U, K), typ: Int8, data: i8Bytes(wq), scale: wscale, zp: zp}
		}
		tensors := []testTensor{{shape: shape32(B, K), typ: Float32}, wt,
			{shape: shape32(U), typ: Float32, data: f32Bytes(bias)}, {shape: shape32(B, U), typ: Float32}}
		op := testOp{code: OpFullyConnected, in: []int32{0, 1, 2}, out: []int32{3}, optsType: 8,
			opts: tbl{0: act, 3: mode == 2}}
		got := runSingleOp(t, tensors, op, f32Bytes(x)).Float32()
		want := make([]float32, B*U)
		for b := 0; b < B; b++ {
			row := x[b*K : (b+1)*K]
			var q []int32
			var qs float64
			var zp int64
			if mode == 1 {
				q, qs = naiveSymQuant(row)
			}
			if mode == 2 { // asymmetric: [min(x,0), max(x,0)] onto [-128, 127]
				lo, hi := 0.0, 0.0
				for _, v := range row {
					lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
				}
				q = make([]int32, K)
				if hi > lo {
					qs = float64(float32(hi-lo) / 255)
					zp = int64(math.Max(-128, math.Min(127, math.Round(-128-lo/qs))))
					for i, v := range row {
						q[i] = int32(math.Max(-128, math.Min(127, math.Round(float64(v)/qs)+float64(zp))))
					}
				}
			}
			for u := 0; u < U; u++ {
				var s float64
				if mode == 0 {
					for k := 0; k < K; k++ {
						s += float64(row[k]) * float64(wf[u*K+k])
					}
				} else {
					var si int64
					for k := 0; k < K; k++ {
						si += (int64(q[k]) - zp) * int64(wq[u*K+k])
					}
					s = float64(si) * qs * float64(wscale[u])
				}
				want[b*U+u] = applyAct(float32(s)+bias[u], act)
			}
		}
		checkClose(t, fmt.Sprintf("case %d mode %d B%d K%d U%d", tc, mode, B, K, U), got, want, 2e-3)
	}
}

func TestPoolAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for tc := 0; tc < 40; tc++ {
		N, H, W, C := 1+r.IntN(2), 1+r.IntN(9), 1+r.IntN(9), 1+r.IntN(5)
		kh, kw, sh, sw := 1+r.IntN(3), 1+r.IntN(3), 1+r.IntN(3), 1+r.IntN(3)
		same := r.IntN(2) == 0
		isMax := tc%2 == 0
		oh, pt := naivePad(same, H, kh, sh, 1)
		ow, pl := naivePad(same, W, kw, sw, 1)
		if oh == 0 || ow == 0 {
			continue
		}
		x := randF32(r, N*H*W*C)
		padding := int8(1)
		if same {
			padding = 0
		}
		code := OpAveragePool2D
		if isMax {
			code = OpMaxPool2D
		}
		tensors := []testTensor{{shape: shape32(N, H, W, C), typ: Float32}, {shape: shape32(N, oh, ow, C), typ: Float32}}
		op := testOp{code: code, in: []int32{0}, out: []int32{1}, optsType: 5,
			opts: tbl{0: padding, 1: int32(sw), 2: int32(sh), 3: int32(kw), 4: int32(kh)}}
		got := runSingleOp(t, tensors, op, f32Bytes(x)).Float32()
		want := make([]float32, N*oh*ow*C)
		for b := 0; b < N; b++ {
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					for c := 0; c < C; c++ {
						s, n, m := 0.0, 0, math.Inf(-1)
						for ky := 0; ky < kh; ky++ {
							for kx := 0; kx < kw; kx++ {
								iy, ix := oy*sh-pt+ky, ox*sw-pl+kx
								if iy >= 0 && iy < H && ix >= 0 && ix < W {
									v := float64(x[((b*H+iy)*W+ix)*C+c])
									s, n, m = s+v, n+1, math.Max(m, v)
								}
							}
						}
						v := m
						if !isMax {
							v = s / float64(n)
						}
						want[((b*oh+oy)*ow+ox)*C+c] = float32(v)
					}
				}
			}
		}
		checkClose(t, fmt.Sprintf("case %d", tc), got, want, 1e-5)
	}
}

func TestTransposeConvAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for tc := 0; tc < 30; tc++ {
		N, H, W, C, O := 1, 1+r.IntN(5), 1+r.IntN(5), 1+r.IntN(4), 1+r.IntN(4)
		kh, kw, s := 1+r.IntN(3), 1+r.IntN(3), 1+r.IntN(3)
		same := r.IntN(2) == 0
		var oh, ow int
		if same {
			oh, ow = H*s, W*s
		} else {
			oh, ow = (H-1)*s+kh, (W-1)*s+kw
		}
		// The forward convolution from the output back to the input defines the padding.
		_, pt := naivePad(same, oh, kh, s, 1)
		_, pl := naivePad(same, ow, kw, s, 1)
		x, wf := randF32(r, N*H*W*C), randF32(r, O*kh*kw*C)
		padding := int8(1)
		if same {
			padding = 0
		}
		tensors := []testTensor{
			{shape: shape32(4), typ: Int32, data: i32Bytes(int32(N), int32(oh), int32(ow), int32(O))},
			{shape: shape32(O, kh, kw, C), typ: Float32, data: f32Bytes(wf)},
			{shape: shape32(N, H, W, C), typ: Float32},
			{shape: shape32(N, oh, ow, O), typ: Float32},
		}
		op := testOp{code: OpTransposeConv, in: []int32{0, 1, 2}, out: []int32{3}, optsType: 49,
			opts: tbl{0: padding, 1: int32(s), 2: int32(s)}}
		got := runSingleOp(t, tensors, op, f32Bytes(x)).Float32()
		// Gather form: out[oy,ox,o] = Σ over (iy,ky) with iy*s - pt + ky == oy.
		want := make([]float32, N*oh*ow*O)
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				for o := 0; o < O; o++ {
					var sum float64
					for ky := 0; ky < kh; ky++ {
						for kx := 0; kx < kw; kx++ {
							ny, nx := oy+pt-ky, ox+pl-kx
							if ny < 0 || nx < 0 || ny%s != 0 || nx%s != 0 || ny/s >= H || nx/s >= W {
								continue
							}
							for c := 0; c < C; c++ {
								sum += float64(x[((ny/s)*W+nx/s)*C+c]) * float64(wf[((o*kh+ky)*kw+kx)*C+c])
							}
						}
					}
					want[(oy*ow+ox)*O+o] = float32(sum)
				}
			}
		}
		checkClose(t, fmt.Sprintf("case %d", tc), got, want, 1e-4)
	}
}

func TestBinaryBroadcastAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	ops := []BuiltinOp{OpAdd, OpSub, OpMul, OpDiv, OpMaximum, OpMinimum}
	for tc := 0; tc < 80; tc++ {
		rank := 1 + r.IntN(4)
		out := make([]int, rank)
		for i := range out {
			out[i] = 1 + r.IntN(4)
		}
		mk := func() []int {
			s := append([]int(nil), out[r.IntN(rank):]...)
			for i := range s {
				if r.IntN(3) == 0 {
					s[i] = 1
				}
			}
			return s
		}
		as, bs := mk(), mk()
		shape, err := broadcastShapes(as, bs)
		if err != nil {
			t.Fatal(err)
		}
		op := ops[tc%len(ops)]
		a, b := randF32(r, numElements(as)), randF32(r, numElements(bs))
		tensors := []testTensor{{shape: shape32(as...), typ: Float32}, {shape: shape32(bs...), typ: Float32, data: f32Bytes(b)},
			{shape: shape32(shape...), typ: Float32}}
		got := runSingleOp(t, tensors, testOp{code: op, in: []int32{0, 1}, out: []int32{2}}, f32Bytes(a)).Float32()
		want := make([]float32, numElements(shape))
		for i := range want {
			// Decompose i into an index and map it into a and b (size-1 dims read index 0).
			at := func(s []int, v []float32) float32 {
				rem, off, mul := i, 0, 1
				for d := len(shape) - 1; d >= 0; d-- {
					ix := rem % shape[d]
					rem /= shape[d]
					if j := d - (len(shape) - len(s)); j >= 0 {
						if s[j] != 1 {
							off += ix * mul
						}
						mul *= s[j]
					}
				}
				return v[off]
			}
			x, y := at(as, a), at(bs, b)
			switch op {
			case OpAdd:
				want[i] = x + y
			case OpSub:
				want[i] = x - y
			case OpMul:
				want[i] = x * y
			case OpDiv:
				want[i] = x / y
			case OpMaximum:
				want[i] = max(x, y)
			case OpMinimum:
				want[i] = min(x, y)
			}
		}
		checkClose(t, fmt.Sprintf("case %d %s %v %v", tc, op, as, bs), got, want, 1e-6)
	}
}

func TestMeanAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for tc := 0; tc < 30; tc++ {
		rank := 1 + r.IntN(4)
		shape := make([]int, rank)
		for i := range shape {
			shape[i] = 1 + r.IntN(5)
		}
		var axes []int32
		red := make([]bool, rank)
		for i := range rank {
			if r.IntN(2) == 0 {
				axes = append(axes, int32(i))
				red[i] = true
			}
		}
		if len(axes) == 0 {
			axes, red[0] = []int32{0}, true
		}
		keep := r.IntN(2) == 0
		oshape := reducedShape(shape, red, keep)
		x := randF32(r, numElements(shape))
		tensors := []testTensor{{shape: shape32(shape...), typ: Float32},
			{shape: shape32(len(axes)), typ: Int32, data: i32Bytes(axes...)}, {shape: shape32(oshape...), typ: Float32}}
		got := runSingleOp(t, tensors, testOp{code: OpMean, in: []int32{0, 1}, out: []int32{2}, optsType: 27,
			opts: tbl{0: keep}}, f32Bytes(x)).Float32()
		sum := map[int]float64{}
		cnt := map[int]int{}
		for i, v := range x {
			key := reducedIndex(i, shape, red)
			sum[key] += float64(v)
			cnt[key]++
		}
		want := make([]float32, len(got))
		for k := range want {
			want[k] = float32(sum[k] / float64(cnt[k]))
		}
		checkClose(t, fmt.Sprintf("case %d %v axes %v", tc, shape, axes), got, want, 1e-5)
	}
}

func TestUnaryAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	x := randF32(r, 37)
	cases := []struct {
		op BuiltinOp
		f  func(float64) float64
	}{
		{OpLogistic, func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }},
		{OpTanh, math.Tanh},
		{OpRelu, func(v float64) float64 { return math.Max(v, 0) }},
		{OpRelu6, func(v float64) float64 { return math.Min(math.Max(v, 0), 6) }},
		{OpSqrt, func(v float64) float64 { return math.Sqrt(math.Abs(v)) }},
		{OpLog, func(v float64) float64 { return math.Log(math.Abs(v)) }},
	}
	for _, c := range cases {
		in := x
		if c.op == OpSqrt || c.op == OpLog {
			in = make([]float32, len(x))
			for i, v := range x {
				in[i] = float32(math.Abs(float64(v)))
			}
		}
		tensors := []testTensor{{shape: shape32(37), typ: Float32}, {shape: shape32(37), typ: Float32}}
		got := runSingleOp(t, tensors, testOp{code: c.op, in: []int32{0}, out: []int32{1}}, f32Bytes(in)).Float32()
		want := make([]float32, len(x))
		for i, v := range x {
			want[i] = float32(c.f(float64(v)))
		}
		checkClose(t, c.op.String(), got, want, 1e-6)
	}
	// LEAKY_RELU and SOFTMAX.
	tensors := []testTensor{{shape: shape32(37), typ: Float32}, {shape: shape32(37), typ: Float32}}
	got := runSingleOp(t, tensors, testOp{code: OpLeakyRelu, in: []int32{0}, out: []int32{1}, optsType: 75,
		opts: tbl{0: float32(0.2)}}, f32Bytes(x)).Float32()
	want := make([]float32, len(x))
	for i, v := range x {
		want[i] = v
		if v < 0 {
			want[i] = 0.2 * v
		}
	}
	checkClose(t, "LEAKY_RELU", got, want, 1e-6)
	tensors = []testTensor{{shape: shape32(1, 37), typ: Float32}, {shape: shape32(1, 37), typ: Float32}}
	got = runSingleOp(t, tensors, testOp{code: OpSoftmax, in: []int32{0}, out: []int32{1}, optsType: 9,
		opts: tbl{0: float32(1)}}, f32Bytes(x)).Float32()
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v))
	}
	for i, v := range x {
		want[i] = float32(math.Exp(float64(v)) / s)
	}
	checkClose(t, "SOFTMAX", got, want, 1e-5)
}

func TestGemmI8MatchesPortable(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for tc := 0; tc < 50; tc++ {
		M, N, K := 1+r.IntN(13), 1+r.IntN(19), 1+r.IntN(100)
		a, b := randI8(r, M*K), randI8(r, N*K)
		got, want := make([]int32, M*N), make([]int32, M*N)
		gemmI8Range(0, N, M, N, K, a, b, got)
		for m := 0; m < M; m++ {
			for n := 0; n < N; n++ {
				var s int32
				for k := 0; k < K; k++ {
					s += int32(a[m*K+k]) * int32(b[n*K+k])
				}
				want[m*N+n] = s
			}
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("M%d N%d K%d: c[%d] = %d, want %d", M, N, K, i, got[i], want[i])
			}
		}
		port := make([]int32, M*N)
		gemmI8Portable(0, N, M, N, K, a, b, port)
		for i := range port {
			if port[i] != want[i] {
				t.Fatalf("portable M%d N%d K%d: c[%d] = %d, want %d", M, N, K, i, port[i], want[i])
			}
		}
	}
}
