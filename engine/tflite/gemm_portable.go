//go:build !amd64 || purego

package tflite

func gemmI8Range(n0, n1, M, N, K int, a, b []int8, out []int32) {
	gemmI8Portable(n0, n1, M, N, K, a, b, out)
}
