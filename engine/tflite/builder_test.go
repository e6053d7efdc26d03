package tflite

import (
	"encoding/binary"
	"math"
	"sort"
)

// A minimal flatbuffer writer for tests: tables are maps from slot to value, written front to
// back (parents before children, so every uoffset points forward as the format requires).
//
// Values: uint8, int8, bool, int32, uint32, float32, int64, uint64 (inline scalars); string;
// []byte, []int32, []int64, []float32 (vectors); tbl (sub-table); []tbl (vector of tables).
type tbl map[int]any

type fbWriter struct{ buf []byte }

func (w *fbWriter) pad(align int) {
	for len(w.buf)%align != 0 {
		w.buf = append(w.buf, 0)
	}
}

func (w *fbWriter) u32at(p int, v uint32) { binary.LittleEndian.PutUint32(w.buf[p:], v) }

// object writes v and returns its position.
func (w *fbWriter) object(v any) int {
	switch x := v.(type) {
	case tbl:
		return w.table(x)
	case string:
		w.pad(4)
		p := len(w.buf)
		w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(x)))
		w.buf = append(w.buf, x...)
		w.buf = append(w.buf, 0)
		return p
	case []byte:
		for (len(w.buf)+4)%16 != 0 { // data 16-aligned, as real writers do
			w.buf = append(w.buf, 0)
		}
		p := len(w.buf)
		w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(x)))
		w.buf = append(w.buf, x...)
		return p
	case []int32:
		w.pad(4)
		p := len(w.buf)
		w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(x)))
		for _, e := range x {
			w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(e))
		}
		return p
	case []float32:
		w.pad(4)
		p := len(w.buf)
		w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(x)))
		for _, e := range x {
			w.buf = binary.LittleEndian.AppendUint32(w.buf, math.Float32bits(e))
		}
		return p
	case []int64:
		for (len(w.buf)+4)%8 != 0 {
			w.buf = append(w.buf, 0)
		}
		p := len(w.buf)
		w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(x)))
		for _, e := range x {
			w.buf = binary.LittleEndian.AppendUint64(w.buf, uint64(e))
		}
		return p
	case []tbl:
		w.pad(4)
		p := len(w.buf)
		w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(x)))
		slots := len(w.buf)
		w.buf = append(w.buf, make([]byte, 4*len(x))...)
		for i, t := range x {
			c := w.table(t)
			w.u32at(slots+4*i, uint32(c-(slots+4*i)))
		}
		return p
	}
	panic("builder: unsupported value")
}

func scalarBytes(v any) ([]byte, bool) {
	switch x := v.(type) {
	case uint8:
		return []byte{x}, true
	case int8:
		return []byte{byte(x)}, true
	case bool:
		if x {
			return []byte{1}, true
		}
		return []byte{0}, true
	case int32:
		return binary.LittleEndian.AppendUint32(nil, uint32(x)), true
	case uint32:
		return binary.LittleEndian.AppendUint32(nil, x), true
	case float32:
		return binary.LittleEndian.AppendUint32(nil, math.Float32bits(x)), true
	case int64:
		return binary.LittleEndian.AppendUint64(nil, uint64(x)), true
	case uint64:
		return binary.LittleEndian.AppendUint64(nil, x), true
	}
	return nil, false
}

func (w *fbWriter) table(t tbl) int {
	slots := make([]int, 0, len(t))
	nslots := 0
	for s := range t {
		slots = append(slots, s)
		nslots = max(nslots, s+1)
	}
	sort.Ints(slots)
	// Inline layout: soffset, then each field 8-aligned for simplicity.
	offs := make(map[int]int)
	size := 4
	for _, s := range slots {
		if b, ok := scalarBytes(t[s]); ok {
			for size%len(b) != 0 {
				size++
			}
			offs[s] = size
			size += len(b)
		} else {
			offs[s] = size
			size += 4
		}
	}
	w.pad(2)
	vt := len(w.buf)
	vsize := 4 + 2*nslots
	w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(vsize))
	w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(size))
	for s := 0; s < nslots; s++ {
		w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(offs[s]))
	}
	w.pad(8)
	tp := len(w.buf)
	w.buf = append(w.buf, make([]byte, size)...)
	binary.LittleEndian.PutUint32(w.buf[tp:], uint32(int32(tp-vt)))
	for _, s := range slots {
		if b, ok := scalarBytes(t[s]); ok {
			copy(w.buf[tp+offs[s]:], b)
		}
	}
	for _, s := range slots {
		if _, ok := scalarBytes(t[s]); ok {
			continue
		}
		c := w.object(t[s])
		p := tp + offs[s]
		w.u32at(p, uint32(c-p))
	}
	return tp
}

// finish writes the root table with the TFL3 identifier.
func buildFlatbuffer(root tbl) []byte {
	w := &fbWriter{buf: make([]byte, 8)}
	copy(w.buf[4:], "TFL3")
	p := w.table(root)
	w.u32at(0, uint32(p))
	return w.buf
}

type testTensor struct {
	shape []int32
	typ   DType
	data  []byte // constant data, nil for activations
	scale []float32
	zp    []int64
	axis  int32
}

type testOp struct {
	code     BuiltinOp
	custom   string
	in, out  []int32
	optsType uint8
	opts     tbl
}

// buildModel assembles a one-subgraph model.
func buildModel(tensors []testTensor, ops []testOp, inputs, outputs []int32) []byte {
	buffers := []tbl{{}}
	var ts []tbl
	for i, t := range tensors {
		tt := tbl{tensorShape: t.shape, tensorType: uint8(t.typ), tensorName: "t" + string(rune('a'+i%26))}
		if t.data != nil {
			tt[tensorBuffer] = uint32(len(buffers))
			buffers = append(buffers, tbl{bufferData: t.data})
		}
		if t.scale != nil {
			q := tbl{quantScale: t.scale, quantDimension: t.axis}
			if t.zp != nil {
				q[quantZeroPoint] = t.zp
			}
			tt[tensorQuantization] = q
		}
		ts = append(ts, tt)
	}
	var codes, operators []tbl
	for _, op := range ops {
		oc := tbl{opcodeBuiltin: int32(op.code), opcodeVersion: int32(1)}
		if op.code < 127 {
			oc[opcodeDeprecatedBuiltin] = int8(op.code)
		} else {
			oc[opcodeDeprecatedBuiltin] = int8(127)
		}
		if op.custom != "" {
			oc[opcodeCustomCode] = op.custom
		}
		o := tbl{operatorOpcodeIndex: uint32(len(codes)), operatorInputs: op.in, operatorOutputs: op.out}
		if op.opts != nil {
			o[operatorBuiltinOptionsType] = op.optsType
			o[operatorBuiltinOptions] = op.opts
		}
		codes = append(codes, oc)
		operators = append(operators, o)
	}
	sg := tbl{subgraphTensors: ts, subgraphInputs: inputs, subgraphOutputs: outputs, subgraphOperators: operators}
	return buildFlatbuffer(tbl{0: uint32(3), modelOperatorCodes: codes, modelSubgraphs: []tbl{sg}, modelBuffers: buffers})
}
