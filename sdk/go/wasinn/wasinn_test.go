package wasinn

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/atoll-studio/atoll/engine/wasinn/witx"
)

// TestTensorRecord checks the witx tensor record layout the host reads: 20 bytes, the type byte
// at offset 8, data pointer at 12 and length at 16.
func TestTensorRecord(t *testing.T) {
	var r tensor
	if unsafe.Sizeof(r) != witx.TensorRecordSize || unsafe.Offsetof(r.typ) != 8 || unsafe.Offsetof(r.dataPtr) != 12 || unsafe.Offsetof(r.dataLen) != 16 {
		t.Fatalf("tensor record: size %d, type at %d, data at %d/%d", unsafe.Sizeof(r), unsafe.Offsetof(r.typ), unsafe.Offsetof(r.dataPtr), unsafe.Offsetof(r.dataLen))
	}
}

func TestNativeUnavailable(t *testing.T) {
	if _, err := LoadByName("x"); !errors.Is(err, UnsupportedOperation) {
		t.Fatalf("LoadByName natively: %v", err)
	}
	if err := Context(0).Compute(); err == nil || err.Error() != "wasi-nn: unsupported_operation" {
		t.Fatalf("Compute natively: %v", err)
	}
	if got := Errno(42).Error(); got != "wasi-nn: errno 42" {
		t.Fatal(got)
	}
}
