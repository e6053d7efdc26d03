package tflite

import (
	"fmt"
	"unsafe"
)

// FULLY_CONNECTED, float32 and hybrid (float32 activations, int8 weights).

func init() {
	RegisterBuiltin(OpFullyConnected, Float32, func() Kernel { return &fcKernel{} })
}

type fcKernel struct {
	batch, in, units int
	lo, hi           float32
	hybrid           bool
	asym             bool
	wScale           []float32 // per output unit (hybrid)
	wRowSum          []int32   // per output unit (asymmetric hybrid)
	qIn, acc, scales int       // scratch ids (hybrid)
}

func (k *fcKernel) Prepare(c *OpContext) error {
	if err := needInputs(c, 2); err != nil {
		return err
	}
	x, w, out := c.Inputs[0], c.Inputs[1], c.Outputs[0]
	if len(w.Shape) != 2 {
		return fmt.Errorf("weights shape %v, want [units, depth]", w.Shape)
	}
	if c.Builtin.Int8(1, 0) != 0 {
		return fmt.Errorf("shuffled weights format is not supported")
	}
	k.units, k.in = w.Shape[0], w.Shape[1]
	n := x.NumElements()
	if k.in == 0 || n%k.in != 0 {
		return fmt.Errorf("input shape %v is not a multiple of depth %d", x.Shape, k.in)
	}
	k.batch = n / k.in
	var err error
	if k.lo, k.hi, err = actRange(c.Builtin.Int8(0, 0)); err != nil {
		return err
	}
	if err := checkFloatBiasOut(c, 2, k.units); err != nil {
		return err
	}
	if c.Builtin.Bool(2, false) { // keep_num_dims
		if len(x.Shape) == 0 || x.Shape[len(x.Shape)-1] != k.in {
			return fmt.Errorf("keep_num_dims needs input depth %d, shape %v", k.in, x.Shape)
		}
		out.Shape = append(append([]int(nil), x.Shape[:len(x.Shape)-1]...), k.units)
	} else {
		out.Shape = []int{k.batch, k.units}
	}
	switch w.Type {
	case Float32:
	case Int8:
		if !w.Const {
			return fmt.Errorf("int8 weights must be constant")
		}
		k.hybrid = true
		k.asym = c.Builtin.Bool(3, false)
		pc, err := newPerChannel(w)
		if err != nil {
			return err
		}
		if pc.n > 1 && w.Quant.Axis != 0 {
			return fmt.Errorf("per-axis weights must be quantized along dimension 0")
		}
		k.wScale = make([]float32, k.units)
		for u := range k.units {
			s, zp := pc.at(u * k.in)
			if zp != 0 {
				return fmt.Errorf("hybrid weights need zero point 0, got %d", zp)
			}
			k.wScale[u] = s
		}
		wd := w.Int8()
		k.wRowSum = make([]int32, k.units)
		for u := range k.units {
			var s int32
			for _, v := range wd[u*k.in : (u+1)*k.in] {
				s += int32(v)
			}
			k.wRowSum[u] = s
		}
		k.qIn = c.AddScratch(k.batch * k.in)
		k.acc = c.AddScratch(4 * k.batch * k.units)
		k.scales = c.AddScratch(8 * k.batch)
	default:
		return fmt.Errorf("weights type %s is not supported with float input", w.Type)
	}
	return nil
}

// MACs reports the multiply-accumulates per Invoke.
func (k *fcKernel) MACs(*OpContext) int64 { return int64(k.batch) * int64(k.in) * int64(k.units) }

func (k *fcKernel) Eval(c *OpContext) error {
	x, w, out := c.Inputs[0].Float32(), c.Inputs[1], c.Outputs[0].Float32()
	var bias []float32
	if len(c.Inputs) > 2 && c.Inputs[2] != nil {
		bias = c.Inputs[2].Float32()
	}
	if !k.hybrid {
		gemmF32(c, k.batch, k.units, k.in, x, w.Float32(), out, k.units)
	} else {
		q := bytesAsInt8(c.Scratch(k.qIn))
		acc := bytesAsInt32(c.Scratch(k.acc))
		sc := bytesAsFloat32(c.Scratch(k.scales))
		zps := bytesAsInt32(c.Scratch(k.scales)[4*k.batch:])
		quantizeRows(c, x, q, k.batch, k.in, k.asym, sc, zps)
		gemmI8(c, k.batch, k.units, k.in, q, w.Int8(), acc)
		runEpilogue(c, epilogueJob{out: out, N: k.units, bias: bias, lo: k.lo, hi: k.hi,
			acc: acc, rowScales: sc[:k.batch], rowZPs: zps[:k.batch], rowSum: k.wRowSum, wScale: k.wScale}, k.batch)
		return nil
	}
	runEpilogue(c, epilogueJob{out: out, N: k.units, bias: bias, lo: k.lo, hi: k.hi}, k.batch)
	return nil
}

func bytesAsInt8(b []byte) []int8 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(b))), len(b))
}

func bytesAsInt32(b []byte) []int32 { return view[int32](b) }

func bytesAsFloat32(b []byte) []float32 { return view[float32](b) }
