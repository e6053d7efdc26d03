// Package function holds the node types that run user functions: function.wasm runs a
// WebAssembly module that follows Atoll ABI v1 (engine/wasmhost/ABI.md).
package function

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/engine/wasmhost"
	"github.com/atoll-studio/atoll/nodes"
)

var wasmSpec = engine.Spec{
	ID:       "function.wasm",
	Category: "function",
	Summary:  "Runs a WebAssembly function (Atoll ABI v1) over each batch, sandboxed and metered.",
	Docs: "Sends each batch through a WebAssembly module that follows Atoll ABI v1 " +
		"(`engine/wasmhost/ABI.md`): Go guests built with `GOOS=wasip1 GOARCH=wasm go build " +
		"-buildmode=c-shared` and the SDK `sdk/go/atoll`, C guests with `sdk/c/atoll.h`, or any " +
		"language that implements the row codec.\n\n" +
		"Rows the function fails go to `errors` with the reason; the rest of the batch goes on. " +
		"A call that traps, exits, exceeds `max_call_ms` or returns a bad pointer sends every row " +
		"of its batch to `errors` with the reason, and the instance is replaced.\n\n" +
		"**Sandbox.** The module sees no files, environment or network: only clocks, random, " +
		"stdout/stderr (to the node log) and `atoll_v1.log`. `allow_dir` grants one host " +
		"directory, read-only, mounted at `/`.\n\n" +
		"**Limits** (shown on the canvas): `memory_pages` caps guest memory in 64 KiB pages " +
		"(default 1024 = 64 MiB) per instance, and the node's cap, `memory_pages` × `instances`, counts " +
		"against the run's guest memory budget (1 GiB unless `--guest-memory-mb` says otherwise): a graph " +
		"whose caps add up to more is refused at validation, naming its nodes; `max_call_ms` bounds each call's CPU time (default 1000 ms; an " +
		"infinite loop is stopped). It is the CPU time of the thread running the call on Linux and wall " +
		"time elsewhere; a call that waits instead of computing (a guest that sleeps), or that a saturated " +
		"machine starves, is stopped after " +
		"10 × `max_call_ms` of wall time. A guest that runs out of memory fails its batch with " +
		"\"out of memory\" and its size against the cap; a Go guest's stack trace is counted in the log, " +
		"not copied into it; `instances` runs that many instances in parallel (default 1). The " +
		"node reports the fuel each batch used (`fuel`) and instance restarts (`restarts`).\n\n" +
		"Validation loads the module before a run: a file that is not WebAssembly, missing " +
		"exports, a wrong ABI version or a forbidden import is an error naming the item.",
	Headless: true,
	Inputs:   []engine.Port{{Name: "in", Type: "any", Required: true}},
	Outputs:  []engine.Port{{Name: "out", Type: "rows", Doc: "the function's output rows"}},
	Fields: []engine.Field{
		{Name: "module", Type: "string", Format: "asset", AssetKind: "wasm", Required: true, Path: true,
			Doc: "the WebAssembly module: an asset SHA-256 or a path"},
		{Name: "config", Type: "object", Doc: "the function's own config, passed to its atoll_init as JSON"},
		{Name: "memory_pages", Type: "integer", Default: wasmhost.DefaultMemoryPages, Min: engine.Num(1), Max: engine.Num(65536),
			Doc: "memory cap in 64 KiB pages"},
		{Name: "max_call_ms", Type: "integer", Default: wasmhost.DefaultMaxCallMS, Min: engine.Num(1), Max: engine.Num(600000),
			Doc: "bound on each call's CPU time, in milliseconds (wall time: 10 × this)"},
		{Name: "instances", Type: "integer", Default: wasmhost.DefaultInstances, Min: engine.Num(1), Max: engine.Num(64),
			Doc: "instances (workers) running batches in parallel"},
		{Name: "allow_dir", Type: "string", Path: true,
			Doc: "a host directory the function may read (read-only, mounted at /; links are followed only inside it); empty grants no files"},
	},
	Examples: []engine.Example{
		{Name: "moment of the day", Config: json.RawMessage(`{"module":"examples/functions/build/go-moment.wasm"}`)},
		{Name: "filter with config and limits", Config: json.RawMessage(`{"module":"examples/functions/build/go-filter.wasm","config":{"field":"temp_c","min":20},"memory_pages":256,"max_call_ms":200,"instances":2}`)},
	},
	Defaults: wasmDefaults,
	// memory_pages × instances: what the node may claim against the run's guest memory budget.
	GuestMemory: &engine.GuestMemory{Pages: "memory_pages", Instances: "instances", PageBytes: 65536},
}

var wasmDefaults = wasmConfig{
	MemoryPages: wasmhost.DefaultMemoryPages,
	MaxCallMS:   wasmhost.DefaultMaxCallMS,
	Instances:   wasmhost.DefaultInstances,
	NNThreads:   nnDefaultThreads,
}

type wasmConfig struct {
	Module      string            `json:"module"`
	Config      json.RawMessage   `json:"config,omitempty"`
	MemoryPages int               `json:"memory_pages"`
	MaxCallMS   int               `json:"max_call_ms"`
	Instances   int               `json:"instances"`
	AllowDir    string            `json:"allow_dir,omitempty"`
	Models      map[string]string `json:"models,omitempty"`
	Files       map[string]string `json:"files,omitempty"`
	NNThreads   int               `json:"nn_threads"`
}

func init() {
	wasmSpec.New = newWasm
	wasmSpec.Docs += nnDocs
	wasmSpec.Fields = append(wasmSpec.Fields, nnFields...)
	nodes.Register(wasmSpec)
}

// runtimeOf returns the engine's Wasm runtime (BuildContext.Services[wasmhost.ServiceName]) or
// the process-wide shared one.
func runtimeOf(bc engine.BuildContext) (*wasmhost.Runtime, error) {
	if r, ok := bc.Services[wasmhost.ServiceName].(*wasmhost.Runtime); ok && r != nil {
		return r, nil
	}
	return wasmhost.Shared()
}

func newWasm(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
	cfg, err := engine.DecodeConfig(raw, wasmDefaults)
	if err != nil {
		return nil, err
	}
	if cfg.Module == "" {
		return nil, errors.New("config: module is required")
	}
	if cfg.MemoryPages < 1 || cfg.MemoryPages > 65536 {
		return nil, fmt.Errorf("config: memory_pages must be 1..65536, got %d", cfg.MemoryPages)
	}
	if cfg.MaxCallMS < 1 {
		return nil, fmt.Errorf("config: max_call_ms must be > 0, got %d", cfg.MaxCallMS)
	}
	if cfg.Instances < 1 {
		return nil, fmt.Errorf("config: instances must be > 0, got %d", cfg.Instances)
	}
	if bc.Assets == nil {
		return nil, errors.New("config: module: no asset resolver to open it")
	}
	wasm, err := bc.Assets.Asset(cfg.Module)
	if err != nil {
		if strings.HasPrefix(cfg.Module, "examples/functions/build/") {
			return nil, fmt.Errorf("config: module %s: %w (the example modules are built by `make wasm-examples`)", cfg.Module, err)
		}
		return nil, fmt.Errorf("config: module %s: %w", cfg.Module, err)
	}
	rt, err := runtimeOf(bc)
	if err != nil {
		return nil, err
	}
	mod, err := rt.Load(context.Background(), wasm, wasmhost.Limits{
		MemoryPages: uint32(cfg.MemoryPages),
		MaxCallMS:   cfg.MaxCallMS,
	})
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", cfg.Module, err)
	}
	n := &wasmNode{id: bc.NodeID, ref: cfg.Module, buildLog: bc.Log}
	n.nn, err = newNNSetup(bc, cfg.Models, cfg.Files, cfg.NNThreads, cfg.AllowDir, n.log)
	if err != nil {
		return nil, err
	}
	fnCfg := []byte(cfg.Config)
	if len(fnCfg) == 0 || string(fnCfg) == "null" {
		fnCfg = []byte("{}")
	}
	n.fn, err = mod.NewFunction(wasmhost.FunctionConfig{
		InstanceConfig: wasmhost.InstanceConfig{Config: fnCfg, Log: n.log, AllowDir: n.nn.AllowDir, Context: n.nn.Context},
		Instances:      cfg.Instances,
	})
	if err != nil {
		n.nn.Close()
		return nil, fmt.Errorf("module %s: %w", cfg.Module, err)
	}
	n.instances = cfg.Instances
	return n, nil
}

// wasmNode is a running function.wasm node.
type wasmNode struct {
	id        string
	ref       string
	fn        *wasmhost.Function
	nn        *nnSetup
	instances int
	buildLog  func(level, msg string)
	out       atomic.Pointer[engine.Output] // where guest logs go during a run
	closeOnce sync.Once
}

func (n *wasmNode) log(level, msg string) {
	if o := n.out.Load(); o != nil {
		(*o).Log(level, msg)
		return
	}
	if n.buildLog != nil {
		n.buildLog(level, msg)
	}
}

// Workers lets the engine run one goroutine per instance.
func (n *wasmNode) Workers() int { return n.instances }

func (n *wasmNode) Process(ctx context.Context, port string, b *rows.Batch, out engine.Output) error {
	if p := n.out.Load(); p == nil || *p != out {
		n.out.Store(&out)
	}
	res, err := n.fn.Process(ctx, b)
	for _, f := range res.Failed {
		out.Reject(f.Row, errors.New(f.Reason))
	}
	st := n.fn.Stats()
	out.Gauge("fuel", float64(res.Fuel))
	out.Gauge("restarts", float64(st.Restarts))
	if err != nil {
		if len(res.Failed) > 0 {
			// The rows are in errors already; the node goes on with the next batch.
			out.Log("error", err.Error())
			return nil
		}
		return err
	}
	if res.Out == nil || len(res.Out.Rows) == 0 {
		return nil
	}
	return out.Emit("out", res.Out)
}

func (n *wasmNode) Close() error {
	n.closeOnce.Do(func() {
		n.fn.Close()
		n.nn.Close()
	})
	return nil
}

var (
	_ engine.Processor = (*wasmNode)(nil)
	_ engine.Workers   = (*wasmNode)(nil)
)
