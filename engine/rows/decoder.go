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
	if b, ok := d.decode(data); ok {
		return b, nil
	}
	// The reference decoder names the error. It is at most as strict as decode, so it fails too;
	// should it not, its batch is as good as any (it only lacks the spare room).
	ref := decoder{buf: data}
	return ref.batch()
}

// decode is DecodeShared without error messages: it reports false for malformed data. Reads are
// single loads behind one explicit length check each, which the Go wasm backend turns into few
// instructions; the common value kinds are decoded inline, without a call per field.
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
		for j := range row {
			if n-off < 5 {
				return nil, false
			}
			idx := binary.LittleEndian.Uint32(data[off:])
			k := Kind(data[off+4])
			off += 5
			if uint64(idx) >= uint64(len(names)) {
				return nil, false
			}
			f := &row[j]
			f.Name = names[idx]
			switch k {
			case KindInt, KindFloat, KindTimestamp:
				if n-off < 8 {
					return nil, false
				}
				f.Value = Value{kind: k, num: binary.LittleEndian.Uint64(data[off:])}
				off += 8
			case KindString, KindBytes:
				if n-off < 4 {
					return nil, false
				}
				l := int(binary.LittleEndian.Uint32(data[off:]))
				off += 4
				if l > n-off {
					return nil, false
				}
				f.Value = Value{kind: k, num: uint64(l), ptr: unsafe.Pointer(unsafe.SliceData(data[off:]))}
				off += l
			case KindNull:
				f.Value = Value{}
			case KindBool:
				if n-off < 1 || data[off] > 1 {
					return nil, false
				}
				f.Value = Value{kind: KindBool, num: uint64(data[off])}
				off++
			default:
				ref := decoder{buf: data, off: off - 1}
				v, err := ref.value(0)
				if err != nil {
					return nil, false
				}
				f.Value = v
				off = ref.off
			}
		}
		rs[i] = row
	}
	if off != n {
		return nil, false
	}
	d.used = used
	return &d.batch, true
}
