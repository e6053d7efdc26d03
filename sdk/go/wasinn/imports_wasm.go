//go:build wasip1

package wasinn

import (
	"runtime"
	"unsafe"
)

//go:wasmimport wasi_ephemeral_nn load
func load(builderPtr unsafe.Pointer, builderLen, encoding, target uint32, graphOut unsafe.Pointer) uint32

//go:wasmimport wasi_ephemeral_nn load_by_name
func loadByName(namePtr unsafe.Pointer, nameLen uint32, graphOut unsafe.Pointer) uint32

//go:wasmimport wasi_ephemeral_nn init_execution_context
func initExecutionContext(graph uint32, ctxOut unsafe.Pointer) uint32

//go:wasmimport wasi_ephemeral_nn set_input
func setInput(ctx, index uint32, tensor unsafe.Pointer) uint32

//go:wasmimport wasi_ephemeral_nn compute
func compute(ctx uint32) uint32

//go:wasmimport wasi_ephemeral_nn get_output
func getOutput(ctx, index uint32, out unsafe.Pointer, outMax uint32, written unsafe.Pointer) uint32

//go:wasmimport wasi_ephemeral_nn unload
func unload(graph uint32) uint32

//go:wasmimport wasi_ephemeral_nn finalize_execution_context
func finalizeExecutionContext(ctx uint32) uint32

func keepAlive(x any) { runtime.KeepAlive(x) }
