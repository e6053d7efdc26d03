package tflite

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// Options configures a loaded model.
type Options struct {
	// Threads is the number of goroutines a kernel may use per Invoke; 0 means GOMAXPROCS,
	// 1 runs everything on the calling goroutine.
	Threads int
}

// Model is a loaded, prepared TFLite model (subgraph 0). It is immutable after Load and may be
// shared; each concurrent execution context needs its own Interpreter.
type Model struct {
	tensors  []*Tensor // templates: shapes, types, constant data
	ops      []*opNode
	inputs   []int
	outputs  []int
	threads  int
	offsets  []int // arena offset per tensor, -1 for constants
	arenaLen int
	stateLen int // bytes of persistent state per interpreter, placed after the arena
	macs     int64
}

type opNode struct {
	kernel  Kernel
	ctx     OpContext // used for Prepare; interpreters copy it
	in, out []int
	scratch []int // arena offsets of scratch buffers
	persist []int // offsets of persistent buffers in the state block
}

// macCounter is implemented by kernels that know their multiply-accumulate count.
type macCounter interface {
	MACs(c *OpContext) int64
}

// Operator table slots (schema).
const (
	modelOperatorCodes = 1
	modelSubgraphs     = 2
	modelBuffers       = 4

	opcodeDeprecatedBuiltin = 0
	opcodeCustomCode        = 1
	opcodeVersion           = 2
	opcodeBuiltin           = 3

	subgraphTensors   = 0
	subgraphInputs    = 1
	subgraphOutputs   = 2
	subgraphOperators = 3

	tensorShape        = 0
	tensorType         = 1
	tensorBuffer       = 2
	tensorName         = 3
	tensorQuantization = 4
	tensorIsVariable   = 5

	quantScale     = 2
	quantZeroPoint = 3
	quantDetails   = 4
	quantDimension = 6

	bufferData   = 0
	bufferOffset = 1
	bufferSize   = 2

	operatorOpcodeIndex        = 0
	operatorInputs             = 1
	operatorOutputs            = 2
	operatorBuiltinOptionsType = 3
	operatorBuiltinOptions     = 4
	operatorCustomOptions      = 5
)

// maxTensorBytes bounds one tensor's size so that corrupt shapes fail cleanly.
const maxTensorBytes = 1<<31 - 1

// Load parses a .tflite flatbuffer, resolves every operator's kernel, infers shapes and plans
// the tensor memory. model must stay unmodified while the Model is in use: constant tensors
// point into it.
func Load(model []byte, opts Options) (m *Model, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("tflite: load: internal error: %v", r)
		}
	}()
	m, err = load(model, opts)
	if err != nil {
		return nil, fmt.Errorf("tflite: load: %w", err)
	}
	return m, nil
}

func load(b []byte, opts Options) (*Model, error) {
	if len(b) < 8 || string(b[4:8]) != "TFL3" {
		return nil, fmt.Errorf("not a tflite model: %d bytes without the TFL3 identifier at bytes 4-7", len(b))
	}
	root, err := rootTable(b)
	if err != nil {
		return nil, err
	}
	if root.Len(modelSubgraphs) < 1 {
		return nil, errors.New("the model has no subgraph")
	}
	sg := root.TableAt(modelSubgraphs, 0)
	if !sg.Valid() {
		return nil, fmt.Errorf("subgraph 0 is not a valid table: %w", errMalformed)
	}
	m := &Model{threads: opts.Threads}
	if m.threads <= 0 {
		m.threads = runtime.GOMAXPROCS(0)
	}

	nt := sg.Len(subgraphTensors)
	m.tensors = make([]*Tensor, nt)
	for i := range nt {
		t, err := readTensor(b, root, sg.TableAt(subgraphTensors, i), i)
		if err != nil {
			return nil, err
		}
		m.tensors[i] = t
	}
	idx := func(list []int32, what string) ([]int, error) {
		out := make([]int, len(list))
		for i, v := range list {
			if v < -1 || int(v) >= nt {
				return nil, fmt.Errorf("%s: tensor index %d out of range (the subgraph has %d tensors)", what, v, nt)
			}
			out[i] = int(v)
		}
		return out, nil
	}
	if m.inputs, err = idx(sg.Int32s(subgraphInputs), "subgraph inputs"); err != nil {
		return nil, err
	}
	if m.outputs, err = idx(sg.Int32s(subgraphOutputs), "subgraph outputs"); err != nil {
		return nil, err
	}
	for _, l := range [][]int{m.inputs, m.outputs} {
		for _, i := range l {
			if i < 0 {
				return nil, errors.New("a subgraph input or output is tensor -1")
			}
		}
	}

	nops := sg.Len(subgraphOperators)
	ncodes := root.Len(modelOperatorCodes)
	producer, err := producers(sg, nops, nt, m.inputs)
	if err != nil {
		return nil, err
	}
	for oi := range nops {
		ot := sg.TableAt(subgraphOperators, oi)
		if !ot.Valid() {
			return nil, fmt.Errorf("operator %d is not a valid table: %w", oi, errMalformed)
		}
		ci := int(ot.Uint32(operatorOpcodeIndex, 0))
		if ci >= ncodes {
			return nil, fmt.Errorf("operator %d: opcode index %d out of range (the model has %d operator codes)", oi, ci, ncodes)
		}
		oc := root.TableAt(modelOperatorCodes, ci)
		code := max(BuiltinOp(oc.Int8(opcodeDeprecatedBuiltin, 0)), BuiltinOp(oc.Int32(opcodeBuiltin, 0)))
		n := &opNode{}
		if n.in, err = idx(ot.Int32s(operatorInputs), fmt.Sprintf("operator %d inputs", oi)); err != nil {
			return nil, err
		}
		if n.out, err = idx(ot.Int32s(operatorOutputs), fmt.Sprintf("operator %d outputs", oi)); err != nil {
			return nil, err
		}
		c := &n.ctx
		c.Index, c.Op, c.Threads = oi, code, m.threads
		c.Version = int(oc.Int32(opcodeVersion, 1))
		c.BuiltinType = ot.Uint8(operatorBuiltinOptionsType, 0)
		c.Builtin = ot.Table(operatorBuiltinOptions)
		c.Custom = ot.Bytes(operatorCustomOptions)
		c.Inputs = make([]*Tensor, len(n.in))
		for i, ti := range n.in {
			if ti >= 0 {
				if p := producer[ti]; p >= oi {
					return nil, fmt.Errorf("operator %d: input %d reads tensor %d before operator %d writes it", oi, i, ti, p)
				}
				c.Inputs[i] = m.tensors[ti]
			}
		}
		c.Outputs = make([]*Tensor, len(n.out))
		for i, ti := range n.out {
			if ti < 0 {
				return nil, fmt.Errorf("operator %d: output %d is tensor -1", oi, i)
			}
			if m.tensors[ti].Const {
				return nil, fmt.Errorf("operator %d: output %d writes constant tensor %d", oi, i, ti)
			}
			c.Outputs[i] = m.tensors[ti]
		}
		var newKernel func() Kernel
		if code == OpCustom {
			c.OpName = oc.String(opcodeCustomCode)
			newKernel = lookupCustom(c.OpName)
			if newKernel == nil {
				return nil, fmt.Errorf("operator %d (custom %q): unsupported", oi, c.OpName)
			}
		} else {
			c.OpName = code.String()
			dt, ok := dispatchType(code, c.Inputs, c.Outputs)
			if newKernel = lookupBuiltin(code, dt); newKernel == nil {
				if !ok || !registeredAnyType(code) {
					return nil, fmt.Errorf("operator %d (%s): unsupported", oi, c.OpName)
				}
				return nil, fmt.Errorf("operator %d (%s): unsupported input type %s", oi, c.OpName, dt)
			}
		}
		n.kernel = newKernel()
		if err := n.kernel.Prepare(c); err != nil {
			return nil, fmt.Errorf("operator %d (%s): prepare: %w", oi, c.OpName, err)
		}
		for i, t := range c.Outputs {
			if err := checkSize(t); err != nil {
				return nil, fmt.Errorf("operator %d (%s): output %d: %w", oi, c.OpName, i, err)
			}
		}
		if mc, ok := n.kernel.(macCounter); ok {
			m.macs += mc.MACs(c)
		}
		m.ops = append(m.ops, n)
	}
	if err := m.plan(); err != nil {
		return nil, err
	}
	return m, nil
}

// producers maps each tensor to the operator that writes it (-1: none). Operators run in file
// order and kernels size their outputs while loading, so a tensor written by two operators, a
// subgraph input that an operator overwrites, or an operator reading what it or a later one
// writes would change a shape after its readers were prepared: all are malformed.
func producers(sg Table, nops, nt int, inputs []int) ([]int, error) {
	producer := make([]int, nt)
	for i := range producer {
		producer[i] = -1
	}
	isInput := make([]bool, nt)
	for _, ti := range inputs {
		isInput[ti] = true
	}
	for oi := range nops {
		ot := sg.TableAt(subgraphOperators, oi)
		if !ot.Valid() {
			return nil, fmt.Errorf("operator %d is not a valid table: %w", oi, errMalformed)
		}
		for i, v := range ot.Int32s(operatorOutputs) {
			ti := int(v)
			if ti < 0 || ti >= nt {
				continue // reported with the operator
			}
			if isInput[ti] {
				return nil, fmt.Errorf("operator %d: output %d overwrites subgraph input tensor %d", oi, i, ti)
			}
			if p := producer[ti]; p >= 0 {
				return nil, fmt.Errorf("operator %d: output %d writes tensor %d, already written by operator %d", oi, i, ti, p)
			}
			producer[ti] = oi
		}
	}
	return producer, nil
}

func registeredAnyType(code BuiltinOp) bool {
	registry.RLock()
	defer registry.RUnlock()
	for k := range registry.builtin {
		if k.op == code {
			return true
		}
	}
	return false
}

func checkSize(t *Tensor) error {
	if err := sizeError(t); err != nil {
		return fmt.Errorf("tensor %d %q: %w", t.Index, t.Name, err)
	}
	return nil
}

// sizeError reports a shape or type whose byte size is negative, unknown or too large.
func sizeError(t *Tensor) error {
	n := 1
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", t.Shape)
		}
		if d > 0 && n > maxTensorBytes/d {
			return fmt.Errorf("shape %v too large", t.Shape)
		}
		n *= d
	}
	if t.Type.Size() == 0 {
		return fmt.Errorf("type %s has no fixed size", t.Type)
	}
	if n > maxTensorBytes/t.Type.Size() {
		return fmt.Errorf("shape %v too large", t.Shape)
	}
	return nil
}

// readTensor reads tensor index of subgraph 0; its errors name the tensor.
func readTensor(b []byte, root, tt Table, index int) (*Tensor, error) {
	if !tt.Valid() {
		return nil, fmt.Errorf("tensor %d is not a valid table: %w", index, errMalformed)
	}
	t := &Tensor{Index: index, Name: tt.String(tensorName), Type: DType(tt.Uint8(tensorType, 0))}
	if err := readTensorData(b, root, tt, t); err != nil {
		return nil, fmt.Errorf("tensor %d %q: %w", index, t.Name, err)
	}
	return t, nil
}

func readTensorData(b []byte, root, tt Table, t *Tensor) error {
	for _, d := range tt.Int32s(tensorShape) {
		if d < 0 {
			d = 1 // dynamic dimension: batch 1
		}
		t.Shape = append(t.Shape, int(d))
	}
	if t.Shape == nil {
		t.Shape = []int{}
	}
	if err := readQuant(t, tt.Table(tensorQuantization)); err != nil {
		return err
	}
	bi := int(tt.Uint32(tensorBuffer, 0))
	if bi == 0 {
		return nil
	}
	if bi >= root.Len(modelBuffers) {
		return fmt.Errorf("buffer index %d out of range (the model has %d buffers)", bi, root.Len(modelBuffers))
	}
	bt := root.TableAt(modelBuffers, bi)
	if !bt.Valid() {
		return fmt.Errorf("buffer %d is not a valid table: %w", bi, errMalformed)
	}
	var data []byte
	if off := bt.Uint64(bufferOffset, 0); off > 1 {
		size := bt.Uint64(bufferSize, 0)
		if off > uint64(len(b)) || size > uint64(len(b))-off {
			return fmt.Errorf("buffer %d: offset %d size %d lies outside the file (%d bytes; truncated?)", bi, off, size, len(b))
		}
		data = b[off : off+size : off+size]
	} else {
		data = bt.Bytes(bufferData)
	}
	if len(data) == 0 {
		return nil
	}
	if err := sizeError(t); err != nil {
		return err
	}
	if want := t.Bytes(); len(data) < want {
		return fmt.Errorf("buffer %d holds %d bytes, shape %v of %s needs %d", bi, len(data), t.Shape, t.Type, want)
	} else {
		data = data[:want:want]
	}
	// Zero-copy unless misaligned for the element type (views need natural alignment).
	if a := min(t.Type.Size(), 8); a > 1 && uintptr(unsafe.Pointer(unsafe.SliceData(data)))%uintptr(a) != 0 {
		data = alignedCopy(data)
	}
	t.Data = data
	t.Const = true
	return nil
}

// readQuant reads a tensor's affine quantization (scales, zero points, quantized dimension).
// Per-axis parameters must have one scale per index along the quantized dimension. The one
// exception is the layout converters write for the 1-D bias of a per-channel convolution: it
// keeps the filter's quantized dimension (3 for DEPTHWISE_CONV_2D) although the bias has a single
// axis. TFLite and tflite-micro never index a bias by that dimension and accept such files; so
// does this, reading the parameters along axis 0 when the scale count equals the length.
func readQuant(t *Tensor, q Table) error {
	if !q.Valid() || q.Uint8(quantDetails, 0) != 0 {
		return nil
	}
	sc := q.Float32s(quantScale)
	if len(sc) == 0 {
		return nil
	}
	zp := q.Int64s(quantZeroPoint)
	if len(zp) == 0 {
		zp = make([]int64, len(sc))
	}
	if len(zp) != len(sc) && len(zp) != 1 {
		return fmt.Errorf("quantization has %d scales but %d zero points", len(sc), len(zp))
	}
	t.Quant = &Quant{Scale: sc, ZeroPoint: zp, Axis: int(q.Int32(quantDimension, 0))}
	if len(sc) == 1 {
		return nil
	}
	axis := t.Quant.Axis
	switch {
	case axis >= 0 && axis < len(t.Shape) && t.Shape[axis] == len(sc):
	case len(t.Shape) == 1 && t.Shape[0] == len(sc):
		t.Quant.Axis = 0
	case axis < 0 || axis >= len(t.Shape):
		return fmt.Errorf("per-axis quantization along dimension %d, but shape %v has %d dimensions", axis, t.Shape, len(t.Shape))
	default:
		return fmt.Errorf("per-axis quantization has %d scales, but dimension %d of shape %v has %d entries", len(sc), axis, t.Shape, t.Shape[axis])
	}
	return nil
}

// alignedCopy copies b into a 64-byte aligned slice.
func alignedCopy(b []byte) []byte {
	out := alignedBytes(len(b))
	copy(out, b)
	return out
}

// alignedBytes allocates n bytes starting at a 64-byte boundary.
func alignedBytes(n int) []byte {
	raw := make([]byte, n+64)
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(raw))) & 63)
	return raw[off : off+n : off+n]
}

// Inputs describes the model inputs.
func (m *Model) Inputs() []TensorInfo { return m.infos(m.inputs) }

// Outputs describes the model outputs.
func (m *Model) Outputs() []TensorInfo { return m.infos(m.outputs) }

func (m *Model) infos(idx []int) []TensorInfo {
	out := make([]TensorInfo, len(idx))
	for i, ti := range idx {
		out[i] = m.tensors[ti].Info()
	}
	return out
}

// ErrIndex is returned for an input or output index out of range.
var ErrIndex = errors.New("tflite: index out of range")
