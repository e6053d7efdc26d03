//go:build amd64 && !purego

package tflite

// The amd64 int8 GEMM uses an AVX2 2×4 micro-kernel (sign-extend to int16, VPMADDWD, int32
// accumulation) for the multiple-of-16 part of K and the portable code for the rest. It is
// checked against gemmI8Portable in gemm_test.go.

func cpuid(eax, ecx uint32) (a, b, c, d uint32)
func xgetbv0() uint32

//go:noescape
func dotI8x2x4AVX2(a0, a1, b0, b1, b2, b3 *int8, k int, out *[8]int32)

var hasAVX2 = detectAVX2()

func detectAVX2() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, c1, _ := cpuid(1, 0)
	const osxsave, avx = 1 << 27, 1 << 28
	if c1&osxsave == 0 || c1&avx == 0 {
		return false
	}
	if xgetbv0()&6 != 6 { // XMM and YMM state enabled by the OS
		return false
	}
	_, b7, _, _ := cpuid(7, 0)
	return b7&(1<<5) != 0
}

func gemmI8Range(n0, n1, M, N, K int, a, b []int8, out []int32) {
	K16 := K &^ 15
	if !hasAVX2 || K16 == 0 || M < 2 {
		gemmI8Portable(n0, n1, M, N, K, a, b, out)
		return
	}
	var blk [8]int32
	n := n0
	for ; n+4 <= n1; n += 4 {
		b0, b1, b2, b3 := b[n*K:n*K+K], b[(n+1)*K:(n+1)*K+K], b[(n+2)*K:(n+2)*K+K], b[(n+3)*K:(n+3)*K+K]
		m := 0
		for ; m+2 <= M; m += 2 {
			a0, a1 := a[m*K:m*K+K], a[(m+1)*K:(m+1)*K+K]
			dotI8x2x4AVX2(&a0[0], &a1[0], &b0[0], &b1[0], &b2[0], &b3[0], K16, &blk)
			for k := K16; k < K; k++ {
				x0, x1 := int32(a0[k]), int32(a1[k])
				y0, y1, y2, y3 := int32(b0[k]), int32(b1[k]), int32(b2[k]), int32(b3[k])
				blk[0] += x0 * y0
				blk[1] += x0 * y1
				blk[2] += x0 * y2
				blk[3] += x0 * y3
				blk[4] += x1 * y0
				blk[5] += x1 * y1
				blk[6] += x1 * y2
				blk[7] += x1 * y3
			}
			copy(out[m*N+n:m*N+n+4], blk[:4])
			copy(out[(m+1)*N+n:(m+1)*N+n+4], blk[4:])
		}
		if m < M { // odd last row
			a0 := a[m*K : m*K+K]
			var c0, c1, c2, c3 int32
			for k := range a0 {
				x := int32(a0[k])
				c0 += x * int32(b0[k])
				c1 += x * int32(b1[k])
				c2 += x * int32(b2[k])
				c3 += x * int32(b3[k])
			}
			o := out[m*N+n:]
			o[0], o[1], o[2], o[3] = c0, c1, c2, c3
		}
	}
	if n < n1 {
		gemmI8Portable(n, n1, M, N, K, a, b, out)
	}
}
