package rows

import (
	"encoding/binary"
	"unsafe"
)

// maxSpare bounds Decoder.Spare so that a decoder never allocates more than a small multiple of
// its input (CODEC.md).
const maxSpare = 8

// Decoder decodes batches into storage it reuses between calls: the batch, its row slice, its
// fields and its name table. A function guest decodes one batch per call; reusing the storage
// makes a batch of ordinary rows decode without allocating. The zero Decoder is ready to use.
type Decoder struct {
	// Spare is how many fields each decoded row has room for beyond its own (capacity past its
	// length, at most 8), so that a caller appending a field or two to a row does not reallocate.
	// The spare room belongs to that row alone.
	Spare int

	batch  Batch
	names  []string
	fields []Field
	used   int // fields (with spare room) the last batch took
}

// DecodeShared decodes one batch like the package-level DecodeShared (the same checks and errors;
// strings, bytes and float32 arrays alias data) into the decoder's storage: the batch and its rows
// are valid until the next call on d, which overwrites them.
func (d *Decoder) DecodeShared(data []byte) (*Batch, error) {
	if !littleEndianHost {
		ref := decoder{buf: data}
		return ref.batch()
	}
	if b, ok := d.decode(data); ok {
		return b, nil
	}
	// The reference decoder names the error. It is at most as strict as decode, so it fails too;
	// should it not, its batch is as good as any (it only lacks the spare room).
	ref := decoder{buf: data}
	return ref.batch()
}

// decode is DecodeShared without error messages: it reports false for malformed data. In Go
// Wasm guests every jump goes through a dispatch loop and a call costs dozens of instructions:
// a field is read with single loads behind one length check, the common kinds inline, without a
// call and with as few branches as the checks allow. Loads are little-endian (decode runs only
// on little-endian hosts) and may be unaligned.
func (d *Decoder) decode(data []byte) (*Batch, bool) {
	n := len(data)
	if n < headerSize || string(data[:4]) != Magic || binary.LittleEndian.Uint16(data[4:]) != CodecVersion {
		return nil, false
	}
	nrows := int(binary.LittleEndian.Uint32(data[8:]))
	nnames := int(binary.LittleEndian.Uint32(data[12:]))
	off := headerSize
	if uint64(nrows)*4 > uint64(n-off) || uint64(nnames)*4 > uint64(n-off) {
		return nil, false
	}
	if cap(d.names) < nnames {
		d.names = make([]string, 0, nnames)
	}
	names := d.names[:0]
	for range nnames {
		if n-off < 4 {
			return nil, false
		}
		l := int(binary.LittleEndian.Uint32(data[off:]))
		off += 4
		if l > n-off || l > maxNameLength {
			return nil, false
		}
		names = append(names, unsafe.String(unsafe.SliceData(data[off:]), l))
		off += l
	}
	d.names = names
	spare := min(max(d.Spare, 0), maxSpare)
	if cap(d.batch.Rows) < nrows {
		d.batch.Rows = make([]Row, nrows)
	}
	rs := d.batch.Rows[:nrows]
	d.batch.Rows = rs
	if cap(d.fields) < d.used {
		d.fields = make([]Field, 0, d.used)
	}
	fields := d.fields[:0]
	used := 0
	for i := range rs {
		if n-off < 4 {
			return nil, false
		}
		nf := int(binary.LittleEndian.Uint32(data[off:]))
		off += 4
		if uint64(nf)*5 > uint64(n-off) {
			return nil, false
		}
		need := nf + spare
		if cap(fields)-len(fields) < need {
			// A new block for this row and, guessing rows alike, the rest of the batch, bounded
			// by what the remaining bytes could hold. Rows already decoded keep the old one.
			guess := need * (nrows - i)
			if maxf := (n-off)/5 + spare*(nrows-i); guess > maxf {
				guess = maxf
			}
			fields = make([]Field, 0, max(guess, need))
			if cap(fields) > cap(d.fields) {
				d.fields = fields
			}
		}
		start := len(fields)
		fields = fields[:start+need]
		row := fields[start : start+nf : start+need]
		used += need
		if off = decodeFields(data, off, names, row); off < 0 {
			return nil, false
		}
		setRow(&rs[i], row)
	}
	if off != n {
		return nil, false
	}
	d.used = used
	return &d.batch, true
}

// decodeFields decodes the fields of one row, starting at data[off:], into row and returns the
// offset after them, or -1 for malformed data. It is a function of its own so that its loop has
// few live values: Go's Wasm code keeps 16 in locals and spills the others to memory.
func decodeFields(data []byte, off int, names []string, row []Field) int {
	n := len(data)
	base := unsafe.Pointer(unsafe.SliceData(data))
	for j := range row {
		if n-off < 13 {
			// Near the end: less than a field with an 8-byte payload could take.
			var ok bool
			if row[j], off, ok = fieldAt(data, off, names); !ok {
				return -1
			}
			continue
		}
		p := unsafe.Add(base, off)
		idx := *(*uint32)(p)
		k := *(*Kind)(unsafe.Add(p, 4))
		if uint64(idx) >= uint64(len(names)) {
			return -1
		}
		f := &row[j]
		f.setName(names[idx])
		switch kindClass[k] {
		case classFixed:
			num := *(*uint64)(unsafe.Add(p, 5))
			if k <= KindBool {
				if k == KindNull {
					num = 0
				} else if num &= 0xff; num > 1 {
					return -1
				}
			}
			f.Value.kind, f.Value.num = k, num
			f.Value.setPtr(nil)
			off += 5 + int(fixedLen[k])
		case classString:
			l := int(*(*uint32)(unsafe.Add(p, 5)))
			off += 9
			if l > n-off {
				return -1
			}
			ptr := unsafe.Add(base, off)
			if l == 0 {
				ptr = base // never past the end of data
			}
			f.Value.kind, f.Value.num = k, uint64(l)
			f.Value.setPtr(ptr)
			off += l
		default:
			ref := decoder{buf: data, off: off + 4}
			v, err := ref.value(0)
			if err != nil {
				return -1
			}
			f.Value = v
			off = ref.off
		}
	}
	return off
}

// fieldAt decodes the field at data[off:] (name index, value) and returns it with the offset
// after it; false for malformed data.
func fieldAt(data []byte, off int, names []string) (Field, int, bool) {
	if len(data)-off < 4 {
		return Field{}, off, false
	}
	idx := binary.LittleEndian.Uint32(data[off:])
	if uint64(idx) >= uint64(len(names)) {
		return Field{}, off, false
	}
	ref := decoder{buf: data, off: off + 4}
	v, err := ref.value(0)
	if err != nil {
		return Field{}, off, false
	}
	return Field{Name: names[idx], Value: v}, ref.off, true
}

// The storage a Decoder reuses mostly receives the pointers it already holds: the same input
// buffer, names and strings at the same offsets as in the last batch. The setters below store a
// pointer only when it changes, so that the common case pays no write barrier: in Wasm every
// pointer store tests the barrier flag and jumps through the dispatch loop when it is off.

// setName sets f.Name to s.
func (f *Field) setName(s string) {
	if unsafe.StringData(f.Name) != unsafe.StringData(s) {
		f.Name = s
		return
	}
	(*stringHeader)(unsafe.Pointer(&f.Name)).len = len(s)
}

// setPtr sets v.ptr to p.
func (v *Value) setPtr(p unsafe.Pointer) {
	if v.ptr != p {
		v.ptr = p
	}
}

// setRow sets *dst to r.
func setRow(dst *Row, r Row) {
	h := (*sliceHeader)(unsafe.Pointer(dst))
	if h.data != unsafe.Pointer(unsafe.SliceData(r)) {
		*dst = r
		return
	}
	h.len, h.cap = len(r), cap(r)
}

type stringHeader struct {
	data unsafe.Pointer
	len  int
}

type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}
