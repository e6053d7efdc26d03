//go:build !wasm

package rows

import "unsafe"

// equalName reports whether two names are equal, comparing the pointers first: names decoded
// from one batch, and names that are string constants, share their bytes.
func equalName(a, b string) bool {
	return len(a) == len(b) && (unsafe.StringData(a) == unsafe.StringData(b) || a == b)
}
