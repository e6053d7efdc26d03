package tflite

import (
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/atoll-studio/atoll/engine/tflite/internal/qkernel"
)

// Integer (quantized) kernels: int8 and int16x8 models. The arithmetic lives in
// internal/qkernel; this file reads options and quantization parameters and wires tensors.

func init() {
	RegisterBuiltin(OpFullyConnected, Int8, func() Kernel { return &qFCKernel{} })
	RegisterBuiltin(OpConv2D, Int8, func() Kernel { return &qConvKernel{} })
	RegisterBuiltin(OpConv2D, Int16, func() Kernel { return &qConvKernel{} })
	RegisterBuiltin(OpDepthwiseConv2D, Int8, func() Kernel { return &qConvKernel{depthwise: true} })
	for _, t := range []DType{Int8, Int16} {
		RegisterBuiltin(OpAveragePool2D, t, func() Kernel { return &qPoolKernel{avg: true} })
		RegisterBuiltin(OpMaxPool2D, t, func() Kernel { return &qPoolKernel{} })
		for _, op := range []BuiltinOp{OpAdd, OpSub, OpMul} {
			RegisterBuiltin(op, t, func() Kernel { return &qBinaryKernel{} })
		}
		RegisterBuiltin(OpQuantize, t, func() Kernel { return &qRequantizeKernel{} })
	}
	RegisterBuiltin(OpQuantize, Int32, func() Kernel { return &qRequantizeKernel{} })
	RegisterBuiltin(OpMean, Int8, func() Kernel { return &qMeanKernel{} })
	RegisterBuiltin(OpMean, Int16, func() Kernel { return &qMeanKernel{} })
	RegisterBuiltin(OpSoftmax, Int8, func() Kernel { return &qSoftmaxKernel{} })
	RegisterBuiltin(OpLogistic, Int8, func() Kernel { return &qLogisticKernel{} })
	RegisterBuiltin(OpRelu, Int8, func() Kernel { return &qReluKernel{} })
	RegisterBuiltin(OpRelu6, Int8, func() Kernel { return &qReluKernel{six: true} })
}

// quantOf returns a tensor's per-tensor scale and zero point.
func quantOf(t *Tensor) (float32, int32, error) {
	if t.Quant == nil || len(t.Quant.Scale) == 0 {
		return 0, 0, fmt.Errorf("tensor %d %q (%s) is not quantized", t.Index, t.Name, t.Type)
	}
	var zp int32
	if len(t.Quant.ZeroPoint) > 0 {
		zp = int32(t.Quant.ZeroPoint[0])
	}
	return t.Quant.Scale[0], zp, nil
}

// quantPair returns the per-tensor scales and zero points of an input and an output.
func quantPair(in, out *Tensor) (float32, int32, float32, int32, error) {
	si, zi, err := quantOf(in)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	so, zo, err := quantOf(out)
	return si, zi, so, zo, err
}

func typeRange(t DType) (int32, int32) {
	switch t {
	case Int8:
		return -128, 127
	case Int16:
		return -32768, 32767
	case UInt8:
		return 0, 255
	}
	return math.MinInt32, math.MaxInt32
}

func qNeed(c *OpContext, nIn int, types ...DType) error {
	if len(c.Inputs) < nIn || len(c.Outputs) < 1 {
		return fmt.Errorf("want %d inputs and 1 output, got %d and %d", nIn, len(c.Inputs), len(c.Outputs))
	}
	for i := range nIn {
		if c.Inputs[i] == nil {
			return fmt.Errorf("input %d is missing", i)
		}
	}
	if len(types) > 0 {
		in := c.Inputs[0].Type
		ok := false
		for _, t := range types {
			ok = ok || in == t
		}
		if !ok {
			return fmt.Errorf("input type %s not supported", in)
		}
	}
	return nil
}

// qSame is qNeed for kernels whose output has the input's type (all but QUANTIZE).
func qSame(c *OpContext, nIn int, types ...DType) error {
	if err := qNeed(c, nIn, types...); err != nil {
		return err
	}
	if in, out := c.Inputs[0].Type, c.Outputs[0].Type; out != in {
		return fmt.Errorf("output type %s differs from input type %s", out, in)
	}
	return nil
}

// qUnary prepares an element-wise kernel with one input and one output of the same type and
// per-tensor quantization: it checks them, sizes the output like the input and returns both
// scales and zero points.
func qUnary(c *OpContext, types ...DType) (si float32, zi int32, so float32, zo int32, err error) {
	if err = qSame(c, 1, types...); err != nil {
		return
	}
	in, out := c.Inputs[0], c.Outputs[0]
	if si, zi, so, zo, err = quantPair(in, out); err != nil {
		return
	}
	out.Shape = append([]int(nil), in.Shape...)
	return
}

// qParallel returns the Parallel and the per-interpreter Workspace for a qkernel call.
func (c *OpContext) qParallel() (qkernel.Parallel, *qkernel.Workspace) {
	ws := jobOf[qkernel.Workspace](c)
	if c.Threads <= 1 || c.pool == nil {
		return nil, ws
	}
	return qParallel{c}, ws
}

// qParallel runs qkernel jobs on the interpreter's worker pool.
type qParallel struct{ c *OpContext }

func (p qParallel) Run(n int, j qkernel.Job) { p.c.parallel(n, j) }

// padOut computes an output size and the leading padding (TFLite padding.h).
func padOut(padding uint8, in, k, stride, dil int) (int, int, error) {
	if stride < 1 || dil < 1 || k < 1 {
		return 0, 0, fmt.Errorf("bad stride %d, dilation %d or kernel %d", stride, dil, k)
	}
	eff := (k-1)*dil + 1
	var out int
	switch padding {
	case 0: // SAME
		out = (in + stride - 1) / stride
	case 1: // VALID
		out = (in - eff + stride) / stride
	default:
		return 0, 0, fmt.Errorf("unknown padding %d", padding)
	}
	if out <= 0 {
		return 0, 0, fmt.Errorf("output size %d for input %d, kernel %d", out, in, eff)
	}
	return out, max((out-1)*stride+eff-in, 0) / 2, nil
}

// channelMultipliers computes per-channel requantization multipliers.
func channelMultipliers(inScale float32, w *Tensor, outScale float32, n int) ([]int32, []int, error) {
	if w.Quant == nil || len(w.Quant.Scale) == 0 {
		return nil, nil, fmt.Errorf("weights tensor %d is not quantized", w.Index)
	}
	if len(w.Quant.Scale) != 1 && len(w.Quant.Scale) != n {
		return nil, nil, fmt.Errorf("weights have %d scales for %d channels", len(w.Quant.Scale), n)
	}
	for _, zp := range w.Quant.ZeroPoint {
		if zp != 0 {
			return nil, nil, fmt.Errorf("weights zero point %d, want 0 (symmetric)", zp)
		}
	}
	m, s := make([]int32, n), make([]int, n)
	for i := range n {
		ws := w.Quant.Scale[0]
		if len(w.Quant.Scale) > 1 {
			ws = w.Quant.Scale[i]
		}
		m[i], s[i] = qkernel.QuantizeMultiplier(float64(inScale) * float64(ws) / float64(outScale))
	}
	return m, s, nil
}

// qConvKernel serves CONV_2D (int8 per-channel and int16x8) and DEPTHWISE_CONV_2D (int8).
type qConvKernel struct {
	depthwise bool
	p         qkernel.ConvParams
	wsum      []int32
}

func (k *qConvKernel) Prepare(c *OpContext) error {
	if err := qSame(c, 2, Int8, Int16); err != nil {
		return err
	}
	in, w, out := c.Inputs[0], c.Inputs[1], c.Outputs[0]
	if len(in.Shape) != 4 || len(w.Shape) != 4 {
		return fmt.Errorf("want 4-D input and filter, got %v and %v", in.Shape, w.Shape)
	}
	if w.Type != Int8 || !w.Const {
		return fmt.Errorf("filter must be a constant INT8 tensor, got %s", w.Type)
	}
	o := c.Builtin
	var padding uint8
	var act int8
	p := &k.p
	p.Batch, p.InH, p.InW, p.InC = in.Shape[0], in.Shape[1], in.Shape[2], in.Shape[3]
	p.KH, p.KW = w.Shape[1], w.Shape[2]
	if k.depthwise {
		padding = o.Uint8(0, 0)
		p.StrideW, p.StrideH = int(o.Int32(1, 1)), int(o.Int32(2, 1))
		p.DepthMultiplier = int(o.Int32(3, 1))
		act = o.Int8(4, 0)
		p.DilationW, p.DilationH = int(o.Int32(5, 1)), int(o.Int32(6, 1))
		if w.Shape[0] != 1 {
			return fmt.Errorf("filter shape %v, want [1, kh, kw, channels]", w.Shape)
		}
		p.OutC = w.Shape[3]
		if p.DepthMultiplier < 1 || p.OutC != p.InC*p.DepthMultiplier {
			// Some converters leave depth_multiplier inconsistent; derive it from the shapes.
			if p.InC == 0 || p.OutC%p.InC != 0 {
				return fmt.Errorf("filter channels %d not a multiple of input channels %d", p.OutC, p.InC)
			}
			p.DepthMultiplier = p.OutC / p.InC
		}
		if in.Type != Int8 {
			return fmt.Errorf("depthwise input type %s not supported", in.Type)
		}
	} else {
		padding = o.Uint8(0, 0)
		p.StrideW, p.StrideH = int(o.Int32(1, 1)), int(o.Int32(2, 1))
		act = o.Int8(3, 0)
		p.DilationW, p.DilationH = int(o.Int32(4, 1)), int(o.Int32(5, 1))
		p.OutC = w.Shape[0]
		if w.Shape[3] != p.InC {
			return fmt.Errorf("filter depth %d, input channels %d", w.Shape[3], p.InC)
		}
	}
	var err error
	if p.OutH, p.PadTop, err = padOut(padding, p.InH, p.KH, p.StrideH, p.DilationH); err != nil {
		return err
	}
	if p.OutW, p.PadLeft, err = padOut(padding, p.InW, p.KW, p.StrideW, p.DilationW); err != nil {
		return err
	}
	inScale, inZP, outScale, outZP, err := quantPair(in, out)
	if err != nil {
		return err
	}
	if in.Type == Int16 && (inZP != 0 || outZP != 0) {
		return fmt.Errorf("int16 activations need zero point 0, got %d and %d", inZP, outZP)
	}
	p.InputOffset, p.OutputOffset = -inZP, outZP
	if p.Multiplier, p.Shift, err = channelMultipliers(inScale, w, outScale, p.OutC); err != nil {
		return err
	}
	lo, hi := typeRange(out.Type)
	p.ActMin, p.ActMax = qkernel.ActivationRange(qkernel.Activation(act), lo, hi, outScale, outZP)
	if len(c.Inputs) > 2 && c.Inputs[2] != nil {
		b := c.Inputs[2]
		want := Int32
		if in.Type == Int16 {
			want = Int64
			if b.Type == Int32 {
				return fmt.Errorf("int16x8 convolution with int32 bias is not supported")
			}
		}
		if b.Type != want || !b.Const || b.NumElements() != p.OutC {
			return fmt.Errorf("bias must be a constant %s[%d], got %s%v", want, p.OutC, b.Type, b.Shape)
		}
	}
	if !k.depthwise && in.Type == Int8 {
		k.wsum = qkernel.WeightSums(w.Int8(), p.OutC)
	}
	out.Shape = []int{p.Batch, p.OutH, p.OutW, p.OutC}
	return nil
}

// MACs returns the multiply-accumulate count of one invocation.
func (k *qConvKernel) MACs(*OpContext) int64 {
	p := &k.p
	n := int64(p.Batch) * int64(p.OutH) * int64(p.OutW) * int64(p.OutC) * int64(p.KH) * int64(p.KW)
	if k.depthwise {
		return n
	}
	return n * int64(p.InC)
}

func (k *qConvKernel) Eval(c *OpContext) error {
	in, w, out := c.Inputs[0], c.Inputs[1], c.Outputs[0]
	var bias *Tensor
	if len(c.Inputs) > 2 {
		bias = c.Inputs[2]
	}
	par, ws := c.qParallel()
	switch {
	case k.depthwise:
		var b []int32
		if bias != nil {
			b = bias.Int32()
		}
		qkernel.DepthwiseConvInt8(&k.p, in.Int8(), w.Int8(), b, out.Int8(), par, ws)
	case in.Type == Int16:
		var b []int64
		if bias != nil {
			b = bias.Int64()
		}
		qkernel.ConvInt16x8(&k.p, in.Int16(), w.Int8(), b, out.Int16(), par, ws)
	default:
		var b []int32
		if bias != nil {
			b = bias.Int32()
		}
		qkernel.ConvInt8(&k.p, in.Int8(), w.Int8(), k.wsum, b, out.Int8(), par, ws)
	}
	return nil
}

// qFCKernel serves FULLY_CONNECTED with int8 activations and weights.
type qFCKernel struct {
	p    qkernel.FullyConnectedParams
	wsum []int32
}

func (k *qFCKernel) Prepare(c *OpContext) error {
	if err := qSame(c, 2, Int8); err != nil {
		return err
	}
	in, w, out := c.Inputs[0], c.Inputs[1], c.Outputs[0]
	if len(w.Shape) != 2 || w.Type != Int8 || !w.Const {
		return fmt.Errorf("weights must be a constant 2-D INT8 tensor, got %s%v", w.Type, w.Shape)
	}
	if c.Builtin.Uint8(1, 0) != 0 {
		return fmt.Errorf("shuffled weights format is not supported")
	}
	p := &k.p
	p.Out, p.In = w.Shape[0], w.Shape[1]
	n := in.NumElements()
	if p.In == 0 || n%p.In != 0 {
		return fmt.Errorf("input of %d elements does not divide into rows of %d", n, p.In)
	}
	p.Batch = n / p.In
	inScale, inZP, outScale, outZP, err := quantPair(in, out)
	if err != nil {
		return err
	}
	p.InputOffset, p.OutputOffset = -inZP, outZP
	nch := 1
	if w.Quant != nil && len(w.Quant.Scale) > 1 {
		nch = p.Out
	}
	if p.Multiplier, p.Shift, err = channelMultipliers(inScale, w, outScale, nch); err != nil {
		return err
	}
	p.ActMin, p.ActMax = qkernel.ActivationRange(qkernel.Activation(c.Builtin.Int8(0, 0)), -128, 127, outScale, outZP)
	if len(c.Inputs) > 2 && c.Inputs[2] != nil {
		b := c.Inputs[2]
		if b.Type != Int32 || !b.Const || b.NumElements() != p.Out {
			return fmt.Errorf("bias must be a constant INT32[%d], got %s%v", p.Out, b.Type, b.Shape)
		}
	}
	k.wsum = qkernel.WeightSums(w.Int8(), p.Out)
	if c.Builtin.Bool(2, false) && len(in.Shape) > 0 {
		out.Shape = append(append([]int(nil), in.Shape[:len(in.Shape)-1]...), p.Out)
	} else {
		out.Shape = []int{p.Batch, p.Out}
	}
	return nil
}

// MACs returns the multiply-accumulate count of one invocation.
func (k *qFCKernel) MACs(*OpContext) int64 { return int64(k.p.Batch) * int64(k.p.In) * int64(k.p.Out) }

func (k *qFCKernel) Eval(c *OpContext) error {
	var b []int32
	if len(c.Inputs) > 2 && c.Inputs[2] != nil {
		b = c.Inputs[2].Int32()
	}
	par, ws := c.qParallel()
	qkernel.FullyConnectedInt8(&k.p, c.Inputs[0].Int8(), c.Inputs[1].Int8(), k.wsum, b, c.Outputs[0].Int8(), par, ws)
	return nil
}

// qPoolKernel serves AVERAGE_POOL_2D and MAX_POOL_2D on int8 and int16.
type qPoolKernel struct {
	avg bool
	p   qkernel.PoolParams
}

func (k *qPoolKernel) Prepare(c *OpContext) error {
	if err := qSame(c, 1, Int8, Int16); err != nil {
		return err
	}
	in, out := c.Inputs[0], c.Outputs[0]
	if len(in.Shape) != 4 {
		return fmt.Errorf("want 4-D input, got %v", in.Shape)
	}
	o := c.Builtin
	p := &k.p
	p.Batch, p.InH, p.InW, p.C = in.Shape[0], in.Shape[1], in.Shape[2], in.Shape[3]
	padding := o.Uint8(0, 0)
	p.StrideW, p.StrideH = int(o.Int32(1, 1)), int(o.Int32(2, 1))
	p.KW, p.KH = int(o.Int32(3, 1)), int(o.Int32(4, 1))
	var err error
	if p.OutH, p.PadTop, err = padOut(padding, p.InH, p.KH, p.StrideH, 1); err != nil {
		return err
	}
	if p.OutW, p.PadLeft, err = padOut(padding, p.InW, p.KW, p.StrideW, 1); err != nil {
		return err
	}
	outScale, outZP, err := quantOf(out)
	if err != nil {
		return err
	}
	lo, hi := typeRange(in.Type)
	p.ActMin, p.ActMax = qkernel.ActivationRange(qkernel.Activation(o.Int8(5, 0)), lo, hi, outScale, outZP)
	out.Shape = []int{p.Batch, p.OutH, p.OutW, p.C}
	return nil
}

func (k *qPoolKernel) Eval(c *OpContext) error {
	in, out := c.Inputs[0], c.Outputs[0]
	switch {
	case in.Type == Int16 && k.avg:
		qkernel.AveragePool(&k.p, in.Int16(), out.Int16())
	case in.Type == Int16:
		qkernel.MaxPool(&k.p, in.Int16(), out.Int16())
	case k.avg:
		qkernel.AveragePool(&k.p, in.Int8(), out.Int8())
	default:
		qkernel.MaxPool(&k.p, in.Int8(), out.Int8())
	}
	return nil
}

// qBinaryKernel serves ADD, SUB and MUL on int8 and int16 with broadcasting.
type qBinaryKernel struct {
	add      qkernel.AddParams
	mul      qkernel.MulParams
	shape    []int // output shape
	aStr     []int // per output dim, 0 where broadcast
	bStr     []int
	sameSize bool
}

// qBroadcast returns the broadcast shape of a and b and their strides over it.
func qBroadcast(a, b []int) (out, as, bs []int, err error) {
	n := max(len(a), len(b))
	out = make([]int, n)
	as, bs = make([]int, n), make([]int, n)
	dim := func(s []int, i int) int {
		j := i - (n - len(s))
		if j < 0 {
			return 1
		}
		return s[j]
	}
	for i := range n {
		da, db := dim(a, i), dim(b, i)
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, nil, nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	sa, sb := 1, 1
	for i := n - 1; i >= 0; i-- {
		if dim(a, i) != 1 {
			as[i] = sa
		}
		if dim(b, i) != 1 {
			bs[i] = sb
		}
		sa *= dim(a, i)
		sb *= dim(b, i)
	}
	return out, as, bs, nil
}

func (k *qBinaryKernel) Prepare(c *OpContext) error {
	if err := qSame(c, 2, Int8, Int16); err != nil {
		return err
	}
	a, b, out := c.Inputs[0], c.Inputs[1], c.Outputs[0]
	if b.Type != a.Type || out.Type != a.Type {
		return fmt.Errorf("mixed types %s, %s -> %s", a.Type, b.Type, out.Type)
	}
	var err error
	if k.shape, k.aStr, k.bStr, err = qBroadcast(a.Shape, b.Shape); err != nil {
		return err
	}
	k.sameSize = slices.Equal(a.Shape, b.Shape)
	if !k.sameSize && len(k.shape) > 8 {
		return fmt.Errorf("broadcast over rank %d is not supported", len(k.shape))
	}
	s1, zp1, s2, zp2, err := quantPair(a, b)
	if err != nil {
		return err
	}
	so, zpo, err := quantOf(out)
	if err != nil {
		return err
	}
	lo, hi := typeRange(out.Type)
	lo, hi = qkernel.ActivationRange(qkernel.Activation(c.Builtin.Int8(0, 0)), lo, hi, so, zpo)
	if c.Op == OpMul {
		k.mul = qkernel.NewMulParams(s1, s2, so, zp1, zp2, zpo, lo, hi)
	} else {
		shift := 20
		if a.Type == Int16 {
			shift = 15
		}
		k.add = qkernel.NewAddParams(c.Op == OpSub, shift, s1, s2, so, zp1, zp2, zpo, lo, hi)
	}
	out.Shape = append([]int(nil), k.shape...)
	return nil
}

func (k *qBinaryKernel) Eval(c *OpContext) error {
	if c.Inputs[0].Type == Int16 {
		qBinary(k, c.Op, c.Inputs[0].Int16(), c.Inputs[1].Int16(), c.Outputs[0].Int16())
	} else {
		qBinary(k, c.Op, c.Inputs[0].Int8(), c.Inputs[1].Int8(), c.Outputs[0].Int8())
	}
	return nil
}

func qBinary[T int8 | int16](k *qBinaryKernel, op BuiltinOp, a, b, out []T) {
	f := func(x, y T) T {
		if op == OpMul {
			return T(k.mul.Mul(int32(x), int32(y)))
		}
		return T(k.add.Add(int32(x), int32(y), op == OpSub))
	}
	if k.sameSize {
		for i := range out {
			out[i] = f(a[i], b[i])
		}
		return
	}
	n := len(k.shape)
	var idxs [8]int // rank checked in Prepare
	idx := idxs[:n]
	ai, bi := 0, 0
	for i := range out {
		out[i] = f(a[ai], b[bi])
		for d := n - 1; d >= 0; d-- {
			idx[d]++
			ai += k.aStr[d]
			bi += k.bStr[d]
			if idx[d] < k.shape[d] {
				break
			}
			ai -= k.aStr[d] * idx[d]
			bi -= k.bStr[d] * idx[d]
			idx[d] = 0
		}
	}
}

// qRequantizeKernel serves QUANTIZE between quantized types (a change of scale and zero point,
// TFLite's reference Requantize): int8/int16 to int8/int16/int32, and int32 to int8/int16, the
// pairs tflite-micro supports.
type qRequantizeKernel struct{ p qkernel.RequantizeParams }

func (k *qRequantizeKernel) Prepare(c *OpContext) error {
	if err := qNeed(c, 1, Int8, Int16, Int32); err != nil {
		return err
	}
	in, out := c.Inputs[0], c.Outputs[0]
	switch {
	case out.Type != Int8 && out.Type != Int16 && out.Type != Int32,
		in.Type == Int32 && out.Type == Int32:
		return fmt.Errorf("requantize %s to %s is not supported", in.Type, out.Type)
	}
	si, zi, so, zo, err := quantPair(in, out)
	if err != nil {
		return err
	}
	lo, hi := typeRange(out.Type)
	k.p = qkernel.NewRequantizeParams(si, so, zi, zo, lo, hi)
	out.Shape = append([]int(nil), in.Shape...)
	return nil
}

func (k *qRequantizeKernel) Eval(c *OpContext) error {
	in, out := c.Inputs[0], c.Outputs[0]
	switch in.Type {
	case Int8:
		requantizeTo(k.p, in.Int8(), out)
	case Int16:
		requantizeTo(k.p, in.Int16(), out)
	default:
		requantizeTo(k.p, in.Int32(), out)
	}
	return nil
}

// requantizeTo requantizes x into out, whose type (int8, int16 or int32) Prepare checked.
func requantizeTo[I int8 | int16 | int32](p qkernel.RequantizeParams, x []I, out *Tensor) {
	switch out.Type {
	case Int8:
		qkernel.Requantize(p, x, out.Int8())
	case Int16:
		qkernel.Requantize(p, x, out.Int16())
	default:
		qkernel.Requantize(p, x, out.Int32())
	}
}

// qSoftmaxKernel serves SOFTMAX int8 -> int8 (output zero point -128, scale 1/256).
type qSoftmaxKernel struct {
	p     qkernel.SoftmaxParams
	depth int
}

func (k *qSoftmaxKernel) Prepare(c *OpContext) error {
	if err := qSame(c, 1, Int8); err != nil {
		return err
	}
	in, out := c.Inputs[0], c.Outputs[0]
	if out.Type != Int8 {
		return fmt.Errorf("softmax int8 -> %s is not supported", out.Type)
	}
	si, _, so, zo, err := quantPair(in, out)
	if err != nil {
		return err
	}
	if zo != -128 || math.Abs(float64(so)-1.0/256) > 1e-6 {
		return fmt.Errorf("int8 softmax output must have zero point -128 and scale 1/256, got %d and %g", zo, so)
	}
	if len(in.Shape) == 0 {
		return fmt.Errorf("scalar input")
	}
	k.depth = in.Shape[len(in.Shape)-1]
	beta := c.Builtin.Float32(0, 1)
	k.p = qkernel.NewSoftmaxParams(float64(beta), si)
	out.Shape = append([]int(nil), in.Shape...)
	return nil
}

func (k *qSoftmaxKernel) Eval(c *OpContext) error {
	qkernel.SoftmaxInt8(k.p, c.Inputs[0].Int8(), c.Outputs[0].Int8(), k.depth)
	return nil
}

// qLogisticKernel serves LOGISTIC int8 (output zero point -128, scale 1/256).
type qLogisticKernel struct{ p qkernel.LogisticParams }

func (k *qLogisticKernel) Prepare(c *OpContext) error {
	if err := qSame(c, 1, Int8); err != nil {
		return err
	}
	si, zi, err := quantOf(c.Inputs[0])
	if err != nil {
		return err
	}
	if _, zo, err := quantOf(c.Outputs[0]); err != nil || zo != -128 {
		return fmt.Errorf("int8 logistic output must have zero point -128 (%v)", err)
	}
	k.p = qkernel.NewLogisticParams(si, zi)
	c.Outputs[0].Shape = append([]int(nil), c.Inputs[0].Shape...)
	return nil
}

func (k *qLogisticKernel) Eval(c *OpContext) error {
	qkernel.LogisticInt8(k.p, c.Inputs[0].Int8(), c.Outputs[0].Int8())
	return nil
}

// qReluKernel serves RELU (requantizing) and RELU6 (a clamp, in and out sharing quantization)
// on int8.
type qReluKernel struct {
	six bool
	p   qkernel.RequantizeParams
}

func (k *qReluKernel) Prepare(c *OpContext) error {
	si, zi, so, zo, err := qUnary(c, Int8)
	if err != nil {
		return err
	}
	if k.six {
		six := min(zi+int32(math.Round(float64(6/si))), 127)
		k.p = qkernel.RequantizeParams{Min: zi, Max: six}
	} else {
		k.p = qkernel.NewRequantizeParams(si, so, zi, zo, max(-128, zo), 127)
	}
	return nil
}

func (k *qReluKernel) Eval(c *OpContext) error {
	if k.six {
		qkernel.Clamp(c.Inputs[0].Int8(), c.Outputs[0].Int8(), k.p.Min, k.p.Max)
		return nil
	}
	qkernel.Requantize(k.p, c.Inputs[0].Int8(), c.Outputs[0].Int8())
	return nil
}

// qMeanKernel serves MEAN on int8 and int16 with TFLite's reference integer arithmetic
// (reference_ops::QuantizedMeanOrSum): int32 sums of the raw values, the input zero point
// removed once per output (sum − zp·count, wrapped to int32), then one requantization whose
// multiplier absorbs 1/count, plus the output zero point, clamped to the type.
type qMeanKernel struct {
	reduceKernel
	mult          int32
	shift         int
	zpIn, zpOut   int32
	lo, hi        int32
	sums, outSize int // scratch id of the int32 sums; output elements
}

func (k *qMeanKernel) Prepare(c *OpContext) error {
	if err := qSame(c, 2, Int8, Int16); err != nil {
		return err
	}
	if err := k.prepareShape(c); err != nil {
		return err
	}
	in, out := c.Inputs[0], c.Outputs[0]
	if out.Type != in.Type {
		return fmt.Errorf("input type %s, output type %s", in.Type, out.Type)
	}
	if len(k.inShape) > 8 {
		return fmt.Errorf("rank %d too large", len(k.inShape))
	}
	si, zi, so, zo, err := quantPair(in, out)
	if err != nil {
		return err
	}
	k.zpIn, k.zpOut = zi, zo
	k.lo, k.hi = typeRange(out.Type)
	k.mult, k.shift = qkernel.QuantizeMultiplier(float64(si) / float64(so))
	if n := int64(k.count); n > 0 {
		// Fold 1/n into the multiplier: shift it left by floor(log2 n) (at most 32, and no
		// further than keeps the final shift >= -31), then divide by n.
		sh := min(bits.Len64(uint64(n))-1, 32, 31+k.shift)
		if sh < 0 {
			return fmt.Errorf("input/output scale ratio %g too small", float64(si)/float64(so))
		}
		k.mult = int32((int64(k.mult) << sh) / n)
		k.shift -= sh
	}
	k.outSize = out.NumElements()
	k.sums = c.AddScratch(4 * k.outSize)
	return nil
}

func (k *qMeanKernel) Eval(c *OpContext) error {
	sums := view[int32](c.Scratch(k.sums))[:k.outSize]
	clear(sums)
	if c.Inputs[0].Type == Int16 {
		qReduceSum(&k.reduceKernel, c.Inputs[0].Int16(), sums)
		qMeanOut(k, sums, c.Outputs[0].Int16())
	} else {
		qReduceSum(&k.reduceKernel, c.Inputs[0].Int8(), sums)
		qMeanOut(k, sums, c.Outputs[0].Int8())
	}
	return nil
}

// qReduceSum adds every input element into its output's int32 sum (wrapping, as the
// reference's int32 accumulator).
func qReduceSum[T int8 | int16](k *reduceKernel, x []T, sums []int32) {
	r := len(k.inShape)
	if len(x) == 0 {
		return
	}
	inner, step := 1, 0
	if r > 0 {
		inner, step = k.inShape[r-1], k.oStride[r-1]
	}
	var idx [8]int
	for p := 0; p < len(x); p += inner {
		o := 0
		for i := 0; i < r-1; i++ {
			o += idx[i] * k.oStride[i]
		}
		row := x[p : p+inner]
		if step == 0 {
			var s int32
			for _, v := range row {
				s += int32(v)
			}
			sums[o] += s
		} else {
			for j, v := range row {
				sums[o+j*step] += int32(v)
			}
		}
		for i := r - 2; i >= 0; i-- {
			idx[i]++
			if idx[i] < k.inShape[i] {
				break
			}
			idx[i] = 0
		}
	}
}

func qMeanOut[T int8 | int16](k *qMeanKernel, sums []int32, out []T) {
	n := int64(k.count)
	if n == 0 {
		clear(out)
		return
	}
	for i, s := range sums {
		v := qkernel.MultiplyByQuantizedMultiplier(int32(int64(s)-int64(k.zpIn)*n), k.mult, k.shift) + k.zpOut
		out[i] = T(min(max(v, k.lo), k.hi))
	}
}
