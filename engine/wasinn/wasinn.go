// Package wasinn is Atoll's wasi-nn host: the witx ("preview1") `wasi_ephemeral_nn` import module
// (../shared/specs/wasi-nn.md) backed by the pure-Go TFLite interpreter in engine/tflite. Guests
// built for WasmEdge's wasi-nn (Rust wasi-nn 0.4–0.6, wasmedge-wasi-nn, C headers) link and run
// unchanged: same import names, same i32 signatures, same memory layouts and errno values.
//
// A host runtime registers the module once (HostModule, passed to wasmhost.Config.HostModules).
// Each Wasm node that may run inference owns an Env — the models it registered by name (for
// load_by_name), limits and a log — and hands it to its instances through their call context
// (WithEnv on wasmhost.InstanceConfig.Context). Graphs and execution contexts are per guest
// instance and are freed when the instance closes. Every pointer, length, handle, tensor shape
// and type a guest passes is checked; a bad one is answered with a wasi-nn errno, never a host
// panic. RATIONALE.md explains the choices.
package wasinn

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/atoll-studio/atoll/engine/wasinn/witx"
	"github.com/atoll-studio/atoll/engine/wasmhost"
)

// ModuleName is the import module guests use.
const ModuleName = "wasi_ephemeral_nn"

// Errno is a wasi-nn error code; the values are in package witx.
type Errno = witx.Errno

// The errno values the host answers (witx.Errno).
const (
	Success              = witx.Success
	InvalidArgument      = witx.InvalidArgument
	InvalidEncoding      = witx.InvalidEncoding
	MissingMemory        = witx.MissingMemory
	Busy                 = witx.Busy
	RuntimeError         = witx.RuntimeError
	UnsupportedOperation = witx.UnsupportedOperation
	TooLarge             = witx.TooLarge
	NotFound             = witx.NotFound
)

// HostModule returns the wasi_ephemeral_nn host module for wasmhost.Config.HostModules.
func HostModule() wasmhost.HostModule {
	return wasmhost.HostModule{Name: ModuleName, Instantiate: Instantiate}
}

// Importing the package offers wasi_ephemeral_nn to every Wasm runtime created afterwards.
func init() { wasmhost.RegisterHostModule(HostModule()) }

type hostFn struct {
	name   string
	params []string
	fn     func(s *instanceState, mod api.Module, p []uint64) Errno
}

// functions lists every import, in the spec's order, with its i32 parameters.
var functions = []hostFn{
	{"load", []string{"builder_ptr", "builder_len", "encoding", "target", "graph_out_ptr"}, (*instanceState).load},
	{"load_by_name", []string{"name_ptr", "name_len", "graph_out_ptr"}, (*instanceState).loadByName},
	{"load_by_name_with_config", []string{"name_ptr", "name_len", "config_ptr", "config_len", "graph_out_ptr"}, (*instanceState).loadByNameWithConfig},
	{"init_execution_context", []string{"graph", "ctx_out_ptr"}, (*instanceState).initExecutionContext},
	{"set_input", []string{"ctx", "index", "tensor_ptr"}, (*instanceState).setInput},
	{"compute", []string{"ctx"}, (*instanceState).compute},
	{"get_output", []string{"ctx", "index", "out_ptr", "out_max_len", "bytes_written_out_ptr"}, (*instanceState).getOutput},
	{"unload", []string{"graph"}, (*instanceState).unload},
	{"finalize_execution_context", []string{"ctx"}, (*instanceState).finalizeExecutionContext},
	// WasmEdge's token-streaming calls exist for LLM backends only; a TFLite host links them
	// so that such guests instantiate, and answers unsupported_operation.
	{"compute_single", []string{"ctx"}, unsupported},
	{"get_output_single", []string{"ctx", "index", "out_ptr", "out_max_len", "bytes_written_out_ptr"}, unsupported},
	{"fini_single", []string{"ctx"}, unsupported},
}

func unsupported(s *instanceState, _ api.Module, _ []uint64) Errno {
	return s.fail(UnsupportedOperation, "only LLM backends stream tokens; this host runs TFLite")
}

// Instantiate registers the wasi_ephemeral_nn host module in r.
func Instantiate(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder(ModuleName)
	for _, f := range functions {
		params := make([]api.ValueType, len(f.params))
		for i := range params {
			params[i] = api.ValueTypeI32
		}
		b.NewFunctionBuilder().
			WithGoModuleFunction(wrap(f), params, []api.ValueType{api.ValueTypeI32}).
			WithParameterNames(f.params...).
			WithResultNames("errno").
			Export(f.name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// wrap turns an import into a wazero host function: it finds the caller's state, recovers any
// panic (a host bug must not take the process down) and returns the errno.
func wrap(f hostFn) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		errno := call(ctx, f, mod, stack)
		stack[0] = uint64(errno)
	}
}

func call(ctx context.Context, f hostFn, mod api.Module, stack []uint64) (errno Errno) {
	env, _ := ctx.Value(envKey{}).(*Env)
	if env == nil {
		// The node granted no inference: nothing to load, nothing to run.
		return UnsupportedOperation
	}
	s := env.state(mod)
	s.fn = f.name
	defer func() {
		if p := recover(); p != nil {
			errno = s.fail(RuntimeError, fmt.Sprintf("internal error: %v", p))
		}
	}()
	if mod.Memory() == nil {
		return s.fail(MissingMemory, "the module has no memory")
	}
	return f.fn(s, mod, stack)
}
