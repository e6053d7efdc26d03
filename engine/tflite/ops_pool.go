package tflite

import (
	"fmt"
	"math"
)

// AVERAGE_POOL_2D, MAX_POOL_2D and the reductions MEAN, SUM, REDUCE_MAX, REDUCE_MIN (float32).

func init() {
	RegisterBuiltin(OpAveragePool2D, Float32, func() Kernel { return &poolKernel{} })
	RegisterBuiltin(OpMaxPool2D, Float32, func() Kernel { return &poolKernel{} })
	for _, op := range []BuiltinOp{OpMean, OpSum, OpReduceMax, OpReduceMin} {
		RegisterBuiltin(op, Float32, func() Kernel { return &reduceKernel{} })
	}
}

type poolKernel struct {
	g      convGeom
	lo, hi float32
}

func (k *poolKernel) Prepare(c *OpContext) error {
	if err := needInputs(c, 1); err != nil {
		return err
	}
	in, out := c.Inputs[0], c.Outputs[0]
	g := &k.g
	g.strideW, g.strideH = int(c.Builtin.Int32(1, 1)), int(c.Builtin.Int32(2, 1))
	g.kW, g.kH = int(c.Builtin.Int32(3, 1)), int(c.Builtin.Int32(4, 1))
	g.dilH, g.dilW = 1, 1
	if err := g.setup(c.Builtin.Int8(0, paddingSame), in); err != nil {
		return err
	}
	var err error
	if k.lo, k.hi, err = actRange(c.Builtin.Int8(5, 0)); err != nil {
		return err
	}
	if out.Type != Float32 {
		return fmt.Errorf("output type %s, want FLOAT32", out.Type)
	}
	out.Shape = []int{g.batch, g.outH, g.outW, g.inC}
	return nil
}

func (k *poolKernel) Eval(c *OpContext) error {
	g := &k.g
	x, out := c.Inputs[0].Float32(), c.Outputs[0].Float32()
	C := g.inC
	isMax := c.Op == OpMaxPool2D
	for b := range g.batch {
		for oy := 0; oy < g.outH; oy++ {
			for ox := 0; ox < g.outW; ox++ {
				o := out[((b*g.outH+oy)*g.outW+ox)*C:][:C]
				if isMax {
					for i := range o {
						o[i] = float32(math.Inf(-1))
					}
				} else {
					clear(o)
				}
				y0, x0 := oy*g.strideH-g.padT, ox*g.strideW-g.padL
				n := 0
				for iy := max(y0, 0); iy < min(y0+g.kH, g.inH); iy++ {
					for ix := max(x0, 0); ix < min(x0+g.kW, g.inW); ix++ {
						px := x[((b*g.inH+iy)*g.inW+ix)*C:][:C]
						if isMax {
							for i, v := range px {
								o[i] = max(o[i], v)
							}
						} else {
							for i, v := range px {
								o[i] += v
							}
						}
						n++
					}
				}
				if !isMax && n > 0 {
					inv := 1 / float32(n)
					for i := range o {
						o[i] *= inv
					}
				}
				clampSlice(o, k.lo, k.hi)
			}
		}
	}
	return nil
}

type reduceKernel struct {
	inShape []int
	oStride []int // per input dim: output stride (0 when reduced)
	count   int   // input elements per output element
}

func (k *reduceKernel) Prepare(c *OpContext) error {
	if err := k.prepareShape(c); err != nil {
		return err
	}
	if out := c.Outputs[0]; out.Type != Float32 {
		return fmt.Errorf("output type %s, want FLOAT32", out.Type)
	}
	return nil
}

// prepareShape resolves the axes, the output shape and the strides.
func (k *reduceKernel) prepareShape(c *OpContext) error {
	if err := needInputs(c, 2); err != nil {
		return err
	}
	in, out := c.Inputs[0], c.Outputs[0]
	axes, err := intsOf(c.Inputs[1])
	if err != nil {
		return err
	}
	r := len(in.Shape)
	red := make([]bool, r)
	for _, a := range axes {
		a, err := normAxis(a, r)
		if err != nil {
			return err
		}
		red[a] = true
	}
	keep := c.Builtin.Bool(0, false)
	shape := []int{}
	full := make([]int, r) // output shape with kept dims as 1
	k.count = 1
	for i, d := range in.Shape {
		if red[i] {
			full[i] = 1
			k.count *= d
			if keep {
				shape = append(shape, 1)
			}
		} else {
			full[i] = d
			shape = append(shape, d)
		}
	}
	os := stridesOf(full)
	k.oStride = make([]int, r)
	for i := range r {
		if !red[i] {
			k.oStride[i] = os[i]
		}
	}
	k.inShape = in.Shape
	out.Shape = shape
	return nil
}

func (k *reduceKernel) Eval(c *OpContext) error {
	x, y := c.Inputs[0].Float32(), c.Outputs[0].Float32()
	var init float32
	switch c.Op {
	case OpReduceMax:
		init = float32(math.Inf(-1))
	case OpReduceMin:
		init = float32(math.Inf(1))
	}
	for i := range y {
		y[i] = init
	}
	r := len(k.inShape)
	if len(x) == 0 {
		return nil
	}
	var idx [8]int
	if r > len(idx) {
		return fmt.Errorf("rank %d too large", r)
	}
	inner := 1
	if r > 0 {
		inner = k.inShape[r-1]
	}
	innerStep := 0
	if r > 0 {
		innerStep = k.oStride[r-1]
	}
	for p := 0; p < len(x); p += inner {
		o := 0
		for i := 0; i < r-1; i++ {
			o += idx[i] * k.oStride[i]
		}
		row := x[p : p+inner]
		switch c.Op {
		case OpMean, OpSum:
			if innerStep == 0 {
				var s float32
				for _, v := range row {
					s += v
				}
				y[o] += s
			} else {
				for j, v := range row {
					y[o+j*innerStep] += v
				}
			}
		case OpReduceMax:
			for j, v := range row {
				y[o+j*innerStep] = max(y[o+j*innerStep], v)
			}
		case OpReduceMin:
			for j, v := range row {
				y[o+j*innerStep] = min(y[o+j*innerStep], v)
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
	if c.Op == OpMean && k.count > 0 {
		inv := 1 / float32(k.count)
		for i := range y {
			y[i] *= inv
		}
	}
	return nil
}
