// Package qkernel holds TFLite's integer (quantized) kernels as pure functions on slices and
// parameters. The arithmetic follows TFLite's reference integer kernels (gemmlowp fixed point,
// double-rounding MultiplyByQuantizedMultiplier as built by tflite-micro) so that results match
// TFLite bit for bit.
package qkernel

import (
	"math"
	"math/bits"
)

// Job is work over a range [lo, hi) of output rows or channels; chunks may run concurrently.
type Job interface{ Run(lo, hi int) }

// Parallel runs a Job over [0, n), possibly split into chunks on several goroutines, and
// returns when all are done. A nil Parallel runs j.Run(0, n).
type Parallel interface{ Run(n int, j Job) }

func run(p Parallel, n int, j Job) {
	if n <= 0 {
		return
	}
	if p == nil {
		j.Run(0, n)
		return
	}
	p.Run(n, j)
}

// SaturatingRoundingDoublingHighMul returns the high 32 bits of 2·a·b, rounded to nearest
// (ties away from zero), saturating the single overflow case a = b = MinInt32.
func SaturatingRoundingDoublingHighMul(a, b int32) int32 {
	if a == b && a == math.MinInt32 {
		return math.MaxInt32
	}
	p := int64(a) * int64(b)
	nudge := int64(1 << 30)
	if p < 0 {
		nudge = 1 - (1 << 30)
	}
	return int32((p + nudge) / (1 << 31)) // Go division truncates toward zero, like C
}

// RoundingDivideByPOT returns x / 2^e rounded to nearest, ties away from zero (0 <= e <= 31).
func RoundingDivideByPOT(x int32, e int) int32 {
	if e == 0 {
		return x
	}
	mask := int32(uint32(1)<<uint(e) - 1)
	rem := x & mask
	threshold := mask >> 1
	if x < 0 {
		threshold++
	}
	r := x >> uint(e)
	if rem > threshold {
		r++
	}
	return r
}

// SaturatingMulByPOT multiplies x by 2^e: a saturating left shift for e > 0, a rounding right
// shift for e < 0.
func SaturatingMulByPOT(x int32, e int) int32 {
	if e <= 0 {
		return RoundingDivideByPOT(x, -e)
	}
	threshold := int32(1)<<uint(31-e) - 1
	if x > threshold {
		return math.MaxInt32
	}
	if x < -threshold {
		return math.MinInt32
	}
	return x << uint(e)
}

// MultiplyByQuantizedMultiplier returns x · m · 2^shift / 2^31 with TFLite's double rounding
// (the default build): a rounding doubling high multiply, then a rounding right shift.
func MultiplyByQuantizedMultiplier(x, m int32, shift int) int32 {
	left, right := 0, 0
	if shift > 0 {
		left = shift
	} else {
		right = -shift
	}
	return RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x*(1<<uint(left)), m), right)
}

// MultiplyByQuantizedMultiplier64 is the int64-accumulator variant used by 16x8 kernels: the
// multiplier is reduced to 16 bits and applied with a single rounding shift.
func MultiplyByQuantizedMultiplier64(x int64, m int32, shift int) int32 {
	var reduced int64 = 0x7FFF
	if m < 0x7FFF0000 {
		reduced = (int64(m) + 1<<15) >> 16
	}
	total := uint(15 - shift)
	return int32((x*reduced + int64(1)<<(total-1)) >> total)
}

// QuantizeMultiplier splits a positive real multiplier into a Q31 multiplier in [2^30, 2^31)
// and a power-of-two shift (positive = left), as TFLite's QuantizeMultiplier does.
func QuantizeMultiplier(d float64) (int32, int) {
	if d == 0 {
		return 0, 0
	}
	q, shift := math.Frexp(d)
	qFixed := int64(math.Round(q * (1 << 31)))
	if qFixed == 1<<31 {
		qFixed /= 2
		shift++
	}
	if shift < -31 {
		return 0, 0
	}
	return int32(qFixed), shift
}

// QuantizeMultiplierGreaterThanOne is QuantizeMultiplier for d > 1 (shift >= 0).
func QuantizeMultiplierGreaterThanOne(d float64) (int32, int) { return QuantizeMultiplier(d) }

// Activation is a fused activation function (schema ActivationFunctionType).
type Activation uint8

// Fused activations.
const (
	ActNone      Activation = 0
	ActRelu      Activation = 1
	ActReluN1To1 Activation = 2
	ActRelu6     Activation = 3
)

// ActivationRange returns the clamp bounds [lo, hi] of a fused activation on an output with the
// given scale and zero point, within the type range [qmin, qmax].
func ActivationRange(act Activation, qmin, qmax int32, scale float32, zp int32) (int32, int32) {
	quant := func(f float32) int32 { return zp + int32(math.Round(float64(f/scale))) }
	lo, hi := qmin, qmax
	switch act {
	case ActRelu:
		lo = max(qmin, quant(0))
	case ActRelu6:
		lo = max(qmin, quant(0))
		hi = min(qmax, quant(6))
	case ActReluN1To1:
		lo = max(qmin, quant(-1))
		hi = min(qmax, quant(1))
	}
	return lo, hi
}

func clamp(v, lo, hi int32) int32 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// Fixed-point helpers after gemmlowp. A value "Qn" has n integer bits and 31-n fraction bits.

// fpMul multiplies two fixed-point numbers; the result's integer bits are the sum of theirs.
func fpMul(a, b int32) int32 { return SaturatingRoundingDoublingHighMul(a, b) }

// rescale converts a raw value from src to dst integer bits.
func rescale(x int32, src, dst int) int32 { return SaturatingMulByPOT(x, src-dst) }

const q0One = math.MaxInt32 // 1.0 in Q0 (saturated)

// expOnIntervalNegQuarterTo0 returns exp(a) for a in [-1/4, 0), both Q0.
func expOnIntervalNegQuarterTo0(a int32) int32 {
	const constantTerm = 1895147668 // exp(-1/8)
	const oneThird = 715827883
	x := a + 1<<28 // a + 1/8
	x2 := fpMul(x, x)
	x3 := fpMul(x2, x)
	x4 := fpMul(x2, x2)
	x4over4 := SaturatingMulByPOT(x4, -2)
	poly := SaturatingMulByPOT(fpMul(x4over4+x3, oneThird)+x2, -1)
	return constantTerm + fpMul(constantTerm, x+poly)
}

// expOnNegativeValues returns exp(a) in Q0 for a <= 0 given with intBits integer bits.
func expOnNegativeValues(a int32, intBits int) int32 {
	fracBits := 31 - intBits
	oneQuarter := int32(1) << uint(fracBits-2)
	mask := oneQuarter - 1
	aModQuarterMinusQuarter := (a & mask) - oneQuarter
	result := expOnIntervalNegQuarterTo0(rescale(aModQuarterMinusQuarter, intBits, 0))
	remainder := aModQuarterMinusQuarter - a
	barrel := [...]struct {
		exp  int
		mult int32
	}{{-2, 1672461947}, {-1, 1302514674}, {0, 790015084}, {1, 290630308}, {2, 39332535}, {3, 720401}, {4, 242}}
	for _, b := range barrel {
		if intBits > b.exp {
			shift := fracBits + b.exp
			if remainder&(int32(1)<<uint(shift)) != 0 {
				result = fpMul(result, b.mult)
			}
		}
	}
	if intBits > 5 {
		clampAt := -(int32(1) << uint(36-intBits))
		if a < clampAt {
			result = 0
		}
	}
	if a == 0 {
		result = q0One
	}
	return result
}

// roundingHalfSum returns (a+b)/2 rounded to nearest.
func roundingHalfSum(a, b int32) int32 {
	s := int64(a) + int64(b)
	sign := int64(1)
	if s < 0 {
		sign = -1
	}
	return int32((s + sign) / 2)
}

// oneOverOnePlusX returns 1/(1+x) in Q0 for x in [0, 1) given in Q0 (Newton-Raphson).
func oneOverOnePlusX(a int32) int32 {
	halfDen := roundingHalfSum(a, q0One)
	const c48over17 = 1515870810     // Q2
	const cNeg32over17 = -1010580540 // Q2
	const q2One = 1 << 29
	x := c48over17 + fpMul(halfDen, cNeg32over17)
	for range 3 {
		hdx := fpMul(halfDen, x)
		oneMinus := q2One - hdx
		x += rescale(fpMul(x, oneMinus), 4, 2)
	}
	// x is Q2 for 2/(1+a); reinterpret as Q1 (halving) and rescale to Q0.
	return rescale(x, 1, 0)
}

// reciprocal returns 1/x as a Q0 scale and the number of bits the result exceeds one by, for x
// given with intDigits integer bits (TFLite GetReciprocal).
func reciprocal(x int32, intDigits int) (int32, int) {
	headroomPlusOne := bits.LeadingZeros32(uint32(x))
	numBitsOverUnit := intDigits - headroomPlusOne
	shiftedMinusOne := int32((uint32(x) << uint(headroomPlusOne)) - (1 << 31))
	return oneOverOnePlusX(shiftedMinusOne), numBitsOverUnit
}

// logisticQ0 returns the logistic of a (with intBits integer bits) in Q0.
func logisticQ0(a int32, intBits int) int32 {
	if a == 0 {
		return RoundingDivideByPOT(q0One, 1)
	}
	abs := a
	if a < 0 {
		abs = -a
	}
	pos := oneOverOnePlusX(expOnNegativeValues(-abs, intBits))
	if a > 0 {
		return pos
	}
	return q0One - pos
}
