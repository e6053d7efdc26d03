package tflite

import (
	"fmt"
)

// CONV_2D (float32 and hybrid), DEPTHWISE_CONV_2D (float32, int8 weights dequantized at load)
// and TRANSPOSE_CONV (float32).

func init() {
	RegisterBuiltin(OpConv2D, Float32, func() Kernel { return &convKernel{} })
	RegisterBuiltin(OpDepthwiseConv2D, Float32, func() Kernel { return &depthwiseKernel{} })
	RegisterBuiltin(OpTransposeConv, Float32, func() Kernel { return &transposeConvKernel{} })
}

// Padding values (schema Padding enum).
const (
	paddingSame  = 0
	paddingValid = 1
)

// convGeom is the geometry shared by convolutions and pooling (NHWC).
type convGeom struct {
	batch, inH, inW, inC int
	outH, outW           int
	kH, kW               int
	strideH, strideW     int
	dilH, dilW           int
	padT, padL           int
}

// outSize returns the output size and the leading pad of one spatial dimension.
func outSize(padding int8, in, k, stride, dil int) (out, padBefore int, err error) {
	if stride <= 0 || dil <= 0 || k <= 0 {
		return 0, 0, fmt.Errorf("stride %d, dilation %d and filter %d must be positive", stride, dil, k)
	}
	eff := (k-1)*dil + 1
	switch padding {
	case paddingSame:
		out = (in + stride - 1) / stride
	case paddingValid:
		out = (in - eff + stride) / stride
		if in < eff {
			out = 0
		}
	default:
		return 0, 0, fmt.Errorf("unknown padding %d", padding)
	}
	total := max((out-1)*stride+eff-in, 0)
	return out, total / 2, nil
}

func (g *convGeom) setup(padding int8, in *Tensor) error {
	if len(in.Shape) != 4 {
		return fmt.Errorf("input shape %v, want NHWC", in.Shape)
	}
	g.batch, g.inH, g.inW, g.inC = in.Shape[0], in.Shape[1], in.Shape[2], in.Shape[3]
	var err error
	if g.outH, g.padT, err = outSize(padding, g.inH, g.kH, g.strideH, g.dilH); err != nil {
		return err
	}
	g.outW, g.padL, err = outSize(padding, g.inW, g.kW, g.strideW, g.dilW)
	return err
}

// runIm2col runs im2col over all output rows of image b, split over threads.
func runIm2col[T float32 | int8](c *OpContext, g *convGeom, in []T, b int, rows []T, pad T) {
	j := jobOf[im2colJob[T]](c)
	*j = im2colJob[T]{g: g, in: in, b: b, rows: rows, pad: pad}
	c.parallelWork(g.outH, g.outH*g.outW*g.kH*g.kW*g.inC, j)
	*j = im2colJob[T]{}
}

type im2colJob[T float32 | int8] struct {
	g        *convGeom
	in, rows []T
	b        int
	pad      T
}

func (j *im2colJob[T]) Run(y0, y1 int) { im2col(j.g, j.in, j.b, j.rows, j.pad, y0, y1) }

// im2col writes, for every output pixel of image b, the receptive field as one row of
// kH·kW·inC values ([ky][kx][c] order, matching the filter layout); taps outside the image are
// set to pad.
func im2col[T float32 | int8](g *convGeom, in []T, b int, rows []T, pad T, y0, y1 int) {
	K := g.kH * g.kW * g.inC
	img := in[b*g.inH*g.inW*g.inC:]
	for oy := y0; oy < y1; oy++ {
		for ox := 0; ox < g.outW; ox++ {
			r := rows[(oy*g.outW+ox)*K:][:K]
			p := 0
			for ky := 0; ky < g.kH; ky++ {
				iy := oy*g.strideH - g.padT + ky*g.dilH
				for kx := 0; kx < g.kW; kx++ {
					ix := ox*g.strideW - g.padL + kx*g.dilW
					dst := r[p : p+g.inC]
					if iy < 0 || iy >= g.inH || ix < 0 || ix >= g.inW {
						for i := range dst {
							dst[i] = pad
						}
					} else {
						copy(dst, img[(iy*g.inW+ix)*g.inC:])
					}
					p += g.inC
				}
			}
		}
	}
}

type convKernel struct {
	g       convGeom
	outC    int
	lo, hi  float32
	direct  bool // 1×1, stride 1, no padding: the input is already the im2col matrix
	hybrid  bool
	asym    bool
	wScale  []float32
	wRowSum []int32
	cols    int // scratch: im2col rows (float32 or int8)
	qIn     int // scratch: quantized input (hybrid)
	acc     int // scratch: int32 accumulators (hybrid)
}

func (k *convKernel) Prepare(c *OpContext) error {
	if err := needInputs(c, 2); err != nil {
		return err
	}
	in, w, out := c.Inputs[0], c.Inputs[1], c.Outputs[0]
	if len(w.Shape) != 4 {
		return fmt.Errorf("filter shape %v, want [out, kh, kw, in]", w.Shape)
	}
	g := &k.g
	g.strideW, g.strideH = int(c.Builtin.Int32(1, 1)), int(c.Builtin.Int32(2, 1))
	g.dilW, g.dilH = int(c.Builtin.Int32(4, 1)), int(c.Builtin.Int32(5, 1))
	k.outC, g.kH, g.kW = w.Shape[0], w.Shape[1], w.Shape[2]
	if err := g.setup(c.Builtin.Int8(0, paddingSame), in); err != nil {
		return err
	}
	if w.Shape[3] != g.inC {
		return fmt.Errorf("filter depth %d != input depth %d (grouped convolution is not supported)", w.Shape[3], g.inC)
	}
	var err error
	if k.lo, k.hi, err = actRange(c.Builtin.Int8(3, 0)); err != nil {
		return err
	}
	if err := checkFloatBiasOut(c, 2, k.outC); err != nil {
		return err
	}
	out.Shape = []int{g.batch, g.outH, g.outW, k.outC}
	k.direct = g.kH == 1 && g.kW == 1 && g.strideH == 1 && g.strideW == 1 && g.padT == 0 && g.padL == 0
	M, K := g.outH*g.outW, g.kH*g.kW*g.inC
	switch w.Type {
	case Float32:
		if !k.direct {
			k.cols = c.AddScratch(4 * M * K)
		}
	case Int8:
		if !w.Const {
			return fmt.Errorf("int8 filter must be constant")
		}
		k.hybrid = true
		pc, err := newPerChannel(w)
		if err != nil {
			return err
		}
		if pc.n > 1 && w.Quant.Axis != 0 {
			return fmt.Errorf("per-channel filter must be quantized along dimension 0")
		}
		// TFLite's per-channel hybrid path quantizes the input asymmetrically.
		k.asym = pc.n > 1
		k.wScale = make([]float32, k.outC)
		k.wRowSum = make([]int32, k.outC)
		wd := w.Int8()
		for o := range k.outC {
			s, zp := pc.at(o * K)
			if zp != 0 {
				return fmt.Errorf("hybrid filter needs zero point 0, got %d", zp)
			}
			k.wScale[o] = s
			for _, v := range wd[o*K : (o+1)*K] {
				k.wRowSum[o] += int32(v)
			}
		}
		k.qIn = c.AddScratch(g.inH * g.inW * g.inC)
		if !k.direct {
			k.cols = c.AddScratch(M * K)
		}
		k.acc = c.AddScratch(4 * M * k.outC)
	default:
		return fmt.Errorf("filter type %s is not supported with float input", w.Type)
	}
	return nil
}

// MACs reports the multiply-accumulates per Invoke.
func (k *convKernel) MACs(*OpContext) int64 {
	g := &k.g
	return int64(g.batch) * int64(g.outH*g.outW) * int64(k.outC) * int64(g.kH*g.kW*g.inC)
}

func (k *convKernel) Eval(c *OpContext) error {
	g := &k.g
	in, w, out := c.Inputs[0], c.Inputs[1], c.Outputs[0].Float32()
	var bias []float32
	if len(c.Inputs) > 2 && c.Inputs[2] != nil {
		bias = c.Inputs[2].Float32()
	}
	M, K, N := g.outH*g.outW, g.kH*g.kW*g.inC, k.outC
	imgSize := g.inH * g.inW * g.inC
	for b := range g.batch {
		o := out[b*M*N : (b+1)*M*N]
		if !k.hybrid {
			x := in.Float32()
			var a []float32
			if k.direct {
				a = x[b*imgSize : (b+1)*imgSize]
			} else {
				a = bytesAsFloat32(c.Scratch(k.cols))
				runIm2col(c, g, x, b, a, 0)
			}
			gemmF32(c, M, N, K, a, w.Float32(), o, N)
		} else {
			q := bytesAsInt8(c.Scratch(k.qIn))
			var scale float32
			var zp int32
			img := in.Float32()[b*imgSize : (b+1)*imgSize]
			if k.asym {
				scale, zp = quantizeRowAsymmetric(img, q)
			} else {
				scale = quantizeSymmetric(c, img, q)
			}
			a := q
			if !k.direct {
				a = bytesAsInt8(c.Scratch(k.cols))
				runIm2col(c, g, q, 0, a, int8(zp))
			}
			acc := bytesAsInt32(c.Scratch(k.acc))
			gemmI8(c, M, N, K, a, w.Int8(), acc)
			runEpilogue(c, epilogueJob{out: o, N: N, bias: bias, lo: k.lo, hi: k.hi,
				acc: acc, scale: scale, zp: zp, rowSum: k.wRowSum, wScale: k.wScale}, M)
			continue
		}
		runEpilogue(c, epilogueJob{out: o, N: N, bias: bias, lo: k.lo, hi: k.hi}, M)
	}
	return nil
}

type depthwiseKernel struct {
	g      convGeom
	mult   int
	outC   int
	lo, hi float32
	wDeq   []float32 // int8 filters dequantized at load
}

func (k *depthwiseKernel) Prepare(c *OpContext) error {
	if err := needInputs(c, 2); err != nil {
		return err
	}
	in, w, out := c.Inputs[0], c.Inputs[1], c.Outputs[0]
	if len(w.Shape) != 4 || w.Shape[0] != 1 {
		return fmt.Errorf("filter shape %v, want [1, kh, kw, channels]", w.Shape)
	}
	g := &k.g
	g.strideW, g.strideH = int(c.Builtin.Int32(1, 1)), int(c.Builtin.Int32(2, 1))
	g.dilW, g.dilH = int(c.Builtin.Int32(5, 1)), int(c.Builtin.Int32(6, 1))
	g.kH, g.kW, k.outC = w.Shape[1], w.Shape[2], w.Shape[3]
	if err := g.setup(c.Builtin.Int8(0, paddingSame), in); err != nil {
		return err
	}
	if g.inC == 0 || k.outC%g.inC != 0 {
		return fmt.Errorf("filter channels %d not a multiple of input channels %d", k.outC, g.inC)
	}
	k.mult = k.outC / g.inC
	if dm := int(c.Builtin.Int32(3, 0)); dm != 0 && dm != k.mult {
		return fmt.Errorf("depth_multiplier %d does not match filter (%d)", dm, k.mult)
	}
	var err error
	if k.lo, k.hi, err = actRange(c.Builtin.Int8(4, 0)); err != nil {
		return err
	}
	if err := checkFloatBiasOut(c, 2, k.outC); err != nil {
		return err
	}
	switch w.Type {
	case Float32:
	case Int8:
		if !w.Const {
			return fmt.Errorf("int8 filter must be constant")
		}
		pc, err := newPerChannel(w)
		if err != nil {
			return err
		}
		k.wDeq = make([]float32, w.NumElements())
		for i, v := range w.Int8() {
			s, zp := pc.at(i)
			k.wDeq[i] = s * float32(int64(v)-zp)
		}
	default:
		return fmt.Errorf("filter type %s is not supported with float input", w.Type)
	}
	out.Shape = []int{g.batch, g.outH, g.outW, k.outC}
	return nil
}

// MACs reports the multiply-accumulates per Invoke.
func (k *depthwiseKernel) MACs(*OpContext) int64 {
	g := &k.g
	return int64(g.batch) * int64(g.outH*g.outW) * int64(k.outC) * int64(g.kH*g.kW)
}

func (k *depthwiseKernel) Eval(c *OpContext) error {
	g := &k.g
	j := jobOf[depthwiseJob](c)
	*j = depthwiseJob{k: k, x: c.Inputs[0].Float32(), out: c.Outputs[0].Float32(), w: k.wDeq}
	if j.w == nil {
		j.w = c.Inputs[1].Float32()
	}
	if len(c.Inputs) > 2 && c.Inputs[2] != nil {
		j.bias = c.Inputs[2].Float32()
	}
	for b := range g.batch {
		j.b = b
		c.parallelWork(g.outH, g.outH*g.outW*k.outC*g.kH*g.kW, j)
	}
	*j = depthwiseJob{}
	return nil
}

// depthwiseJob computes output rows [y0, y1) of image b.
type depthwiseJob struct {
	k               *depthwiseKernel
	x, out, w, bias []float32
	b               int
}

func (j *depthwiseJob) Run(y0, y1 int) {
	k, g, b, out, w, bias := j.k, &j.k.g, j.b, j.out, j.w, j.bias
	C, OC := g.inC, k.outC
	img := j.x[b*g.inH*g.inW*C:]
	for oy := y0; oy < y1; oy++ {
		for ox := 0; ox < g.outW; ox++ {
			o := out[((b*g.outH+oy)*g.outW+ox)*OC:][:OC]
			if bias != nil {
				copy(o, bias[:OC])
			} else {
				clear(o)
			}
			for ky := 0; ky < g.kH; ky++ {
				iy := oy*g.strideH - g.padT + ky*g.dilH
				if iy < 0 || iy >= g.inH {
					continue
				}
				for kx := 0; kx < g.kW; kx++ {
					ix := ox*g.strideW - g.padL + kx*g.dilW
					if ix < 0 || ix >= g.inW {
						continue
					}
					px := img[(iy*g.inW+ix)*C:][:C]
					wr := w[(ky*g.kW+kx)*OC:][:OC]
					if k.mult == 1 {
						for i, v := range px {
							o[i] += v * wr[i]
						}
					} else {
						for i, v := range px {
							for m := 0; m < k.mult; m++ {
								o[i*k.mult+m] += v * wr[i*k.mult+m]
							}
						}
					}
				}
			}
			clampSlice(o, k.lo, k.hi)
		}
	}
}

type transposeConvKernel struct {
	g      convGeom // in = the op's data input, out = the op's output
	outC   int
	lo, hi float32
}

func (k *transposeConvKernel) Prepare(c *OpContext) error {
	if err := needInputs(c, 3); err != nil {
		return err
	}
	shape, w, in, out := c.Inputs[0], c.Inputs[1], c.Inputs[2], c.Outputs[0]
	os, err := intsOf(shape)
	if err != nil {
		return fmt.Errorf("output_shape: %w", err)
	}
	if len(os) != 4 || len(in.Shape) != 4 || len(w.Shape) != 4 {
		return fmt.Errorf("want 4-D output_shape, input and filter")
	}
	if w.Type != Float32 || out.Type != Float32 {
		return fmt.Errorf("only float32 filters and outputs are supported")
	}
	g := &k.g
	g.batch, g.inH, g.inW, g.inC = in.Shape[0], in.Shape[1], in.Shape[2], in.Shape[3]
	k.outC, g.kH, g.kW = w.Shape[0], w.Shape[1], w.Shape[2]
	if w.Shape[3] != g.inC || os[0] != g.batch || os[3] != k.outC {
		return fmt.Errorf("filter %v, input %v and output_shape %v do not match", w.Shape, in.Shape, os)
	}
	g.outH, g.outW = os[1], os[2]
	g.strideW, g.strideH = int(c.Builtin.Int32(1, 1)), int(c.Builtin.Int32(2, 1))
	g.dilH, g.dilW = 1, 1
	if g.strideH <= 0 || g.strideW <= 0 || g.outH <= 0 || g.outW <= 0 {
		return fmt.Errorf("bad strides or output size")
	}
	padding := c.Builtin.Int8(0, paddingSame)
	g.padT = transposeConvPad(padding, g.outH, g.kH, g.strideH)
	g.padL = transposeConvPad(padding, g.outW, g.kW, g.strideW)
	if k.lo, k.hi, err = actRange(c.Builtin.Int8(3, 0)); err != nil {
		return err
	}
	if err := checkFloatBiasOut(c, 3, k.outC); err != nil {
		return err
	}
	out.Shape = os
	return nil
}

// MACs reports the multiply-accumulates per Invoke.
func (k *transposeConvKernel) MACs(*OpContext) int64 {
	g := &k.g
	return int64(g.batch) * int64(g.inH*g.inW) * int64(k.outC) * int64(g.kH*g.kW*g.inC)
}

func (k *transposeConvKernel) Eval(c *OpContext) error {
	g := &k.g
	w, x, out := c.Inputs[1].Float32(), c.Inputs[2].Float32(), c.Outputs[0].Float32()
	OC, C := k.outC, g.inC
	clear(out)
	for b := range g.batch {
		for iy := 0; iy < g.inH; iy++ {
			for ix := 0; ix < g.inW; ix++ {
				px := x[((b*g.inH+iy)*g.inW+ix)*C:][:C]
				for ky := 0; ky < g.kH; ky++ {
					oy := iy*g.strideH - g.padT + ky
					if oy < 0 || oy >= g.outH {
						continue
					}
					for kx := 0; kx < g.kW; kx++ {
						ox := ix*g.strideW - g.padL + kx
						if ox < 0 || ox >= g.outW {
							continue
						}
						o := out[((b*g.outH+oy)*g.outW+ox)*OC:][:OC]
						for oc := range o {
							wr := w[((oc*g.kH+ky)*g.kW+kx)*C:][:C]
							var s float32
							for i, v := range px {
								s += v * wr[i]
							}
							o[oc] += s
						}
					}
				}
			}
		}
	}
	var bias []float32
	if len(c.Inputs) > 3 && c.Inputs[3] != nil {
		bias = c.Inputs[3].Float32()
	}
	n := g.batch * g.outH * g.outW
	for i := range n {
		o := out[i*OC : (i+1)*OC]
		if bias != nil {
			for j := range o {
				o[j] += bias[j]
			}
		}
		clampSlice(o, k.lo, k.hi)
	}
	return nil
}

// checkFloatBiasOut checks the optional float32 bias at input i (n values) and a float32 output.
func checkFloatBiasOut(c *OpContext, i, n int) error {
	if len(c.Inputs) > i && c.Inputs[i] != nil {
		if b := c.Inputs[i]; b.Type != Float32 || b.NumElements() != n {
			return fmt.Errorf("bias %s%v does not match %d channels", b.Type, b.Shape, n)
		}
	}
	if c.Outputs[0].Type != Float32 {
		return fmt.Errorf("output type %s, want FLOAT32", c.Outputs[0].Type)
	}
	return nil
}
