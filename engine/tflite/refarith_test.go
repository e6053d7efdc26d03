package tflite

import (
	"encoding/binary"
	"math"
	"math/big"
	"testing"
)

// Scalar statements of TFLite's reference integer arithmetic, written from its documented
// definitions (tensorflow/lite/kernels/internal/common.h, quantization_util.cc) with exact
// big-integer arithmetic, independently of internal/qkernel, so model-level tests can derive
// expected outputs on their own.

// pow2 returns 2^e as a big integer.
func pow2(e int) *big.Int { return new(big.Int).Lsh(big.NewInt(1), uint(e)) }

// floorDiv returns floor(n / 2^e).
func floorDiv(n *big.Int, e int) *big.Int {
	q, m := new(big.Int), new(big.Int)
	q.DivMod(n, pow2(e), m) // Euclidean division: floor for a positive divisor
	return q
}

// refQuantizeMultiplier writes a positive real d as m·2^(shift−31) with m in [2^30, 2^31),
// m rounded half away from zero (QuantizeMultiplier); a mantissa that rounds up to 2^31 is
// halved and the shift raised.
func refQuantizeMultiplier(d float64) (int32, int) {
	if d == 0 {
		return 0, 0
	}
	shift := 0
	for math.Abs(d)*math.Ldexp(1, -shift) >= 1 {
		shift++
	}
	for math.Abs(d)*math.Ldexp(1, -shift) < 0.5 {
		shift--
	}
	m := math.Round(d * math.Ldexp(1, 31-shift))
	if m == 1<<31 {
		m, shift = m/2, shift+1
	}
	if shift < -31 {
		return 0, 0
	}
	return int32(m), shift
}

// refMBQM32 is the 32-bit MultiplyByQuantizedMultiplier of the default (double rounding) build:
// x·2^max(shift,0) wrapped to int32, times m over 2^31 rounded half up (the doubling high
// multiply, saturating only for MinInt32·MinInt32), then divided by 2^max(−shift,0) rounded half
// away from zero.
func refMBQM32(x, m int32, shift int) int32 {
	xl := x
	for range max(shift, 0) {
		xl *= 2 // int32 wrap, as the C++ on every real target
	}
	if xl == math.MinInt32 && m == math.MinInt32 {
		return math.MaxInt32
	}
	p := new(big.Int).Mul(big.NewInt(int64(xl)), big.NewInt(int64(m)))
	h := floorDiv(p.Add(p, pow2(30)), 31).Int64()
	right := max(-shift, 0)
	if right == 0 {
		return int32(h)
	}
	a := new(big.Int).Abs(big.NewInt(h))
	r := floorDiv(a.Add(a, pow2(right-1)), right).Int64()
	if h < 0 {
		r = -r
	}
	return int32(r)
}

// refMBQM64 is the int64-accumulator MultiplyByQuantizedMultiplier (16x8 kernels): the Q31
// multiplier rounded to 16 bits (saturating at 0x7FFF), then one shift by 15 − shift rounded
// half up.
func refMBQM64(x int64, m int32, shift int) int32 {
	m16 := int64(0x7FFF)
	if m < 0x7FFF0000 {
		m16 = floorDiv(big.NewInt(int64(m)+1<<15), 16).Int64()
	}
	total := 15 - shift
	p := new(big.Int).Mul(big.NewInt(x), big.NewInt(m16))
	return int32(floorDiv(p.Add(p, pow2(total-1)), total).Int64())
}

func TestRefArithmeticHandChecked(t *testing.T) {
	// 0.75 = 0.75·2^0: m = round(0.75·2^31) = 1610612736.
	if m, s := refQuantizeMultiplier(0.75); m != 1610612736 || s != 0 {
		t.Fatalf("refQuantizeMultiplier(0.75) = %d, %d", m, s)
	}
	// 3·0.75 = 2.25 → 2; −3·0.75 = −2.25 → −2; 2·0.75 = 1.5 → 2 (half up); −2·0.75 = −1.5 → −1.
	for _, c := range [][2]int32{{3, 2}, {-3, -2}, {2, 2}, {-2, -1}} {
		if got := refMBQM32(c[0], 1610612736, 0); got != c[1] {
			t.Errorf("refMBQM32(%d, 0.75) = %d, want %d", c[0], got, c[1])
		}
	}
	// 0.75·2^-2 (shift −2): 10·0.75 = 7.5 → 8 (high multiply), /4 = 2; −10: −7.5 → −7, /4 = −1.75 → −2.
	if a, b := refMBQM32(10, 1610612736, -2), refMBQM32(-10, 1610612736, -2); a != 2 || b != -2 {
		t.Errorf("refMBQM32(±10, 0.75, −2) = %d, %d, want 2, −2", a, b)
	}
	// 16-bit multiplier of 0.75·2^31 is 24576 (0.75·2^15); 1000·0.75/2 = 375 exactly with shift −1;
	// 1001 → 375.375 → 375; −1001 → −375.375 → −375.
	for _, c := range [][2]int64{{1000, 375}, {1001, 375}, {-1001, -375}, {1002, 376}} {
		if got := refMBQM64(c[0], 1610612736, -1); int64(got) != c[1] {
			t.Errorf("refMBQM64(%d, 0.75, −1) = %d, want %d", c[0], got, c[1])
		}
	}
}

func i16Bytes(x []int16) []byte {
	b := make([]byte, 2*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

func i64Bytes(x []int64) []byte {
	b := make([]byte, 8*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return b
}
