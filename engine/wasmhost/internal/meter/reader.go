package meter

import (
	"errors"
	"fmt"
)

var errShort = errors.New("unexpected end of input")

// reader walks a byte slice of the binary format.
type reader struct {
	b []byte
	p int
}

func (r *reader) byte() (byte, error) {
	if r.p >= len(r.b) {
		return 0, errShort
	}
	c := r.b[r.p]
	r.p++
	return c, nil
}

func (r *reader) skip(n int) error {
	if n < 0 || n > len(r.b)-r.p {
		return errShort
	}
	r.p += n
	return nil
}

// u64 reads an unsigned LEB128 of at most 64 bits.
// count reads a vector length whose items take at least one byte each, so that a corrupt count
// cannot make the caller allocate more than the input could hold.
func (r *reader) count() (uint32, error) {
	n, err := r.u32()
	if err == nil && int64(n) > int64(len(r.b)-r.p) {
		err = fmt.Errorf("byte %d: count %d exceeds the %d bytes left", r.p, n, len(r.b)-r.p)
	}
	return n, err
}

func (r *reader) u64() (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 70; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7F) << shift
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, errors.New("LEB128 too long")
}

// u32 reads an unsigned LEB128 that must fit 32 bits.
func (r *reader) u32() (uint32, error) {
	v, err := r.u64()
	if err != nil {
		return 0, err
	}
	if v > 0xFFFFFFFF {
		return 0, fmt.Errorf("u32 %d out of range", v)
	}
	return uint32(v), nil
}

// s64 reads a signed LEB128 (up to 10 bytes; covers s32, s33 and s64).
func (r *reader) s64() (int64, error) {
	var v int64
	var shift uint
	for i := 0; i < 10; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= int64(c&0x7F) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, nil
		}
	}
	return 0, errors.New("LEB128 too long")
}

func (r *reader) memarg() error {
	align, err := r.u32()
	if err != nil {
		return err
	}
	if align&0x40 != 0 { // multi-memory: explicit memory index
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	_, err = r.u64()
	return err
}

// instr decodes one instruction and returns its opcode (the prefix byte for 0xFC/0xFD/0xFE).
// It knows the immediates of the MVP and of the extensions wazero runs: sign extension,
// saturating truncation, bulk memory, reference types, SIMD, threads, tail calls, exceptions.
func (r *reader) instr() (byte, error) {
	op, err := r.byte()
	if err != nil {
		return 0, err
	}
	switch {
	case op == 0x02 || op == 0x03 || op == 0x04 || op == 0x06: // block types
		_, err = r.s64()
	case op == 0x07 || op == 0x08 || op == 0x09 || op == 0x0C || op == 0x0D || op == 0x10 ||
		op == 0x12 || op == 0x14 || op == 0x15 || op == 0x18 || op == 0xD2 || op == 0xD5 || op == 0xD6:
		_, err = r.u32()
	case op == 0x0E: // br_table
		var n uint32
		if n, err = r.u32(); err == nil {
			for i := uint32(0); i <= n && err == nil; i++ {
				_, err = r.u32()
			}
		}
	case op == 0x11 || op == 0x13: // call_indirect: type, table
		if _, err = r.u32(); err == nil {
			_, err = r.u32()
		}
	case op == 0x1C: // select t*
		var n uint32
		if n, err = r.u32(); err == nil {
			err = r.skipValTypes(n)
		}
	case op == 0x1F: // try_table bt vec(catch)
		if _, err = r.s64(); err != nil {
			break
		}
		var n uint32
		if n, err = r.u32(); err != nil {
			break
		}
		for i := uint32(0); i < n && err == nil; i++ {
			var k byte
			if k, err = r.byte(); err != nil {
				break
			}
			if k == 0 || k == 1 {
				_, err = r.u32()
			}
			if err == nil {
				_, err = r.u32()
			}
		}
	case op >= 0x20 && op <= 0x26: // locals, globals, table.get/set
		_, err = r.u32()
	case op >= 0x28 && op <= 0x3E:
		err = r.memarg()
	case op == 0x3F || op == 0x40: // memory.size/grow memidx
		_, err = r.u32()
	case op == 0x41:
		_, err = r.s64()
	case op == 0x42:
		_, err = r.s64()
	case op == 0x43:
		err = r.skip(4)
	case op == 0x44:
		err = r.skip(8)
	case op == 0xD0: // ref.null heaptype
		_, err = r.s64()
	case op == 0xFC:
		err = r.prefixFC()
	case op == 0xFD:
		err = r.prefixFD()
	case op == 0xFE:
		var sub uint32
		if sub, err = r.u32(); err != nil {
			break
		}
		if sub == 0x03 { // atomic.fence
			err = r.skip(1)
		} else {
			err = r.memarg()
		}
	case op <= 0x01 || op == 0x05 || op == 0x0A || op == 0x0B || op == 0x0F || op == 0x19 ||
		op == 0x1A || op == 0x1B || (op >= 0x45 && op <= 0xC4) || op == 0xD1 || op == 0xD3 || op == 0xD4:
		// no immediates
	default:
		return op, fmt.Errorf("unknown opcode 0x%02x", op)
	}
	return op, err
}

func (r *reader) prefixFC() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 7: // trunc_sat
		return nil
	case sub == 8 || sub == 10 || sub == 12 || sub == 14: // two indices
		if _, err := r.u32(); err != nil {
			return err
		}
		_, err = r.u32()
		return err
	case sub == 9 || sub == 11 || sub == 13 || (sub >= 15 && sub <= 17):
		_, err = r.u32()
		return err
	}
	return fmt.Errorf("unknown opcode 0xfc %d", sub)
}

func (r *reader) prefixFD() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 11 || sub == 92 || sub == 93: // loads and stores
		return r.memarg()
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		return r.skip(16)
	case sub >= 21 && sub <= 34: // extract/replace lane
		return r.skip(1)
	case sub >= 84 && sub <= 91: // load/store lane
		if err := r.memarg(); err != nil {
			return err
		}
		return r.skip(1)
	}
	return nil // every other SIMD (and relaxed SIMD) opcode has no immediates
}

func appendU32(dst []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v != 0 {
			dst = append(dst, c|0x80)
			continue
		}
		return append(dst, c)
	}
}

func appendS64(dst []byte, v int64) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(dst, c)
		}
		dst = append(dst, c|0x80)
	}
}
