// Package witx holds the constants of the witx `wasi_ephemeral_nn` ABI
// (../shared/specs/wasi-nn.md) shared by the host (engine/wasinn) and the Go guest SDK
// (sdk/go/wasinn). It imports nothing, so guests stay small.
package witx

import "strconv"

// Errno is a wasi-nn error code (nn_errno), the i32 every import returns.
type Errno uint32

// The nn_errno values of the witx spec (2023-08 and later).
const (
	Success              Errno = 0
	InvalidArgument      Errno = 1
	InvalidEncoding      Errno = 2
	MissingMemory        Errno = 3
	Busy                 Errno = 4
	RuntimeError         Errno = 5
	UnsupportedOperation Errno = 6
	TooLarge             Errno = 7
	NotFound             Errno = 8
)

var errnoNames = [...]string{"success", "invalid_argument", "invalid_encoding", "missing_memory",
	"busy", "runtime_error", "unsupported_operation", "too_large", "not_found"}

// String returns the spec's name of the errno ("not_found").
func (e Errno) String() string {
	if int(e) < len(errnoNames) {
		return errnoNames[e]
	}
	return "errno " + strconv.FormatUint(uint64(e), 10)
}

// Error makes Errno an error: "wasi-nn: not_found".
func (e Errno) Error() string { return "wasi-nn: " + e.String() }

// graph_encoding values (tensorflowlite is 4 in every version of the spec).
const (
	EncodingOpenVINO       = 0
	EncodingONNX           = 1
	EncodingTensorflow     = 2
	EncodingPyTorch        = 3
	EncodingTensorflowLite = 4
	EncodingAutodetect     = 5
)

// execution_target values.
const (
	TargetCPU = 0
	TargetGPU = 1
	TargetTPU = 2
)

// tensor_type values, current numbering (spec ≥ PR #54, Rust wasi-nn 0.6, WasmEdge ≥ 0.15).
const (
	TypeF16 = 0
	TypeF32 = 1
	TypeF64 = 2
	TypeU8  = 3
	TypeI32 = 4
	TypeI64 = 5
)

// tensor_type values of the legacy numbering (Rust wasi-nn ≤ 0.5, WasmEdge ≤ 0.14, AssemblyScript
// as-wasi-nn), where 0 and 1 mean the same as today.
const (
	LegacyTypeU8  = 2
	LegacyTypeI32 = 3
)

// TensorRecordSize is the size of the tensor record set_input reads: dims ptr @0, dims len @4,
// type byte @8 (9–11 padding), data ptr @12, data len @16.
const TensorRecordSize = 20
