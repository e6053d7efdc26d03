package tflite

import (
	"fmt"
	"sync"
)

// Kernel implements one operator. A kernel value is created once per operator when a model is
// loaded and is shared by every Interpreter of that model, possibly running concurrently:
// Prepare may write the kernel's fields, Eval must only read them. Per-invocation working memory
// comes from OpContext.AddScratch (in Prepare) and OpContext.Scratch (in Eval), which live in
// each interpreter's arena.
type Kernel interface {
	// Prepare validates the operator, infers and sets the output shapes (c.Outputs[i].Shape) and
	// precomputes whatever depends only on constants. It is called once, at load. Constant
	// inputs have Data (Tensor.Const is true); other tensors have Data == nil.
	Prepare(c *OpContext) error
	// Eval computes the outputs. Every tensor has Data of exactly its byte size.
	Eval(c *OpContext) error
}

// OpContext is what a kernel sees of one operator: its tensors and options. There is one
// OpContext per operator per interpreter (one more, used only for Prepare, per model).
type OpContext struct {
	// Inputs are the operator's inputs in schema order; an omitted optional input (-1 in the
	// model) is nil.
	Inputs []*Tensor
	// Outputs are the operator's outputs.
	Outputs []*Tensor
	// Builtin is the builtin options table (zero Table when absent: every getter then returns
	// its default). Field slots per options table are listed in the schema; the ones this
	// package uses are documented next to the BuiltinOp constants.
	Builtin Table
	// BuiltinType is the BuiltinOptions union discriminant (0 = NONE).
	BuiltinType uint8
	// Custom is custom_options (a FlexBuffer for custom operators), nil when absent.
	Custom []byte
	// Threads is the number of goroutines the kernel may use (>= 1).
	Threads int
	// Index is the operator's index in subgraph 0.
	Index int
	// OpName is "CONV_2D" for builtins or the custom_code for custom operators.
	OpName string
	// Op is the builtin operator code (OpCustom for custom operators).
	Op BuiltinOp
	// Version is the operator version from the model's OperatorCode.
	Version int

	scratchSizes []int    // bytes requested in Prepare
	scratch      [][]byte // per interpreter, in the arena
	persistSizes []int    // bytes requested in Prepare
	persist      [][]byte // per interpreter, after the arena
	pool         *workerPool
	jobs         []any // per-interpreter rangeJob values reused across Invokes (jobOf)
}

// Resetter is implemented by kernels whose persistent state does not start at zero.
// Interpreter.Reset (and NewInterpreter) zero every buffer from OpContext.AddPersistent and
// then call Reset on each such kernel with that interpreter's OpContext.
type Resetter interface {
	Reset(c *OpContext)
}

// AddScratch reserves n bytes of working memory for Eval and returns its id. Call it only from
// Prepare. The memory lives in the arena, is not zeroed, and is only valid during this
// operator's Eval.
func (c *OpContext) AddScratch(n int) int {
	c.scratchSizes = append(c.scratchSizes, n)
	return len(c.scratchSizes) - 1
}

// Scratch returns the working memory reserved by AddScratch. Call it only from Eval.
func (c *OpContext) Scratch(id int) []byte { return c.scratch[id] }

// AddPersistent reserves n bytes of state that survives from one Invoke to the next (a running
// noise estimate, a delay line) and returns its id. Call it only from Prepare. Each interpreter
// owns its own copy, 64-byte aligned and zeroed at NewInterpreter and at Interpreter.Reset; it
// is freed with the interpreter.
func (c *OpContext) AddPersistent(n int) int {
	c.persistSizes = append(c.persistSizes, n)
	return len(c.persistSizes) - 1
}

// Persistent returns the state reserved by AddPersistent. Call it from Eval or Reset.
func (c *OpContext) Persistent(id int) []byte { return c.persist[id] }

// Parallel runs fn over [0, n) split into contiguous chunks that up to Threads goroutines take
// in turn, and returns when all are done. With Threads == 1 it calls fn(0, n) directly. fn must
// be safe to call concurrently on disjoint ranges.
func (c *OpContext) Parallel(n int, fn func(lo, hi int)) {
	j := jobOf[funcJob](c)
	j.fn = fn
	c.parallel(n, j)
	j.fn = nil
}

// funcJob adapts a closure to rangeJob (for Parallel).
type funcJob struct{ fn func(lo, hi int) }

func (j *funcJob) Run(lo, hi int) { j.fn(lo, hi) }

// Errorf returns an error located at this operator: `operator 3 (CONV_2D): ...`.
func (c *OpContext) Errorf(format string, args ...any) error {
	return fmt.Errorf("operator %d (%s): %w", c.Index, c.OpName, fmt.Errorf(format, args...))
}

type builtinKey struct {
	op BuiltinOp
	t  DType
}

var registry = struct {
	sync.RWMutex
	builtin map[builtinKey]func() Kernel
	custom  map[string]func() Kernel
}{builtin: map[builtinKey]func() Kernel{}, custom: map[string]func() Kernel{}}

// RegisterBuiltin registers the kernel constructor for a builtin operator whose dispatch input
// has type inType. The dispatch input is input 0 for every operator except TRANSPOSE_CONV
// (input 2, the data; input 0 is the output shape) and SPLIT (input 1, the data; input 0 is
// the axis); if that input is omitted, the first present input is used, and output 0 for an
// operator without inputs. A float32 input with int8 weights (hybrid) dispatches as Float32.
// Registering the same (code, type) twice replaces the earlier kernel. Call it from init.
func RegisterBuiltin(code BuiltinOp, inType DType, newKernel func() Kernel) {
	registry.Lock()
	defer registry.Unlock()
	registry.builtin[builtinKey{code, inType}] = newKernel
}

// RegisterCustom registers the kernel constructor for a custom operator by its custom_code.
func RegisterCustom(name string, newKernel func() Kernel) {
	registry.Lock()
	defer registry.Unlock()
	registry.custom[name] = newKernel
}

func lookupBuiltin(code BuiltinOp, t DType) func() Kernel {
	registry.RLock()
	defer registry.RUnlock()
	return registry.builtin[builtinKey{code, t}]
}

func lookupCustom(name string) func() Kernel {
	registry.RLock()
	defer registry.RUnlock()
	return registry.custom[name]
}

// dispatchInput is the input whose type selects the kernel.
func dispatchInput(op BuiltinOp) int {
	switch op {
	case OpTransposeConv:
		return 2
	case OpSplit:
		return 1
	}
	return 0
}

func dispatchType(op BuiltinOp, in, out []*Tensor) (DType, bool) {
	i := dispatchInput(op)
	if i < len(in) && in[i] != nil {
		return in[i].Type, true
	}
	for _, t := range in {
		if t != nil {
			return t.Type, true
		}
	}
	if len(out) > 0 && out[0] != nil {
		return out[0].Type, true
	}
	return 0, false
}
