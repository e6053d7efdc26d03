package signal

import (
	"math"
	"sync"
)

// cpx16 is a fixed-point complex number (Q15).
type cpx16 struct{ r, i int16 }

func sround(x int32) int16 { return int16((x + 1<<14) >> 15) }

func cmul(a, b cpx16) cpx16 {
	return cpx16{
		sround(int32(a.r)*int32(b.r) - int32(a.i)*int32(b.i)),
		sround(int32(a.r)*int32(b.i) + int32(a.i)*int32(b.r)),
	}
}

func fixdiv(c *cpx16, k int32) {
	m := int32(32767) / k
	c.r = sround(int32(c.r) * m)
	c.i = sround(int32(c.i) * m)
}

func twiddle(phase float64) cpx16 {
	return cpx16{int16(math.Floor(0.5 + 32767*math.Cos(phase))), int16(math.Floor(0.5 + 32767*math.Sin(phase)))}
}

// RfftInt16 is a fixed-point real FFT with the scaling of the 16-bit KISS FFT (v130) that
// tflite-micro uses: every butterfly stage divides by its radix, so the output is the spectrum
// divided by the FFT length.
type RfftInt16 struct {
	n       int // real length
	ncfft   int // complex length n/2
	factors []int
	tw      []cpx16
	superTw []cpx16
	bufs    sync.Pool // *[2][]cpx16 working buffers
}

// NewRfftInt16 prepares a real FFT of even length n.
func NewRfftInt16(n int) (*RfftInt16, bool) {
	if n < 2 || n%2 != 0 {
		return nil, false
	}
	f := &RfftInt16{n: n, ncfft: n / 2}
	nc := f.ncfft
	f.tw = make([]cpx16, nc)
	for i := range nc {
		f.tw[i] = twiddle(-2 * math.Pi * float64(i) / float64(nc))
	}
	// Factor: powers of 4, then 2, then odd primes.
	m, p := nc, 4
	floorSqrt := math.Floor(math.Sqrt(float64(nc)))
	for {
		for m%p != 0 {
			switch p {
			case 4:
				p = 2
			case 2:
				p = 3
			default:
				p += 2
			}
			if float64(p) > floorSqrt {
				p = m
			}
		}
		m /= p
		f.factors = append(f.factors, p, m)
		if m <= 1 {
			break
		}
	}
	f.superTw = make([]cpx16, nc/2)
	for i := range f.superTw {
		f.superTw[i] = twiddle(-math.Pi * (float64(i+1)/float64(nc) + 0.5))
	}
	f.bufs.New = func() any { return &[2][]cpx16{make([]cpx16, nc), make([]cpx16, nc)} }
	return f, true
}

// Len returns the real FFT length.
func (f *RfftInt16) Len() int { return f.n }

// Apply transforms n real samples into n/2+1 complex bins, written interleaved (re, im) to out
// (length n+2). It is safe for concurrent use.
func (f *RfftInt16) Apply(in []int16, out []int16) {
	nc := f.ncfft
	bufs := f.bufs.Get().(*[2][]cpx16)
	defer f.bufs.Put(bufs)
	buf, tmp := bufs[0], bufs[1]
	for k := range nc {
		buf[k] = cpx16{in[2*k], in[2*k+1]}
	}
	f.work(tmp, buf, 0, 1, f.factors)
	tdc := tmp[0]
	fixdiv(&tdc, 2)
	out[0], out[1] = int16(int32(tdc.r)+int32(tdc.i)), 0
	out[2*nc], out[2*nc+1] = int16(int32(tdc.r)-int32(tdc.i)), 0
	for k := 1; k <= nc/2; k++ {
		fpk := tmp[k]
		fpnk := cpx16{tmp[nc-k].r, -tmp[nc-k].i}
		fixdiv(&fpk, 2)
		fixdiv(&fpnk, 2)
		f1k := cpx16{fpk.r + fpnk.r, fpk.i + fpnk.i}
		f2k := cpx16{fpk.r - fpnk.r, fpk.i - fpnk.i}
		tw := cmul(f2k, f.superTw[k-1])
		out[2*k] = int16((int32(f1k.r) + int32(tw.r)) >> 1)
		out[2*k+1] = int16((int32(f1k.i) + int32(tw.i)) >> 1)
		out[2*(nc-k)] = int16((int32(f1k.r) - int32(tw.r)) >> 1)
		out[2*(nc-k)+1] = int16((int32(tw.i) - int32(f1k.i)) >> 1)
	}
}

// work is KISS FFT's recursive decimation in time: out[0:p·m] = DFT of in at stride fstride.
func (f *RfftInt16) work(out, in []cpx16, inPos, fstride int, factors []int) {
	p, m := factors[0], factors[1]
	if m == 1 {
		for j := range p {
			out[j] = in[inPos+j*fstride]
		}
	} else {
		for j := range p {
			f.work(out[j*m:], in, inPos+j*fstride, fstride*p, factors[2:])
		}
	}
	switch p {
	case 2:
		f.bfly2(out, fstride, m)
	case 4:
		f.bfly4(out, fstride, m)
	default:
		f.bflyGeneric(out, fstride, m, p)
	}
}

func (f *RfftInt16) bfly2(out []cpx16, fstride, m int) {
	for k := range m {
		a, b := &out[k], &out[k+m]
		fixdiv(a, 2)
		fixdiv(b, 2)
		t := cmul(*b, f.tw[k*fstride])
		*b = cpx16{a.r - t.r, a.i - t.i}
		a.r += t.r
		a.i += t.i
	}
}

func (f *RfftInt16) bfly4(out []cpx16, fstride, m int) {
	for k := range m {
		f0, f1, f2, f3 := &out[k], &out[k+m], &out[k+2*m], &out[k+3*m]
		fixdiv(f0, 4)
		fixdiv(f1, 4)
		fixdiv(f2, 4)
		fixdiv(f3, 4)
		s0 := cmul(*f1, f.tw[k*fstride])
		s1 := cmul(*f2, f.tw[2*k*fstride])
		s2 := cmul(*f3, f.tw[3*k*fstride])
		s5 := cpx16{f0.r - s1.r, f0.i - s1.i}
		f0.r += s1.r
		f0.i += s1.i
		s3 := cpx16{s0.r + s2.r, s0.i + s2.i}
		s4 := cpx16{s0.r - s2.r, s0.i - s2.i}
		*f2 = cpx16{f0.r - s3.r, f0.i - s3.i}
		f0.r += s3.r
		f0.i += s3.i
		*f1 = cpx16{s5.r + s4.i, s5.i - s4.r}
		*f3 = cpx16{s5.r - s4.i, s5.i + s4.r}
	}
}

func (f *RfftInt16) bflyGeneric(out []cpx16, fstride, m, p int) {
	n := len(f.tw)
	scratch := make([]cpx16, p)
	for u := range m {
		for q1, k := 0, u; q1 < p; q1, k = q1+1, k+m {
			scratch[q1] = out[k]
			fixdiv(&scratch[q1], int32(p))
		}
		for q1, k := 0, u; q1 < p; q1, k = q1+1, k+m {
			twidx := 0
			out[k] = scratch[0]
			for q := 1; q < p; q++ {
				twidx += fstride * k
				if twidx >= n {
					twidx -= n
				}
				t := cmul(scratch[q], f.tw[twidx])
				out[k].r += t.r
				out[k].i += t.i
			}
		}
	}
}
