package tflite

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine/tflite/internal/qkernel"
)

// medianOf returns the median of per-iteration durations in seconds.
func medianOf(times []time.Duration) float64 {
	slices.Sort(times)
	return times[len(times)/2].Seconds()
}

// BenchmarkMicroSpeechPerSecond times tflite-micro's micro_speech pipeline on one second of
// audio: 49 runs of the int8 audio preprocessor (Signal ops) plus one run of the int8 keyword
// model. Metrics: ms per second of audio (median) and the real-time factor.
func BenchmarkMicroSpeechPerSecond(b *testing.B) {
	ms := loadMicroSpeech(b)
	audio := readPCM16(b, "tflite/micro_speech/yes_1000ms.wav")
	times := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		f, err := ms.features(audio)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := ms.classify(f); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(t0))
	}
	med := medianOf(times)
	b.ReportMetric(med*1e3, "ms/s-audio")
	b.ReportMetric(1/med, "x-realtime")
}

// mobileNetLayer is one layer of a MobileNet-v1 0.25 network on a 96×96×1 input (the
// person-detection architecture): a 3×3 stride-2 conv, then 13 depthwise 3×3 + pointwise 1×1
// pairs.
type mobileNetLayer struct {
	p  qkernel.ConvParams
	dw bool
	w  []int8
	ws []int32
	b  []int32
}

func mobileNet025(rng *rand.Rand) []*mobileNetLayer {
	var layers []*mobileNetLayer
	h, c := 96, 1
	add := func(dw bool, k, stride, outC int) {
		oh := (h + stride - 1) / stride
		p := qkernel.ConvParams{Batch: 1, InH: h, InW: h, InC: c, OutH: oh, OutW: oh, OutC: outC, KH: k, KW: k,
			StrideH: stride, StrideW: stride, DilationH: 1, DilationW: 1, InputOffset: 128, OutputOffset: -128,
			ActMin: -128, ActMax: 127}
		pad := max((oh-1)*stride+k-h, 0) / 2
		p.PadTop, p.PadLeft = pad, pad
		if dw {
			p.DepthMultiplier = 1
		}
		p.Multiplier, p.Shift = make([]int32, outC), make([]int, outC)
		l := &mobileNetLayer{dw: dw, b: make([]int32, outC)}
		for i := range outC {
			p.Multiplier[i], p.Shift[i] = qkernel.QuantizeMultiplier(0.002 + 0.001*rng.Float64())
			l.b[i] = rng.Int32N(2000) - 1000
		}
		n := k * k * outC
		if !dw {
			n *= c
		}
		l.w = make([]int8, n)
		for i := range l.w {
			l.w[i] = int8(rng.IntN(255) - 127)
		}
		if !dw {
			l.ws = qkernel.WeightSums(l.w, outC)
		}
		l.p = p
		layers = append(layers, l)
		h, c = oh, outC
	}
	add(false, 3, 2, 8)
	for _, s := range []struct{ stride, out int }{{1, 16}, {2, 32}, {1, 32}, {2, 64}, {1, 64}, {2, 128},
		{1, 128}, {1, 128}, {1, 128}, {1, 128}, {1, 128}, {2, 256}, {1, 256}} {
		add(true, 3, s.stride, c)
		add(false, 1, 1, s.out)
	}
	return layers
}

// goParallel splits n into at most threads chunks run on goroutines.
func goParallel(threads int) qkernel.Parallel {
	if threads <= 1 {
		return nil
	}
	return goChunks(threads)
}

type goChunks int

func (threads goChunks) Run(n int, j qkernel.Job) {
	var wg sync.WaitGroup
	chunk := (n + int(threads) - 1) / int(threads)
	for lo := 0; lo < n; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) { defer wg.Done(); j.Run(lo, hi) }(lo, min(lo+chunk, n))
	}
	wg.Wait()
}

// BenchmarkInt8MobileNet025 times the int8 CONV_2D and DEPTHWISE_CONV_2D kernels over the 27
// convolution layers of a MobileNet-v1 0.25 on a 96×96×1 input (the shape of tflite-micro's
// person-detection model, which is not in the test data; weights are random). Metrics: ms per
// inference (median) and GMAC/s.
func BenchmarkInt8MobileNet025(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	layers := mobileNet025(rng)
	var macs int64
	bufs := make([][]int8, len(layers)+1)
	bufs[0] = make([]int8, 96*96)
	for i, l := range layers {
		p := &l.p
		k := int64(p.KH * p.KW)
		if !l.dw {
			k *= int64(p.InC)
		}
		macs += int64(p.OutH*p.OutW*p.OutC) * k
		bufs[i+1] = make([]int8, p.OutH*p.OutW*p.OutC)
	}
	for i := range bufs[0] {
		bufs[0][i] = int8(rng.IntN(256) - 128)
	}
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			par := goParallel(threads)
			var ws qkernel.Workspace
			times := make([]time.Duration, 0, b.N)
			for b.Loop() {
				t0 := time.Now()
				for i, l := range layers {
					if l.dw {
						qkernel.DepthwiseConvInt8(&l.p, bufs[i], l.w, l.b, bufs[i+1], par, &ws)
					} else {
						qkernel.ConvInt8(&l.p, bufs[i], l.w, l.ws, l.b, bufs[i+1], par, &ws)
					}
				}
				times = append(times, time.Since(t0))
			}
			med := medianOf(times)
			b.ReportMetric(med*1e3, "ms/inference")
			b.ReportMetric(float64(macs)/med/1e9, "GMAC/s")
		})
	}
}

// BenchmarkTransposeConvInt16x8 times a 16x8 TRANSPOSE_CONV of the shape SEANet's deepest
// decoder upsamples with (a 3×4 filter, 64 → 64 channels, stride 2 along time: [1,3,6,64] →
// [1,3,12,64], int64 bias; random weights) through a built model on one thread. Metrics: µs per
// Invoke (median) and GMAC/s (all input pixels × taps × channels, the MACs counted at load).
func BenchmarkTransposeConvInt16x8(b *testing.B) {
	r := rand.New(rand.NewPCG(91, 92))
	const H, W, C, O, KH, KW = 3, 6, 64, 64, 3, 4
	ws := make([]float32, O)
	for i := range ws {
		ws[i] = 0.01
	}
	tensors := []testTensor{
		{shape: shape32(4), typ: Int32, data: i32Bytes(1, H, 2*W, O)},
		{shape: shape32(O, KH, KW, C), typ: Int8, data: i8Bytes(randI8(r, O*KH*KW*C)), scale: ws, zp: make([]int64, O)},
		{shape: shape32(1, H, W, C), typ: Int16, scale: []float32{1.0 / 8192}, zp: []int64{0}},
		{shape: shape32(O), typ: Int64, data: i64Bytes(make([]int64, O))},
		{shape: shape32(1, H, 2*W, O), typ: Int16, scale: []float32{1.0 / 1024}, zp: []int64{0}},
	}
	op := testOp{code: OpTransposeConv, in: []int32{0, 1, 2, 3}, out: []int32{4}, optsType: 49,
		opts: tbl{0: int8(0), 1: int32(2), 2: int32(1)}}
	m, err := Load(buildModel(tensors, []testOp{op}, []int32{2}, []int32{4}), Options{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	it, err := m.NewInterpreter()
	if err != nil {
		b.Fatal(err)
	}
	defer it.Close()
	copy(it.Input(0).Int16(), randI16(r, H*W*C))
	times := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if err := it.Invoke(); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(t0))
	}
	med := medianOf(times)
	b.ReportMetric(med*1e6, "us/invoke")
	b.ReportMetric(float64(m.macs)/med/1e9, "GMAC/s")
}
