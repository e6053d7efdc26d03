// Package signal implements the fixed-point audio front end of tflite-micro's "Signal"
// library (window, FFT auto-scale, int16 real FFT, energy, mel filter bank, square root,
// spectral subtraction, PCAN gain control, log) as pure functions. Integer semantics (widths,
// wrap-around, shifts, rounding) follow the C implementation so that features match bit for bit.
package signal

import "math/bits"

// MostSignificantBit32 returns the 1-based index of the highest set bit (32 for x = 0, as the
// GCC build of tflite-micro does).
func MostSignificantBit32(x uint32) uint32 {
	if x == 0 {
		return 32
	}
	return uint32(32 - bits.LeadingZeros32(x))
}

// MostSignificantBit64 is MostSignificantBit32 for 64-bit values.
func MostSignificantBit64(x uint64) uint32 {
	if x == 0 {
		return 64
	}
	return uint32(64 - bits.LeadingZeros64(x))
}

// ApplyWindow multiplies in by window, shifts right by shift and saturates to int16.
func ApplyWindow(in, window []int16, shift int, out []int16) {
	for i, w := range window {
		raw := (int32(in[i]) * int32(w)) >> uint(shift)
		out[i] = int16(min(max(raw, -32768), 32767))
	}
}

// MaxAbs16 returns the largest magnitude in in, with the C implementation's int16 wrap for
// -32768.
func MaxAbs16(in []int16) int16 {
	var m int16
	for _, v := range in {
		if v > m {
			m = v
		} else if -v > m { // -(-32768) wraps to -32768 in int16, as in C's store
			m = -v
		}
	}
	return m
}

// FftAutoScale shifts in left so that its peak uses the full int16 range and returns the
// shift.
func FftAutoScale(in, out []int16) int {
	m := MaxAbs16(in)
	scaleBits := 16 - int(MostSignificantBit32(uint32(int32(m)))) - 1
	if scaleBits <= 0 {
		scaleBits = 0
	}
	for i, v := range in {
		out[i] = int16(int32(v) * (1 << uint(scaleBits)))
	}
	return scaleBits
}

// SpectrumToEnergy writes re²+im² for bins [start, end) of an interleaved complex int16
// spectrum.
func SpectrumToEnergy(spec []int16, start, end int, out []uint32) {
	for i := start; i < end; i++ {
		re, im := int32(spec[2*i]), int32(spec[2*i+1])
		out[i] = uint32(re*re) + uint32(im*im)
	}
}

// FilterbankConfig describes a triangular filter bank: for channel i (0..NumChannels, where
// channel 0 is scratch), Widths[i] weights starting at WeightStarts[i] apply to energies from
// FrequencyStarts[i].
type FilterbankConfig struct {
	NumChannels     int
	FrequencyStarts []int16
	WeightStarts    []int16
	Widths          []int16
	Weights         []int16
	Unweights       []int16
}

// FilterbankAccumulate accumulates weighted energies into NumChannels+1 outputs; out[0] is
// scratch (callers drop it).
func FilterbankAccumulate(c *FilterbankConfig, in []uint32, out []uint64) {
	var weight, unweight uint64
	for i := 0; i <= c.NumChannels; i++ {
		f0, w0 := int(c.FrequencyStarts[i]), int(c.WeightStarts[i])
		for j := 0; j < int(c.Widths[i]); j++ {
			x := uint64(in[f0+j])
			weight += uint64(int64(c.Weights[w0+j])) * x
			unweight += uint64(int64(c.Unweights[w0+j])) * x
		}
		out[i] = weight
		weight, unweight = unweight, 0
	}
}

// Sqrt32 is tflite-micro's rounding integer square root of a 32-bit value.
func Sqrt32(num uint32) uint16 {
	if num == 0 {
		return 0
	}
	var res uint32
	maxBit := int(32-MostSignificantBit32(num)) | 1
	bit := uint32(1) << uint(31-maxBit)
	for it := (31-maxBit)/2 + 1; it > 0; it-- {
		if num >= res+bit {
			num -= res + bit
			res = res>>1 + bit
		} else {
			res >>= 1
		}
		bit >>= 2
	}
	if num > res && res != 0xFFFF {
		res++
	}
	return uint16(res)
}

// Sqrt64 is tflite-micro's rounding integer square root of a 64-bit value (falling back to
// Sqrt32 when the high word is clear, as the original does).
func Sqrt64(num uint64) uint32 {
	if num>>32 == 0 {
		return uint32(Sqrt32(uint32(num)))
	}
	var res uint64
	maxBit := int(64-MostSignificantBit64(num)) | 1
	bit := uint64(1) << uint(63-maxBit)
	for it := (63-maxBit)/2 + 1; it > 0; it-- {
		if num >= res+bit {
			num -= res + bit
			res = res>>1 + bit
		} else {
			res >>= 1
		}
		bit >>= 2
	}
	if num > res && res != 0xFFFFFFFF {
		res++
	}
	return uint32(res)
}

// FilterbankSqrt writes sqrt(in[i]) >> scaleDownBits.
func FilterbankSqrt(in []uint64, scaleDownBits int, out []uint32) {
	for i, v := range in {
		out[i] = Sqrt64(v) >> uint(scaleDownBits)
	}
}

// SpectralSubtractionConfig holds the noise-reduction parameters (fixed point with
// SpectralSubtractionBits fraction bits).
type SpectralSubtractionConfig struct {
	NumChannels                int
	Smoothing                  uint32
	OneMinusSmoothing          uint32
	AlternateSmoothing         uint32
	AlternateOneMinusSmoothing uint32
	SmoothingBits              uint32
	SpectralSubtractionBits    uint32
	MinSignalRemaining         uint32
	Clamping                   bool
}

// SpectralSubtraction updates noise (the running noise estimate, state kept between frames)
// and writes the noise-reduced signal to out.
func SpectralSubtraction(c *SpectralSubtractionConfig, in, out, noise []uint32) {
	for i := 0; i < c.NumChannels; i++ {
		s, oms := c.Smoothing, c.OneMinusSmoothing
		if i&1 == 1 {
			s, oms = c.AlternateSmoothing, c.AlternateOneMinusSmoothing
		}
		up := in[i] << c.SmoothingBits
		noise[i] = uint32((uint64(up)*uint64(s) + uint64(noise[i])*uint64(oms)) >> c.SpectralSubtractionBits)
		est := noise[i]
		if est > up {
			est = up
			if c.Clamping {
				noise[i] = est
			}
		}
		floor := uint32((uint64(in[i]) * uint64(c.MinSignalRemaining)) >> c.SpectralSubtractionBits)
		sub := (up - est) >> c.SmoothingBits
		out[i] = max(sub, floor)
	}
}

const (
	pcanSnrBits    = 12
	pcanOutputBits = 6
)

// WideDynamicFunction evaluates PCAN's piecewise-quadratic gain lookup table at x.
func WideDynamicFunction(x uint32, lut []int16) int16 {
	if x <= 2 {
		return lut[x]
	}
	interval := int16(MostSignificantBit32(x))
	l := lut[4*int(interval)-6:]
	var f uint32
	if interval < 11 {
		f = x << uint(11-interval)
	} else {
		f = x >> uint(interval-11)
	}
	frac := int32(int16(f & 0x3FF))
	r := (int32(l[2]) * frac) >> 5
	r += int32(uint32(int32(l[1])) << 5)
	r *= frac
	r = (r + 1<<14) >> 15
	r += int32(l[0])
	return int16(r)
}

// PcanShrink maps an SNR with 12 fraction bits through x²/4 (x < 2) or x−1 to 6 fraction bits.
func PcanShrink(x uint32) uint32 {
	if x < 2<<pcanSnrBits {
		return (x * x) >> (2 + 2*pcanSnrBits - pcanOutputBits)
	}
	return x>>(pcanSnrBits-pcanOutputBits) - 1<<pcanOutputBits
}

// PcanAutoGainControl applies per-channel automatic gain control in place.
func PcanAutoGainControl(lut []int16, snrShift int, noise []uint32, fb []uint32) {
	for i := range fb {
		gain := uint32(int32(WideDynamicFunction(noise[i], lut)))
		snr := uint32((uint64(fb[i]) * uint64(gain)) >> uint(snrShift))
		fb[i] = PcanShrink(snr)
	}
}

var logLUT = [...]uint16{
	0, 224, 442, 654, 861, 1063, 1259, 1450, 1636, 1817, 1992, 2163,
	2329, 2490, 2646, 2797, 2944, 3087, 3224, 3358, 3487, 3611, 3732, 3848,
	3960, 4068, 4172, 4272, 4368, 4460, 4549, 4633, 4714, 4791, 4864, 4934,
	5001, 5063, 5123, 5178, 5231, 5280, 5326, 5368, 5408, 5444, 5477, 5507,
	5533, 5557, 5578, 5595, 5610, 5622, 5631, 5637, 5640, 5641, 5638, 5633,
	5626, 5615, 5602, 5586, 5568, 5547, 5524, 5498, 5470, 5439, 5406, 5370,
	5332, 5291, 5249, 5203, 5156, 5106, 5054, 5000, 4944, 4885, 4825, 4762,
	4697, 4630, 4561, 4490, 4416, 4341, 4264, 4184, 4103, 4020, 3935, 3848,
	3759, 3668, 3575, 3481, 3384, 3286, 3186, 3084, 2981, 2875, 2768, 2659,
	2549, 2437, 2323, 2207, 2090, 1971, 1851, 1729, 1605, 1480, 1353, 1224,
	1094, 963, 830, 695, 559, 421, 282, 142, 0, 0}

const (
	logSegmentsLog2 = 7
	logScaleLog2    = 16
	logScale        = 1 << logScaleLog2
	logCoeff        = 45426 // ln(2) in Q16
)

func log2FractionPart32(x, log2x uint32) uint32 {
	frac := int32(int64(x) - int64(1)<<log2x)
	if log2x < logScaleLog2 {
		frac <<= logScaleLog2 - log2x
	} else {
		frac >>= log2x - logScaleLog2
	}
	baseSeg := uint32(frac) >> (logScaleLog2 - logSegmentsLog2)
	const segUnit = logScale >> logSegmentsLog2
	c0 := int32(logLUT[baseSeg])
	c1 := int32(logLUT[baseSeg+1])
	segBase := int32(segUnit * baseSeg)
	relPos := ((c1 - c0) * (frac - segBase)) >> logScaleLog2
	return uint32(frac + c0 + relPos)
}

// Log32 returns ln(x)·outScale/2^16... in the fixed-point form of tflite-micro's Log32 (x > 1).
func Log32(x, outScale uint32) uint32 {
	integer := MostSignificantBit32(x) - 1
	fraction := log2FractionPart32(x, integer)
	log2 := integer<<logScaleLog2 + fraction
	const round = logScale / 2
	loge := uint32((uint64(logCoeff)*uint64(log2) + round) >> logScaleLog2)
	return (outScale*loge + round) >> logScaleLog2
}

// FilterbankLog writes the scaled natural log of each channel (0 for inputs <= 1 after the
// correction shift), saturated to int16.
func FilterbankLog(in []uint32, outputScale int32, correctionBits uint32, out []int16) {
	for i, v := range in {
		scaled := v << correctionBits
		if scaled > 1 {
			l := Log32(scaled, uint32(outputScale))
			out[i] = int16(min(l, 32767))
		} else {
			out[i] = 0
		}
	}
}
