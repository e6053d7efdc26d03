// Package wasmhost runs Atoll WebAssembly functions (Atoll ABI v1, see ABI.md) on wazero: one
// Runtime per engine with an on-disk compilation cache, modules instrumented for fuel metering
// and compiled once, an Instance per worker, per-node limits (memory pages, call deadline),
// and a Function pool that replaces instances that trapped or were interrupted.
// RATIONALE.md explains the metering design.
package wasmhost

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/atoll-studio/atoll/engine/wasmhost/internal/meter"
)

// HostModuleName is the versioned import module of the host functions of ABI v1.
const HostModuleName = "atoll_v1"

// WASIModuleName is the WASI preview 1 import module.
const WASIModuleName = wasi_snapshot_preview1.ModuleName

// HostModule defines extra host functions that guests may import (wasi_ephemeral_nn, say).
// Instantiate must instantiate a host module named Name in r (with r.NewHostModuleBuilder);
// every function it exports becomes an allowed import. Per-node state reaches the functions
// through the context of the call (see InstanceConfig.Context).
type HostModule struct {
	Name        string
	Instantiate func(ctx context.Context, r wazero.Runtime) error
}

// Config configures a Runtime.
type Config struct {
	// CacheDir is the compilation cache directory. Empty means os.UserCacheDir()/atoll/wazero;
	// "-" disables the on-disk cache (an in-memory cache is used).
	CacheDir string
	// HostModules are extra host modules guests may import.
	HostModules []HostModule
	// FuelPerMS converts a call deadline into a fuel budget. Zero calibrates it at start (see
	// RATIONALE.md); tests may fix it.
	FuelPerMS int64
}

// Runtime is one wazero runtime shared by every Wasm node of an engine.
type Runtime struct {
	rt         wazero.Runtime
	cache      wazero.CompilationCache
	meterCache meterCache
	fuelPerMS  int64
	allowed    map[string]map[string]bool // import module -> function names

	mu       sync.Mutex
	compiled map[compileKey]*compiledEntry
	closed   bool
}

type compileKey struct {
	sum      [32]byte
	pages    uint32
	metering bool
}

type compiledEntry struct {
	once sync.Once
	mod  *Module
	err  error
}

// DefaultCacheDir returns the default compilation cache directory.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("wasm compilation cache: %w", err)
	}
	return filepath.Join(d, "atoll", "wazero"), nil
}

// NewRuntime starts a runtime: the compilation cache, the host modules (atoll_v1, WASI preview
// 1 and cfg.HostModules) and, unless cfg.FuelPerMS is set, the fuel calibration.
func NewRuntime(ctx context.Context, cfg Config) (*Runtime, error) {
	var cache wazero.CompilationCache
	var mc meterCache
	switch cfg.CacheDir {
	case "-":
		cache = wazero.NewCompilationCache()
	default:
		dir := cfg.CacheDir
		if dir == "" {
			d, err := DefaultCacheDir()
			if err != nil {
				return nil, err
			}
			dir = d
		}
		c, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			return nil, fmt.Errorf("wasm compilation cache %s: %w", dir, err)
		}
		cache = c
		mc.dir = filepath.Join(dir, "atoll-meter")
	}
	rc := wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithCloseOnContextDone(false). // interruption is done by fuel; see RATIONALE.md
		WithMemoryLimitPages(65536).
		WithDebugInfoEnabled(false).
		WithCustomSections(false)
	r := &Runtime{
		rt:         wazero.NewRuntimeWithConfig(ctx, rc),
		cache:      cache,
		meterCache: mc,
		compiled:   map[compileKey]*compiledEntry{},
	}
	if err := r.instantiateHostModules(ctx, RegisteredHostModules(cfg.HostModules)); err != nil {
		r.rt.Close(ctx)
		return nil, err
	}
	r.fuelPerMS = cfg.FuelPerMS
	if r.fuelPerMS <= 0 {
		f, err := r.calibrate(ctx)
		if err != nil {
			r.rt.Close(ctx)
			return nil, fmt.Errorf("wasm fuel calibration: %w", err)
		}
		r.fuelPerMS = f
	}
	return r, nil
}

// FuelPerMS returns the fuel a metered guest burns per millisecond at most (calibrated or set).
func (r *Runtime) FuelPerMS() int64 { return r.fuelPerMS }

// Close releases every module and instance of the runtime.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	err := r.rt.Close(ctx)
	if cerr := r.cache.Close(ctx); err == nil {
		err = cerr
	}
	return err
}

func (r *Runtime) instantiateHostModules(ctx context.Context, extra []HostModule) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r.rt); err != nil {
		return fmt.Errorf("wasi: %w", err)
	}
	_, err := r.rt.NewHostModuleBuilder(HostModuleName).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostLog), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, nil).
		WithParameterNames("level", "ptr", "len").
		Export("log").
		Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("host module %s: %w", HostModuleName, err)
	}
	r.allowed = map[string]map[string]bool{}
	names := []string{HostModuleName, WASIModuleName}
	for _, hm := range extra {
		if hm.Name == "" || hm.Instantiate == nil {
			return errors.New("host module: name and Instantiate are required")
		}
		if err := hm.Instantiate(ctx, r.rt); err != nil {
			return fmt.Errorf("host module %s: %w", hm.Name, err)
		}
		names = append(names, hm.Name)
	}
	for _, n := range names {
		m := r.rt.Module(n)
		if m == nil {
			return fmt.Errorf("host module %s was not instantiated", n)
		}
		fns := map[string]bool{}
		for name := range m.ExportedFunctionDefinitions() {
			fns[name] = !(n == WASIModuleName && forbiddenWASI(name))
		}
		r.allowed[n] = fns
	}
	return nil
}

// forbiddenWASI reports the WASI functions no guest may import: sockets (no network).
func forbiddenWASI(name string) bool {
	return len(name) > 5 && name[:5] == "sock_"
}

// calibrate measures how much fuel a tight metered loop burns per millisecond: the fastest
// rate any guest can burn fuel, so a budget of max_call_ms × rate stops such a loop at about its
// deadline (slower code is stopped by the watchdog). The best of a few runs of the thread's CPU
// time is kept.
func (r *Runtime) calibrate(ctx context.Context) (int64, error) {
	wasm, _, err := meter.Instrument(calibrationModule, meter.Options{})
	if err != nil {
		return 0, err
	}
	cm, err := r.rt.CompileModule(ctx, wasm)
	if err != nil {
		return 0, err
	}
	defer cm.Close(ctx)
	mod, err := r.rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		return 0, err
	}
	defer mod.Close(ctx)
	spin := mod.ExportedFunction("spin")
	fuel := mod.ExportedGlobal(meter.FuelExport).(api.MutableGlobal)
	// The thread's CPU time where the OS gives it (Linux), else wall time: on a loaded machine
	// wall time would make the rate, and so every budget, too small.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	clock := func() time.Duration {
		if d, ok := threadCPUTime(); ok {
			return d
		}
		return time.Duration(time.Now().UnixNano())
	}
	const iterations = 1 << 21
	var best int64
	for i := 0; i < 5; i++ {
		const start = int64(1) << 60
		fuel.Set(uint64(start))
		t0 := clock()
		if _, err := spin.Call(ctx, iterations); err != nil {
			return 0, err
		}
		el := clock() - t0
		used := start - int64(fuel.Get())
		if el <= 0 {
			continue
		}
		rate := int64(float64(used) / (float64(el) / float64(time.Millisecond)))
		if rate > best {
			best = rate
		}
	}
	if best <= 0 {
		return 0, errors.New("no measurement")
	}
	return best, nil
}

// calibrationModule exports spin(n i64): loop { n--; br_if n != 0 }.
var calibrationModule = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x05, 0x01, 0x60, 0x01, 0x7E, 0x00, // type: (i64) -> ()
	0x03, 0x02, 0x01, 0x00, // function 0: type 0
	0x07, 0x08, 0x01, 0x04, 's', 'p', 'i', 'n', 0x00, 0x00, // export "spin"
	0x0A, 0x13, 0x01, 0x11, 0x00, // code: 1 body of 17 bytes, no locals
	0x03, 0x40, // loop
	0x20, 0x00, 0x42, 0x01, 0x7D, 0x22, 0x00, // local.get 0; i64.const 1; i64.sub; local.tee 0
	0x42, 0x00, 0x52, 0x0D, 0x00, // i64.const 0; i64.ne; br_if 0
	0x0B, 0x0B, // end end
}

// sum returns the SHA-256 of b.
func sum(b []byte) [32]byte { return sha256.Sum256(b) }
