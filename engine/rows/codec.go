package rows

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
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
	buf     []byte
	names   []string
	index   map[string]uint32 // name -> index, once names outgrow a linear scan
	slots   []nameSlot        // per field position, the last name seen there
	scratch []byte            // rows, before the header and names go in front
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

// smallNames is the name-table size up to which the encoder finds names by a linear scan (most
// batches have a handful of names); past it, by a map.
const smallNames = 16

// nameIndex returns the index of name in the table, adding it when absent.
func (e *Encoder) nameIndex(name string) uint32 {
	if len(e.names) <= smallNames {
		for i, n := range e.names {
			if equalName(n, name) {
				return uint32(i)
			}
		}
		e.names = append(e.names, name)
		if len(e.names) > smallNames {
			if e.index == nil {
				e.index = make(map[string]uint32)
			}
			for i, n := range e.names {
				e.index[n] = uint32(i)
			}
		}
		return uint32(len(e.names) - 1)
	}
	if i, ok := e.index[name]; ok {
		return i
	}
	e.index[name] = uint32(len(e.names))
	e.names = append(e.names, name)
	return uint32(len(e.names) - 1)
}

// kindClass sorts value kinds for the encoder and decoder: fixed-size payloads, string-like
// payloads (u32 length, bytes) and the rest (lists, float32 arrays, unknown kinds).
var kindClass = [256]uint8{KindNull: classFixed, KindBool: classFixed, KindInt: classFixed,
	KindFloat: classFixed, KindTimestamp: classFixed, KindString: classString, KindBytes: classString,
	KindList: classOther, KindFloat32s: classOther}

const (
	classOther  = 0
	classFixed  = 1
	classString = 2
)

// fixedLen is the payload size of the fixed-size kinds.
var fixedLen = [256]uint8{KindNull: 0, KindBool: 1, KindInt: 8, KindFloat: 8, KindTimestamp: 8}

// nameSlot remembers, for one field position, the last name seen there and its index.
type nameSlot struct {
	name string
	idx  uint32
}

// slotIndex returns the index of name, seen at field position j, and remembers it there; it is
// the slow path of encodeRows, which found another name in slot j (or none).
func (e *Encoder) slotIndex(j int, name string) uint32 {
	idx := e.nameIndex(name)
	if j < len(e.slots) {
		e.slots[j] = nameSlot{name, idx}
	} else {
		e.slots = append(e.slots, nameSlot{name, idx})
	}
	return idx
}

func (e *Encoder) encode(b *Batch) []byte {
	if littleEndianHost {
		e.resetNames()
		if rs, ok := e.encodeRows(b); ok {
			size := headerSize + len(rs)
			for _, n := range e.names {
				size += 4 + len(n)
			}
			buf := e.appendHeader(slices.Grow(e.buf, size), len(b.Rows))
			buf = append(buf, rs...)
			e.buf = buf
			return buf
		}
	}
	return e.encodeAppend(b)
}

func (e *Encoder) resetNames() {
	if e.index != nil {
		clear(e.index)
	}
	e.names = e.names[:0]
	e.slots = e.slots[:0]
}

// encodeRows encodes the rows of b into a scratch buffer in one pass, building the name table
// as it goes; the caller puts the header and the names in front. Numbers are written with one
// store each, fixed-size values without a branch on their kind, and a field whose name is the
// one last seen at its position (the same string: names decoded from one batch and string
// constants share their bytes) costs no lookup. All of this matters most in Wasm guests, where
// every jump of Go code goes through a dispatch loop. It reports false for a batch with lists
// or float32 arrays, whose alignment depends on where the rows start (see encodeAppend).
func (e *Encoder) encodeRows(b *Batch) ([]byte, bool) {
	w := e.scratch[:0]
	o := 0
	for _, r := range b.Rows {
		if cap(w)-o < 4 {
			w = slices.Grow(w[:o], 4+13*len(r))
		}
		*(*uint32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(w)), o)) = uint32(len(r))
		o += 4
		for j := range r {
			f := &r[j]
			var idx uint32
			if j < len(e.slots) && len(e.slots[j].name) == len(f.Name) &&
				unsafe.StringData(e.slots[j].name) == unsafe.StringData(f.Name) {
				idx = e.slots[j].idx
			} else {
				idx = e.slotIndex(j, f.Name)
			}
			if cap(w)-o < 13 { // index, tag and up to 8 bytes of payload
				w = slices.Grow(w[:o], 13)
			}
			p := unsafe.Add(unsafe.Pointer(unsafe.SliceData(w)), o)
			v := f.Value
			*(*uint32)(p) = idx
			*(*Kind)(unsafe.Add(p, 4)) = v.kind
			switch kindClass[v.kind] {
			case classFixed:
				// All 8 bytes of num: for a bool the first is the value and the rest is
				// overwritten or past the end.
				*(*uint64)(unsafe.Add(p, 5)) = v.num
				o += 5 + int(fixedLen[v.kind])
			case classString:
				n := int(v.num)
				if cap(w)-o < 9+n {
					w = slices.Grow(w[:o], 9+n)
					p = unsafe.Add(unsafe.Pointer(unsafe.SliceData(w)), o)
				}
				*(*uint32)(unsafe.Add(p, 5)) = uint32(n)
				o += 9
				if n > 0 {
					o += copy(w[o:cap(w)], unsafe.String((*byte)(v.ptr), n))
				}
			default:
				e.scratch = w
				return nil, false
			}
		}
	}
	e.scratch = w
	return w[:o], true
}

// encodeAppend encodes b in two passes, names then rows, appending byte by byte: for batches
// with lists or float32 arrays, and on big-endian hosts.
func (e *Encoder) encodeAppend(b *Batch) []byte {
	e.resetNames()
	var prev Row
	for _, r := range b.Rows {
		for j := range r {
			if j < len(prev) && prev[j].Name == r[j].Name {
				continue
			}
			e.nameIndex(r[j].Name)
		}
		prev = r
	}
	start := len(e.buf)
	buf := e.appendHeader(e.buf, len(b.Rows))
	prev = nil
	var prevIdx []uint32
	for _, r := range b.Rows {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(r)))
		for j := range r {
			var idx uint32
			if j < len(prev) && j < len(prevIdx) && prev[j].Name == r[j].Name {
				idx = prevIdx[j]
			} else {
				idx = e.nameIndex(r[j].Name)
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

// appendHeader appends the header and the name table.
func (e *Encoder) appendHeader(buf []byte, nrows int) []byte {
	buf = append(buf, Magic...)
	buf = binary.LittleEndian.AppendUint16(buf, CodecVersion)
	buf = binary.LittleEndian.AppendUint16(buf, 0)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(nrows))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(e.names)))
	for _, n := range e.names {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(n)))
		buf = append(buf, n...)
	}
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
	var d Decoder // fresh storage, no spare room: the batch is the caller's
	return d.DecodeShared(data)
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
