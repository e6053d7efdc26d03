package qkernel

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// refMBQM is MultiplyByQuantizedMultiplier computed with exact rationals: x·2^left·m/2^31 rounded
// half up (gemmlowp's doubling high multiply), then divided by 2^right rounded half away from
// zero.
func refMBQM(x, m int32, shift int) int32 {
	left, right := max(shift, 0), max(-shift, 0)
	num := new(big.Int).Mul(big.NewInt(int64(x)<<uint(left)), big.NewInt(int64(m)))
	// floor((num + 2^30) / 2^31)
	num.Add(num, big.NewInt(1<<30))
	q := new(big.Int).Div(num, big.NewInt(1<<31)) // Euclidean = floor for positive divisor
	v := q.Int64()
	if right == 0 {
		return int32(v)
	}
	d := int64(1) << uint(right)
	r := new(big.Rat).SetFrac64(v, d)
	f, _ := r.Float64()
	return int32(math.Round(f)) // half away from zero; exact for these magnitudes
}

func TestMultiplyByQuantizedMultiplier(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		m := int32(1<<30 + rng.Int32N(1<<30))
		shift := rng.IntN(40) - 31
		lim := int32(math.MaxInt32)
		if shift > 0 {
			lim >>= uint(shift)
		}
		x := rng.Int32N(lim) - lim/2
		if rng.IntN(4) == 0 {
			x = rng.Int32N(2001) - 1000
		}
		if got, want := MultiplyByQuantizedMultiplier(x, m, shift), refMBQM(x, m, shift); got != want {
			t.Fatalf("MBQM(%d, %d, %d) = %d, want %d", x, m, shift, got, want)
		}
	}
}

func TestQuantizeMultiplier(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		d := math.Exp(rng.Float64()*30 - 20)
		m, s := QuantizeMultiplier(d)
		if m < 1<<30 {
			t.Fatalf("multiplier %d for %g below 2^30", m, d)
		}
		got := float64(m) * math.Ldexp(1, s-31)
		if math.Abs(got-d)/d > 1e-9 {
			t.Fatalf("QuantizeMultiplier(%g) = %d·2^%d = %g", d, m, s, got)
		}
	}
	if m, s := QuantizeMultiplier(0); m != 0 || s != 0 {
		t.Fatal("zero")
	}
}

func refMBQM64(x int64, m int32, shift int) int32 {
	reduced := int64(0x7FFF)
	if m < 0x7FFF0000 {
		reduced = (int64(m) + 1<<15) >> 16
	}
	num := new(big.Int).Mul(big.NewInt(x), big.NewInt(reduced))
	total := 15 - shift
	num.Add(num, new(big.Int).Lsh(big.NewInt(1), uint(total-1)))
	q := new(big.Int).Div(num, new(big.Int).Lsh(big.NewInt(1), uint(total)))
	return int32(q.Int64())
}

// naiveConv is a direct convolution with TFLite semantics (out-of-image taps skipped).
func naiveConv(p *ConvParams, in []int32, w []int8, depthwise bool, acc func(b, oy, ox, oc int, sum int64)) {
	m := max(p.DepthMultiplier, 1)
	for b := range p.Batch {
		for oy := range p.OutH {
			for ox := range p.OutW {
				for oc := range p.OutC {
					var s int64
					for ky := range p.KH {
						for kx := range p.KW {
							iy := oy*p.StrideH - p.PadTop + ky*p.dilH()
							ix := ox*p.StrideW - p.PadLeft + kx*p.dilW()
							if iy < 0 || iy >= p.InH || ix < 0 || ix >= p.InW {
								continue
							}
							if depthwise {
								ic := oc / m
								s += int64(w[(ky*p.KW+kx)*p.OutC+oc]) * int64(in[((b*p.InH+iy)*p.InW+ix)*p.InC+ic])
								continue
							}
							for ic := range p.InC {
								s += int64(w[((oc*p.KH+ky)*p.KW+kx)*p.InC+ic]) * int64(in[((b*p.InH+iy)*p.InW+ix)*p.InC+ic])
							}
						}
					}
					acc(b, oy, ox, oc, s)
				}
			}
		}
	}
}

func randConvParams(rng *rand.Rand, depthwise bool) *ConvParams {
	p := &ConvParams{Batch: 1 + rng.IntN(2), InH: 1 + rng.IntN(9), InW: 1 + rng.IntN(9), InC: 1 + rng.IntN(7),
		KH: 1 + rng.IntN(4), KW: 1 + rng.IntN(4), StrideH: 1 + rng.IntN(3), StrideW: 1 + rng.IntN(3),
		DilationH: 1 + rng.IntN(2), DilationW: 1 + rng.IntN(2)}
	if depthwise {
		p.DepthMultiplier = 1 + rng.IntN(3)
		p.OutC = p.InC * p.DepthMultiplier
	} else {
		p.OutC = 1 + rng.IntN(9)
	}
	same := rng.IntN(2) == 0
	outSize := func(in, k, s, d int) (int, int) {
		eff := (k-1)*d + 1
		var out int
		if same {
			out = (in + s - 1) / s
		} else {
			out = (in - eff + s) / s
		}
		pad := max((out-1)*s+eff-in, 0)
		return out, pad / 2
	}
	p.OutH, p.PadTop = outSize(p.InH, p.KH, p.StrideH, p.DilationH)
	p.OutW, p.PadLeft = outSize(p.InW, p.KW, p.StrideW, p.DilationW)
	if p.OutH <= 0 || p.OutW <= 0 {
		return randConvParams(rng, depthwise)
	}
	p.Multiplier = make([]int32, p.OutC)
	p.Shift = make([]int, p.OutC)
	for i := range p.OutC {
		p.Multiplier[i], p.Shift[i] = QuantizeMultiplier(math.Exp(rng.Float64()*6 - 10))
	}
	return p
}

func randInt8(rng *rand.Rand, n int) []int8 {
	s := make([]int8, n)
	for i := range s {
		s[i] = int8(rng.IntN(256) - 128)
	}
	return s
}

// serialPar runs a job in 3 chunks one after the other (exercising chunking).
var serialPar Parallel = threeChunks{}

type threeChunks struct{}

func (threeChunks) Run(n int, j Job) {
	step := (n + 2) / 3
	for lo := 0; lo < n; lo += step {
		j.Run(lo, min(lo+step, n))
	}
}

func TestConvInt8(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for iter := range 300 {
		p := randConvParams(rng, false)
		zp := int32(rng.IntN(256) - 128)
		p.InputOffset, p.OutputOffset = -zp, int32(rng.IntN(256)-128)
		p.ActMin, p.ActMax = ActivationRange(Activation(rng.IntN(4)), -128, 127, 0.05, p.OutputOffset)
		in := randInt8(rng, p.Batch*p.InH*p.InW*p.InC)
		w := randInt8(rng, p.OutC*p.KH*p.KW*p.InC)
		bias := make([]int32, p.OutC)
		for i := range bias {
			bias[i] = rng.Int32N(20001) - 10000
		}
		out := make([]int8, p.Batch*p.OutH*p.OutW*p.OutC)
		ConvInt8(p, in, w, WeightSums(w, p.OutC), bias, out, serialPar, nil)
		in32 := make([]int32, len(in))
		for i, v := range in {
			in32[i] = int32(v) + p.InputOffset
		}
		naiveConv(p, in32, w, false, func(b, oy, ox, oc int, s int64) {
			v := refMBQM(int32(s)+bias[oc], p.Multiplier[oc], p.Shift[oc]) + p.OutputOffset
			want := int8(min(max(v, p.ActMin), p.ActMax))
			if got := out[((b*p.OutH+oy)*p.OutW+ox)*p.OutC+oc]; got != want {
				t.Fatalf("iter %d %+v: out[%d,%d,%d,%d] = %d, want %d", iter, *p, b, oy, ox, oc, got, want)
			}
		})
	}
}

func TestDepthwiseConvInt8(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for iter := range 300 {
		p := randConvParams(rng, true)
		zp := int32(rng.IntN(256) - 128)
		p.InputOffset, p.OutputOffset = -zp, int32(rng.IntN(256)-128)
		p.ActMin, p.ActMax = -128, 127
		in := randInt8(rng, p.Batch*p.InH*p.InW*p.InC)
		w := randInt8(rng, p.KH*p.KW*p.OutC)
		var bias []int32
		if iter%2 == 0 {
			bias = make([]int32, p.OutC)
			for i := range bias {
				bias[i] = rng.Int32N(20001) - 10000
			}
		}
		out := make([]int8, p.Batch*p.OutH*p.OutW*p.OutC)
		DepthwiseConvInt8(p, in, w, bias, out, serialPar, nil)
		in32 := make([]int32, len(in))
		for i, v := range in {
			in32[i] = int32(v) + p.InputOffset
		}
		naiveConv(p, in32, w, true, func(b, oy, ox, oc int, s int64) {
			if bias != nil {
				s += int64(bias[oc])
			}
			v := refMBQM(int32(s), p.Multiplier[oc], p.Shift[oc]) + p.OutputOffset
			want := int8(min(max(v, -128), 127))
			if got := out[((b*p.OutH+oy)*p.OutW+ox)*p.OutC+oc]; got != want {
				t.Fatalf("iter %d: out[%d,%d,%d,%d] = %d, want %d", iter, b, oy, ox, oc, got, want)
			}
		})
	}
}

func TestConvInt16x8(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for iter := range 200 {
		p := randConvParams(rng, false)
		p.ActMin, p.ActMax = -32768, 32767
		in := make([]int16, p.Batch*p.InH*p.InW*p.InC)
		for i := range in {
			in[i] = int16(rng.IntN(65536) - 32768)
		}
		w := randInt8(rng, p.OutC*p.KH*p.KW*p.InC)
		bias := make([]int64, p.OutC)
		for i := range bias {
			bias[i] = rng.Int64N(2000001) - 1000000
		}
		for i := range p.OutC {
			p.Multiplier[i], p.Shift[i] = QuantizeMultiplier(math.Exp(rng.Float64()*6 - 14))
		}
		out := make([]int16, p.Batch*p.OutH*p.OutW*p.OutC)
		ConvInt16x8(p, in, w, bias, out, serialPar, nil)
		in32 := make([]int32, len(in))
		for i, v := range in {
			in32[i] = int32(v)
		}
		naiveConv(p, in32, w, false, func(b, oy, ox, oc int, s int64) {
			v := refMBQM64(s+bias[oc], p.Multiplier[oc], p.Shift[oc])
			want := int16(min(max(v, -32768), 32767))
			if got := out[((b*p.OutH+oy)*p.OutW+ox)*p.OutC+oc]; got != want {
				t.Fatalf("iter %d: out[%d,%d,%d,%d] = %d, want %d", iter, b, oy, ox, oc, got, want)
			}
		})
	}
}

func TestFullyConnectedInt8(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for range 200 {
		p := &FullyConnectedParams{Batch: 1 + rng.IntN(3), In: 1 + rng.IntN(70), Out: 1 + rng.IntN(20)}
		p.InputOffset, p.OutputOffset = int32(rng.IntN(256)-128), int32(rng.IntN(256)-128)
		m, s := QuantizeMultiplier(math.Exp(rng.Float64()*6 - 10))
		p.Multiplier, p.Shift = []int32{m}, []int{s}
		p.ActMin, p.ActMax = -128, 127
		in, w := randInt8(rng, p.Batch*p.In), randInt8(rng, p.Out*p.In)
		out := make([]int8, p.Batch*p.Out)
		FullyConnectedInt8(p, in, w, WeightSums(w, p.Out), nil, out, serialPar, nil)
		for b := range p.Batch {
			for o := range p.Out {
				var acc int32
				for k := range p.In {
					acc += int32(w[o*p.In+k]) * (int32(in[b*p.In+k]) + p.InputOffset)
				}
				want := int8(min(max(refMBQM(acc, m, s)+p.OutputOffset, -128), 127))
				if got := out[b*p.Out+o]; got != want {
					t.Fatalf("out[%d,%d] = %d, want %d", b, o, got, want)
				}
			}
		}
	}
}

func TestSoftmaxInt8(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for range 300 {
		depth := 1 + rng.IntN(40)
		scale := float32(math.Exp(rng.Float64()*4 - 5))
		p := NewSoftmaxParams(1, scale)
		in := randInt8(rng, depth*2)
		out := make([]int8, len(in))
		SoftmaxInt8(p, in, out, depth)
		for r := 0; r < len(in); r += depth {
			mx := -1e9
			for _, v := range in[r : r+depth] {
				mx = math.Max(mx, float64(v))
			}
			var sum float64
			for _, v := range in[r : r+depth] {
				sum += math.Exp(float64(scale) * (float64(v) - mx))
			}
			for i, v := range in[r : r+depth] {
				want := math.Exp(float64(scale)*(float64(v)-mx))/sum*256 - 128
				if d := math.Abs(float64(out[r+i]) - math.Min(want, 127)); d > 1.01 {
					t.Fatalf("softmax scale %g depth %d: got %d, want ≈%.2f", scale, depth, out[r+i], want)
				}
			}
		}
	}
}

func TestLogisticInt8(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for range 100 {
		scale := float32(math.Exp(rng.Float64()*5 - 6))
		zp := int32(rng.IntN(256) - 128)
		p := NewLogisticParams(scale, zp)
		in := randInt8(rng, 256)
		for i := range in {
			in[i] = int8(i - 128)
		}
		out := make([]int8, len(in))
		LogisticInt8(p, in, out)
		for i, v := range in {
			x := float64(scale) * float64(int32(v)-zp)
			want := math.Min(256/(1+math.Exp(-x))-128, 127)
			if d := math.Abs(float64(out[i]) - want); d > 1.01 {
				t.Fatalf("logistic(%g) = %d, want ≈%.2f", x, out[i], want)
			}
		}
	}
}

func TestAddMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for range 300 {
		s1, s2, so := float32(math.Exp(rng.Float64()*4-6)), float32(math.Exp(rng.Float64()*4-6)), float32(math.Exp(rng.Float64()*4-5))
		zp1, zp2, zpo := int32(rng.IntN(256)-128), int32(rng.IntN(256)-128), int32(rng.IntN(256)-128)
		sub := rng.IntN(2) == 0
		ap := NewAddParams(sub, 20, s1, s2, so, zp1, zp2, zpo, -128, 127)
		mp := NewMulParams(s1, s2, so, zp1, zp2, zpo, -128, 127)
		for range 50 {
			a, b := int32(rng.IntN(256)-128), int32(rng.IntN(256)-128)
			fa, fb := float64(s1)*float64(a-zp1), float64(s2)*float64(b-zp2)
			sum := fa + fb
			if sub {
				sum = fa - fb
			}
			want := math.Max(-128, math.Min(127, sum/float64(so)+float64(zpo)))
			if got := ap.Add(a, b, sub); math.Abs(float64(got)-want) > 1.01 {
				t.Fatalf("add/sub(%v): got %d want ≈%.2f", sub, got, want)
			}
			want = math.Max(-128, math.Min(127, fa*fb/float64(so)+float64(zpo)))
			exact := min(max(refMBQM((a-zp1)*(b-zp2), mp.Multiplier, mp.Shift)+zpo, -128), 127)
			if got := mp.Mul(a, b); math.Abs(float64(got)-want) > 1.01 || got != exact {
				t.Fatalf("mul: got %d want ≈%.2f (a=%d b=%d %+v)", got, want, a, b, mp)
			}
		}
	}
}

func TestPools(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for range 200 {
		p := &PoolParams{Batch: 1, InH: 1 + rng.IntN(8), InW: 1 + rng.IntN(8), C: 1 + rng.IntN(5), KH: 1 + rng.IntN(3), KW: 1 + rng.IntN(3), StrideH: 1 + rng.IntN(2), StrideW: 1 + rng.IntN(2), ActMin: -128, ActMax: 127}
		p.OutH, p.OutW = (p.InH+p.StrideH-1)/p.StrideH, (p.InW+p.StrideW-1)/p.StrideW
		p.PadTop = max((p.OutH-1)*p.StrideH+p.KH-p.InH, 0) / 2
		p.PadLeft = max((p.OutW-1)*p.StrideW+p.KW-p.InW, 0) / 2
		in := randInt8(rng, p.InH*p.InW*p.C)
		avg, mx := make([]int8, p.OutH*p.OutW*p.C), make([]int8, p.OutH*p.OutW*p.C)
		AveragePool(p, in, avg)
		MaxPool(p, in, mx)
		for oy := range p.OutH {
			for ox := range p.OutW {
				for c := range p.C {
					var sum, n float64
					m := -1000.0
					for ky := range p.KH {
						for kx := range p.KW {
							y, x := oy*p.StrideH-p.PadTop+ky, ox*p.StrideW-p.PadLeft+kx
							if y < 0 || y >= p.InH || x < 0 || x >= p.InW {
								continue
							}
							v := float64(in[(y*p.InW+x)*p.C+c])
							sum += v
							n++
							m = math.Max(m, v)
						}
					}
					i := (oy*p.OutW+ox)*p.C + c
					if want := math.Round(sum / n); float64(avg[i]) != want {
						t.Fatalf("avg = %d, want %v", avg[i], want)
					}
					if float64(mx[i]) != m {
						t.Fatalf("max = %d, want %v", mx[i], m)
					}
				}
			}
		}
	}
}

// TestSigmoidTableEntries checks the generated int16 sigmoid table against entries of TFLite's
// published sigmoid_table_uint16, read by hand: the midpoint correction moves most entries by
// one (entry 28 is 49975 while 65536·σ(28/24) = 49973.95).
func TestSigmoidTableEntries(t *testing.T) {
	for i, want := range map[int]uint16{0: 32768, 1: 33451, 4: 35493, 24: 47911, 28: 49975, 100: 64536, 200: 65520, 254: 65534, 255: 65535} {
		if sigmoidTable[i] != want {
			t.Errorf("sigmoidTable[%d] = %d, want %d", i, sigmoidTable[i], want)
		}
	}
	for i := 1; i < 256; i++ {
		if sigmoidTable[i] < sigmoidTable[i-1] {
			t.Fatalf("table decreases at %d", i)
		}
	}
}
