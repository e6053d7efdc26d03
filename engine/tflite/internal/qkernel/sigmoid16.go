package qkernel

import (
	"fmt"
	"math"
)

// The int16 LOGISTIC and TANH of TFLite's reference kernels (reference_integer_ops::Logistic and
// Tanh on int16, as in TFLite and tflite-micro) read one table of the sigmoid and interpolate
// linearly between its entries; tanh uses tanh(x) = 2·σ(2x) − 1.

// sigmoidTable holds σ(i/24) in unsigned Q0.16 for i = 0..255. Each entry is the sample shifted
// by half the error that linear interpolation makes at the middle of the interval to its right,
// 65536·(σ(i/24) + (σ((i+½)/24) − (σ(i/24) + σ((i+1)/24))/2)/2) rounded to nearest, so the
// interpolated curve sits between over- and under-shooting; the last entry is the saturation
// value 0xFFFF. This reproduces TFLite's published sigmoid_table_uint16 entry for entry (the
// nearest tie is 0.004 away, far outside float64 error).
var sigmoidTable = func() (t [256]uint16) {
	s := func(i float64) float64 { return 65536 / (1 + math.Exp(-i/24)) }
	for i := range 255 {
		x := float64(i)
		t[i] = uint16(math.Round(s(x) + (s(x+0.5)-(s(x)+s(x+1))/2)/2))
	}
	t[255] = 0xFFFF
	return t
}()

// Sigmoid16Params scale an int16 input to the table's input unit: v = (x·Multiplier +
// round) >> Shift, where |v| >> 9 (logistic) or |v| >> 8 (tanh) indexes the table.
type Sigmoid16Params struct {
	Multiplier int32
	Shift      int
}

// checkedLog2 is TFLite's CheckedLog2 in float32: the nearest integer to log2(x) and whether x
// is within 1e-3 (in log2) of that power of two.
func checkedLog2(x float32) (int, bool) {
	inv := float32(1) / float32(math.Log(2))
	l := float32(math.Log(float64(x))) * inv
	r := float32(math.Round(float64(l)))
	return int(r), math.Abs(float64(l-r)) < 1e-3
}

// NewSigmoid16Params validates the quantization of an int16 LOGISTIC (tanh false) or TANH and
// computes its input scaling as TFLite's Prepare does: zero points 0, output scale 2^-15; an
// input scale of 2^-12 (logistic; tanh also 2^-11) multiplies by 3·2^k exactly, any other scale
// by inputScale·3·4096 doubled until it exceeds 32767/2 and truncated, with the doublings as
// the rounding right shift.
func NewSigmoid16Params(inputScale float32, inputZP int32, outputScale float32, outputZP int32, tanh bool) (Sigmoid16Params, error) {
	if inputZP != 0 || outputZP != 0 {
		return Sigmoid16Params{}, fmt.Errorf("int16 input and output need zero point 0, got %d and %d", inputZP, outputZP)
	}
	if l, pot := checkedLog2(outputScale); !pot || l != -15 {
		return Sigmoid16Params{}, fmt.Errorf("int16 output scale must be 2^-15, got %g", outputScale)
	}
	if !(inputScale > 0) {
		return Sigmoid16Params{}, fmt.Errorf("input scale %g is not positive", inputScale)
	}
	l, pot := checkedLog2(inputScale)
	shift := 12 + l
	if pot && (shift == 0 || tanh && shift == 1) {
		return Sigmoid16Params{Multiplier: 3 << shift}, nil
	}
	m := float64(inputScale) * 4096 * 3
	shift = 0
	for m <= 32767.0/2 && shift <= 30 {
		shift++
		m *= 2
	}
	if m > 32767 {
		return Sigmoid16Params{}, fmt.Errorf("input scale %g is too large for the int16 table (at most %g)", inputScale, 32767.0/(4096*3))
	}
	return Sigmoid16Params{Multiplier: int32(m), Shift: shift}, nil
}

// scaled applies the input scaling (a rounding right shift, half up).
func (p Sigmoid16Params) scaled(x int16) int32 {
	var round int32
	if p.Shift > 0 {
		round = 1 << (p.Shift - 1)
	}
	return (int32(x)*p.Multiplier + round) >> p.Shift
}

// abs32 is |v| as an unsigned value (|MinInt32| included).
func abs32(v int32) uint32 {
	if v < 0 {
		return uint32(-int64(v))
	}
	return uint32(v)
}

// tableAt interpolates the sigmoid table at a, whose low frac bits are the fraction between
// entries (Q0.16 with frac extra fraction bits); past the last interval it returns sat.
func tableAt(a uint32, frac uint, sat uint32) uint32 {
	h := a >> frac
	if h >= 255 {
		return sat
	}
	lo, hi := uint32(sigmoidTable[h]), uint32(sigmoidTable[h+1])
	return lo<<frac + (a&(1<<frac-1))*(hi-lo)
}

// LogisticInt16 computes σ on int16 values (output scale 2^-15): 9 fraction bits of the scaled
// input interpolate between table entries; negative inputs use σ(−x) = 1 − σ(x).
func LogisticInt16(p Sigmoid16Params, in, out []int16) {
	for i, x := range in {
		v := p.scaled(x)
		r := tableAt(abs32(v), 9, 0x7FFF<<10)
		if v >= 0 {
			r += 1 << 9
		} else {
			r = 1<<25 - r + 1<<9 - 1
		}
		out[i] = int16(r >> 10)
	}
}

// TanhInt16 computes tanh on int16 values (output scale 2^-15) as 2·σ(2x) − 1: the scaled input
// indexes the table with 8 fraction bits (twice the logistic's step).
func TanhInt16(p Sigmoid16Params, in, out []int16) {
	for i, x := range in {
		v := p.scaled(x)
		r := int32(tableAt(abs32(v), 8, 0xFFFF<<8))
		if v >= 0 {
			r = r - 1<<23 + 1<<7
		} else {
			r = -r + 1<<23 + 1<<7 - 1
		}
		out[i] = int16(r >> 8)
	}
}
