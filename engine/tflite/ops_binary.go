package tflite

import (
	"fmt"
	"math"
)

// Element-wise binary float32/int32 kernels with numpy-style broadcasting.

func init() {
	for _, op := range []BuiltinOp{OpAdd, OpSub, OpMul, OpDiv, OpMaximum, OpMinimum, OpSquaredDifference, OpPow, OpFloorDiv} {
		RegisterBuiltin(op, Float32, func() Kernel { return &binaryKernel{} })
	}
	for _, op := range []BuiltinOp{OpAdd, OpSub, OpMul, OpDiv, OpMaximum, OpMinimum, OpFloorDiv} {
		RegisterBuiltin(op, Int32, func() Kernel { return &binaryKernel{} })
	}
}

type binaryKernel struct {
	lo, hi float32
	// Broadcast plan: the output is iterated as outer dims (odometer) times an inner run of
	// length inner; within the run a and b advance by aStep/bStep (0 or 1).
	shape        []int // output shape without the inner dimension
	aStr, bStr   []int
	inner        int
	aStep, bStep int
}

// broadcastShapes returns the broadcast output shape of a and b.
func broadcastShapes(a, b []int) ([]int, error) {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := range r {
		da, db := 1, 1
		if j := len(a) - r + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - r + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

// broadcastStrides returns the element strides of a tensor of shape s read as the broadcast
// shape out (0 along broadcast dimensions).
func broadcastStrides(s, out []int) []int {
	st := make([]int, len(out))
	own := stridesOf(s)
	for i := range out {
		j := len(s) - len(out) + i
		if j >= 0 && s[j] != 1 {
			st[i] = own[j]
		}
	}
	return st
}

func (k *binaryKernel) Prepare(c *OpContext) error {
	if err := needInputs(c, 2); err != nil {
		return err
	}
	a, b, out := c.Inputs[0], c.Inputs[1], c.Outputs[0]
	if a.Type != b.Type || a.Type != out.Type {
		return fmt.Errorf("type mismatch %s, %s -> %s", a.Type, b.Type, out.Type)
	}
	shape, err := broadcastShapes(a.Shape, b.Shape)
	if err != nil {
		return err
	}
	out.Shape = shape
	act := int8(0)
	switch c.Op {
	case OpAdd, OpSub, OpMul, OpDiv:
		act = c.Builtin.Int8(0, 0)
	}
	if k.lo, k.hi, err = actRange(act); err != nil {
		return err
	}
	as, bs := broadcastStrides(a.Shape, shape), broadcastStrides(b.Shape, shape)
	// Collapse the trailing dimensions that share a stepping pattern into one inner run.
	r := len(shape)
	k.inner, k.aStep, k.bStep = 1, 1, 1
	if r > 0 {
		k.aStep, k.bStep = min(as[r-1], 1), min(bs[r-1], 1)
		if shape[r-1] == 1 {
			k.aStep, k.bStep = 1, 1
		}
	}
	d := r - 1
	for ; d >= 0; d-- {
		if shape[d] == 1 {
			continue
		}
		ca := as[d] == k.inner*k.aStep && k.aStep == 1 || as[d] == 0 && k.aStep == 0
		cb := bs[d] == k.inner*k.bStep && k.bStep == 1 || bs[d] == 0 && k.bStep == 0
		if !ca || !cb {
			break
		}
		k.inner *= shape[d]
	}
	k.shape, k.aStr, k.bStr = shape[:d+1], as[:d+1], bs[:d+1]
	return nil
}

func (k *binaryKernel) Eval(c *OpContext) error {
	a, b, out := c.Inputs[0], c.Inputs[1], c.Outputs[0]
	if out.NumElements() == 0 {
		return nil
	}
	r := len(k.shape)
	var idx [8]int
	if r > len(idx) {
		return fmt.Errorf("rank %d too large for broadcasting", r)
	}
	o := 0
	for {
		ao, bo := 0, 0
		for i := range r {
			ao += idx[i] * k.aStr[i]
			bo += idx[i] * k.bStr[i]
		}
		var err error
		if out.Type == Float32 {
			binF32(c.Op, out.Float32()[o:o+k.inner], a.Float32()[ao:], b.Float32()[bo:], k.aStep, k.bStep, k.lo, k.hi)
		} else {
			err = binI32(c.Op, out.Int32()[o:o+k.inner], a.Int32()[ao:], b.Int32()[bo:], k.aStep, k.bStep, k.lo, k.hi)
		}
		if err != nil {
			return err
		}
		o += k.inner
		i := r - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < k.shape[i] {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return nil
		}
	}
}

func binF32(op BuiltinOp, out, a, b []float32, as, bs int, lo, hi float32) {
	n := len(out)
	if as == 1 && bs == 1 {
		a, b = a[:n], b[:n]
		switch op {
		case OpAdd:
			for i := range out {
				out[i] = a[i] + b[i]
			}
		case OpSub:
			for i := range out {
				out[i] = a[i] - b[i]
			}
		case OpMul:
			for i := range out {
				out[i] = a[i] * b[i]
			}
		default:
			for i := range out {
				out[i] = binF32One(op, a[i], b[i])
			}
		}
	} else {
		ai, bi := 0, 0
		for i := range out {
			out[i] = binF32One(op, a[ai], b[bi])
			ai += as
			bi += bs
		}
	}
	clampSlice(out, lo, hi)
}

func binF32One(op BuiltinOp, x, y float32) float32 {
	switch op {
	case OpAdd:
		return x + y
	case OpSub:
		return x - y
	case OpMul:
		return x * y
	case OpDiv:
		return x / y
	case OpMaximum:
		if x != x || y != y {
			return float32(math.NaN())
		}
		return max(x, y)
	case OpMinimum:
		if x != x || y != y {
			return float32(math.NaN())
		}
		return min(x, y)
	case OpSquaredDifference:
		d := x - y
		return d * d
	case OpPow:
		return float32(math.Pow(float64(x), float64(y)))
	case OpFloorDiv:
		return float32(math.Floor(float64(x / y)))
	}
	return 0
}

func binI32(op BuiltinOp, out, a, b []int32, as, bs int, lo, hi float32) error {
	ai, bi := 0, 0
	for i := range out {
		x, y := a[ai], b[bi]
		var v int32
		switch op {
		case OpAdd:
			v = x + y
		case OpSub:
			v = x - y
		case OpMul:
			v = x * y
		case OpDiv, OpFloorDiv:
			if y == 0 {
				return fmt.Errorf("integer division by zero")
			}
			v = x / y
			if op == OpFloorDiv && (x%y != 0) && ((x < 0) != (y < 0)) {
				v--
			}
		case OpMaximum:
			v = max(x, y)
		case OpMinimum:
			v = min(x, y)
		}
		if float32(v) < lo {
			v = int32(lo)
		} else if float32(v) > hi {
			v = int32(hi)
		}
		out[i] = v
		ai += as
		bi += bs
	}
	return nil
}
