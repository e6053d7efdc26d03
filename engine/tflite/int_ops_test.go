package tflite

import (
	"math"
	"math/rand/v2"
	"testing"
)

// exactRound rounds to the nearest integer, ties away from zero (std::round).
func exactRound(x float64) int32 { return int32(math.Round(x)) }

// reducedIndex returns the output index that input element i of shape reduces into when the
// dimensions marked in red are reduced.
func reducedIndex(i int, shape []int, red []bool) int {
	st := stridesOf(shape)
	key, mul := 0, 1
	for d := len(shape) - 1; d >= 0; d-- {
		if !red[d] {
			key += (i / st[d] % shape[d]) * mul
			mul *= shape[d]
		}
	}
	return key
}

// reducedShape is the output shape of a reduction over the dimensions marked in red.
func reducedShape(shape []int, red []bool, keep bool) []int {
	var out []int
	for i, d := range shape {
		if !red[i] {
			out = append(out, d)
		} else if keep {
			out = append(out, 1)
		}
	}
	return out
}

// TestMeanInt8AgainstExact runs quantized MEAN (int8 and int16) over random shapes, axes and
// quantization parameters and compares each output with the exactly rounded real mean,
// round(si·(Σq − n·zi)/(n·so)) + zo. TFLite's integer arithmetic (a Q31 multiplier with 1/n
// folded in, a rounding high multiply then a rounding shift) differs from it by one step when
// the two roundings go the same way (about one output in six here), never by more.
func TestMeanInt8AgainstExact(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	total, exact := 0, 0
	for tc := range 60 {
		typ := Int8
		if tc%3 == 2 {
			typ = Int16
		}
		rank := 1 + r.IntN(4)
		shape := make([]int, rank)
		for i := range shape {
			shape[i] = 1 + r.IntN(7)
		}
		if tc == 0 { // a large reduction: 1/n needs most of the multiplier's shift range
			typ, rank, shape = Int8, 4, []int{1, 49, 40, 3}
		}
		red := make([]bool, rank)
		var axes []int32
		for i := range rank {
			if r.IntN(2) == 0 || (tc == 0 && (i == 1 || i == 2)) {
				axes, red[i] = append(axes, int32(i)), true
			}
		}
		if len(axes) == 0 {
			axes, red[rank-1] = []int32{int32(rank - 1)}, true
		}
		keep := r.IntN(2) == 0
		oshape := reducedShape(shape, red, keep)
		lo, hi := typeRange(typ)
		si, so := float32(0.01+r.Float64()*0.2), float32(0.01+r.Float64()*0.2)
		var zi, zo int32
		if typ == Int8 {
			zi, zo = int32(r.IntN(256)-128), int32(r.IntN(256)-128)
		}
		x := make([]int32, numElements(shape))
		raw := make([]byte, len(x)*typ.Size())
		for i := range x {
			x[i] = lo + int32(r.IntN(int(hi-lo)+1))
			if typ == Int8 {
				raw[i] = byte(x[i])
			} else {
				raw[2*i], raw[2*i+1] = byte(x[i]), byte(x[i]>>8)
			}
		}
		tensors := []testTensor{{shape: shape32(shape...), typ: typ, scale: []float32{si}, zp: []int64{int64(zi)}},
			{shape: shape32(len(axes)), typ: Int32, data: i32Bytes(axes...)},
			{shape: shape32(oshape...), typ: typ, scale: []float32{so}, zp: []int64{int64(zo)}}}
		out := runSingleOp(t, tensors, testOp{code: OpMean, in: []int32{0, 1}, out: []int32{2}, optsType: 27,
			opts: tbl{0: keep}}, raw)
		sum := map[int]int64{}
		cnt := map[int]int64{}
		for i, v := range x {
			key := reducedIndex(i, shape, red)
			sum[key] += int64(v)
			cnt[key]++
		}
		for k := range out.NumElements() {
			var got int32
			if typ == Int8 {
				got = int32(out.Int8()[k])
			} else {
				got = int32(out.Int16()[k])
			}
			real := float64(si) * float64(sum[k]-cnt[k]*int64(zi)) / float64(cnt[k])
			want := min(max(exactRound(real/float64(so))+zo, lo), hi)
			if d := got - want; d < -1 || d > 1 {
				t.Fatalf("case %d %s %v axes %v: output %d = %d, exact mean gives %d", tc, typ, shape, axes, k, got, want)
			}
			total++
			if got == want {
				exact++
			} else if testing.Verbose() {
				t.Logf("case %d %s n=%d si=%g so=%g zi=%d zo=%d sum=%d: got %d, exact %d (%.4f)", tc, typ, cnt[k], si, so, zi, zo, sum[k], got, want, real/float64(so))
			}
		}
	}
	if exact < total*3/4 {
		t.Fatalf("only %d of %d outputs equal the exactly rounded mean", exact, total)
	}
	t.Logf("%d of %d outputs equal the exactly rounded mean, the rest one step off (double rounding)", exact, total)
}

// TestMeanInt8Reference checks hand-worked cases of TFLite's integer mean bit for bit.
func TestMeanInt8Reference(t *testing.T) {
	for _, tc := range []struct {
		x      []int8
		si, so float32
		zi, zo int64
		want   int8
	}{
		{[]int8{1, 2}, 1, 1, 0, 0, 2},                      // 1.5 rounds away from zero
		{[]int8{-1, -2}, 1, 1, 0, 0, -1},                   // a negative tie rounds up in the high multiply
		{[]int8{-76}, 0.023566794, 0.08263456, 55, 3, -35}, // double rounding: −131·0.5704 = −74.72 → −75, /2 → −38
		{[]int8{10, 20, 31}, 0.5, 0.25, 4, -3, 30},         // 0.5·(61−3·4)/3/0.25 = 32.67 → 33, −3
		{[]int8{127, 127, 127, 127}, 1, 0.5, 0, 0, 127},    // saturates
	} {
		tensors := []testTensor{{shape: shape32(1, len(tc.x)), typ: Int8, scale: []float32{tc.si}, zp: []int64{tc.zi}},
			{shape: shape32(1), typ: Int32, data: i32Bytes(1)},
			{shape: shape32(1), typ: Int8, scale: []float32{tc.so}, zp: []int64{tc.zo}}}
		got := runSingleOp(t, tensors, testOp{code: OpMean, in: []int32{0, 1}, out: []int32{2}, optsType: 27}, i8Bytes(tc.x)).Int8()[0]
		if got != tc.want {
			t.Errorf("MEAN %v (si %g zi %d → so %g zo %d) = %d, want %d", tc.x, tc.si, tc.zi, tc.so, tc.zo, got, tc.want)
		}
	}
}

// TestConcatRequantize concatenates int8 and int16 inputs whose scales and zero points differ
// from the output's and compares with round(si·(q − zi)/so) + zo; an input with the output's
// parameters is copied bit for bit.
func TestConcatRequantize(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	for _, typ := range []DType{Int8, Int16} {
		lo, hi := typeRange(typ)
		type in struct {
			n      int
			scale  float32
			zp     int64
			values []int32
		}
		ins := []in{{n: 3, scale: 0.05, zp: 7}, {n: 2, scale: 0.1, zp: -3}, {n: 4, scale: 0.02, zp: 0}}
		so, zo := float32(0.05), int64(7) // input 0 shares the output's parameters
		if typ == Int16 {
			for i := range ins {
				ins[i].zp = 0
			}
			zo = 0
		}
		outer, inner := 3, 5
		var tensors []testTensor
		var feeds [][]byte
		var idx []int32
		for i := range ins {
			ins[i].values = make([]int32, outer*ins[i].n*inner)
			raw := make([]byte, len(ins[i].values)*typ.Size())
			for j := range ins[i].values {
				v := lo + int32(r.IntN(int(hi-lo)+1))
				ins[i].values[j] = v
				if typ == Int8 {
					raw[j] = byte(v)
				} else {
					raw[2*j], raw[2*j+1] = byte(v), byte(v>>8)
				}
			}
			tensors = append(tensors, testTensor{shape: shape32(outer, ins[i].n, inner), typ: typ,
				scale: []float32{ins[i].scale}, zp: []int64{ins[i].zp}})
			feeds = append(feeds, raw)
			idx = append(idx, int32(i))
		}
		tensors = append(tensors, testTensor{shape: shape32(outer, 9, inner), typ: typ, scale: []float32{so}, zp: []int64{zo}})
		out := runSingleOp(t, tensors, testOp{code: OpConcatenation, in: idx, out: []int32{3}, optsType: 10,
			opts: tbl{0: int32(1)}}, feeds...)
		p := 0
		for o := range outer {
			for i, x := range ins {
				for j := range x.n * inner {
					q := x.values[o*x.n*inner+j]
					var got int32
					if typ == Int8 {
						got = int32(out.Int8()[p])
					} else {
						got = int32(out.Int16()[p])
					}
					want := q
					if i > 0 {
						real := float64(x.scale) * float64(int64(q)-x.zp)
						want = min(max(exactRound(real/float64(so))+int32(zo), lo), hi)
					}
					if got != want {
						t.Fatalf("%s: output %d (input %d value %d) = %d, want %d", typ, p, i, q, got, want)
					}
					p++
				}
			}
		}
	}
}
