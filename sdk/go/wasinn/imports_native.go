//go:build !wasip1

package wasinn

import (
	"unsafe"

	"github.com/atoll-studio/atoll/engine/wasinn/witx"
)

// Outside wasip1 there is no host: every import answers unsupported_operation.

const unavailable = uint32(witx.UnsupportedOperation)

func load(unsafe.Pointer, uint32, uint32, uint32, unsafe.Pointer) uint32 { return unavailable }
func loadByName(unsafe.Pointer, uint32, unsafe.Pointer) uint32           { return unavailable }
func initExecutionContext(uint32, unsafe.Pointer) uint32                 { return unavailable }
func setInput(uint32, uint32, unsafe.Pointer) uint32                     { return unavailable }
func compute(uint32) uint32                                              { return unavailable }
func getOutput(uint32, uint32, unsafe.Pointer, uint32, unsafe.Pointer) uint32 {
	return unavailable
}
func unload(uint32) uint32                   { return unavailable }
func finalizeExecutionContext(uint32) uint32 { return unavailable }
func keepAlive(any)                          {}
