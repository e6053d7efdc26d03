package wasinn_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/atoll-studio/atoll/engine/tflite"
	"github.com/atoll-studio/atoll/engine/wasinn"
	"github.com/atoll-studio/atoll/internal/testdata"
)

// TestIntegrationWasmEdgeGuest runs a guest written the WasmEdge way (testdata/wasmedge_yamnet.rs:
// a WASI command that reads the model file and calls `load`, declares the imports and the tensor
// record as the Rust wasi-nn crate does) on a plain wazero runtime with WASI and this host, as
// `wasmedge --dir .:. app.wasm ...` would run it, and checks its scores against a direct
// interpreter call, bit for bit.
func TestIntegrationWasmEdgeGuest(t *testing.T) {
	wasm := guestWasm(t, "wasmedge-yamnet")
	root := testdata.Root()
	testdata.Path(t, "models/yamnet/yamnet.tflite")
	frames := readData(t, "models/yamnet/reference/birdnet_sample_frames.f32")
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	if err := wasinn.Instantiate(ctx, rt); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	env, err := wasinn.NewEnv(wasinn.Options{Threads: 1, Log: func(level, msg string) { fmt.Fprintf(&logs, "%s: %s\n", level, msg) }})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	m, err := tflite.Load(readData(t, "models/yamnet/yamnet.tflite"), tflite.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	it, err := m.NewInterpreter()
	if err != nil {
		t.Fatal(err)
	}
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	for _, frame := range []int{0, 3} {
		var stdout, stderr bytes.Buffer
		cfg := wazero.NewModuleConfig().WithName("").
			WithArgs("wasmedge-yamnet", "/models/yamnet/yamnet.tflite", "/models/yamnet/reference/birdnet_sample_frames.f32", fmt.Sprint(frame)).
			WithFSConfig(wazero.NewFSConfig().WithReadOnlyDirMount(root, "/")).
			WithStdout(&stdout).WithStderr(&stderr)
		mod, err := rt.InstantiateModule(wasinn.WithEnv(ctx, env), compiled, cfg)
		if err != nil {
			t.Fatalf("frame %d: %v\nstderr: %s\nhost: %s", frame, err, stderr.String(), logs.String())
		}
		mod.Close(ctx)
		if err := it.SetInput(0, frames[frame*15600*4:(frame+1)*15600*4]); err != nil {
			t.Fatal(err)
		}
		if err := it.Invoke(); err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		for _, f := range it.Output(0).Float32() {
			fmt.Fprintf(&want, "%08x\n", math.Float32bits(f))
		}
		if stdout.String() != want.String() {
			t.Fatalf("frame %d: the guest's scores differ from the direct call (%d vs %d bytes of output)", frame, stdout.Len(), want.Len())
		}
	}
	if st := env.Stats(); st.Computes != 2 {
		t.Fatalf("stats %+v", st)
	}
}
