// Package flexbuf reads FlexBuffers, the schema-less binary format TFLite uses for the
// custom_options of custom operators. It supports what operator options need: maps, vectors
// (typed and untyped), signed and unsigned integers, floats, booleans, keys, strings and blobs.
//
// Every read is bounds-checked: malformed input yields an error, never a panic.
package flexbuf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Type is a FlexBuffers value type.
type Type uint8

// FlexBuffers value types.
const (
	TypeNull          Type = 0
	TypeInt           Type = 1
	TypeUInt          Type = 2
	TypeFloat         Type = 3
	TypeKey           Type = 4
	TypeString        Type = 5
	TypeIndirectInt   Type = 6
	TypeIndirectUInt  Type = 7
	TypeIndirectFloat Type = 8
	TypeMap           Type = 9
	TypeVector        Type = 10
	TypeVectorInt     Type = 11
	TypeVectorUInt    Type = 12
	TypeVectorFloat   Type = 13
	TypeVectorKey     Type = 14
	TypeVectorString  Type = 15 // deprecated
	TypeVectorInt2    Type = 16
	TypeVectorUInt2   Type = 17
	TypeVectorFloat2  Type = 18
	TypeVectorInt3    Type = 19
	TypeVectorUInt3   Type = 20
	TypeVectorFloat3  Type = 21
	TypeVectorInt4    Type = 22
	TypeVectorUInt4   Type = 23
	TypeVectorFloat4  Type = 24
	TypeBlob          Type = 25
	TypeBool          Type = 26
	TypeVectorBool    Type = 36
)

// ErrMalformed is wrapped by every error about bytes that are not valid FlexBuffers.
var ErrMalformed = errors.New("flexbuf: malformed buffer")

// maxDepth bounds nested references so that cyclic offsets cannot loop forever.
const maxDepth = 64

// Ref is a reference to one value inside a buffer.
type Ref struct {
	buf []byte
	pos int // position of the value (inline scalar) or of the offset field
	// parentWidth is the byte width of the slot holding the value or offset.
	parentWidth int
	// width is the byte width of the referenced data (for offset types) or of the scalar.
	width int
	typ   Type
	depth int
}

// Root returns the root value of a FlexBuffer.
func Root(buf []byte) (Ref, error) {
	if len(buf) < 3 {
		return Ref{}, fmt.Errorf("%w: %d bytes is too short", ErrMalformed, len(buf))
	}
	rootWidth := int(buf[len(buf)-1])
	if !validWidth(rootWidth) {
		return Ref{}, fmt.Errorf("%w: root byte width %d at byte %d", ErrMalformed, rootWidth, len(buf)-1)
	}
	packed := buf[len(buf)-2]
	pos := len(buf) - 2 - rootWidth
	if pos < 0 {
		return Ref{}, fmt.Errorf("%w: root does not fit in %d bytes", ErrMalformed, len(buf))
	}
	return newRef(buf, pos, rootWidth, packed, 0)
}

func validWidth(w int) bool { return w == 1 || w == 2 || w == 4 || w == 8 }

func newRef(buf []byte, pos, parentWidth int, packed byte, depth int) (Ref, error) {
	if depth > maxDepth {
		return Ref{}, fmt.Errorf("%w: nesting deeper than %d", ErrMalformed, maxDepth)
	}
	r := Ref{buf: buf, pos: pos, parentWidth: parentWidth, width: 1 << (packed & 3), typ: Type(packed >> 2), depth: depth}
	if pos < 0 || pos+parentWidth > len(buf) {
		return Ref{}, fmt.Errorf("%w: value at byte %d out of range", ErrMalformed, pos)
	}
	return r, nil
}

// Type returns the value's type.
func (r Ref) Type() Type { return r.typ }

func readUint(buf []byte, pos, width int) (uint64, error) {
	if pos < 0 || width <= 0 || pos+width > len(buf) {
		return 0, fmt.Errorf("%w: %d-byte read at byte %d out of range", ErrMalformed, width, pos)
	}
	switch width {
	case 1:
		return uint64(buf[pos]), nil
	case 2:
		return uint64(binary.LittleEndian.Uint16(buf[pos:])), nil
	case 4:
		return uint64(binary.LittleEndian.Uint32(buf[pos:])), nil
	case 8:
		return binary.LittleEndian.Uint64(buf[pos:]), nil
	}
	return 0, fmt.Errorf("%w: byte width %d", ErrMalformed, width)
}

func readInt(buf []byte, pos, width int) (int64, error) {
	u, err := readUint(buf, pos, width)
	if err != nil {
		return 0, err
	}
	switch width {
	case 1:
		return int64(int8(u)), nil
	case 2:
		return int64(int16(u)), nil
	case 4:
		return int64(int32(u)), nil
	}
	return int64(u), nil
}

func readFloat(buf []byte, pos, width int) (float64, error) {
	u, err := readUint(buf, pos, width)
	if err != nil {
		return 0, err
	}
	switch width {
	case 4:
		return float64(math.Float32frombits(uint32(u))), nil
	case 8:
		return math.Float64frombits(u), nil
	}
	return 0, fmt.Errorf("%w: float of %d bytes at byte %d", ErrMalformed, width, pos)
}

// target resolves an offset-typed value to the address it points to.
func (r Ref) target() (int, error) {
	off, err := readUint(r.buf, r.pos, r.parentWidth)
	if err != nil {
		return 0, err
	}
	if off > uint64(r.pos) {
		return 0, fmt.Errorf("%w: offset %d at byte %d points before the buffer", ErrMalformed, off, r.pos)
	}
	return r.pos - int(off), nil
}

// Int returns the value as a signed integer. Unsigned values, booleans and floats (truncated)
// convert; other types are an error.
func (r Ref) Int() (int64, error) {
	switch r.typ {
	case TypeInt:
		return readInt(r.buf, r.pos, r.parentWidth)
	case TypeUInt, TypeBool:
		u, err := readUint(r.buf, r.pos, r.parentWidth)
		return int64(u), err
	case TypeFloat:
		f, err := readFloat(r.buf, r.pos, r.parentWidth)
		return int64(f), err
	case TypeIndirectInt:
		p, err := r.target()
		if err != nil {
			return 0, err
		}
		return readInt(r.buf, p, r.width)
	case TypeIndirectUInt:
		p, err := r.target()
		if err != nil {
			return 0, err
		}
		u, err := readUint(r.buf, p, r.width)
		return int64(u), err
	case TypeIndirectFloat:
		p, err := r.target()
		if err != nil {
			return 0, err
		}
		f, err := readFloat(r.buf, p, r.width)
		return int64(f), err
	}
	return 0, fmt.Errorf("flexbuf: value of type %d at byte %d is not a number", r.typ, r.pos)
}

// Float returns the value as a float64. Integers convert.
func (r Ref) Float() (float64, error) {
	switch r.typ {
	case TypeFloat:
		return readFloat(r.buf, r.pos, r.parentWidth)
	case TypeIndirectFloat:
		p, err := r.target()
		if err != nil {
			return 0, err
		}
		return readFloat(r.buf, p, r.width)
	case TypeUInt, TypeIndirectUInt:
		i, err := r.Int()
		return float64(uint64(i)), err
	}
	i, err := r.Int()
	return float64(i), err
}

// Bool returns the value as a boolean; numbers are true when non-zero.
func (r Ref) Bool() (bool, error) {
	if r.typ == TypeBool {
		u, err := readUint(r.buf, r.pos, r.parentWidth)
		return u != 0, err
	}
	i, err := r.Int()
	return i != 0, err
}

// String returns a string, key or blob value.
func (r Ref) String() (string, error) {
	switch r.typ {
	case TypeKey:
		p, err := r.target()
		if err != nil {
			return "", err
		}
		return readKey(r.buf, p)
	case TypeString, TypeBlob:
		p, err := r.target()
		if err != nil {
			return "", err
		}
		n, err := readUint(r.buf, p-r.width, r.width)
		if err != nil {
			return "", err
		}
		if n > uint64(len(r.buf)-p) {
			return "", fmt.Errorf("%w: string of %d bytes at byte %d overruns the buffer", ErrMalformed, n, p)
		}
		return string(r.buf[p : p+int(n)]), nil
	}
	return "", fmt.Errorf("flexbuf: value of type %d at byte %d is not a string", r.typ, r.pos)
}

func readKey(buf []byte, p int) (string, error) {
	if p < 0 || p >= len(buf) {
		return "", fmt.Errorf("%w: key at byte %d out of range", ErrMalformed, p)
	}
	for i := p; i < len(buf); i++ {
		if buf[i] == 0 {
			return string(buf[p:i]), nil
		}
	}
	return "", fmt.Errorf("%w: key at byte %d is not terminated", ErrMalformed, p)
}

// Vector is a FlexBuffers vector (typed or untyped) or the values of a map.
type Vector struct {
	buf   []byte
	pos   int  // address of element 0
	width int  // byte width of each element slot
	n     int  // element count
	elem  Type // element type for typed vectors; TypeNull for untyped vectors
	depth int
}

func isTypedVector(t Type) (Type, int, bool) {
	switch {
	case t >= TypeVectorInt && t <= TypeVectorKey:
		return TypeInt + (t - TypeVectorInt), 0, true
	case t == TypeVectorString:
		return TypeString, 0, true
	case t >= TypeVectorInt2 && t <= TypeVectorFloat4:
		k := int(t - TypeVectorInt2)
		return TypeInt + Type(k%3), k/3 + 2, true
	case t == TypeVectorBool:
		return TypeBool, 0, true
	}
	return 0, 0, false
}

// Vector returns the value as a vector. Maps read as the vector of their values.
func (r Ref) Vector() (Vector, error) {
	elem, fixed, typed := isTypedVector(r.typ)
	if !typed && r.typ != TypeVector && r.typ != TypeMap {
		return Vector{}, fmt.Errorf("flexbuf: value of type %d at byte %d is not a vector", r.typ, r.pos)
	}
	if !validWidth(r.width) {
		return Vector{}, fmt.Errorf("%w: vector byte width %d", ErrMalformed, r.width)
	}
	p, err := r.target()
	if err != nil {
		return Vector{}, err
	}
	n := fixed
	if n == 0 {
		u, err := readUint(r.buf, p-r.width, r.width)
		if err != nil {
			return Vector{}, err
		}
		if u > uint64(len(r.buf)) {
			return Vector{}, fmt.Errorf("%w: vector length %d at byte %d", ErrMalformed, u, p)
		}
		n = int(u)
	}
	end := p + n*r.width
	if !typed {
		end += n // type bytes
	}
	if end > len(r.buf) {
		return Vector{}, fmt.Errorf("%w: vector of %d elements at byte %d overruns the buffer", ErrMalformed, n, p)
	}
	v := Vector{buf: r.buf, pos: p, width: r.width, n: n, depth: r.depth + 1}
	if typed {
		v.elem = elem
	}
	return v, nil
}

// Len returns the number of elements.
func (v Vector) Len() int { return v.n }

// At returns element i.
func (v Vector) At(i int) (Ref, error) {
	if i < 0 || i >= v.n {
		return Ref{}, fmt.Errorf("flexbuf: index %d out of range [0,%d)", i, v.n)
	}
	pos := v.pos + i*v.width
	if v.elem != TypeNull {
		// Typed vector: elements share the vector's width; offset elements point to data
		// of that same width.
		packed := byte(v.elem)<<2 | widthBits(v.width)
		return newRef(v.buf, pos, v.width, packed, v.depth)
	}
	packed := v.buf[v.pos+v.n*v.width+i]
	return newRef(v.buf, pos, v.width, packed, v.depth)
}

func widthBits(w int) byte {
	switch w {
	case 2:
		return 1
	case 4:
		return 2
	case 8:
		return 3
	}
	return 0
}

// Ints returns a vector of numbers as int64 values.
func (v Vector) Ints() ([]int64, error) {
	out := make([]int64, v.n)
	for i := range out {
		r, err := v.At(i)
		if err != nil {
			return nil, err
		}
		if out[i], err = r.Int(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Floats returns a vector of numbers as float64 values.
func (v Vector) Floats() ([]float64, error) {
	out := make([]float64, v.n)
	for i := range out {
		r, err := v.At(i)
		if err != nil {
			return nil, err
		}
		if out[i], err = r.Float(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Map is a FlexBuffers map: sorted keys and their values.
type Map struct {
	keys   Vector
	values Vector
}

// Map returns the value as a map.
func (r Ref) Map() (Map, error) {
	if r.typ != TypeMap {
		return Map{}, fmt.Errorf("flexbuf: value of type %d at byte %d is not a map", r.typ, r.pos)
	}
	values, err := r.Vector()
	if err != nil {
		return Map{}, err
	}
	w := values.width
	keysAt := values.pos - 3*w
	kw, err := readUint(r.buf, values.pos-2*w, w)
	if err != nil {
		return Map{}, err
	}
	if !validWidth(int(kw)) {
		return Map{}, fmt.Errorf("%w: map keys byte width %d at byte %d", ErrMalformed, kw, values.pos-2*w)
	}
	keysRef, err := newRef(r.buf, keysAt, w, byte(TypeVectorKey)<<2|widthBits(int(kw)), r.depth+1)
	if err != nil {
		return Map{}, err
	}
	keys, err := keysRef.Vector()
	if err != nil {
		return Map{}, err
	}
	if keys.n != values.n {
		return Map{}, fmt.Errorf("%w: map at byte %d has %d keys and %d values", ErrMalformed, values.pos, keys.n, values.n)
	}
	return Map{keys: keys, values: values}, nil
}

// Len returns the number of entries.
func (m Map) Len() int { return m.values.n }

// Key returns the i-th key (keys are sorted).
func (m Map) Key(i int) (string, error) {
	r, err := m.keys.At(i)
	if err != nil {
		return "", err
	}
	return r.String()
}

// Value returns the i-th value (in key order).
func (m Map) Value(i int) (Ref, error) { return m.values.At(i) }

// Get returns the value stored under key; ok is false when the key is absent.
func (m Map) Get(key string) (r Ref, ok bool, err error) {
	for i := 0; i < m.Len(); i++ {
		k, err := m.Key(i)
		if err != nil {
			return Ref{}, false, err
		}
		if k == key {
			r, err := m.values.At(i)
			return r, err == nil, err
		}
	}
	return Ref{}, false, nil
}

// Int returns the integer under key, or an error naming the key when it is absent or not a
// number.
func (m Map) Int(key string) (int64, error) {
	r, ok, err := m.Get(key)
	if err != nil {
		return 0, fmt.Errorf("key %q: %w", key, err)
	}
	if !ok {
		return 0, fmt.Errorf("flexbuf: key %q missing", key)
	}
	v, err := r.Int()
	if err != nil {
		return 0, fmt.Errorf("key %q: %w", key, err)
	}
	return v, nil
}

// Bool returns the boolean under key.
func (m Map) Bool(key string) (bool, error) {
	r, ok, err := m.Get(key)
	if err != nil {
		return false, fmt.Errorf("key %q: %w", key, err)
	}
	if !ok {
		return false, fmt.Errorf("flexbuf: key %q missing", key)
	}
	v, err := r.Bool()
	if err != nil {
		return false, fmt.Errorf("key %q: %w", key, err)
	}
	return v, nil
}

// Float returns the number under key as a float64.
func (m Map) Float(key string) (float64, error) {
	r, ok, err := m.Get(key)
	if err != nil {
		return 0, fmt.Errorf("key %q: %w", key, err)
	}
	if !ok {
		return 0, fmt.Errorf("flexbuf: key %q missing", key)
	}
	v, err := r.Float()
	if err != nil {
		return 0, fmt.Errorf("key %q: %w", key, err)
	}
	return v, nil
}

// RootMap parses buf and returns its root, which must be a map.
func RootMap(buf []byte) (Map, error) {
	r, err := Root(buf)
	if err != nil {
		return Map{}, err
	}
	return r.Map()
}
