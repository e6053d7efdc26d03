package rows

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"
)

// Codec constants; see CODEC.md.
const (
	Magic         = "ATRB"
	CodecVersion  = 1
	headerSize    = 16
	maxListDepth  = 32
	maxNameLength = 1 << 16
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed batch")

var littleEndianHost = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// Encoder encodes batches, reusing its buffers and name table between calls.
type Encoder struct {
	buf   []byte
	names []string
	index map[string]uint32
}

// AppendBatch appends the encoding of b to dst and returns the extended slice.
func AppendBatch(dst []byte, b *Batch) []byte {
	var e Encoder
	e.buf = dst
	return e.encode(b)
}

// Encode returns the encoding of b in a buffer owned by the encoder, valid until the next call.
func (e *Encoder) Encode(b *Batch) []byte {
	e.buf = e.buf[:0]
	return e.encode(b)
}

func (e *Encoder) encode(b *Batch) []byte {
	if e.index == nil {
		e.index = make(map[string]uint32)
	} else {
		clear(e.index)
	}
	e.names = e.names[:0]
	// Name table first: one pass over the rows, with a fast path for rows shaped like the last.
	var prev Row
	for _, r := range b.Rows {
		for j := range r {
			if j < len(prev) && prev[j].Name == r[j].Name {
				continue
			}
			if _, ok := e.index[r[j].Name]; !ok {
				e.index[r[j].Name] = uint32(len(e.names))
				e.names = append(e.names, r[j].Name)
			}
		}
		prev = r
	}
	start := len(e.buf)
	buf := append(e.buf, Magic...)
	buf = binary.LittleEndian.AppendUint16(buf, CodecVersion)
	buf = binary.LittleEndian.AppendUint16(buf, 0)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(b.Rows)))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(e.names)))
	for _, n := range e.names {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(n)))
		buf = append(buf, n...)
	}
	prev = nil
	var prevIdx []uint32
	for _, r := range b.Rows {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(r)))
		for j := range r {
			var idx uint32
			if j < len(prev) && j < len(prevIdx) && prev[j].Name == r[j].Name {
				idx = prevIdx[j]
			} else {
				idx = e.index[r[j].Name]
			}
			if j < len(prevIdx) {
				prevIdx[j] = idx
			} else {
				prevIdx = append(prevIdx, idx)
			}
			buf = binary.LittleEndian.AppendUint32(buf, idx)
			buf = appendValue(buf, start, r[j].Value)
		}
		prev = r
	}
	e.buf = buf
	return buf
}

func appendValue(buf []byte, start int, v Value) []byte {
	buf = append(buf, byte(v.kind))
	switch v.kind {
	case KindNull:
	case KindBool:
		buf = append(buf, byte(v.num))
	case KindInt, KindFloat, KindTimestamp:
		buf = binary.LittleEndian.AppendUint64(buf, v.num)
	case KindString, KindBytes:
		buf = binary.LittleEndian.AppendUint32(buf, uint32(v.num))
		buf = append(buf, unsafe.Slice((*byte)(v.ptr), int(v.num))...)
	case KindList:
		l, _ := v.AsList()
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(l)))
		for _, e := range l {
			buf = appendValue(buf, start, e)
		}
	case KindFloat32s:
		f, _ := v.AsFloat32s()
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(f)))
		for (len(buf)-start)%4 != 0 {
			buf = append(buf, 0)
		}
		if littleEndianHost {
			buf = append(buf, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), len(f)*4)...)
		} else {
			for _, x := range f {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
			}
		}
	}
	return buf
}

// Decode decodes one batch. It copies data once; the result does not alias data.
func Decode(data []byte) (*Batch, error) {
	owned := make([]byte, len(data))
	copy(owned, data)
	return DecodeShared(owned)
}

// DecodeShared decodes one batch whose strings, bytes and float32 arrays alias data: the caller
// must not modify data while the batch is in use. data must be 4-byte aligned (any Go allocation
// is) for float32 arrays to alias it; otherwise they are copied.
func DecodeShared(data []byte) (*Batch, error) {
	d := decoder{buf: data}
	return d.batch()
}

type decoder struct {
	buf []byte
	off int
}

func (d *decoder) fail(format string, args ...any) error {
	return fmt.Errorf("%w: byte %d: %s", ErrMalformed, d.off, fmt.Sprintf(format, args...))
}

func (d *decoder) u32(what string) (uint32, error) {
	if len(d.buf)-d.off < 4 {
		return 0, d.fail("truncated %s", what)
	}
	v := binary.LittleEndian.Uint32(d.buf[d.off:])
	d.off += 4
	return v, nil
}

// count reads a u32 count of items needing at least minSize bytes each.
func (d *decoder) count(what string, minSize int) (int, error) {
	n, err := d.u32(what)
	if err != nil {
		return 0, err
	}
	if uint64(n)*uint64(minSize) > uint64(len(d.buf)-d.off) {
		return 0, d.fail("%s %d exceeds the %d bytes left", what, n, len(d.buf)-d.off)
	}
	return int(n), nil
}

func (d *decoder) batch() (*Batch, error) {
	if len(d.buf) < headerSize {
		return nil, d.fail("truncated header (%d bytes)", len(d.buf))
	}
	if string(d.buf[:4]) != Magic {
		return nil, d.fail("bad magic %q", d.buf[:4])
	}
	if v := binary.LittleEndian.Uint16(d.buf[4:]); v != CodecVersion {
		return nil, fmt.Errorf("%w: unsupported codec version %d (this build reads %d)", ErrMalformed, v, CodecVersion)
	}
	d.off = 8
	nrows, err := d.count("row count", 4)
	if err != nil {
		return nil, err
	}
	nnames, err := d.count("name count", 4)
	if err != nil {
		return nil, err
	}
	names := make([]string, nnames)
	for i := range names {
		n, err := d.count("name length", 1)
		if err != nil {
			return nil, err
		}
		if n > maxNameLength {
			return nil, d.fail("name length %d over %d", n, maxNameLength)
		}
		names[i] = unsafe.String(unsafe.SliceData(d.buf[d.off:]), n)
		d.off += n
	}
	b := &Batch{Rows: make([]Row, nrows)}
	var fields []Field
	for i := range b.Rows {
		nf, err := d.count("field count", 5)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
		if cap(fields)-len(fields) < nf {
			// Allocate room for this row and, guessing rows alike, the rest of the batch,
			// bounded by what the remaining bytes could possibly hold.
			guess := nf * (nrows - i)
			if maxf := (len(d.buf) - d.off) / 5; guess > maxf {
				guess = maxf
			}
			if guess < nf {
				guess = nf
			}
			fields = make([]Field, 0, guess)
		}
		start := len(fields)
		for j := 0; j < nf; j++ {
			idx, err := d.u32("name index")
			if err != nil {
				return nil, fmt.Errorf("row %d: %w", i, err)
			}
			if int(idx) >= len(names) {
				return nil, fmt.Errorf("row %d: %w", i, d.fail("name index %d out of %d names", idx, len(names)))
			}
			v, err := d.value(0)
			if err != nil {
				return nil, fmt.Errorf("row %d field %q: %w", i, names[idx], err)
			}
			fields = append(fields, Field{Name: names[idx], Value: v})
		}
		b.Rows[i] = fields[start:len(fields):len(fields)]
	}
	if d.off != len(d.buf) {
		return nil, d.fail("%d trailing bytes", len(d.buf)-d.off)
	}
	return b, nil
}

func (d *decoder) value(depth int) (Value, error) {
	if d.off >= len(d.buf) {
		return Value{}, d.fail("truncated value")
	}
	k := Kind(d.buf[d.off])
	d.off++
	switch k {
	case KindNull:
		return Value{}, nil
	case KindBool:
		if d.off >= len(d.buf) {
			return Value{}, d.fail("truncated bool")
		}
		b := d.buf[d.off]
		d.off++
		if b > 1 {
			return Value{}, d.fail("bool byte %d is not 0 or 1", b)
		}
		return Bool(b == 1), nil
	case KindInt, KindFloat, KindTimestamp:
		if len(d.buf)-d.off < 8 {
			return Value{}, d.fail("truncated %s", k)
		}
		n := binary.LittleEndian.Uint64(d.buf[d.off:])
		d.off += 8
		return Value{kind: k, num: n}, nil
	case KindString, KindBytes:
		what := "string length"
		if k == KindBytes {
			what = "bytes length"
		}
		n, err := d.count(what, 1)
		if err != nil {
			return Value{}, err
		}
		p := d.buf[d.off : d.off+n : d.off+n]
		d.off += n
		if k == KindString {
			return String(unsafe.String(unsafe.SliceData(p), n)), nil
		}
		return Bytes(p), nil
	case KindList:
		if depth >= maxListDepth {
			return Value{}, d.fail("lists nested deeper than %d", maxListDepth)
		}
		n, err := d.count("list length", 1)
		if err != nil {
			return Value{}, err
		}
		l := make([]Value, n)
		for i := range l {
			if l[i], err = d.value(depth + 1); err != nil {
				return Value{}, fmt.Errorf("list item %d: %w", i, err)
			}
		}
		return List(l), nil
	case KindFloat32s:
		n, err := d.u32("float32 count")
		if err != nil {
			return Value{}, err
		}
		for d.off%4 != 0 {
			if d.off >= len(d.buf) {
				return Value{}, d.fail("truncated float32 padding")
			}
			d.off++
		}
		if uint64(n)*4 > uint64(len(d.buf)-d.off) {
			return Value{}, d.fail("float32 count %d exceeds the %d bytes left", n, len(d.buf)-d.off)
		}
		raw := d.buf[d.off : d.off+int(n)*4]
		d.off += int(n) * 4
		if n == 0 {
			return Float32s(nil), nil
		}
		if littleEndianHost && uintptr(unsafe.Pointer(unsafe.SliceData(raw)))%4 == 0 {
			return Float32s(unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(raw))), n)), nil
		}
		f := make([]float32, n)
		if littleEndianHost {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), len(raw)), raw)
		} else {
			for i := range f {
				f[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[i*4:]))
			}
		}
		return Float32s(f), nil
	}
	return Value{}, d.fail("unknown value kind %d", uint8(k))
}
