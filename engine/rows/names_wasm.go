//go:build wasm

package rows

import "unsafe"

// equalName reports whether two names are equal. The Go wasm runtime compares strings one byte
// per loop turn (internal/bytealg memeqbody), dozens of instructions a byte once metered; field
// names are short, so here they are compared eight bytes at a time, the tail by an overlapping
// load.
func equalName(a, b string) bool {
	n := len(a)
	if n != len(b) {
		return false
	}
	p, q := unsafe.Pointer(unsafe.StringData(a)), unsafe.Pointer(unsafe.StringData(b))
	if p == q {
		return true
	}
	switch {
	case n >= 8:
		for i := 0; i < n-8; i += 8 {
			if *(*uint64)(unsafe.Add(p, i)) != *(*uint64)(unsafe.Add(q, i)) {
				return false
			}
		}
		return *(*uint64)(unsafe.Add(p, n-8)) == *(*uint64)(unsafe.Add(q, n-8))
	case n >= 4:
		return *(*uint32)(p) == *(*uint32)(q) && *(*uint32)(unsafe.Add(p, n-4)) == *(*uint32)(unsafe.Add(q, n-4))
	}
	for i := 0; i < n; i++ {
		if *(*byte)(unsafe.Add(p, i)) != *(*byte)(unsafe.Add(q, i)) {
			return false
		}
	}
	return true
}
