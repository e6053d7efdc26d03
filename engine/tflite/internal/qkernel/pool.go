package qkernel

// PoolParams describe a 2-D pooling over NHWC tensors (input and output share quantization).
type PoolParams struct {
	Batch, InH, InW, C int
	OutH, OutW         int
	KH, KW             int
	StrideH, StrideW   int
	PadTop, PadLeft    int
	ActMin, ActMax     int32
}

func (p *PoolParams) window(oy, ox int) (y0, y1, x0, x1 int) {
	iy0 := oy*p.StrideH - p.PadTop
	ix0 := ox*p.StrideW - p.PadLeft
	return max(iy0, 0), min(iy0+p.KH, p.InH), max(ix0, 0), min(ix0+p.KW, p.InW)
}

// AveragePool computes an average pool over in-image taps, dividing with rounding half away
// from zero.
func AveragePool[T int8 | int16](p *PoolParams, in, out []T) {
	acc := make([]int32, p.C)
	for b := range p.Batch {
		for oy := range p.OutH {
			for ox := range p.OutW {
				y0, y1, x0, x1 := p.window(oy, ox)
				clear(acc)
				count := int32((y1 - y0) * (x1 - x0))
				for y := y0; y < y1; y++ {
					for x := x0; x < x1; x++ {
						for c, v := range in[((b*p.InH+y)*p.InW+x)*p.C:][:p.C] {
							acc[c] += int32(v)
						}
					}
				}
				o := out[((b*p.OutH+oy)*p.OutW+ox)*p.C:][:p.C]
				for c, a := range acc {
					if count == 0 {
						o[c] = T(clamp(0, p.ActMin, p.ActMax))
						continue
					}
					if a > 0 {
						a = (a + count/2) / count
					} else {
						a = (a - count/2) / count
					}
					o[c] = T(clamp(a, p.ActMin, p.ActMax))
				}
			}
		}
	}
}

// MaxPool computes a max pool over in-image taps.
func MaxPool[T int8 | int16](p *PoolParams, in, out []T) {
	acc := make([]int32, p.C)
	for b := range p.Batch {
		for oy := range p.OutH {
			for ox := range p.OutW {
				y0, y1, x0, x1 := p.window(oy, ox)
				for c := range acc {
					acc[c] = -1 << 31
				}
				for y := y0; y < y1; y++ {
					for x := x0; x < x1; x++ {
						for c, v := range in[((b*p.InH+y)*p.InW+x)*p.C:][:p.C] {
							acc[c] = max(acc[c], int32(v))
						}
					}
				}
				o := out[((b*p.OutH+oy)*p.OutW+ox)*p.C:][:p.C]
				for c, a := range acc {
					o[c] = T(clamp(a, p.ActMin, p.ActMax))
				}
			}
		}
	}
}
