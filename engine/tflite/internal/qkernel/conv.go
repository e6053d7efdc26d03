package qkernel

// ConvParams describe a 2-D convolution over NHWC tensors. Weights are OHWI for CONV_2D and
// 1HW(I·M) for DEPTHWISE_CONV_2D.
type ConvParams struct {
	Batch, InH, InW, InC int
	OutH, OutW, OutC     int
	KH, KW               int
	StrideH, StrideW     int
	DilationH, DilationW int
	PadTop, PadLeft      int
	DepthMultiplier      int   // depthwise only
	InputOffset          int32 // -input zero point (int8); 0 for int16
	OutputOffset         int32 // output zero point
	Multiplier           []int32
	Shift                []int
	ActMin, ActMax       int32
}

func (p *ConvParams) dilH() int { return max(p.DilationH, 1) }
func (p *ConvParams) dilW() int { return max(p.DilationW, 1) }

// ConvWorkspace is the per-call scratch size in int8/int16 elements for Conv*: one im2col row
// block per output row.
func (p *ConvParams) ConvWorkspace() int { return p.OutW * p.KH * p.KW * p.InC }

// WeightSums returns Σ w over each output channel's KH·KW·InC weights (used to fold the input
// offset out of the inner product).
func WeightSums(w []int8, outC int) []int32 {
	k := len(w) / outC
	s := make([]int32, outC)
	for o := range outC {
		var acc int32
		for _, v := range w[o*k : (o+1)*k] {
			acc += int32(v)
		}
		s[o] = acc
	}
	return s
}

func dotInt8(a, b []int8) int32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 int32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += int32(a[i]) * int32(b[i])
		s1 += int32(a[i+1]) * int32(b[i+1])
		s2 += int32(a[i+2]) * int32(b[i+2])
		s3 += int32(a[i+3]) * int32(b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += int32(a[i]) * int32(b[i])
	}
	return s0 + s1 + s2 + s3
}

func dotInt16x8(a []int16, b []int8) int64 {
	b = b[:len(a)]
	var s0, s1 int64
	i := 0
	for ; i+2 <= len(a); i += 2 {
		s0 += int64(a[i]) * int64(b[i])
		s1 += int64(a[i+1]) * int64(b[i+1])
	}
	for ; i < len(a); i++ {
		s0 += int64(a[i]) * int64(b[i])
	}
	return s0 + s1
}

// im2colRow fills col (OutW rows of KH·KW·InC) for output row oy of batch b, writing pad for
// taps outside the image.
func im2colRow[T int8 | int16](p *ConvParams, in []T, b, oy int, col []T, pad T) {
	k := p.KH * p.KW * p.InC
	dh, dw := p.dilH(), p.dilW()
	for ox := range p.OutW {
		dst := col[ox*k : (ox+1)*k]
		iy0 := oy*p.StrideH - p.PadTop
		ix0 := ox*p.StrideW - p.PadLeft
		j := 0
		for ky := range p.KH {
			iy := iy0 + ky*dh
			for kx := range p.KW {
				ix := ix0 + kx*dw
				seg := dst[j : j+p.InC]
				if iy < 0 || iy >= p.InH || ix < 0 || ix >= p.InW {
					for i := range seg {
						seg[i] = pad
					}
				} else {
					base := ((b*p.InH+iy)*p.InW + ix) * p.InC
					copy(seg, in[base:base+p.InC])
				}
				j += p.InC
			}
		}
	}
}

// ConvInt8 computes an int8 convolution with per-channel requantization. bias may be nil.
// wsum must be WeightSums(w, OutC). work provides scratch of ConvWorkspace() elements per
// concurrent worker; Parallel splits output rows.
func ConvInt8(p *ConvParams, in, w []int8, wsum, bias []int32, out []int8, par Parallel, ws *Workspace) {
	ws = ws.orNew()
	runJob(par, p.Batch*p.OutH, &ws.conv8, conv8Job{ws: ws, p: p, in: in, w: w, out: out, wsum: wsum, bias: bias})
}

type conv8Job struct {
	ws         *Workspace
	p          *ConvParams
	in, w, out []int8
	wsum, bias []int32
}

func (j *conv8Job) Run(lo, hi int) {
	p, in, w, out, wsum, bias := j.p, j.in, j.w, j.out, j.wsum, j.bias
	k := p.KH * p.KW * p.InC
	pad := int8(-p.InputOffset) // taps outside the image contribute (zp + offset) = 0
	col := getBuf(j.ws, &j.ws.i8, p.ConvWorkspace())
	defer putBuf(j.ws, &j.ws.i8, col)
	for r := lo; r < hi; r++ {
		b, oy := r/p.OutH, r%p.OutH
		im2colRow(p, in, b, oy, col, pad)
		for ox := range p.OutW {
			patch := col[ox*k : (ox+1)*k]
			o := out[((b*p.OutH+oy)*p.OutW+ox)*p.OutC:][:p.OutC]
			for oc := range p.OutC {
				acc := dotInt8(patch, w[oc*k:(oc+1)*k]) + p.InputOffset*wsum[oc]
				if bias != nil {
					acc += bias[oc]
				}
				acc = MultiplyByQuantizedMultiplier(acc, p.Multiplier[oc], p.Shift[oc]) + p.OutputOffset
				o[oc] = int8(clamp(acc, p.ActMin, p.ActMax))
			}
		}
	}
}

// ConvInt16x8 computes a 16x8 convolution (int16 activations with zero point 0, int8 weights,
// int64 accumulators and bias). bias may be nil.
func ConvInt16x8(p *ConvParams, in []int16, w []int8, bias []int64, out []int16, par Parallel, ws *Workspace) {
	ws = ws.orNew()
	runJob(par, p.Batch*p.OutH, &ws.conv16, conv16Job{ws: ws, p: p, in: in, w: w, out: out, bias: bias})
}

type conv16Job struct {
	ws      *Workspace
	p       *ConvParams
	in, out []int16
	w       []int8
	bias    []int64
}

func (j *conv16Job) Run(lo, hi int) {
	p, in, w, out, bias := j.p, j.in, j.w, j.out, j.bias
	k := p.KH * p.KW * p.InC
	col := getBuf(j.ws, &j.ws.i16, p.ConvWorkspace())
	defer putBuf(j.ws, &j.ws.i16, col)
	for r := lo; r < hi; r++ {
		b, oy := r/p.OutH, r%p.OutH
		im2colRow(p, in, b, oy, col, 0)
		for ox := range p.OutW {
			patch := col[ox*k : (ox+1)*k]
			o := out[((b*p.OutH+oy)*p.OutW+ox)*p.OutC:][:p.OutC]
			for oc := range p.OutC {
				acc := dotInt16x8(patch, w[oc*k:(oc+1)*k])
				if bias != nil {
					acc += bias[oc]
				}
				v := MultiplyByQuantizedMultiplier64(acc, p.Multiplier[oc], p.Shift[oc]) + p.OutputOffset
				o[oc] = int16(clamp(v, p.ActMin, p.ActMax))
			}
		}
	}
}

// DepthwiseConvInt8 computes an int8 depthwise convolution with per-channel requantization.
// bias may be nil.
func DepthwiseConvInt8(p *ConvParams, in, w []int8, bias []int32, out []int8, par Parallel, ws *Workspace) {
	ws = ws.orNew()
	runJob(par, p.Batch*p.OutH, &ws.dw, depthwiseJob{ws: ws, p: p, in: in, w: w, out: out, bias: bias})
}

type depthwiseJob struct {
	ws         *Workspace
	p          *ConvParams
	in, w, out []int8
	bias       []int32
}

func (j *depthwiseJob) Run(lo, hi int) {
	p, in, w, out, bias := j.p, j.in, j.w, j.out, j.bias
	dh, dw := p.dilH(), p.dilW()
	m := max(p.DepthMultiplier, 1)
	acc := getBuf(j.ws, &j.ws.i32, p.OutC)
	defer putBuf(j.ws, &j.ws.i32, acc)
	for r := lo; r < hi; r++ {
		b, oy := r/p.OutH, r%p.OutH
		for ox := range p.OutW {
			if bias != nil {
				copy(acc, bias)
			} else {
				clear(acc)
			}
			iy0 := oy*p.StrideH - p.PadTop
			ix0 := ox*p.StrideW - p.PadLeft
			for ky := range p.KH {
				iy := iy0 + ky*dh
				if iy < 0 || iy >= p.InH {
					continue
				}
				for kx := range p.KW {
					ix := ix0 + kx*dw
					if ix < 0 || ix >= p.InW {
						continue
					}
					x := in[((b*p.InH+iy)*p.InW+ix)*p.InC:][:p.InC]
					wt := w[(ky*p.KW+kx)*p.OutC:][:p.OutC]
					if m == 1 {
						for c, v := range x {
							acc[c] += int32(wt[c]) * (int32(v) + p.InputOffset)
						}
					} else {
						for c, v := range x {
							xv := int32(v) + p.InputOffset
							for j := range m {
								acc[c*m+j] += int32(wt[c*m+j]) * xv
							}
						}
					}
				}
			}
			o := out[((b*p.OutH+oy)*p.OutW+ox)*p.OutC:][:p.OutC]
			for oc, a := range acc {
				v := MultiplyByQuantizedMultiplier(a, p.Multiplier[oc], p.Shift[oc]) + p.OutputOffset
				o[oc] = int8(clamp(v, p.ActMin, p.ActMax))
			}
		}
	}
}

// FullyConnectedParams describe an int8 fully connected layer: out[b][o] = Σ_k w[o][k]·(x[b][k]
// + InputOffset) + bias[o], requantized per output channel (one entry = per tensor).
type FullyConnectedParams struct {
	Batch, In, Out int
	InputOffset    int32
	OutputOffset   int32
	Multiplier     []int32
	Shift          []int
	ActMin, ActMax int32
}

// FullyConnectedInt8 computes an int8 fully connected layer. wsum must be WeightSums(w, Out).
func FullyConnectedInt8(p *FullyConnectedParams, in, w []int8, wsum, bias []int32, out []int8, par Parallel, ws *Workspace) {
	ws = ws.orNew()
	runJob(par, p.Out, &ws.fc, fcJob{p: p, in: in, w: w, out: out, wsum: wsum, bias: bias})
}

type fcJob struct {
	p          *FullyConnectedParams
	in, w, out []int8
	wsum, bias []int32
}

func (j *fcJob) Run(lo, hi int) {
	p, in, w, out, wsum, bias := j.p, j.in, j.w, j.out, j.wsum, j.bias
	for b := range p.Batch {
		x := in[b*p.In : (b+1)*p.In]
		for o := lo; o < hi; o++ {
			acc := dotInt8(x, w[o*p.In:(o+1)*p.In]) + p.InputOffset*wsum[o]
			if bias != nil {
				acc += bias[o]
			}
			ch := 0
			if len(p.Multiplier) > 1 {
				ch = o
			}
			acc = MultiplyByQuantizedMultiplier(acc, p.Multiplier[ch], p.Shift[ch]) + p.OutputOffset
			out[b*p.Out+o] = int8(clamp(acc, p.ActMin, p.ActMax))
		}
	}
}
