package tflite

import (
	"fmt"

	"github.com/atoll-studio/atoll/engine/tflite/internal/qkernel"
)

// Quantized kernels audio models with int16 activations need (SEANet-style encoders/decoders):
// TRANSPOSE_CONV (int8 and 16x8), LEAKY_RELU (int8, int16), and the int16 table LOGISTIC and
// TANH. The arithmetic lives in internal/qkernel.

func init() {
	for _, t := range []DType{Int8, Int16} {
		RegisterBuiltin(OpTransposeConv, t, func() Kernel { return &qTransposeConvKernel{} })
		RegisterBuiltin(OpLeakyRelu, t, func() Kernel { return &qLeakyReluKernel{} })
	}
	RegisterBuiltin(OpLogistic, Int16, func() Kernel { return &qSigmoid16Kernel{} })
	RegisterBuiltin(OpTanh, Int16, func() Kernel { return &qSigmoid16Kernel{tanh: true} })
}

// transposeConvPad is TFLite's padding for TRANSPOSE_CONV along one dimension: the leading
// padding of the forward convolution (dilation 1) that maps the transposed output, of size out,
// back onto the input (ComputePaddingHeightWidth with the output size as its input size).
func transposeConvPad(padding int8, out, k, stride int) int {
	var fwd int
	if padding == paddingValid {
		fwd = (out - k + stride) / stride
	} else {
		fwd = (out + stride - 1) / stride
	}
	return max((fwd-1)*stride+k-out, 0) / 2
}

// qTransposeConvKernel serves TRANSPOSE_CONV with int8 activations (int32 bias) and int16
// activations with int8 weights (int64 bias; an int16 bias, which older converters wrote and
// tflite-micro widens, is widened at load). Inputs: 0 output_shape (constant), 1 filter OHWI
// per-channel along dimension 0, 2 data, 3 bias (optional).
type qTransposeConvKernel struct {
	p      qkernel.TransposeConvParams
	bias64 []int64 // int16 bias widened once
	acc    int     // scratch id: one accumulator per output element
}

func (k *qTransposeConvKernel) Prepare(c *OpContext) error {
	if len(c.Inputs) < 3 || c.Inputs[0] == nil || c.Inputs[1] == nil || c.Inputs[2] == nil || len(c.Outputs) < 1 {
		return fmt.Errorf("want output_shape, filter and input (and an optional bias) and 1 output")
	}
	shape, w, in, out := c.Inputs[0], c.Inputs[1], c.Inputs[2], c.Outputs[0]
	if out.Type != in.Type {
		return fmt.Errorf("output type %s differs from input type %s", out.Type, in.Type)
	}
	os, err := intsOf(shape)
	if err != nil {
		return fmt.Errorf("output_shape: %w", err)
	}
	if len(os) != 4 || len(in.Shape) != 4 || len(w.Shape) != 4 {
		return fmt.Errorf("want 4-D output_shape, filter and input, got %v, %v and %v", os, w.Shape, in.Shape)
	}
	if w.Type != Int8 || !w.Const {
		return fmt.Errorf("filter must be a constant INT8 tensor, got %s", w.Type)
	}
	p := &k.p
	p.Batch, p.InH, p.InW, p.InC = in.Shape[0], in.Shape[1], in.Shape[2], in.Shape[3]
	p.OutC, p.KH, p.KW = w.Shape[0], w.Shape[1], w.Shape[2]
	p.OutH, p.OutW = os[1], os[2]
	if w.Shape[3] != p.InC || os[0] != p.Batch || os[3] != p.OutC {
		return fmt.Errorf("filter %v, input %v and output_shape %v do not match", w.Shape, in.Shape, os)
	}
	o := c.Builtin
	padding := o.Int8(0, paddingSame)
	p.StrideW, p.StrideH = int(o.Int32(1, 1)), int(o.Int32(2, 1))
	if p.StrideH < 1 || p.StrideW < 1 || p.OutH < 1 || p.OutW < 1 || p.KH < 1 || p.KW < 1 {
		return fmt.Errorf("bad strides %dx%d, output %dx%d or filter %dx%d", p.StrideH, p.StrideW, p.OutH, p.OutW, p.KH, p.KW)
	}
	if padding != paddingSame && padding != paddingValid {
		return fmt.Errorf("unknown padding %d", padding)
	}
	p.PadTop = transposeConvPad(padding, p.OutH, p.KH, p.StrideH)
	p.PadLeft = transposeConvPad(padding, p.OutW, p.KW, p.StrideW)
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
	p.ActMin, p.ActMax = qkernel.ActivationRange(qkernel.Activation(o.Int8(3, 0)), lo, hi, outScale, outZP)
	if b := biasOf(c, 3); b != nil {
		ok := b.Const && b.NumElements() == p.OutC
		switch {
		case in.Type == Int8:
			ok = ok && b.Type == Int32
		case b.Type == Int16 && ok:
			k.bias64 = make([]int64, p.OutC)
			for i, v := range b.Int16() {
				k.bias64[i] = int64(v)
			}
		default:
			ok = ok && b.Type == Int64
		}
		if !ok {
			want := "INT64 (or INT16)"
			if in.Type == Int8 {
				want = "INT32"
			}
			return fmt.Errorf("bias must be a constant %s[%d], got %s%v", want, p.OutC, b.Type, b.Shape)
		}
	}
	out.Shape = os
	n := out.NumElements()
	if in.Type == Int16 {
		k.acc = c.AddScratch(8 * n)
	} else {
		k.acc = c.AddScratch(4 * n)
	}
	return nil
}

// biasOf returns optional input i, nil when absent.
func biasOf(c *OpContext, i int) *Tensor {
	if len(c.Inputs) > i {
		return c.Inputs[i]
	}
	return nil
}

// MACs returns the multiply-accumulate count of one invocation (taps that fall outside the
// output included).
func (k *qTransposeConvKernel) MACs(*OpContext) int64 {
	p := &k.p
	return int64(p.Batch) * int64(p.InH*p.InW) * int64(p.OutC) * int64(p.KH*p.KW*p.InC)
}

func (k *qTransposeConvKernel) Eval(c *OpContext) error {
	w, in, out := c.Inputs[1], c.Inputs[2], c.Outputs[0]
	b := biasOf(c, 3)
	if in.Type == Int16 {
		bias := k.bias64
		if b != nil && bias == nil {
			bias = b.Int64()
		}
		qkernel.TransposeConvInt16x8(&k.p, in.Int16(), w.Int8(), bias, out.Int16(), view[int64](c.Scratch(k.acc)))
		return nil
	}
	var bias []int32
	if b != nil {
		bias = b.Int32()
	}
	qkernel.TransposeConvInt8(&k.p, in.Int8(), w.Int8(), bias, out.Int8(), view[int32](c.Scratch(k.acc)))
	return nil
}

// qLeakyReluKernel serves LEAKY_RELU on int8 and int16 (TFLite's QuantizeLeakyRelu).
type qLeakyReluKernel struct {
	p      qkernel.LeakyReluParams
	lo, hi int32
}

func (k *qLeakyReluKernel) Prepare(c *OpContext) error {
	si, zi, so, zo, err := qUnary(c, Int8, Int16)
	if err != nil {
		return err
	}
	k.p = qkernel.NewLeakyReluParams(si, so, c.Builtin.Float32(0, 0), zi, zo)
	k.lo, k.hi = typeRange(c.Outputs[0].Type)
	return nil
}

func (k *qLeakyReluKernel) Eval(c *OpContext) error {
	if c.Inputs[0].Type == Int16 {
		qkernel.LeakyRelu(k.p, c.Inputs[0].Int16(), c.Outputs[0].Int16(), k.lo, k.hi)
	} else {
		qkernel.LeakyRelu(k.p, c.Inputs[0].Int8(), c.Outputs[0].Int8(), k.lo, k.hi)
	}
	return nil
}

// qSigmoid16Kernel serves LOGISTIC and TANH on int16 (zero points 0, output scale 2^-15) with
// TFLite's interpolated sigmoid table.
type qSigmoid16Kernel struct {
	tanh bool
	p    qkernel.Sigmoid16Params
}

func (k *qSigmoid16Kernel) Prepare(c *OpContext) error {
	si, zi, so, zo, err := qUnary(c, Int16)
	if err != nil {
		return err
	}
	k.p, err = qkernel.NewSigmoid16Params(si, zi, so, zo, k.tanh)
	return err
}

func (k *qSigmoid16Kernel) Eval(c *OpContext) error {
	if k.tanh {
		qkernel.TanhInt16(k.p, c.Inputs[0].Int16(), c.Outputs[0].Int16())
	} else {
		qkernel.LogisticInt16(k.p, c.Inputs[0].Int16(), c.Outputs[0].Int16())
	}
	return nil
}
