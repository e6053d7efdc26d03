package qkernel

import "math"

// SoftmaxParams are the precomputed parameters of an int8 softmax (int8 output, zero point
// -128, scale 1/256).
type SoftmaxParams struct {
	BetaMultiplier int32
	BetaLeftShift  int
	DiffMin        int32
}

const softmaxScaledDiffIntBits = 5

// NewSoftmaxParams computes softmax parameters from beta and the input scale (TFLite
// PreprocessSoftmaxScaling with 5 integer bits, double-rounding build).
func NewSoftmaxParams(beta float64, inputScale float32) SoftmaxParams {
	real := min(beta*float64(inputScale)*(1<<(31-softmaxScaledDiffIntBits)), float64(math.MaxInt32))
	m, shift := QuantizeMultiplierGreaterThanOne(real)
	// CalculateInputRadius(5, shift, 31).
	maxRescaled := float64((1<<softmaxScaledDiffIntBits)-1) * float64(int64(1)<<(31-softmaxScaledDiffIntBits)) / float64(int64(1)<<uint(shift))
	return SoftmaxParams{BetaMultiplier: m, BetaLeftShift: shift, DiffMin: -int32(math.Floor(maxRescaled))}
}

// SoftmaxInt8 computes softmax over rows of length depth: int8 in, int8 out (zero point -128,
// scale 1/256).
func SoftmaxInt8(p SoftmaxParams, in, out []int8, depth int) {
	const accIntBits = 12
	for r := 0; r+depth <= len(in); r += depth {
		row, orow := in[r:r+depth], out[r:r+depth]
		maxV := int32(math.MinInt32)
		for _, v := range row {
			maxV = max(maxV, int32(v))
		}
		var sum int32
		for _, v := range row {
			d := int32(v) - maxV
			if d >= p.DiffMin {
				s := SaturatingRoundingDoublingHighMul(d*(1<<uint(p.BetaLeftShift)), p.BetaMultiplier)
				sum += rescale(expOnNegativeValues(s, softmaxScaledDiffIntBits), 0, accIntBits)
			}
		}
		scale, bitsOver := reciprocal(sum, accIntBits)
		for i, v := range row {
			d := int32(v) - maxV
			if d < p.DiffMin {
				orow[i] = -128
				continue
			}
			s := SaturatingRoundingDoublingHighMul(d*(1<<uint(p.BetaLeftShift)), p.BetaMultiplier)
			e := expOnNegativeValues(s, softmaxScaledDiffIntBits)
			o := RoundingDivideByPOT(fpMul(scale, e), bitsOver+31-8) - 128
			orow[i] = int8(clamp(o, -128, 127))
		}
	}
}

// LogisticParams are the precomputed parameters of an int8 logistic (output zero point -128,
// scale 1/256).
type LogisticParams struct {
	InputZeroPoint int32
	RangeRadius    int32
	Multiplier     int32
	LeftShift      int
}

// NewLogisticParams computes logistic parameters from the input quantization.
func NewLogisticParams(inputScale float32, inputZeroPoint int32) LogisticParams {
	const intBits = 4
	real := float64(inputScale) * float64(int64(1)<<(31-intBits))
	q, shift := math.Frexp(real)
	m := int32(math.Round(q * (1 << 31)))
	maxRescaled := float64((1<<intBits)-1) * float64(int64(1)<<(31-intBits)) / math.Ldexp(1, shift)
	return LogisticParams{InputZeroPoint: inputZeroPoint, RangeRadius: int32(math.Floor(maxRescaled)), Multiplier: m, LeftShift: shift}
}

// LogisticInt8 computes the logistic function element-wise.
func LogisticInt8(p LogisticParams, in, out []int8) {
	for i, v := range in {
		x := int32(v) - p.InputZeroPoint
		switch {
		case x <= -p.RangeRadius:
			out[i] = -128
		case x >= p.RangeRadius:
			out[i] = 127
		default:
			q4 := MultiplyByQuantizedMultiplier(x, p.Multiplier, p.LeftShift)
			o := RoundingDivideByPOT(logisticQ0(q4, 4), 31-8) - 128
			out[i] = int8(clamp(o, -128, 127))
		}
	}
}
