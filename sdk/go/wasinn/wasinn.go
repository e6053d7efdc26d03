// Package wasinn is the Go guest side of wasi-nn: typed wrappers over the witx
// `wasi_ephemeral_nn` imports (../shared/specs/wasi-nn.md) for functions built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared
//
// A function loads a graph once (LoadByName for a model its node registered, or Load with the
// model bytes), makes an execution context, and per inference sets its inputs, computes and
// reads its outputs into buffers it reuses:
//
//	g, err := wasinn.LoadByName("yamnet")
//	ctx, err := g.NewContext()
//	err = ctx.SetInputFloat32(0, []uint32{1, 15600}, frame)
//	err = ctx.Compute()
//	scores, err = ctx.OutputFloat32(0, scores[:0])
//
// The imports are the same as WasmEdge's and Atoll's host (engine/wasinn), so the module runs on
// both. Outside wasip1 (native tests) every call fails with UnsupportedOperation.
package wasinn

import (
	"fmt"
	"unsafe"

	"github.com/atoll-studio/atoll/engine/wasinn/witx"
)

// Errno is a wasi-nn error code returned by the host ("wasi-nn: not_found").
type Errno = witx.Errno

// The errno values guests test for most.
const (
	InvalidArgument      = witx.InvalidArgument
	UnsupportedOperation = witx.UnsupportedOperation
	TooLarge             = witx.TooLarge
	NotFound             = witx.NotFound
)

// Encoding is a graph encoding.
type Encoding uint32

// Graph encodings (witx values; TensorflowLite is 4 in every version).
const (
	OpenVINO       Encoding = witx.EncodingOpenVINO
	ONNX           Encoding = witx.EncodingONNX
	Tensorflow     Encoding = witx.EncodingTensorflow
	PyTorch        Encoding = witx.EncodingPyTorch
	TensorflowLite Encoding = witx.EncodingTensorflowLite
	Autodetect     Encoding = witx.EncodingAutodetect
)

// Target is an execution target.
type Target uint32

// Execution targets.
const (
	CPU Target = witx.TargetCPU
	GPU Target = witx.TargetGPU
	TPU Target = witx.TargetTPU
)

// TensorType is a tensor element type (current numbering: Rust wasi-nn 0.6, WasmEdge ≥ 0.15).
type TensorType uint8

// Tensor types.
const (
	F16 TensorType = witx.TypeF16
	F32 TensorType = witx.TypeF32
	F64 TensorType = witx.TypeF64
	U8  TensorType = witx.TypeU8
	I32 TensorType = witx.TypeI32
	I64 TensorType = witx.TypeI64
)

// Graph is a loaded model.
type Graph uint32

// Context is an execution context of a Graph: its own inputs, outputs and tensor memory.
type Context uint32

func errno(e uint32) error {
	if e == 0 {
		return nil
	}
	return Errno(e)
}

// LoadByName loads a model the host registered under name (the node's `models`).
func LoadByName(name string) (Graph, error) {
	var g uint32
	e := loadByName(unsafe.Pointer(unsafe.StringData(name)), uint32(len(name)), unsafe.Pointer(&g))
	return Graph(g), errno(e)
}

// Load loads a model from its bytes.
func Load(model []byte, enc Encoding, target Target) (Graph, error) {
	var g uint32
	// graph_builder_array: one {ptr, len} entry of u32s.
	builder := [2]uint32{addr(unsafe.Pointer(unsafe.SliceData(model))), uint32(len(model))}
	e := load(unsafe.Pointer(&builder), 1, uint32(enc), uint32(target), unsafe.Pointer(&g))
	keepAlive(model)
	return Graph(g), errno(e)
}

// NewContext makes an execution context.
func (g Graph) NewContext() (Context, error) {
	var c uint32
	e := initExecutionContext(uint32(g), unsafe.Pointer(&c))
	return Context(c), errno(e)
}

// Unload frees the graph on hosts that support it (WasmEdge ≥ 0.14, Atoll).
func (g Graph) Unload() error { return errno(unload(uint32(g))) }

// tensor is the 20-byte witx tensor record (wasm32 layout; Go's wasm pointers are 64-bit, so
// addresses are stored as u32 explicitly).
type tensor struct {
	dimsPtr uint32
	dimsLen uint32
	typ     uint32 // the type byte, zero-padded
	dataPtr uint32
	dataLen uint32
}

// SetInput sets input index from raw little-endian element bytes.
func (c Context) SetInput(index int, dims []uint32, typ TensorType, raw []byte) error {
	t := tensor{
		dimsPtr: addr(unsafe.Pointer(unsafe.SliceData(dims))), dimsLen: uint32(len(dims)),
		typ:     uint32(typ),
		dataPtr: addr(unsafe.Pointer(unsafe.SliceData(raw))), dataLen: uint32(len(raw)),
	}
	e := setInput(uint32(c), uint32(index), unsafe.Pointer(&t))
	keepAlive(dims)
	keepAlive(raw)
	return errno(e)
}

// SetInputFloat32 sets input index from float32 values (no copy on the guest side).
func (c Context) SetInputFloat32(index int, dims []uint32, data []float32) error {
	raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(data))), 4*len(data))
	return c.SetInput(index, dims, F32, raw)
}

// Compute runs the graph.
func (c Context) Compute() error { return errno(compute(uint32(c))) }

// Output copies output index into dst[:cap(dst)] and returns it resliced to the output's size.
// When dst is too small it grows (once) to the size the host reports.
func (c Context) Output(index int, dst []byte) ([]byte, error) {
	for range 2 {
		var n uint32
		buf := dst[:cap(dst)]
		e := getOutput(uint32(c), uint32(index), unsafe.Pointer(unsafe.SliceData(buf)), uint32(len(buf)), unsafe.Pointer(&n))
		keepAlive(buf)
		if Errno(e) == TooLarge && n > uint32(cap(dst)) {
			dst = make([]byte, 0, n)
			continue
		}
		if e != 0 {
			return dst[:0], Errno(e)
		}
		return buf[:n], nil
	}
	return dst[:0], TooLarge
}

// OutputFloat32 reads output index as float32 values into dst's storage (grown when needed).
func (c Context) OutputFloat32(index int, dst []float32) ([]float32, error) {
	raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), 4*cap(dst))
	out, err := c.Output(index, raw[:0])
	if err != nil {
		return dst[:0], err
	}
	if len(out)%4 != 0 {
		return dst[:0], fmt.Errorf("wasi-nn: output %d has %d bytes, not float32s", index, len(out))
	}
	if unsafe.SliceData(out) != unsafe.SliceData(raw) {
		// Output grew the buffer: copy into a float32 slice (aligned).
		f := make([]float32, len(out)/4)
		copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), len(out)), out)
		return f, nil
	}
	return dst[:len(out)/4], nil
}

// Finalize frees the context on hosts that support it (WasmEdge ≥ 0.15, Atoll).
func (c Context) Finalize() error { return errno(finalizeExecutionContext(uint32(c))) }

// addr is a guest linear-memory address as the u32 the host reads.
func addr(p unsafe.Pointer) uint32 { return uint32(uintptr(p)) }
