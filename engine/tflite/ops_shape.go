package tflite

import (
	"fmt"
	"math"
	"slices"
)

// Data-movement kernels. They work on raw elements and are registered for every DType.

func init() {
	for _, t := range AllDTypes {
		RegisterBuiltin(OpReshape, t, func() Kernel { return &reshapeKernel{} })
		RegisterBuiltin(OpSqueeze, t, func() Kernel { return &reshapeKernel{} })
		RegisterBuiltin(OpExpandDims, t, func() Kernel { return &reshapeKernel{} })
		RegisterBuiltin(OpTranspose, t, func() Kernel { return &transposeKernel{} })
		RegisterBuiltin(OpConcatenation, t, func() Kernel { return &concatKernel{} })
		RegisterBuiltin(OpPad, t, func() Kernel { return &padKernel{} })
		RegisterBuiltin(OpPadV2, t, func() Kernel { return &padKernel{} })
		RegisterBuiltin(OpSlice, t, func() Kernel { return &sliceKernel{} })
		RegisterBuiltin(OpStridedSlice, t, func() Kernel { return &sliceKernel{strided: true} })
		RegisterBuiltin(OpGather, t, func() Kernel { return &gatherKernel{} })
	}
}

// reshapeKernel serves RESHAPE, SQUEEZE and EXPAND_DIMS: the bytes do not change.
type reshapeKernel struct{}

func (k *reshapeKernel) Prepare(c *OpContext) error {
	if err := needInputs(c, 1); err != nil {
		return err
	}
	in, out := c.Inputs[0], c.Outputs[0]
	if in.Type != out.Type {
		return fmt.Errorf("input type %s != output type %s", in.Type, out.Type)
	}
	n := in.NumElements()
	var shape []int
	switch c.Op {
	case OpReshape:
		var want []int
		if len(c.Inputs) > 1 && c.Inputs[1] != nil && c.Inputs[1].Data != nil {
			v, err := intsOf(c.Inputs[1])
			if err != nil {
				return err
			}
			want = v
		} else if ns := c.Builtin.Int32s(0); ns != nil {
			for _, d := range ns {
				want = append(want, int(d))
			}
		} else {
			want = slices.Clone(out.Shape)
		}
		s, err := resolveShape(want, n)
		if err != nil {
			return err
		}
		shape = s
	case OpSqueeze:
		dims := c.Builtin.Int32s(0)
		drop := make([]bool, len(in.Shape))
		if len(dims) == 0 {
			for i, d := range in.Shape {
				drop[i] = d == 1
			}
		}
		for _, d := range dims {
			a, err := normAxis(int(d), len(in.Shape))
			if err != nil {
				return err
			}
			if in.Shape[a] != 1 {
				return fmt.Errorf("squeeze dimension %d has size %d", a, in.Shape[a])
			}
			drop[a] = true
		}
		shape = []int{}
		for i, d := range in.Shape {
			if !drop[i] {
				shape = append(shape, d)
			}
		}
	case OpExpandDims:
		if err := needInputs(c, 2); err != nil {
			return err
		}
		ax, err := intsOf(c.Inputs[1])
		if err != nil || len(ax) != 1 {
			return fmt.Errorf("expand_dims axis must be one constant: %v", err)
		}
		a := ax[0]
		if a < 0 {
			a += len(in.Shape) + 1
		}
		if a < 0 || a > len(in.Shape) {
			return fmt.Errorf("axis %d out of range", ax[0])
		}
		shape = slices.Concat(in.Shape[:a], []int{1}, in.Shape[a:])
	}
	if numElements(shape) != n {
		return fmt.Errorf("cannot reshape %v into %v", in.Shape, shape)
	}
	out.Shape = shape
	return nil
}

func resolveShape(want []int, n int) ([]int, error) {
	shape := slices.Clone(want)
	unknown, known := -1, 1
	for i, d := range shape {
		switch {
		case d == -1 && unknown < 0:
			unknown = i
		case d < 0:
			return nil, fmt.Errorf("bad target shape %v", want)
		default:
			known *= d
		}
	}
	if unknown >= 0 {
		if known == 0 || n%known != 0 {
			return nil, fmt.Errorf("cannot reshape %d elements into %v", n, want)
		}
		shape[unknown] = n / known
	}
	if shape == nil {
		shape = []int{}
	}
	return shape, nil
}

func (k *reshapeKernel) Eval(c *OpContext) error {
	copy(c.Outputs[0].Data, c.Inputs[0].Data)
	return nil
}

type transposeKernel struct {
	shape, sStride, dStride []int // iterate over the output shape, reading input with permuted strides
}

func (k *transposeKernel) Prepare(c *OpContext) error {
	if err := needInputs(c, 2); err != nil {
		return err
	}
	in, out := c.Inputs[0], c.Outputs[0]
	perm, err := intsOf(c.Inputs[1])
	if err != nil {
		return err
	}
	if len(perm) != len(in.Shape) {
		return fmt.Errorf("perm %v does not match rank %d", perm, len(in.Shape))
	}
	is := stridesOf(in.Shape)
	seen := make([]bool, len(perm))
	out.Shape = make([]int, len(perm))
	k.sStride = make([]int, len(perm))
	for i, p := range perm {
		p, err := normAxis(p, len(perm))
		if err != nil || seen[p] {
			return fmt.Errorf("bad perm %v", perm)
		}
		seen[p] = true
		out.Shape[i] = in.Shape[p]
		k.sStride[i] = is[p]
	}
	k.shape = out.Shape
	k.dStride = stridesOf(k.shape)
	if in.Type != out.Type {
		return fmt.Errorf("input type %s != output type %s", in.Type, out.Type)
	}
	return nil
}

func (k *transposeKernel) Eval(c *OpContext) error {
	in, out := c.Inputs[0], c.Outputs[0]
	stridedCopy(out.Data, in.Data, in.Type.Size(), k.shape, k.dStride, k.sStride, 0, 0)
	return nil
}

type concatKernel struct {
	outer  int
	chunks []int // bytes per outer step for each input
	act    int8
	// rescale[i] is set for a quantized (int8/int16/uint8) input whose scale or zero point
	// differ from the output's; nil when every input is copied as is.
	rescale []*concatRescale
}

// concatRescale maps one input's quantized values to the output's, with the float arithmetic
// of TFLite's reference ConcatenationWithScaling: q' = round(q·scale + bias) + zp, clamped.
type concatRescale struct {
	scale, bias float32
	zp, lo, hi  int32
}

// concatRescales returns per-input requantization for quantized inputs whose parameters differ
// from the output's (nil when none do).
func concatRescales(c *OpContext) ([]*concatRescale, error) {
	out := c.Outputs[0]
	switch out.Type {
	case Int8, Int16, UInt8:
	default:
		return nil, nil
	}
	if out.Quant == nil {
		return nil, nil
	}
	so, zo, err := quantOf(out)
	if err != nil {
		return nil, err
	}
	lo, hi := typeRange(out.Type)
	inv := 1 / so
	var rs []*concatRescale
	for i, t := range c.Inputs {
		si, zi, err := quantOf(t)
		if err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		if len(t.Quant.Scale) > 1 {
			return nil, fmt.Errorf("input %d: per-axis quantization is not supported", i)
		}
		if si == so && zi == zo {
			continue
		}
		if rs == nil {
			rs = make([]*concatRescale, len(c.Inputs))
		}
		scale := si * inv
		rs[i] = &concatRescale{scale: scale, bias: float32(-zi) * scale, zp: zo, lo: lo, hi: hi}
	}
	return rs, nil
}

func concatRequantize[T int8 | int16 | uint8](r *concatRescale, in, out []T) {
	for j, q := range in {
		// The explicit float32 conversion keeps the product rounded before the addition (no
		// fused multiply-add), as in the reference.
		v := int32(math.Round(float64(float32(float32(q)*r.scale)+r.bias))) + r.zp
		out[j] = T(min(max(v, r.lo), r.hi))
	}
}

func (k *concatKernel) Prepare(c *OpContext) error {
	if err := needInputs(c, 1); err != nil {
		return err
	}
	first := c.Inputs[0]
	axis, err := normAxis(int(c.Builtin.Int32(0, 0)), max(len(first.Shape), 1))
	if err != nil {
		return err
	}
	k.act = c.Builtin.Int8(1, 0)
	if _, _, err := actRange(k.act); err != nil {
		return err
	}
	shape := slices.Clone(first.Shape)
	if len(shape) == 0 {
		return fmt.Errorf("cannot concatenate scalars")
	}
	if out := c.Outputs[0]; out.Type != first.Type {
		return fmt.Errorf("output type %s differs from input type %s", out.Type, first.Type)
	}
	shape[axis] = 0
	es := first.Type.Size()
	k.outer = numElements(first.Shape[:axis])
	inner := numElements(first.Shape[axis+1:])
	for i, t := range c.Inputs {
		if t == nil || t.Type != first.Type || len(t.Shape) != len(first.Shape) {
			return fmt.Errorf("input %d does not match input 0 (type/rank)", i)
		}
		for d := range t.Shape {
			if d != axis && t.Shape[d] != first.Shape[d] {
				return fmt.Errorf("input %d shape %v does not match %v", i, t.Shape, first.Shape)
			}
		}
		shape[axis] += t.Shape[axis]
		k.chunks = append(k.chunks, t.Shape[axis]*inner*es)
	}
	if k.rescale, err = concatRescales(c); err != nil {
		return err
	}
	c.Outputs[0].Shape = shape
	return nil
}

func (k *concatKernel) Eval(c *OpContext) error {
	dst := c.Outputs[0].Data
	p := 0
	for o := 0; o < k.outer; o++ {
		for i, t := range c.Inputs {
			n := k.chunks[i]
			src, d := t.Data[o*n:(o+1)*n], dst[p:p+n]
			if k.rescale == nil || k.rescale[i] == nil {
				copy(d, src)
			} else {
				switch t.Type {
				case Int8:
					concatRequantize(k.rescale[i], view[int8](src), view[int8](d))
				case Int16:
					concatRequantize(k.rescale[i], view[int16](src), view[int16](d))
				default:
					concatRequantize(k.rescale[i], src, d)
				}
			}
			p += n
		}
	}
	if k.act != actNone && c.Outputs[0].Type == Float32 {
		lo, hi, _ := actRange(k.act)
		clampSlice(c.Outputs[0].Float32(), lo, hi)
	}
	return nil
}

type padKernel struct {
	before []int
	fill   []byte // one element
	outStr []int
	inStr  []int
	dOff   int
}

func (k *padKernel) Prepare(c *OpContext) error {
	if err := needInputs(c, 2); err != nil {
		return err
	}
	in, out := c.Inputs[0], c.Outputs[0]
	p, err := intsOf(c.Inputs[1])
	if err != nil {
		return err
	}
	if in.Type != out.Type {
		return fmt.Errorf("output type %s differs from input type %s", out.Type, in.Type)
	}
	r := len(in.Shape)
	if len(p) != 2*r {
		return fmt.Errorf("paddings has %d values for rank %d", len(p), r)
	}
	out.Shape = make([]int, r)
	k.before = make([]int, r)
	for i := range r {
		if p[2*i] < 0 || p[2*i+1] < 0 {
			return fmt.Errorf("negative padding %v", p)
		}
		k.before[i] = p[2*i]
		out.Shape[i] = in.Shape[i] + p[2*i] + p[2*i+1]
	}
	es := in.Type.Size()
	k.fill = make([]byte, es)
	if len(c.Inputs) > 2 && c.Inputs[2] != nil {
		v := c.Inputs[2]
		if v.Data == nil || len(v.Data) < es || v.Type != in.Type {
			return fmt.Errorf("pad value must be a constant of the input type")
		}
		copy(k.fill, v.Data[:es])
	} else if out.Quant != nil && len(out.Quant.ZeroPoint) > 0 {
		zp := out.Quant.ZeroPoint[0]
		for i := range es {
			k.fill[i] = byte(zp >> (8 * i))
		}
	}
	k.outStr = stridesOf(out.Shape)
	k.inStr = stridesOf(in.Shape)
	for i := range r {
		k.dOff += k.before[i] * k.outStr[i]
	}
	return nil
}

func (k *padKernel) Eval(c *OpContext) error {
	in, out := c.Inputs[0], c.Outputs[0]
	d := out.Data
	allZero := true
	for _, b := range k.fill {
		allZero = allZero && b == 0
	}
	if allZero {
		clear(d)
	} else {
		es := len(k.fill)
		for i := 0; i < len(d); i += es {
			copy(d[i:i+es], k.fill)
		}
	}
	stridedCopy(d, in.Data, in.Type.Size(), in.Shape, k.outStr, k.inStr, k.dOff, 0)
	return nil
}

// sliceKernel serves SLICE and STRIDED_SLICE.
type sliceKernel struct {
	strided bool
	shape   []int // box iterated (one entry per input dim)
	sStride []int
	dStride []int
	sOff    int
}

func (k *sliceKernel) Prepare(c *OpContext) error {
	if err := needInputs(c, 3); err != nil {
		return err
	}
	in, out := c.Inputs[0], c.Outputs[0]
	r := len(in.Shape)
	begin, err := intsOf(c.Inputs[1])
	if err != nil {
		return err
	}
	end, err := intsOf(c.Inputs[2])
	if err != nil {
		return err
	}
	if len(begin) != r || len(end) != r {
		return fmt.Errorf("begin/end length %d/%d for rank %d", len(begin), len(end), r)
	}
	strides := make([]int, r)
	for i := range strides {
		strides[i] = 1
	}
	var outShape []int
	inStr := stridesOf(in.Shape)
	k.shape = make([]int, r)
	k.sStride = make([]int, r)
	k.sOff = 0
	if !k.strided {
		for i := range r {
			b, size := begin[i], end[i]
			if size == -1 {
				size = in.Shape[i] - b
			}
			if b < 0 || size < 0 || b+size > in.Shape[i] {
				return fmt.Errorf("slice begin %v size %v out of range for %v", begin, end, in.Shape)
			}
			k.shape[i] = size
			k.sStride[i] = inStr[i]
			k.sOff += b * inStr[i]
		}
		outShape = slices.Clone(k.shape)
	} else {
		if len(c.Inputs) > 3 && c.Inputs[3] != nil {
			if strides, err = intsOf(c.Inputs[3]); err != nil {
				return err
			}
			if len(strides) != r {
				return fmt.Errorf("strides length %d for rank %d", len(strides), r)
			}
		}
		bm, em := c.Builtin.Int32(0, 0), c.Builtin.Int32(1, 0)
		if c.Builtin.Int32(2, 0) != 0 || c.Builtin.Int32(3, 0) != 0 {
			return fmt.Errorf("ellipsis_mask and new_axis_mask are not supported")
		}
		sm := c.Builtin.Int32(4, 0)
		offset := c.Builtin.Bool(5, false)
		outShape = []int{}
		for i := range r {
			n, s := in.Shape[i], strides[i]
			if s == 0 {
				return fmt.Errorf("stride 0 in dimension %d", i)
			}
			b, e := begin[i], end[i]
			if offset {
				e += b
			}
			clampIdx := func(v int) int {
				if v < 0 {
					v += n
				}
				if s > 0 {
					return min(max(v, 0), n)
				}
				return min(max(v, -1), n-1)
			}
			if bm&(1<<i) != 0 {
				if s > 0 {
					b = 0
				} else {
					b = n - 1
				}
			} else {
				b = clampIdx(b)
			}
			shrink := sm&(1<<i) != 0
			switch {
			case shrink:
				e = b + 1
				if b < 0 || b >= n {
					return fmt.Errorf("shrink index %d out of range in dimension %d", begin[i], i)
				}
				s = 1
			case em&(1<<i) != 0:
				if s > 0 {
					e = n
				} else {
					e = -1
				}
			default:
				e = clampIdx(e)
			}
			cnt := 0
			if s > 0 && e > b {
				cnt = (e - b + s - 1) / s
			} else if s < 0 && e < b {
				cnt = (b - e - s - 1) / -s
			}
			k.shape[i] = cnt
			k.sStride[i] = inStr[i] * s
			if cnt > 0 {
				k.sOff += b * inStr[i]
			}
			if !shrink {
				outShape = append(outShape, cnt)
			}
		}
	}
	if numElements(outShape) != numElements(k.shape) {
		return fmt.Errorf("internal: slice shape mismatch")
	}
	out.Shape = outShape
	k.dStride = stridesOf(k.shape)
	if in.Type != out.Type {
		return fmt.Errorf("input type %s != output type %s", in.Type, out.Type)
	}
	return nil
}

func (k *sliceKernel) Eval(c *OpContext) error {
	in, out := c.Inputs[0], c.Outputs[0]
	stridedCopy(out.Data, in.Data, in.Type.Size(), k.shape, k.dStride, k.sStride, 0, k.sOff)
	return nil
}

type gatherKernel struct {
	outer, axisN, inner int // params viewed as [outer, axisN, inner]
	nIdx                int
}

func (k *gatherKernel) Prepare(c *OpContext) error {
	if err := needInputs(c, 2); err != nil {
		return err
	}
	p, idx, out := c.Inputs[0], c.Inputs[1], c.Outputs[0]
	if err := needType(idx, Int32, Int64); err != nil {
		return err
	}
	if len(p.Shape) == 0 {
		return fmt.Errorf("gather from a scalar")
	}
	axis, err := normAxis(int(c.Builtin.Int32(0, 0)), len(p.Shape))
	if err != nil {
		return err
	}
	if c.Builtin.Int32(1, 0) != 0 {
		return fmt.Errorf("batch_dims != 0 is not supported")
	}
	k.outer = numElements(p.Shape[:axis])
	k.axisN = p.Shape[axis]
	k.inner = numElements(p.Shape[axis+1:])
	k.nIdx = idx.NumElements()
	out.Shape = slices.Concat(p.Shape[:axis], idx.Shape, p.Shape[axis+1:])
	if p.Type != out.Type {
		return fmt.Errorf("input type %s != output type %s", p.Type, out.Type)
	}
	return nil
}

func (k *gatherKernel) Eval(c *OpContext) error {
	p, idx, out := c.Inputs[0], c.Inputs[1], c.Outputs[0]
	row := k.inner * p.Type.Size()
	i32, i64 := idx.Type == Int32, idx.Type == Int64
	var iv32 []int32
	var iv64 []int64
	if i32 {
		iv32 = idx.Int32()
	} else if i64 {
		iv64 = idx.Int64()
	}
	dst := 0
	for o := 0; o < k.outer; o++ {
		for j := 0; j < k.nIdx; j++ {
			var ix int
			if i32 {
				ix = int(iv32[j])
			} else {
				ix = int(iv64[j])
			}
			if ix < 0 || ix >= k.axisN {
				return fmt.Errorf("gather index %d out of range [0, %d)", ix, k.axisN)
			}
			src := (o*k.axisN + ix) * row
			copy(out.Data[dst:dst+row], p.Data[src:src+row])
			dst += row
		}
	}
	return nil
}
