package tflite

import "math"

// Matrix products used by FULLY_CONNECTED and CONV_2D. Both compute C = A·Bᵀ where A is M×K
// (activations, row-major) and B is N×K (weights as TFLite stores them: one row per output
// channel), so every dot product reads two contiguous rows. The work is tiled in 4×4 register
// blocks (16 accumulators, 8 loads per k step) and split over goroutines as described at
// gemmRowBlock.

// How a product is split. With enough rows (im2col products: one row per output pixel) each
// goroutine takes whole blocks of gemmRowBlock rows: its output rows are its own (no cache line
// is written by two cores) and the block's activations stay in L1 while every weight row streams
// past them. With few rows (fully connected layers, late convolutions) goroutines take ranges of
// gemmColBlock output channels, a multiple of 16 so that no two of them write one 64-byte line of
// a float32/int32 output row. (Splitting by 4-column blocks made two threads slower than one on
// YAMNet's largest convolution: both cores wrote every output line.)
const (
	gemmRowBlock = 16
	gemmColBlock = 16
)

// gemmF32 computes c[m*ldc+n] = Σ_k a[m*k..]·b[n*k..] for m < M, n < N.
func gemmF32(c *OpContext, M, N, K int, a, b, out []float32, ldc int) {
	gemm(c, M, N, K, a, b, out, ldc, gemmF32Range)
}

// gemmI8 computes int32 c[m*N+n] = Σ_k a[m,k]·b[n,k] with int8 operands.
func gemmI8(c *OpContext, M, N, K int, a, b []int8, out []int32) {
	gemm(c, M, N, K, a, b, out, N, gemmI8Ranges)
}

// gemmI8Ranges is gemmI8Range with gemmF32Range's parameters (the output stride is N).
func gemmI8Ranges(n0, n1, M, K int, a, b []int8, out []int32, ldc int) {
	gemmI8Range(n0, n1, M, ldc, K, a, b, out)
}

// gemm runs kernel over the whole product, split over threads as described at gemmRowBlock.
func gemm[T float32 | int8, A float32 | int32](c *OpContext, M, N, K int, a, b []T, out []A, ldc int,
	kernel func(n0, n1, M, K int, a, b []T, out []A, ldc int)) {
	if M*N*K < 1<<15 {
		kernel(0, N, M, K, a, b, out, ldc)
		return
	}
	j := jobOf[gemmJob[T, A]](c)
	*j = gemmJob[T, A]{M: M, N: N, K: K, ldc: ldc, a: a, b: b, out: out, rows: M >= 4*gemmRowBlock, kernel: kernel}
	if j.rows {
		c.parallel((M+gemmRowBlock-1)/gemmRowBlock, j)
	} else {
		c.parallel((N+gemmColBlock-1)/gemmColBlock, j)
	}
	*j = gemmJob[T, A]{}
}

// gemmJob runs a product over a range of row blocks (rows) or of column blocks.
type gemmJob[T float32 | int8, A float32 | int32] struct {
	M, N, K, ldc int
	a, b         []T
	out          []A
	rows         bool
	kernel       func(n0, n1, M, K int, a, b []T, out []A, ldc int)
}

func (j *gemmJob[T, A]) Run(lo, hi int) {
	if !j.rows {
		j.kernel(lo*gemmColBlock, min(hi*gemmColBlock, j.N), j.M, j.K, j.a, j.b, j.out, j.ldc)
		return
	}
	for m0 := lo * gemmRowBlock; m0 < min(hi*gemmRowBlock, j.M); m0 += gemmRowBlock {
		m1 := min(m0+gemmRowBlock, j.M)
		j.kernel(0, j.N, m1-m0, j.K, j.a[m0*j.K:], j.b, j.out[m0*j.ldc:], j.ldc)
	}
}

// epilogueJob finishes rows of a product C (M×N): for a hybrid product it turns the int32
// accumulators into floats, (acc − zp·rowSum[n])·(scale·wScale[n]) with the row's input scale
// and zero point (rowScales/rowZPs per row when set, else scale/zp), then adds the bias and
// clamps to [lo, hi].
type epilogueJob struct {
	out       []float32
	N         int
	bias      []float32
	lo, hi    float32
	acc       []int32 // nil for a float product (already in out)
	scale     float32
	zp        int32
	rowScales []float32
	rowZPs    []int32
	rowSum    []int32
	wScale    []float32
}

func runEpilogue(c *OpContext, e epilogueJob, M int) {
	j := jobOf[epilogueJob](c)
	*j = e
	c.parallelWork(M, M*e.N*4, j)
	*j = epilogueJob{}
}

func (j *epilogueJob) Run(lo, hi int) {
	N := j.N
	for i := lo; i < hi; i++ {
		o := j.out[i*N : (i+1)*N]
		if j.acc != nil {
			a := j.acc[i*N : (i+1)*N]
			s, zp := j.scale, j.zp
			if j.rowScales != nil {
				s, zp = j.rowScales[i], j.rowZPs[i]
			}
			for n := range o {
				o[n] = float32(a[n]-zp*j.rowSum[n]) * (s * j.wScale[n])
			}
		}
		if j.bias != nil {
			for n := range o {
				o[n] += j.bias[n]
			}
		}
		clampSlice(o, j.lo, j.hi)
	}
}

func gemmF32Range(n0, n1, M, K int, a, b, out []float32, ldc int) {
	gemmBlocked(n0, n1, M, K, a, b, out, ldc)
}

// gemmI8Portable is the pure-Go int8 kernel (also the reference for the assembly one).
func gemmI8Portable(n0, n1, M, N, K int, a, b []int8, out []int32) {
	gemmBlocked(n0, n1, M, K, a, b, out, N)
}

// gemmBlocked computes out[m*ldc+n] = Σ_k a[m*K+k]·b[n*K+k] for n in [n0, n1), m < M, in 4×4
// register blocks, with T the operand type and A the accumulator type.
func gemmBlocked[T float32 | int8, A float32 | int32](n0, n1, M, K int, a, b []T, out []A, ldc int) {
	n := n0
	for ; n+4 <= n1; n += 4 {
		b0, b1, b2, b3 := b[n*K:n*K+K], b[(n+1)*K:(n+1)*K+K], b[(n+2)*K:(n+2)*K+K], b[(n+3)*K:(n+3)*K+K]
		m := 0
		for ; m+4 <= M; m += 4 {
			a0, a1, a2, a3 := a[m*K:m*K+K], a[(m+1)*K:(m+1)*K+K], a[(m+2)*K:(m+2)*K+K], a[(m+3)*K:(m+3)*K+K]
			var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 A
			for k := range b0 {
				x0, x1, x2, x3 := A(a0[k]), A(a1[k]), A(a2[k]), A(a3[k])
				y0, y1, y2, y3 := A(b0[k]), A(b1[k]), A(b2[k]), A(b3[k])
				c00 += x0 * y0
				c01 += x0 * y1
				c02 += x0 * y2
				c03 += x0 * y3
				c10 += x1 * y0
				c11 += x1 * y1
				c12 += x1 * y2
				c13 += x1 * y3
				c20 += x2 * y0
				c21 += x2 * y1
				c22 += x2 * y2
				c23 += x2 * y3
				c30 += x3 * y0
				c31 += x3 * y1
				c32 += x3 * y2
				c33 += x3 * y3
			}
			o := out[m*ldc+n:]
			o[0], o[1], o[2], o[3] = c00, c01, c02, c03
			o = out[(m+1)*ldc+n:]
			o[0], o[1], o[2], o[3] = c10, c11, c12, c13
			o = out[(m+2)*ldc+n:]
			o[0], o[1], o[2], o[3] = c20, c21, c22, c23
			o = out[(m+3)*ldc+n:]
			o[0], o[1], o[2], o[3] = c30, c31, c32, c33
		}
		for ; m < M; m++ {
			a0 := a[m*K : m*K+K]
			var c0, c1, c2, c3 A
			for k := range b0 {
				x := A(a0[k])
				c0 += x * A(b0[k])
				c1 += x * A(b1[k])
				c2 += x * A(b2[k])
				c3 += x * A(b3[k])
			}
			o := out[m*ldc+n:]
			o[0], o[1], o[2], o[3] = c0, c1, c2, c3
		}
	}
	for ; n < n1; n++ {
		b0 := b[n*K : n*K+K]
		for m := range M {
			a0 := a[m*K : m*K+K]
			var s A
			for k := range b0 {
				s += A(a0[k]) * A(b0[k])
			}
			out[m*ldc+n] = s
		}
	}
}

// quantizeRowSymmetric maps x to int8 with scale max|x|/127 (round half away from zero) and
// returns the scale; an all-zero row gets scale 0 (callers then output bias only).
func quantizeRowSymmetric(x []float32, q []int8) float32 {
	m := math.Float32frombits(maxAbsBits(x))
	if m == 0 {
		clear(q[:len(x)])
		return 0
	}
	quantizeScaled(x, q, 127/m)
	return m / 127
}

// maxAbsBits returns the bits of max|x|, computed on the bit patterns: for non-negative floats
// (and NaN, which then wins as with max) the integer order is the float order, and integer max
// needs no branches.
func maxAbsBits(x []float32) uint32 {
	var mb uint32
	for _, v := range x {
		mb = max(mb, math.Float32bits(v)&^signBit)
	}
	return mb
}

// quantizeScaled sets q[i] = x[i]·inv rounded half away from zero, clamped to ±127.
func quantizeScaled(x []float32, q []int8, inv float32) {
	q = q[:len(x)]
	for i, v := range x {
		iv := int32(addHalfAway(v * inv))
		q[i] = int8(min(max(iv, -127), 127))
	}
}

const signBit = 1 << 31

// addHalfAway returns r + 0.5 for positive r and r − 0.5 for negative r (the sign bit chooses,
// so −0 gets −0.5; both truncate to 0), without a branch: activations have random signs and a
// branch would mispredict one time in two. Truncating the result rounds half away from zero.
func addHalfAway(r float32) float32 {
	return r + math.Float32frombits(math.Float32bits(r)&signBit|math.Float32bits(0.5))
}

// quantizeRowAsymmetric maps x to int8 over [min(x,0), max(x,0)] with a zero point and returns
// scale and zero point (real = scale·(q − zp)).
func quantizeRowAsymmetric(x []float32, q []int8) (float32, int32) {
	lo, hi := float32(0), float32(0)
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo == hi {
		clear(q[:len(x)])
		return 0, 0
	}
	scale := (hi - lo) / 255
	zpf := -128 - lo/scale
	zp := int32(roundHalfAway(zpf))
	zp = min(max(zp, -128), 127)
	inv := 1 / scale
	q = q[:len(x)]
	for i, v := range x {
		iv := int32(roundHalfAway(v*inv)) + zp
		q[i] = int8(min(max(iv, -128), 127))
	}
	return scale, zp
}

func roundHalfAway(v float32) float32 { return float32(int64(addHalfAway(v))) }

// quantizeSymmetric is quantizeRowSymmetric over a whole image, split over threads: the
// maximum of per-chunk maxima, then the chunks quantized. Results are identical (max is exact
// and each element is quantized alone).
func quantizeSymmetric(c *OpContext, x []float32, q []int8) float32 {
	const chunk = 4096
	n := len(x)
	if c.Threads <= 1 || n < 4*chunk {
		return quantizeRowSymmetric(x, q)
	}
	j := jobOf[quantizeJob](c)
	parts := (n + chunk - 1) / chunk
	if cap(j.maxBits) < parts {
		j.maxBits = make([]uint32, parts) // once per interpreter: the arena shapes are fixed
	}
	j.x, j.q, j.chunk, j.maxBits, j.inv = x, q[:n], chunk, j.maxBits[:parts], 0
	c.parallel(parts, j)
	var mb uint32
	for _, b := range j.maxBits {
		mb = max(mb, b)
	}
	m := math.Float32frombits(mb)
	if m == 0 {
		clear(q[:n])
		j.x, j.q = nil, nil
		return 0
	}
	j.inv = 127 / m
	c.parallel(parts, j)
	j.x, j.q = nil, nil
	return m / 127
}

// quantizeJob runs one phase of quantizeSymmetric over chunks [lo, hi): with inv 0 it records
// each chunk's max |x| (as bits, see quantizeRowSymmetric), else it quantizes with inv.
type quantizeJob struct {
	x       []float32
	q       []int8
	chunk   int
	maxBits []uint32
	inv     float32
}

func (j *quantizeJob) Run(lo, hi int) {
	for i := lo; i < hi; i++ {
		x := j.x[i*j.chunk : min((i+1)*j.chunk, len(j.x))]
		if j.inv == 0 {
			j.maxBits[i] = maxAbsBits(x)
		} else {
			quantizeScaled(x, j.q[i*j.chunk:], j.inv)
		}
	}
}

// quantizeRows quantizes each of the rows of x (rows × cols) on its own, symmetric or not,
// split over threads: the hybrid fully connected layer's inputs.
func quantizeRows(c *OpContext, x []float32, q []int8, rows, cols int, asym bool, scales []float32, zps []int32) {
	j := jobOf[quantizeRowsJob](c)
	*j = quantizeRowsJob{x: x, q: q, cols: cols, asym: asym, scales: scales, zps: zps}
	c.parallelWork(rows, rows*cols, j)
	*j = quantizeRowsJob{}
}

type quantizeRowsJob struct {
	x      []float32
	q      []int8
	cols   int
	asym   bool
	scales []float32
	zps    []int32
}

func (j *quantizeRowsJob) Run(lo, hi int) {
	for b := lo; b < hi; b++ {
		row, q := j.x[b*j.cols:(b+1)*j.cols], j.q[b*j.cols:]
		if j.asym {
			j.scales[b], j.zps[b] = quantizeRowAsymmetric(row, q)
		} else {
			j.scales[b], j.zps[b] = quantizeRowSymmetric(row, q), 0
		}
	}
}
