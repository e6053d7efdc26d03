package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/atoll-studio/atoll/engine/wasmhost/internal/meter"
)

// ABIVersion is the Atoll ABI version this host runs.
const ABIVersion = 1

// Names of the guest exports of ABI v1.
const (
	ExportMemory     = "memory"
	ExportABIVersion = "atoll_abi_version"
	ExportAlloc      = "atoll_alloc"
	ExportProcess    = "atoll_process"
	ExportInit       = "atoll_init"
	// ErrorField marks a failed output row; its string value is the reason.
	ErrorField = "$error"
)

// Limit defaults, shown in the node's spec.
const (
	DefaultMemoryPages = 1024 // 64 MiB
	DefaultMaxCallMS   = 1000
	DefaultInstances   = 1
)

// Limits bound what one module may use.
type Limits struct {
	// MemoryPages caps the guest's memory in 64 KiB pages (default DefaultMemoryPages).
	MemoryPages uint32
	// MaxCallMS bounds each call's CPU time (default DefaultMaxCallMS): the CPU time of the
	// call's thread on Linux, wall time elsewhere. A call is also stopped after WallFactor ×
	// MaxCallMS of wall time, whatever it does.
	MaxCallMS int
	// NoMetering compiles the module without fuel checks: calls cannot be interrupted. Only
	// for measuring the price of metering; never for untrusted code.
	NoMetering bool
}

func (l Limits) withDefaults() Limits {
	if l.MemoryPages == 0 {
		l.MemoryPages = DefaultMemoryPages
	}
	if l.MaxCallMS <= 0 {
		l.MaxCallMS = DefaultMaxCallMS
	}
	return l
}

// ErrABI is wrapped by every error about a module not following Atoll ABI v1.
var ErrABI = errors.New("module does not follow Atoll ABI v1")

// Module is a validated, instrumented and compiled guest, shared by its instances.
type Module struct {
	rt       *Runtime
	compiled wazero.CompiledModule
	limits   Limits
	hasInit  bool
	sites    int
}

// Sites returns the number of metering sites inserted into the module.
func (m *Module) Sites() int { return m.sites }

// Load validates wasm against ABI v1 (exports, their signatures and imports), instruments and
// compiles it. The same bytes with the same memory cap and metering are compiled once per
// runtime (and found in the on-disk cache across runs); the call deadline is per instance.
// The ABI version is checked when the first instance starts (NewFunction does it at once).
func (r *Runtime) Load(ctx context.Context, wasm []byte, lim Limits) (*Module, error) {
	lim = lim.withDefaults()
	key := compileKey{sum: sum(wasm), pages: lim.MemoryPages, metering: !lim.NoMetering}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, errors.New("wasm runtime closed")
	}
	e, ok := r.compiled[key]
	if !ok {
		e = &compiledEntry{}
		r.compiled[key] = e
	}
	r.mu.Unlock()
	e.once.Do(func() { e.mod, e.err = r.load(ctx, wasm, key.sum, lim) })
	if e.err != nil {
		r.mu.Lock()
		delete(r.compiled, key) // let a later call retry (the error may be a cancelled ctx)
		r.mu.Unlock()
		return nil, e.err
	}
	m := *e.mod
	m.limits.MaxCallMS = lim.MaxCallMS
	return &m, nil
}

func (r *Runtime) load(ctx context.Context, wasm []byte, wasmSum [32]byte, lim Limits) (*Module, error) {
	opt := meter.Options{MaxMemoryPages: lim.MemoryPages, NoFuel: lim.NoMetering}
	inst, st, cached := r.meterCache.get(wasmSum, opt)
	if !cached {
		var err error
		if inst, st, err = meter.Instrument(wasm, opt); err != nil {
			if errors.Is(err, meter.ErrNotWasm) {
				return nil, err
			}
			return nil, fmt.Errorf("wasm module: %w", err)
		}
	}
	cm, err := r.rt.CompileModule(ctx, inst)
	if err != nil && cached && ctx.Err() == nil {
		// A damaged cache entry: rewrite the module and try once more.
		r.meterCache.drop(wasmSum, opt)
		return r.load(ctx, wasm, wasmSum, lim)
	}
	if err != nil {
		return nil, fmt.Errorf("wasm module: %w", err)
	}
	if !cached {
		r.meterCache.put(wasmSum, opt, inst, st)
	}
	m := &Module{rt: r, compiled: cm, limits: lim, sites: st.Sites}
	if err := r.checkABI(cm, m); err != nil {
		cm.Close(ctx)
		return nil, err
	}
	return m, nil
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

type signature struct {
	params, results []api.ValueType
}

var abiExports = map[string]signature{
	ExportABIVersion: {nil, []api.ValueType{i32}},
	ExportAlloc:      {[]api.ValueType{i32}, []api.ValueType{i32}},
	ExportProcess:    {[]api.ValueType{i32, i32}, []api.ValueType{i64}},
}

func (r *Runtime) checkABI(cm wazero.CompiledModule, m *Module) error {
	var problems []string
	if _, ok := cm.ExportedMemories()[ExportMemory]; !ok {
		problems = append(problems, fmt.Sprintf("missing export %q", ExportMemory))
	}
	if len(cm.ImportedMemories()) > 0 {
		problems = append(problems, "imports its memory (it must define and export it)")
	}
	exports := cm.ExportedFunctions()
	names := make([]string, 0, len(abiExports))
	for n := range abiExports {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fn, ok := exports[n]
		if !ok {
			problems = append(problems, fmt.Sprintf("missing export %q", n))
			continue
		}
		if p := checkSig(n, fn, abiExports[n]); p != "" {
			problems = append(problems, p)
		}
	}
	if fn, ok := exports[ExportInit]; ok {
		if p := checkSig(ExportInit, fn, signature{[]api.ValueType{i32, i32}, []api.ValueType{i32}}); p != "" {
			problems = append(problems, p)
		}
		m.hasInit = true
	}
	for _, imp := range cm.ImportedFunctions() {
		mod, name, _ := imp.Import()
		fns, ok := r.allowed[mod]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("forbidden import %s.%s (module %q is not granted)", mod, name, mod))
		case !fns[name]:
			if _, exists := fns[name]; exists {
				problems = append(problems, fmt.Sprintf("forbidden import %s.%s", mod, name))
			} else {
				problems = append(problems, fmt.Sprintf("forbidden import %s.%s (no such host function)", mod, name))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrABI, strings.Join(problems, "; "))
	}
	return nil
}

func checkSig(name string, fn api.FunctionDefinition, want signature) string {
	if !sameTypes(fn.ParamTypes(), want.params) || !sameTypes(fn.ResultTypes(), want.results) {
		return fmt.Sprintf("export %q has signature %s, want %s", name, sigString(fn.ParamTypes(), fn.ResultTypes()), sigString(want.params, want.results))
	}
	return ""
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sigString(params, results []api.ValueType) string {
	f := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return f(params) + " -> " + f(results)
}
