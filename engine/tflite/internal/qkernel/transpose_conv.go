package qkernel

// TransposeConvParams describe a 2-D transposed convolution over NHWC tensors with OHWI weights
// (TFLite TRANSPOSE_CONV): input pixel (iy, ix) adds its products into the output pixels
// (iy·StrideH − PadTop + ky, ix·StrideW − PadLeft + kx) that lie inside the output.
type TransposeConvParams struct {
	Batch, InH, InW, InC int
	OutH, OutW, OutC     int
	KH, KW               int
	StrideH, StrideW     int
	PadTop, PadLeft      int
	InputOffset          int32 // −input zero point (int8); 0 for int16
	OutputOffset         int32 // output zero point (int8); 0 for int16
	Multiplier           []int32
	Shift                []int
	ActMin, ActMax       int32
}

// scatterTransposeConv accumulates every input value times every filter tap into acc (one
// accumulator per output element, cleared first), as TFLite's reference kernel does; dot is the
// product of one input pixel with one output channel's filter tap. The order of the additions
// differs from the reference, which changes nothing: int64 sums are exact and int32 sums wrap
// modulo 2^32 either way. (Int16 activations have zero point 0, so the 16x8 form has no input
// offset.)
func scatterTransposeConv[I int8 | int16, A int32 | int64](p *TransposeConvParams, in []I, w []int8, acc []A, dot func(x []I, w []int8) A) {
	clear(acc)
	kStride := p.KH * p.KW * p.InC // weights per output channel
	for b := range p.Batch {
		for iy := range p.InH {
			for ix := range p.InW {
				x := in[((b*p.InH+iy)*p.InW+ix)*p.InC:][:p.InC]
				for ky := range p.KH {
					oy := iy*p.StrideH - p.PadTop + ky
					if oy < 0 || oy >= p.OutH {
						continue
					}
					for kx := range p.KW {
						ox := ix*p.StrideW - p.PadLeft + kx
						if ox < 0 || ox >= p.OutW {
							continue
						}
						o := acc[((b*p.OutH+oy)*p.OutW+ox)*p.OutC:][:p.OutC]
						tap := (ky*p.KW + kx) * p.InC
						for oc := range o {
							o[oc] += dot(x, w[oc*kStride+tap:][:p.InC])
						}
					}
				}
			}
		}
	}
}

// TransposeConvInt8 is TRANSPOSE_CONV with int8 activations and weights and int32 bias (may be
// nil): int32 accumulation, per-channel MultiplyByQuantizedMultiplier, output offset, clamp.
// acc holds one int32 per output element.
func TransposeConvInt8(p *TransposeConvParams, in, w []int8, bias []int32, out []int8, acc []int32) {
	off := p.InputOffset
	scatterTransposeConv(p, in, w, acc, func(x, w []int8) int32 {
		var s int32
		for i, v := range x {
			s += (int32(v) + off) * int32(w[i])
		}
		return s
	})
	for i, a := range acc[:len(out)] {
		oc := i % p.OutC
		if bias != nil {
			a += bias[oc]
		}
		v := MultiplyByQuantizedMultiplier(a, p.Multiplier[oc], p.Shift[oc]) + p.OutputOffset
		out[i] = int8(clamp(v, p.ActMin, p.ActMax))
	}
}

// TransposeConvInt16x8 is TRANSPOSE_CONV with int16 activations (zero point 0), int8 weights and
// int64 bias (may be nil): int64 accumulation and the int64 MultiplyByQuantizedMultiplier of
// TFLite's 16x8 kernels, clamp. acc holds one int64 per output element.
func TransposeConvInt16x8(p *TransposeConvParams, in []int16, w []int8, bias []int64, out []int16, acc []int64) {
	scatterTransposeConv(p, in, w, acc, dotInt16x8)
	for i, a := range acc[:len(out)] {
		oc := i % p.OutC
		if bias != nil {
			a += bias[oc]
		}
		v := MultiplyByQuantizedMultiplier64(a, p.Multiplier[oc], p.Shift[oc])
		out[i] = int16(clamp(v, p.ActMin, p.ActMax))
	}
}
