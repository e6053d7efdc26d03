package tflite

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Element-wise float32 unary kernels, SOFTMAX, CAST, DEQUANTIZE and float QUANTIZE.

func init() {
	for _, op := range []BuiltinOp{OpSqrt, OpRsqrt, OpLog, OpExp, OpLogistic, OpTanh, OpRelu, OpRelu6,
		OpReluN1To1, OpLeakyRelu, OpAbs, OpNeg, OpSquare, OpHardSwish, OpFloor, OpCeil, OpSin, OpCos, OpGELU} {
		RegisterBuiltin(op, Float32, func() Kernel { return &unaryKernel{} })
	}
	RegisterBuiltin(OpSoftmax, Float32, func() Kernel { return &softmaxKernel{} })
	for _, t := range []DType{Float32, Int32, Int64, Int8, UInt8, Int16, Bool, Float16, UInt32, UInt64} {
		RegisterBuiltin(OpCast, t, func() Kernel { return &castKernel{} })
	}
	for _, t := range []DType{Int8, UInt8, Int16, Float16, Int32} {
		RegisterBuiltin(OpDequantize, t, func() Kernel { return &dequantizeKernel{} })
	}
	RegisterBuiltin(OpQuantize, Float32, func() Kernel { return &quantizeKernel{} })
}

type unaryKernel struct{ alpha float32 }

func (k *unaryKernel) Prepare(c *OpContext) error {
	if err := needInputs(c, 1); err != nil {
		return err
	}
	in, out := c.Inputs[0], c.Outputs[0]
	if out.Type != Float32 {
		return fmt.Errorf("output type %s, want FLOAT32", out.Type)
	}
	out.Shape = append([]int(nil), in.Shape...)
	if c.Op == OpLeakyRelu {
		k.alpha = c.Builtin.Float32(0, 0)
	}
	return nil
}

func (k *unaryKernel) Eval(c *OpContext) error {
	x, y := c.Inputs[0].Float32(), c.Outputs[0].Float32()
	x = x[:len(y)]
	switch c.Op {
	case OpRelu:
		for i, v := range x {
			y[i] = max(v, 0)
		}
	case OpRelu6:
		for i, v := range x {
			y[i] = min(max(v, 0), 6)
		}
	case OpReluN1To1:
		for i, v := range x {
			y[i] = min(max(v, -1), 1)
		}
	case OpLeakyRelu:
		for i, v := range x {
			if v < 0 {
				v *= k.alpha
			}
			y[i] = v
		}
	case OpLogistic:
		for i, v := range x {
			y[i] = float32(1 / (1 + math.Exp(-float64(v))))
		}
	default:
		f := unaryFunc(c.Op)
		for i, v := range x {
			y[i] = float32(f(float64(v)))
		}
	}
	return nil
}

func unaryFunc(op BuiltinOp) func(float64) float64 {
	switch op {
	case OpSqrt:
		return math.Sqrt
	case OpRsqrt:
		return func(x float64) float64 { return 1 / math.Sqrt(x) }
	case OpLog:
		return math.Log
	case OpExp:
		return math.Exp
	case OpTanh:
		return math.Tanh
	case OpAbs:
		return math.Abs
	case OpNeg:
		return func(x float64) float64 { return -x }
	case OpSquare:
		return func(x float64) float64 { return x * x }
	case OpHardSwish:
		return func(x float64) float64 { return x * min(max(x+3, 0), 6) / 6 }
	case OpFloor:
		return math.Floor
	case OpCeil:
		return math.Ceil
	case OpSin:
		return math.Sin
	case OpCos:
		return math.Cos
	case OpGELU:
		return func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }
	}
	return func(x float64) float64 { return x }
}

type softmaxKernel struct {
	beta       float32
	rows, cols int
}

func (k *softmaxKernel) Prepare(c *OpContext) error {
	if err := needInputs(c, 1); err != nil {
		return err
	}
	in, out := c.Inputs[0], c.Outputs[0]
	if len(in.Shape) == 0 || out.Type != Float32 {
		return fmt.Errorf("want float32 input of rank >= 1")
	}
	out.Shape = append([]int(nil), in.Shape...)
	k.beta = c.Builtin.Float32(0, 1)
	k.cols = in.Shape[len(in.Shape)-1]
	k.rows = numElements(in.Shape[:len(in.Shape)-1])
	return nil
}

func (k *softmaxKernel) Eval(c *OpContext) error {
	x, y := c.Inputs[0].Float32(), c.Outputs[0].Float32()
	for r := 0; r < k.rows; r++ {
		xr, yr := x[r*k.cols:(r+1)*k.cols], y[r*k.cols:(r+1)*k.cols]
		m := float32(math.Inf(-1))
		for _, v := range xr {
			m = max(m, v)
		}
		var sum float64
		for i, v := range xr {
			e := float32(math.Exp(float64((v - m) * k.beta)))
			yr[i] = e
			sum += float64(e)
		}
		inv := float32(1 / sum)
		for i := range yr {
			yr[i] *= inv
		}
	}
	return nil
}

type castKernel struct{}

func (k *castKernel) Prepare(c *OpContext) error {
	if err := needInputs(c, 1); err != nil {
		return err
	}
	switch c.Outputs[0].Type {
	case Float32, Int32, Int64, Int8, UInt8, Int16, Bool, UInt32, UInt64:
	default:
		return fmt.Errorf("cast to %s is not supported", c.Outputs[0].Type)
	}
	c.Outputs[0].Shape = append([]int(nil), c.Inputs[0].Shape...)
	return nil
}

func (k *castKernel) Eval(c *OpContext) error {
	in, out := c.Inputs[0], c.Outputs[0]
	n := out.NumElements()
	for i := range n {
		var f float64
		var iv int64
		isInt := true
		switch in.Type {
		case Float32:
			f, isInt = float64(in.Float32()[i]), false
		case Float16:
			f, isInt = float64(halfToFloat(in.UInt16()[i])), false
		case Int32:
			iv = int64(in.Int32()[i])
		case Int64:
			iv = in.Int64()[i]
		case Int8:
			iv = int64(in.Int8()[i])
		case UInt8, Bool:
			iv = int64(in.Data[i])
		case Int16:
			iv = int64(in.Int16()[i])
		case UInt32:
			iv = int64(binary.LittleEndian.Uint32(in.Data[i*4:]))
		case UInt64:
			iv = int64(binary.LittleEndian.Uint64(in.Data[i*8:]))
		}
		if isInt {
			f = float64(iv)
		} else {
			iv = int64(f) // truncation toward zero, as static_cast
		}
		switch out.Type {
		case Float32:
			out.Float32()[i] = float32(f)
		case Int32:
			out.Int32()[i] = int32(iv)
		case Int64:
			out.Int64()[i] = iv
		case Int8:
			out.Int8()[i] = int8(iv)
		case UInt8:
			out.Data[i] = uint8(iv)
		case Int16:
			out.Int16()[i] = int16(iv)
		case UInt32:
			binary.LittleEndian.PutUint32(out.Data[i*4:], uint32(iv))
		case UInt64:
			binary.LittleEndian.PutUint64(out.Data[i*8:], uint64(iv))
		case Bool:
			if f != 0 {
				out.Data[i] = 1
			} else {
				out.Data[i] = 0
			}
		}
	}
	return nil
}

// halfToFloat converts IEEE-754 binary16 bits to float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0 && man == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		e := uint32(127 - 15 + 1)
		for man&0x400 == 0 {
			man <<= 1
			e--
		}
		man &= 0x3ff
		return math.Float32frombits(sign | e<<23 | man<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | man<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
}

// perChannel describes how to find the quantization channel of a flat element index.
type perChannel struct {
	scale []float32
	zp    []int64
	inner int // elements per channel step
	n     int // channels
}

func newPerChannel(t *Tensor) (perChannel, error) {
	q := t.Quant
	if q == nil || len(q.Scale) == 0 {
		return perChannel{}, fmt.Errorf("tensor %d %q is not quantized", t.Index, t.Name)
	}
	p := perChannel{scale: q.Scale, zp: q.ZeroPoint, inner: 1, n: 1}
	if len(q.Scale) > 1 {
		if q.Axis < 0 || q.Axis >= len(t.Shape) || t.Shape[q.Axis] != len(q.Scale) {
			return p, fmt.Errorf("tensor %d: per-axis quantization does not match shape", t.Index)
		}
		p.n = len(q.Scale)
		p.inner = numElements(t.Shape[q.Axis+1:])
	}
	return p, nil
}

func (p perChannel) at(i int) (float32, int64) {
	ch := 0
	if p.n > 1 {
		ch = (i / p.inner) % p.n
	}
	zp := int64(0)
	if len(p.zp) == 1 {
		zp = p.zp[0]
	} else if ch < len(p.zp) {
		zp = p.zp[ch]
	}
	return p.scale[ch], zp
}

type dequantizeKernel struct{ pc perChannel }

func (k *dequantizeKernel) Prepare(c *OpContext) error {
	if err := needInputs(c, 1); err != nil {
		return err
	}
	in, out := c.Inputs[0], c.Outputs[0]
	if out.Type != Float32 {
		return fmt.Errorf("output type %s, want FLOAT32", out.Type)
	}
	out.Shape = append([]int(nil), in.Shape...)
	if in.Type == Float16 {
		return nil
	}
	var err error
	k.pc, err = newPerChannel(in)
	return err
}

func (k *dequantizeKernel) Eval(c *OpContext) error {
	in, y := c.Inputs[0], c.Outputs[0].Float32()
	if in.Type == Float16 {
		for i, h := range in.UInt16()[:len(y)] {
			y[i] = halfToFloat(h)
		}
		return nil
	}
	for i := range y {
		var q int64
		switch in.Type {
		case Int8:
			q = int64(in.Int8()[i])
		case UInt8:
			q = int64(in.Data[i])
		case Int16:
			q = int64(in.Int16()[i])
		case Int32:
			q = int64(in.Int32()[i])
		}
		s, zp := k.pc.at(i)
		y[i] = float32(float64(s) * float64(q-zp))
	}
	return nil
}

type quantizeKernel struct {
	pc     perChannel
	lo, hi int64
}

func (k *quantizeKernel) Prepare(c *OpContext) error {
	if err := needInputs(c, 1); err != nil {
		return err
	}
	in, out := c.Inputs[0], c.Outputs[0]
	switch out.Type {
	case Int8:
		k.lo, k.hi = math.MinInt8, math.MaxInt8
	case UInt8:
		k.lo, k.hi = 0, math.MaxUint8
	case Int16:
		k.lo, k.hi = math.MinInt16, math.MaxInt16
	default:
		return fmt.Errorf("quantize to %s is not supported", out.Type)
	}
	out.Shape = append([]int(nil), in.Shape...)
	var err error
	k.pc, err = newPerChannel(out)
	return err
}

func (k *quantizeKernel) Eval(c *OpContext) error {
	x, out := c.Inputs[0].Float32(), c.Outputs[0]
	for i := range out.NumElements() {
		s, zp := k.pc.at(i)
		q := int64(math.Round(float64(x[i]/s))) + zp
		q = min(max(q, k.lo), k.hi)
		switch out.Type {
		case Int8:
			out.Int8()[i] = int8(q)
		case UInt8:
			out.Data[i] = uint8(q)
		case Int16:
			out.Int16()[i] = int16(q)
		}
	}
	return nil
}
