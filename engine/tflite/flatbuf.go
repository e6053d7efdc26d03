package tflite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// errMalformed is wrapped by every flatbuffer decoding error.
var errMalformed = errors.New("malformed flatbuffer")

// Table is a bounds-checked read-only view of one flatbuffer table (for example a builtin
// options table such as Conv2DOptions). Fields are addressed by slot (declaration order in the
// schema, starting at 0; see the per-op slot list in registry.go). Absent fields, an absent table
// (the zero Table) and fields pointing outside the buffer all return the given default: a typed
// getter never panics.
type Table struct {
	buf []byte
	pos int // table start; 0 with buf == nil means absent
}

// Valid reports whether the table is present.
func (t Table) Valid() bool { return t.buf != nil }

func (t Table) fieldOffset(slot int) int {
	if t.buf == nil || slot < 0 {
		return 0
	}
	b := t.buf
	if t.pos < 0 || t.pos+4 > len(b) {
		return 0
	}
	vt := t.pos - int(int32(binary.LittleEndian.Uint32(b[t.pos:])))
	if vt < 0 || vt+4 > len(b) {
		return 0
	}
	vsize := int(binary.LittleEndian.Uint16(b[vt:]))
	e := 4 + 2*slot
	if e+2 > vsize || vt+e+2 > len(b) {
		return 0
	}
	return int(binary.LittleEndian.Uint16(b[vt+e:]))
}

// field returns the absolute position of a scalar field of n bytes, or -1 when absent or out of
// bounds.
func (t Table) field(slot, n int) int {
	o := t.fieldOffset(slot)
	if o == 0 {
		return -1
	}
	p := t.pos + o
	if p < 0 || p+n > len(t.buf) {
		return -1
	}
	return p
}

// Has reports whether the field at slot is present.
func (t Table) Has(slot int) bool { return t.fieldOffset(slot) != 0 }

// Bool reads a bool field.
func (t Table) Bool(slot int, def bool) bool {
	if p := t.field(slot, 1); p >= 0 {
		return t.buf[p] != 0
	}
	return def
}

// Int8 reads a byte field (enums such as Padding and ActivationFunctionType are bytes).
func (t Table) Int8(slot int, def int8) int8 {
	if p := t.field(slot, 1); p >= 0 {
		return int8(t.buf[p])
	}
	return def
}

// Uint8 reads a ubyte field (union type discriminants, TensorType).
func (t Table) Uint8(slot int, def uint8) uint8 {
	if p := t.field(slot, 1); p >= 0 {
		return t.buf[p]
	}
	return def
}

// Int16 reads a short field.
func (t Table) Int16(slot int, def int16) int16 {
	if p := t.field(slot, 2); p >= 0 {
		return int16(binary.LittleEndian.Uint16(t.buf[p:]))
	}
	return def
}

// Int32 reads an int field.
func (t Table) Int32(slot int, def int32) int32 {
	if p := t.field(slot, 4); p >= 0 {
		return int32(binary.LittleEndian.Uint32(t.buf[p:]))
	}
	return def
}

// Uint32 reads a uint field.
func (t Table) Uint32(slot int, def uint32) uint32 {
	if p := t.field(slot, 4); p >= 0 {
		return binary.LittleEndian.Uint32(t.buf[p:])
	}
	return def
}

// Int64 reads a long field.
func (t Table) Int64(slot int, def int64) int64 {
	if p := t.field(slot, 8); p >= 0 {
		return int64(binary.LittleEndian.Uint64(t.buf[p:]))
	}
	return def
}

// Uint64 reads a ulong field.
func (t Table) Uint64(slot int, def uint64) uint64 {
	if p := t.field(slot, 8); p >= 0 {
		return binary.LittleEndian.Uint64(t.buf[p:])
	}
	return def
}

// Float32 reads a float field.
func (t Table) Float32(slot int, def float32) float32 {
	if p := t.field(slot, 4); p >= 0 {
		return math.Float32frombits(binary.LittleEndian.Uint32(t.buf[p:]))
	}
	return def
}

// ref follows the uoffset stored in a reference field; -1 when absent or out of bounds.
func (t Table) ref(slot int) int {
	p := t.field(slot, 4)
	if p < 0 {
		return -1
	}
	q := int64(p) + int64(binary.LittleEndian.Uint32(t.buf[p:]))
	if q+4 > int64(len(t.buf)) {
		return -1
	}
	return int(q)
}

// Table reads a sub-table field.
func (t Table) Table(slot int) Table {
	q := t.ref(slot)
	if q < 0 {
		return Table{}
	}
	return Table{buf: t.buf, pos: q}
}

// vector returns the start of the elements and the count of a vector field whose elements have
// size elem bytes; ok is false when absent or out of bounds.
func (t Table) vector(slot, elem int) (start, n int, ok bool) {
	q := t.ref(slot)
	if q < 0 {
		return 0, 0, false
	}
	n64 := int64(binary.LittleEndian.Uint32(t.buf[q:]))
	start = q + 4
	if n64 > int64((len(t.buf)-start)/elem) {
		return 0, 0, false
	}
	return start, int(n64), true
}

// Len returns the length of a vector field (0 when absent).
func (t Table) Len(slot int) int {
	_, n, _ := t.vector(slot, 1)
	return n
}

// Bytes returns a [ubyte]/[byte] vector field without copying (nil when absent).
func (t Table) Bytes(slot int) []byte {
	s, n, ok := t.vector(slot, 1)
	if !ok {
		return nil
	}
	return t.buf[s : s+n : s+n]
}

// String reads a string field ("" when absent).
func (t Table) String(slot int) string { return string(t.Bytes(slot)) }

// Int32s copies an [int] vector field (nil when absent).
func (t Table) Int32s(slot int) []int32 {
	s, n, ok := t.vector(slot, 4)
	if !ok {
		return nil
	}
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(t.buf[s+4*i:]))
	}
	return out
}

// Int64s copies a [long] vector field (nil when absent).
func (t Table) Int64s(slot int) []int64 {
	s, n, ok := t.vector(slot, 8)
	if !ok {
		return nil
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(t.buf[s+8*i:]))
	}
	return out
}

// Float32s copies a [float] vector field (nil when absent).
func (t Table) Float32s(slot int) []float32 {
	s, n, ok := t.vector(slot, 4)
	if !ok {
		return nil
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.buf[s+4*i:]))
	}
	return out
}

// Bools copies a [bool] vector field (nil when absent).
func (t Table) Bools(slot int) []bool {
	b := t.Bytes(slot)
	if b == nil {
		return nil
	}
	out := make([]bool, len(b))
	for i, v := range b {
		out[i] = v != 0
	}
	return out
}

// TableAt returns element i of a vector-of-tables field (absent Table when out of range).
func (t Table) TableAt(slot, i int) Table {
	s, n, ok := t.vector(slot, 4)
	if !ok || i < 0 || i >= n {
		return Table{}
	}
	p := s + 4*i
	q := int64(p) + int64(binary.LittleEndian.Uint32(t.buf[p:]))
	if q+4 > int64(len(t.buf)) {
		return Table{}
	}
	return Table{buf: t.buf, pos: int(q)}
}

// rootTable returns the root table of a flatbuffer.
func rootTable(b []byte) (Table, error) {
	if len(b) < 8 {
		return Table{}, fmt.Errorf("%d bytes, shorter than a flatbuffer header: %w", len(b), errMalformed)
	}
	p := int64(binary.LittleEndian.Uint32(b))
	if p+4 > int64(len(b)) {
		return Table{}, fmt.Errorf("root table offset %d outside the file (%d bytes): %w", p, len(b), errMalformed)
	}
	return Table{buf: b, pos: int(p)}, nil
}
