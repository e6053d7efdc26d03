package tflite

import (
	"fmt"
	"runtime"
	"slices"
)

// arenaAlign is the alignment of every tensor and scratch buffer in the arena.
const arenaAlign = 64

// plan assigns every non-constant tensor and scratch buffer an offset in one arena so that
// buffers whose lifetimes overlap never share bytes (greedy by size, as TFLite's arena planner).
func (m *Model) plan() error {
	n := len(m.ops)
	type item struct {
		size, first, last int
		tensor            int // -1 for scratch
		op, scratch       int
		off               int
	}
	first := make([]int, len(m.tensors))
	last := make([]int, len(m.tensors))
	produced := make([]bool, len(m.tensors))
	for i := range first {
		first[i], last[i] = n+1, -2
	}
	use := func(t, at int) {
		first[t] = min(first[t], at)
		last[t] = max(last[t], at)
	}
	for _, t := range m.inputs {
		use(t, -1)
		use(t, n)
	}
	for _, t := range m.outputs {
		use(t, n)
	}
	for i, op := range m.ops {
		for _, t := range op.out {
			use(t, i)
			produced[t] = true
		}
	}
	for i, op := range m.ops {
		for _, t := range op.in {
			if t < 0 {
				continue
			}
			use(t, i)
			if !produced[t] {
				use(t, -1) // read but never written: keep it zero for the whole run
				use(t, n)
			}
		}
	}
	var items []*item
	for ti, t := range m.tensors {
		if t.Const || last[ti] < -1 {
			continue
		}
		if err := checkSize(t); err != nil {
			return err
		}
		items = append(items, &item{size: t.Bytes(), first: first[ti], last: last[ti], tensor: ti})
	}
	for oi, op := range m.ops {
		op.scratch = make([]int, len(op.ctx.scratchSizes))
		for si, sz := range op.ctx.scratchSizes {
			if sz < 0 || sz > maxTensorBytes {
				return fmt.Errorf("operator %d (%s): scratch of %d bytes", oi, op.ctx.OpName, sz)
			}
			items = append(items, &item{size: sz, first: oi, last: oi, tensor: -1, op: oi, scratch: si})
		}
	}
	slices.SortStableFunc(items, func(a, b *item) int { return b.size - a.size })
	var placed []*item
	var live []*item
	for _, it := range items {
		live = live[:0]
		for _, p := range placed {
			if p.first <= it.last && it.first <= p.last {
				live = append(live, p)
			}
		}
		slices.SortFunc(live, func(a, b *item) int { return a.off - b.off })
		off := 0
		for _, p := range live {
			if p.off-off >= it.size {
				break
			}
			off = max(off, alignUp(p.off+p.size))
		}
		it.off = off
		placed = append(placed, it)
		m.arenaLen = max(m.arenaLen, off+it.size)
	}
	for oi, op := range m.ops {
		op.persist = make([]int, len(op.ctx.persistSizes))
		for pi, sz := range op.ctx.persistSizes {
			if sz < 0 || sz > maxTensorBytes-m.stateLen {
				return fmt.Errorf("operator %d (%s): persistent buffer of %d bytes", oi, op.ctx.OpName, sz)
			}
			op.persist[pi] = m.stateLen
			m.stateLen = alignUp(m.stateLen + sz)
		}
	}
	m.offsets = make([]int, len(m.tensors))
	for i := range m.offsets {
		m.offsets[i] = -1
	}
	for _, it := range items {
		if it.tensor >= 0 {
			m.offsets[it.tensor] = it.off
		} else {
			m.ops[it.op].scratch[it.scratch] = it.off
		}
	}
	return nil
}

func alignUp(n int) int { return (n + arenaAlign - 1) &^ (arenaAlign - 1) }

// ArenaBytes returns the size of the activation arena each Interpreter allocates.
func (m *Model) ArenaBytes() int { return m.arenaLen }

// Interpreter runs a Model with its own tensor memory and operator state. One Interpreter must
// not be used from two goroutines at once; different interpreters of one model may run
// concurrently.
type Interpreter struct {
	m       *Model
	arena   []byte
	state   []byte // persistent operator state (OpContext.AddPersistent)
	tensors []*Tensor
	ctxs    []OpContext
	pool    *workerPool
}

// NewInterpreter allocates an interpreter's arena (once; Invoke allocates no tensor memory).
func (m *Model) NewInterpreter() (*Interpreter, error) {
	base := alignUp(m.arenaLen)
	mem := alignedBytes(base + m.stateLen)
	it := &Interpreter{m: m, arena: mem[:m.arenaLen:m.arenaLen], state: mem[base:]}
	it.tensors = make([]*Tensor, len(m.tensors))
	for i, t := range m.tensors {
		c := *t
		c.Shape = slices.Clone(t.Shape)
		if off := m.offsets[i]; off >= 0 {
			c.Data = it.arena[off : off+t.Bytes() : off+t.Bytes()]
		}
		it.tensors[i] = &c
	}
	if m.threads > 1 {
		it.pool = newWorkerPool(m.threads - 1)
		runtime.AddCleanup(it, func(p *workerPool) { p.close() }, it.pool)
	}
	it.ctxs = make([]OpContext, len(m.ops))
	for i, op := range m.ops {
		c := op.ctx
		c.Inputs = make([]*Tensor, len(op.in))
		for j, ti := range op.in {
			if ti >= 0 {
				c.Inputs[j] = it.tensors[ti]
			}
		}
		c.Outputs = make([]*Tensor, len(op.out))
		for j, ti := range op.out {
			c.Outputs[j] = it.tensors[ti]
		}
		c.scratch = make([][]byte, len(op.scratch))
		for j, off := range op.scratch {
			sz := op.ctx.scratchSizes[j]
			c.scratch[j] = it.arena[off : off+sz : off+sz]
		}
		c.persist = make([][]byte, len(op.persist))
		for j, off := range op.persist {
			sz := op.ctx.persistSizes[j]
			c.persist[j] = it.state[off : off+sz : off+sz]
		}
		c.pool = it.pool
		it.ctxs[i] = c
	}
	it.Reset()
	return it, nil
}

// Reset returns every operator's persistent state to its initial value, as in a new
// interpreter (e.g. the noise estimate of SignalFilterBankSpectralSubtraction before a new
// stream). Tensors are left as they are.
func (it *Interpreter) Reset() {
	clear(it.state)
	for i, op := range it.m.ops {
		if r, ok := op.kernel.(Resetter); ok {
			r.Reset(&it.ctxs[i])
		}
	}
}

// Close stops the interpreter's worker goroutines. The interpreter must not be used after.
// It is optional: an unreachable interpreter's workers are stopped by the garbage collector.
func (it *Interpreter) Close() {
	if it.pool != nil {
		it.pool.close()
		it.pool = nil
		for i := range it.ctxs {
			it.ctxs[i].pool = nil
		}
	}
}

// Input returns the i-th model input tensor (nil when out of range). Writing to its Data sets
// the input.
func (it *Interpreter) Input(i int) *Tensor {
	if i < 0 || i >= len(it.m.inputs) {
		return nil
	}
	return it.tensors[it.m.inputs[i]]
}

// Output returns the i-th model output tensor (nil when out of range). Its Data is valid until
// the next Invoke.
func (it *Interpreter) Output(i int) *Tensor {
	if i < 0 || i >= len(it.m.outputs) {
		return nil
	}
	return it.tensors[it.m.outputs[i]]
}

// SetInput copies raw (little-endian element bytes) into the i-th input; its length must equal
// the tensor's byte size.
func (it *Interpreter) SetInput(i int, raw []byte) error {
	t := it.Input(i)
	if t == nil {
		return fmt.Errorf("input %d of %d: %w", i, len(it.m.inputs), ErrIndex)
	}
	if len(raw) != len(t.Data) {
		return fmt.Errorf("tflite: input %d (%q %s %v): got %d bytes, want %d", i, t.Name, t.Type, t.Shape, len(raw), len(t.Data))
	}
	copy(t.Data, raw)
	return nil
}

// Invoke runs every operator once.
func (it *Interpreter) Invoke() (err error) {
	cur := -1
	defer func() {
		if r := recover(); r != nil {
			c := &it.ctxs[cur]
			err = fmt.Errorf("tflite: operator %d (%s): internal error: %v", c.Index, c.OpName, r)
		}
	}()
	for i := range it.ctxs {
		cur = i
		if err := it.m.ops[i].kernel.Eval(&it.ctxs[i]); err != nil {
			c := &it.ctxs[i]
			return fmt.Errorf("tflite: operator %d (%s): %w", c.Index, c.OpName, err)
		}
	}
	return nil
}
