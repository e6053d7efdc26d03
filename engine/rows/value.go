// Package rows holds Atoll's typed values, rows and batches, their binary batch codec (see
// CODEC.md) and their JSON view. It has no dependencies outside the standard library so that Go
// WebAssembly guests share it with the host.
package rows

import (
	"fmt"
	"math"
	"time"
	"unsafe"
)

// Kind is the type of a Value. The numbering is part of the codec (CODEC.md).
type Kind uint8

// The value kinds.
const (
	KindNull      Kind = 0
	KindBool      Kind = 1
	KindInt       Kind = 2
	KindFloat     Kind = 3
	KindString    Kind = 4
	KindBytes     Kind = 5
	KindTimestamp Kind = 6
	KindList      Kind = 7
	KindFloat32s  Kind = 8
)

var kindNames = [...]string{"null", "bool", "int", "float", "string", "bytes", "timestamp", "list", "float32s"}

// String returns the kind's name as used in port types and error messages.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Value is one typed value. The zero Value is null. Values are immutable once built: callers
// must not modify the slices returned by Bytes, List or Float32s of a value they did not create.
type Value struct {
	kind Kind
	num  uint64         // bool, int64, float64 bits, timestamp ns; length of ptr data
	ptr  unsafe.Pointer // string/bytes data, *Value, *float32
}

// Null returns the null value.
func Null() Value { return Value{} }

// Bool returns a bool value.
func Bool(b bool) Value {
	var n uint64
	if b {
		n = 1
	}
	return Value{kind: KindBool, num: n}
}

// Int returns an int64 value.
func Int(i int64) Value { return Value{kind: KindInt, num: uint64(i)} }

// Float returns a float64 value.
func Float(f float64) Value { return Value{kind: KindFloat, num: math.Float64bits(f)} }

// String returns a string value.
func String(s string) Value {
	return Value{kind: KindString, num: uint64(len(s)), ptr: unsafe.Pointer(unsafe.StringData(s))}
}

// Bytes returns a bytes value holding b (not copied).
func Bytes(b []byte) Value {
	return Value{kind: KindBytes, num: uint64(len(b)), ptr: unsafe.Pointer(unsafe.SliceData(b))}
}

// Timestamp returns a timestamp value (nanoseconds since the Unix epoch, UTC).
func Timestamp(t time.Time) Value { return Value{kind: KindTimestamp, num: uint64(t.UnixNano())} }

// TimestampNanos returns a timestamp value from Unix nanoseconds.
func TimestampNanos(ns int64) Value { return Value{kind: KindTimestamp, num: uint64(ns)} }

// List returns a list value holding vs (not copied).
func List(vs []Value) Value {
	return Value{kind: KindList, num: uint64(len(vs)), ptr: unsafe.Pointer(unsafe.SliceData(vs))}
}

// Float32s returns a packed float32 array value holding fs (not copied): audio frames, tensors.
func Float32s(fs []float32) Value {
	return Value{kind: KindFloat32s, num: uint64(len(fs)), ptr: unsafe.Pointer(unsafe.SliceData(fs))}
}

// Kind returns the value's kind.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is null.
func (v Value) IsNull() bool { return v.kind == KindNull }

// AsBool returns the bool and whether v is a bool.
func (v Value) AsBool() (bool, bool) { return v.num != 0, v.kind == KindBool }

// AsInt returns the int64 and whether v is an int.
func (v Value) AsInt() (int64, bool) { return int64(v.num), v.kind == KindInt }

// AsFloat returns v as a float64 when it is a float or an int.
func (v Value) AsFloat() (float64, bool) {
	switch v.kind {
	case KindFloat:
		return math.Float64frombits(v.num), true
	case KindInt:
		return float64(int64(v.num)), true
	}
	return 0, false
}

// AsString returns the string and whether v is a string.
func (v Value) AsString() (string, bool) {
	if v.kind != KindString {
		return "", false
	}
	return unsafe.String((*byte)(v.ptr), int(v.num)), true
}

// AsBytes returns the bytes and whether v is bytes.
func (v Value) AsBytes() ([]byte, bool) {
	if v.kind != KindBytes {
		return nil, false
	}
	return unsafe.Slice((*byte)(v.ptr), int(v.num)), true
}

// AsTimestamp returns the timestamp in Unix nanoseconds and whether v is a timestamp.
func (v Value) AsTimestamp() (int64, bool) { return int64(v.num), v.kind == KindTimestamp }

// AsList returns the list and whether v is a list.
func (v Value) AsList() ([]Value, bool) {
	if v.kind != KindList {
		return nil, false
	}
	return unsafe.Slice((*Value)(v.ptr), int(v.num)), true
}

// AsFloat32s returns the packed float32 array and whether v is one.
func (v Value) AsFloat32s() ([]float32, bool) {
	if v.kind != KindFloat32s {
		return nil, false
	}
	return unsafe.Slice((*float32)(v.ptr), int(v.num)), true
}

// Any returns v as a plain Go value: nil, bool, int64, float64, string, []byte, time.Time,
// []any or []float32. It is what expressions and JSON see.
func (v Value) Any() any {
	switch v.kind {
	case KindBool:
		return v.num != 0
	case KindInt:
		return int64(v.num)
	case KindFloat:
		return math.Float64frombits(v.num)
	case KindString:
		s, _ := v.AsString()
		return s
	case KindBytes:
		b, _ := v.AsBytes()
		return b
	case KindTimestamp:
		return time.Unix(0, int64(v.num)).UTC()
	case KindList:
		l, _ := v.AsList()
		out := make([]any, len(l))
		for i, e := range l {
			out[i] = e.Any()
		}
		return out
	case KindFloat32s:
		f, _ := v.AsFloat32s()
		return f
	}
	return nil
}

// FromAny converts a plain Go value into a Value. Integers become int, floats float, maps are
// rejected (rows are flat; use a JSON string for nested objects).
func FromAny(x any) (Value, error) {
	switch t := x.(type) {
	case nil:
		return Null(), nil
	case Value:
		return t, nil
	case bool:
		return Bool(t), nil
	case int:
		return Int(int64(t)), nil
	case int8:
		return Int(int64(t)), nil
	case int16:
		return Int(int64(t)), nil
	case int32:
		return Int(int64(t)), nil
	case int64:
		return Int(t), nil
	case uint:
		return Int(int64(t)), nil
	case uint8:
		return Int(int64(t)), nil
	case uint16:
		return Int(int64(t)), nil
	case uint32:
		return Int(int64(t)), nil
	case uint64:
		if t > math.MaxInt64 {
			return Value{}, fmt.Errorf("integer %d overflows int64", t)
		}
		return Int(int64(t)), nil
	case float32:
		return Float(float64(t)), nil
	case float64:
		return Float(t), nil
	case string:
		return String(t), nil
	case []byte:
		return Bytes(t), nil
	case time.Time:
		return Timestamp(t), nil
	case time.Duration:
		return Int(int64(t)), nil
	case []float32:
		return Float32s(t), nil
	case []Value:
		return List(t), nil
	case []any:
		l := make([]Value, len(t))
		for i, e := range t {
			v, err := FromAny(e)
			if err != nil {
				return Value{}, fmt.Errorf("list item %d: %w", i, err)
			}
			l[i] = v
		}
		return List(l), nil
	case []string:
		l := make([]Value, len(t))
		for i, e := range t {
			l[i] = String(e)
		}
		return List(l), nil
	case []int64:
		l := make([]Value, len(t))
		for i, e := range t {
			l[i] = Int(e)
		}
		return List(l), nil
	case []float64:
		l := make([]Value, len(t))
		for i, e := range t {
			l[i] = Float(e)
		}
		return List(l), nil
	}
	return Value{}, fmt.Errorf("unsupported value type %T", x)
}

// Equal reports whether two values have the same kind and content.
func (v Value) Equal(w Value) bool {
	if v.kind != w.kind {
		return false
	}
	switch v.kind {
	case KindNull:
		return true
	case KindBool, KindInt, KindTimestamp:
		return v.num == w.num
	case KindFloat:
		a, b := math.Float64frombits(v.num), math.Float64frombits(w.num)
		return a == b || (a != a && b != b)
	case KindString:
		a, _ := v.AsString()
		b, _ := w.AsString()
		return a == b
	case KindBytes:
		a, _ := v.AsBytes()
		b, _ := w.AsBytes()
		return string(a) == string(b)
	case KindList:
		a, _ := v.AsList()
		b, _ := w.AsList()
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if !a[i].Equal(b[i]) {
				return false
			}
		}
		return true
	case KindFloat32s:
		a, _ := v.AsFloat32s()
		b, _ := w.AsFloat32s()
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				return false
			}
		}
		return true
	}
	return false
}

// String formats v for logs and error messages.
func (v Value) String() string {
	switch v.kind {
	case KindNull:
		return "null"
	case KindString:
		s, _ := v.AsString()
		return fmt.Sprintf("%q", s)
	case KindFloat32s:
		return fmt.Sprintf("float32s[%d]", v.num)
	case KindBytes:
		return fmt.Sprintf("bytes[%d]", v.num)
	}
	return fmt.Sprint(v.Any())
}
