package tflite

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Fused activation functions (schema ActivationFunctionType).
const (
	actNone      = 0
	actRelu      = 1
	actReluN1To1 = 2
	actRelu6     = 3
)

// actRange returns the clamp bounds of a fused activation for float kernels.
func actRange(act int8) (lo, hi float32, err error) {
	switch act {
	case actNone, 4, 5: // NONE, TANH and SIGN_BIT: no clamp (as TFLite's float helper)
		return float32(math.Inf(-1)), float32(math.Inf(1)), nil
	case actRelu:
		return 0, float32(math.Inf(1)), nil
	case actReluN1To1:
		return -1, 1, nil
	case actRelu6:
		return 0, 6, nil
	}
	return 0, 0, fmt.Errorf("unknown fused activation %d", act)
}

// clampSlice clamps x to [lo, hi] (a fused activation). RELU and RELU6 take a branch-free path
// on the bit patterns (random signs would mispredict a branch one time in two): a set sign bit
// clears the value, and non-negative floats order like their bits.
func clampSlice(x []float32, lo, hi float32) {
	inf := math.IsInf(float64(hi), 1)
	switch {
	case math.IsInf(float64(lo), -1) && inf:
		return
	case lo == 0 && inf:
		for i, v := range x {
			b := math.Float32bits(v)
			x[i] = math.Float32frombits(b &^ uint32(int32(b)>>31))
		}
		return
	case lo == 0 && hi > 0:
		hb := math.Float32bits(hi)
		for i, v := range x {
			b := math.Float32bits(v)
			x[i] = math.Float32frombits(min(b&^uint32(int32(b)>>31), hb))
		}
		return
	}
	for i, v := range x {
		x[i] = min(max(v, lo), hi)
	}
}

// intsOf reads a constant int32 or int64 tensor as ints.
func intsOf(t *Tensor) ([]int, error) {
	if t == nil {
		return nil, fmt.Errorf("missing input")
	}
	if t.Data == nil {
		return nil, fmt.Errorf("tensor %d %q must be constant", t.Index, t.Name)
	}
	n := t.NumElements()
	out := make([]int, n)
	switch t.Type {
	case Int32:
		if len(t.Data) < 4*n {
			return nil, fmt.Errorf("tensor %d: short data", t.Index)
		}
		for i := range out {
			out[i] = int(int32(binary.LittleEndian.Uint32(t.Data[4*i:])))
		}
	case Int64:
		if len(t.Data) < 8*n {
			return nil, fmt.Errorf("tensor %d: short data", t.Index)
		}
		for i := range out {
			out[i] = int(int64(binary.LittleEndian.Uint64(t.Data[8*i:])))
		}
	default:
		return nil, fmt.Errorf("tensor %d %q: want int32 or int64, got %s", t.Index, t.Name, t.Type)
	}
	return out, nil
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis, rank int) (int, error) {
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	return axis, nil
}

// needInputs checks the input count and that the required ones are present.
func needInputs(c *OpContext, min int) error {
	if len(c.Inputs) < min {
		return fmt.Errorf("want at least %d inputs, got %d", min, len(c.Inputs))
	}
	for i := range min {
		if c.Inputs[i] == nil {
			return fmt.Errorf("input %d is missing", i)
		}
	}
	if len(c.Outputs) < 1 {
		return fmt.Errorf("no output")
	}
	return nil
}

// needType checks tensor t has type want.
func needType(t *Tensor, want ...DType) error {
	for _, w := range want {
		if t.Type == w {
			return nil
		}
	}
	return fmt.Errorf("tensor %d %q: type %s not supported here", t.Index, t.Name, t.Type)
}

func stridesOf(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// stridedCopy copies the box `shape` from src to dst, where element i (an index vector) is read
// at sOff + Σ i_k·sStride_k and written at dOff + Σ i_k·dStride_k (offsets and strides in
// elements of es bytes). A contiguous innermost dimension is copied in one piece.
func stridedCopy(dst, src []byte, es int, shape, dStride, sStride []int, dOff, sOff int) {
	r := len(shape)
	for _, d := range shape {
		if d == 0 {
			return
		}
	}
	if r == 0 {
		copy(dst[dOff*es:dOff*es+es], src[sOff*es:sOff*es+es])
		return
	}
	inner := shape[r-1]
	contig := dStride[r-1] == 1 && sStride[r-1] == 1
	var idx [8]int
	ix := idx[:]
	if r > len(idx) {
		ix = make([]int, r)
	}
	for {
		d, s := dOff, sOff
		for k := 0; k < r-1; k++ {
			d += ix[k] * dStride[k]
			s += ix[k] * sStride[k]
		}
		if contig {
			copy(dst[d*es:(d+inner)*es], src[s*es:(s+inner)*es])
		} else {
			ds, ss := dStride[r-1], sStride[r-1]
			switch es {
			case 4:
				for j := 0; j < inner; j++ {
					copy(dst[(d+j*ds)*4:(d+j*ds)*4+4], src[(s+j*ss)*4:(s+j*ss)*4+4])
				}
			case 1:
				for j := 0; j < inner; j++ {
					dst[d+j*ds] = src[s+j*ss]
				}
			default:
				for j := 0; j < inner; j++ {
					copy(dst[(d+j*ds)*es:(d+j*ds+1)*es], src[(s+j*ss)*es:(s+j*ss+1)*es])
				}
			}
		}
		k := r - 2
		for ; k >= 0; k-- {
			ix[k]++
			if ix[k] < shape[k] {
				break
			}
			ix[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
