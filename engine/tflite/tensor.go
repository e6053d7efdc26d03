package tflite

import (
	"fmt"
	"unsafe"
)

// DType is a tensor element type. The values match the TFLite schema TensorType enum.
type DType uint8

// Tensor element types (TFLite schema TensorType values).
const (
	Float32    DType = 0
	Float16    DType = 1
	Int32      DType = 2
	UInt8      DType = 3
	Int64      DType = 4
	String     DType = 5
	Bool       DType = 6
	Int16      DType = 7
	Complex64  DType = 8
	Int8       DType = 9
	Float64    DType = 10
	Complex128 DType = 11
	UInt64     DType = 12
	Resource   DType = 13
	Variant    DType = 14
	UInt32     DType = 15
	UInt16     DType = 16
	Int4       DType = 17
	BFloat16   DType = 18
)

// AllDTypes lists every type a kernel can be registered for; shape-only kernels register for all.
var AllDTypes = []DType{Float32, Float16, Int32, UInt8, Int64, Bool, Int16, Complex64, Int8, Float64,
	Complex128, UInt64, UInt32, UInt16, BFloat16}

var dtypeNames = [...]string{"FLOAT32", "FLOAT16", "INT32", "UINT8", "INT64", "STRING", "BOOL", "INT16",
	"COMPLEX64", "INT8", "FLOAT64", "COMPLEX128", "UINT64", "RESOURCE", "VARIANT", "UINT32", "UINT16",
	"INT4", "BFLOAT16"}

// String returns the schema name of the type, e.g. "FLOAT32".
func (d DType) String() string {
	if int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return fmt.Sprintf("TYPE%d", uint8(d))
}

// Size returns the size in bytes of one element, or 0 for types without a fixed size
// (STRING, RESOURCE, VARIANT, INT4).
func (d DType) Size() int {
	switch d {
	case Float32, Int32, UInt32:
		return 4
	case Float16, Int16, UInt16, BFloat16:
		return 2
	case UInt8, Int8, Bool:
		return 1
	case Int64, Float64, UInt64, Complex64:
		return 8
	case Complex128:
		return 16
	}
	return 0
}

// Quant holds affine quantization parameters: real = Scale[c] * (q - ZeroPoint[c]).
// Per-tensor quantization has one scale and one zero point; per-axis quantization has one per
// index along dimension Axis.
type Quant struct {
	Scale     []float32
	ZeroPoint []int64
	Axis      int
}

// TensorInfo describes a model input or output.
type TensorInfo struct {
	Name  string
	Type  DType
	Shape []int
	Quant *Quant // nil when not quantized
}

// Tensor is a typed n-dimensional array. Data is little-endian and either points into the
// interpreter's arena (activations) or into the model bytes (constants, read-only: kernels must
// never write to a constant tensor).
type Tensor struct {
	Name  string
	Type  DType
	Shape []int
	Quant *Quant // nil when not quantized
	Data  []byte

	// Const reports whether Data is a constant buffer from the model (known at Prepare time).
	Const bool
	// Index is the tensor's index in subgraph 0.
	Index int
}

// NumElements returns the product of the shape (1 for a scalar).
func (t *Tensor) NumElements() int { return numElements(t.Shape) }

// Bytes returns the byte size implied by the type and shape.
func (t *Tensor) Bytes() int { return t.NumElements() * t.Type.Size() }

// Info returns the tensor's name, type, shape and quantization.
func (t *Tensor) Info() TensorInfo {
	return TensorInfo{Name: t.Name, Type: t.Type, Shape: append([]int(nil), t.Shape...), Quant: t.Quant}
}

func numElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func view[T any](b []byte) []T {
	var z T
	sz := int(unsafe.Sizeof(z))
	if len(b) < sz {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/sz)
}

// Float32 returns a zero-copy view of Data as float32 values.
func (t *Tensor) Float32() []float32 { return view[float32](t.Data) }

// Int8 returns a zero-copy view of Data as int8 values.
func (t *Tensor) Int8() []int8 { return view[int8](t.Data) }

// Int16 returns a zero-copy view of Data as int16 values.
func (t *Tensor) Int16() []int16 { return view[int16](t.Data) }

// Int32 returns a zero-copy view of Data as int32 values.
func (t *Tensor) Int32() []int32 { return view[int32](t.Data) }

// UInt8 returns Data itself (uint8 values).
func (t *Tensor) UInt8() []uint8 { return t.Data }

// Int64 returns a zero-copy view of Data as int64 values.
func (t *Tensor) Int64() []int64 { return view[int64](t.Data) }

// UInt16 returns a zero-copy view of Data as uint16 values (also used for float16 bits).
func (t *Tensor) UInt16() []uint16 { return view[uint16](t.Data) }

// UInt32 returns a zero-copy view of Data as uint32 values.
func (t *Tensor) UInt32() []uint32 { return view[uint32](t.Data) }

// UInt64 returns a zero-copy view of Data as uint64 values.
func (t *Tensor) UInt64() []uint64 { return view[uint64](t.Data) }
