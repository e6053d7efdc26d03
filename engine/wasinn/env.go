package wasinn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/atoll-studio/atoll/engine/tflite"
)

// Limit defaults.
const (
	DefaultMaxGraphs     = 8
	DefaultMaxContexts   = 4
	DefaultMaxModelBytes = 256 << 20
)

// Options configures an Env.
type Options struct {
	// Models are the models guests may load by name (load_by_name), as .tflite bytes. They are
	// parsed by NewEnv, so a broken model fails the node's build, not its first batch.
	Models map[string][]byte
	// MaxGraphs and MaxContexts bound the live graphs and execution contexts of each guest
	// instance (defaults DefaultMaxGraphs and DefaultMaxContexts); past them, load and
	// init_execution_context answer too_large.
	MaxGraphs, MaxContexts int
	// MaxModelBytes bounds the model a guest passes to load (default DefaultMaxModelBytes).
	MaxModelBytes int
	// NoLoad refuses load (model bytes from the guest): only registered models may run.
	NoLoad bool
	// Threads is the number of goroutines one compute may use (0: GOMAXPROCS; 1: the calling
	// goroutine only).
	Threads int
	// Log receives one line per refused call, with the reason ("warn"); nil discards them.
	Log func(level, msg string)
}

// Env is the wasi-nn state of one node: its registered models, its limits and the graphs and
// execution contexts of each of its guest instances. It is safe for concurrent use by the
// node's instances.
type Env struct {
	opts   Options
	models map[string]*tflite.Model // registered by name

	mu        sync.Mutex
	instances map[api.Module]*instanceState
	loaded    map[[32]byte]*tflite.Model // models guests passed to load, by SHA-256
	closed    bool

	computes    atomic.Int64
	computeTime atomic.Int64 // ns
}

type envKey struct{}

// WithEnv returns ctx carrying env: the context of a guest instance's calls
// (wasmhost.InstanceConfig.Context) that may use wasi_ephemeral_nn.
func WithEnv(ctx context.Context, env *Env) context.Context {
	return context.WithValue(ctx, envKey{}, env)
}

// NewEnv parses the registered models and returns the Env.
func NewEnv(opts Options) (*Env, error) {
	if opts.MaxGraphs <= 0 {
		opts.MaxGraphs = DefaultMaxGraphs
	}
	if opts.MaxContexts <= 0 {
		opts.MaxContexts = DefaultMaxContexts
	}
	if opts.MaxModelBytes <= 0 {
		opts.MaxModelBytes = DefaultMaxModelBytes
	}
	if opts.Log == nil {
		opts.Log = func(string, string) {}
	}
	e := &Env{opts: opts, models: map[string]*tflite.Model{}, instances: map[api.Module]*instanceState{},
		loaded: map[[32]byte]*tflite.Model{}}
	names := make([]string, 0, len(opts.Models))
	for n := range opts.Models {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if n == "" {
			return nil, fmt.Errorf("wasi-nn: model name is empty")
		}
		m, err := tflite.Load(opts.Models[n], tflite.Options{Threads: opts.Threads})
		if err != nil {
			return nil, fmt.Errorf("wasi-nn: model %q: %w", n, err)
		}
		e.models[n] = m
	}
	return e, nil
}

// Model returns a registered model (nil when unknown).
func (e *Env) Model(name string) *tflite.Model { return e.models[name] }

// Close frees the graphs and contexts of every instance; call it once no guest call is running
// (the node closes its instances first). Later loads answer busy.
func (e *Env) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	for mod, s := range e.instances {
		s.free()
		delete(e.instances, mod)
	}
	return nil
}

// Stats counts the live instances, graphs and contexts, and the computes run so far.
type Stats struct {
	Instances, Graphs, Contexts int
	// Computes is the number of successful compute calls; ComputeTime their total duration.
	Computes    int64
	ComputeTime time.Duration
}

// Stats returns the live counts (instances already closed are swept first).
func (e *Env) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sweep()
	st := Stats{Computes: e.computes.Load(), ComputeTime: time.Duration(e.computeTime.Load())}
	for _, s := range e.instances {
		st.Instances++
		st.Graphs += len(s.graphs)
		st.Contexts += len(s.contexts)
	}
	return st
}

// state returns the caller instance's state, creating it on its first call. States of
// instances that have closed since are freed at the same time (wazero tells host modules
// nothing when a guest closes; the Env sees it on the next new instance).
func (e *Env) state(mod api.Module) *instanceState {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.instances[mod]; s != nil {
		return s
	}
	e.sweep()
	s := &instanceState{env: e, graphs: map[uint32]*graphEntry{}, contexts: map[uint32]*execContext{}}
	if e.closed {
		s.closed = true
		return s
	}
	e.instances[mod] = s
	return s
}

func (e *Env) sweep() {
	for m, s := range e.instances {
		if m.IsClosed() {
			s.free()
			delete(e.instances, m)
		}
	}
}

// loadBytes parses a model a guest passed, sharing it with every instance that passes the same
// bytes.
func (e *Env) loadBytes(b []byte) (*tflite.Model, error) {
	sum := sha256.Sum256(b)
	e.mu.Lock()
	m := e.loaded[sum]
	e.mu.Unlock()
	if m != nil {
		return m, nil
	}
	m, err := tflite.Load(bytes.Clone(b), tflite.Options{Threads: e.opts.Threads})
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if old := e.loaded[sum]; old != nil {
		m = old
	} else if len(e.loaded) < 16 {
		e.loaded[sum] = m
	}
	e.mu.Unlock()
	return m, nil
}
