package qkernel

// AddParams hold the precomputed parameters of a quantized ADD or SUB (TFLite's
// ArithmeticParams): inputs are shifted left, rescaled to a common scale, added, rescaled to
// the output.
type AddParams struct {
	LeftShift        int
	Input1Offset     int32
	Input2Offset     int32
	Input1Multiplier int32
	Input1Shift      int
	Input2Multiplier int32
	Input2Shift      int
	OutputMultiplier int32
	OutputShift      int
	OutputOffset     int32
	ActMin, ActMax   int32
}

// NewAddParams computes ADD (sub=false) or SUB parameters. leftShift is 20 for int8 and 15 for
// int16. SUB computes the common scale in float32, ADD in float64, as TFLite does.
func NewAddParams(sub bool, leftShift int, s1, s2, sOut float32, zp1, zp2, zpOut int32, actMin, actMax int32) AddParams {
	var twiceMax float64
	if sub {
		twiceMax = float64(2 * max(s1, s2))
	} else {
		twiceMax = 2 * float64(max(s1, s2))
	}
	p := AddParams{LeftShift: leftShift, Input1Offset: -zp1, Input2Offset: -zp2, OutputOffset: zpOut, ActMin: actMin, ActMax: actMax}
	p.Input1Multiplier, p.Input1Shift = QuantizeMultiplier(float64(s1) / twiceMax)
	p.Input2Multiplier, p.Input2Shift = QuantizeMultiplier(float64(s2) / twiceMax)
	p.OutputMultiplier, p.OutputShift = QuantizeMultiplier(twiceMax / (float64(int64(1)<<uint(leftShift)) * float64(sOut)))
	return p
}

// Add returns one element of a quantized ADD (sub=false) or SUB.
func (p *AddParams) Add(a, b int32, sub bool) int32 {
	x := (a + p.Input1Offset) * (1 << uint(p.LeftShift))
	y := (b + p.Input2Offset) * (1 << uint(p.LeftShift))
	x = MultiplyByQuantizedMultiplier(x, p.Input1Multiplier, p.Input1Shift)
	y = MultiplyByQuantizedMultiplier(y, p.Input2Multiplier, p.Input2Shift)
	s := x + y
	if sub {
		s = x - y
	}
	s = MultiplyByQuantizedMultiplier(s, p.OutputMultiplier, p.OutputShift) + p.OutputOffset
	return clamp(s, p.ActMin, p.ActMax)
}

// MulParams hold the parameters of a quantized MUL.
type MulParams struct {
	Input1Offset, Input2Offset int32
	OutputOffset               int32
	Multiplier                 int32
	Shift                      int
	ActMin, ActMax             int32
}

// NewMulParams computes MUL parameters.
func NewMulParams(s1, s2, sOut float32, zp1, zp2, zpOut int32, actMin, actMax int32) MulParams {
	m, sh := QuantizeMultiplier(float64(s1) * float64(s2) / float64(sOut))
	return MulParams{Input1Offset: -zp1, Input2Offset: -zp2, OutputOffset: zpOut, Multiplier: m, Shift: sh, ActMin: actMin, ActMax: actMax}
}

// Mul returns one element of a quantized MUL.
func (p *MulParams) Mul(a, b int32) int32 {
	v := MultiplyByQuantizedMultiplier((a+p.Input1Offset)*(b+p.Input2Offset), p.Multiplier, p.Shift) + p.OutputOffset
	return clamp(v, p.ActMin, p.ActMax)
}

// RequantizeParams map q_in (scale sIn, zero point zpIn) to q_out (sOut, zpOut).
type RequantizeParams struct {
	InputZeroPoint  int32
	OutputZeroPoint int32
	Multiplier      int32
	Shift           int
	Min, Max        int32
}

// NewRequantizeParams computes requantization parameters; [qmin, qmax] is the output type range.
func NewRequantizeParams(sIn, sOut float32, zpIn, zpOut, qmin, qmax int32) RequantizeParams {
	m, sh := QuantizeMultiplier(float64(sIn) / float64(sOut))
	return RequantizeParams{InputZeroPoint: zpIn, OutputZeroPoint: zpOut, Multiplier: m, Shift: sh, Min: qmin, Max: qmax}
}

// Requantize converts every element of in to out.
func Requantize[I, O int8 | int16 | int32](p RequantizeParams, in []I, out []O) {
	for i, v := range in {
		r := MultiplyByQuantizedMultiplier(int32(v)-p.InputZeroPoint, p.Multiplier, p.Shift) + p.OutputZeroPoint
		out[i] = O(clamp(r, p.Min, p.Max))
	}
}

// Dequantize converts quantized values to float32: scale·(q − zp) computed in float64.
func Dequantize[I int8 | int16 | int32 | uint8](scale float64, zp int32, in []I, out []float32) {
	for i, v := range in {
		out[i] = float32(scale * float64(int32(v)-zp))
	}
}

// Clamp clamps every element to [lo, hi] (RELU6 on int8 with equal in/out quantization).
func Clamp[T int8 | int16](in, out []T, lo, hi int32) {
	for i, v := range in {
		out[i] = T(clamp(int32(v), lo, hi))
	}
}

// LeakyReluParams hold the two requantizations of a quantized LEAKY_RELU: identity for inputs
// at or above the input zero point, alpha below it.
type LeakyReluParams struct {
	InputZeroPoint, OutputZeroPoint int32
	IdentityMultiplier              int32
	IdentityShift                   int
	AlphaMultiplier                 int32
	AlphaShift                      int
}

// NewLeakyReluParams computes LEAKY_RELU parameters. As in TFLite's Prepare, the real
// multipliers sIn·alpha/sOut and sIn/sOut are computed in float32 before QuantizeMultiplier
// (a negative alpha gives a negative multiplier).
func NewLeakyReluParams(sIn, sOut, alpha float32, zpIn, zpOut int32) LeakyReluParams {
	p := LeakyReluParams{InputZeroPoint: zpIn, OutputZeroPoint: zpOut}
	p.AlphaMultiplier, p.AlphaShift = QuantizeMultiplier(float64(float32(float32(sIn*alpha) / sOut)))
	p.IdentityMultiplier, p.IdentityShift = QuantizeMultiplier(float64(float32(sIn / sOut)))
	return p
}

// LeakyRelu applies a quantized LEAKY_RELU element-wise, clamping to [lo, hi] (the type range).
func LeakyRelu[T int8 | int16](p LeakyReluParams, in, out []T, lo, hi int32) {
	for i, v := range in {
		x := int32(v) - p.InputZeroPoint
		var y int32
		if x >= 0 {
			y = MultiplyByQuantizedMultiplier(x, p.IdentityMultiplier, p.IdentityShift)
		} else {
			y = MultiplyByQuantizedMultiplier(x, p.AlphaMultiplier, p.AlphaShift)
		}
		out[i] = T(clamp(y+p.OutputZeroPoint, lo, hi))
	}
}
