//go:build wasip1

package atoll

import "unsafe"

//go:wasmimport atoll_v1 log
func atollLog(level int32, ptr unsafe.Pointer, n uint32)

func hostLog(level Level, msg string) {
	if len(msg) == 0 {
		return
	}
	atollLog(int32(level), unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
}

//go:wasmexport atoll_abi_version
func abiVersion() int32 { return ABIVersion }

// atoll_alloc returns a buffer the SDK keeps referenced until the next call; it is reused.
//
//go:wasmexport atoll_alloc
func alloc(n uint32) unsafe.Pointer {
	if n == 0 {
		n = 1
	}
	return unsafe.Pointer(unsafe.SliceData(inputBuffer(int(n))))
}

//go:wasmexport atoll_init
func initExport(ptr unsafe.Pointer, n uint32) int32 {
	cfg := unsafe.Slice((*byte)(ptr), n)
	if err := RunInit(cfg); err != nil {
		hostLog(Error, err.Error())
		return 1
	}
	return 0
}

//go:wasmexport atoll_process
func process(ptr unsafe.Pointer, n uint32) uint64 {
	out := Process(unsafe.Slice((*byte)(ptr), n))
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(out))))<<32 | uint64(len(out))
}
