package meter

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	examples "github.com/atoll-studio/atoll/internal/wasmexamples"
)

// countModule exports count(n i64) -> i64: a loop that runs n times and returns n. It has a
// memory (min 2, no max), an imported global and a global of its own, so the fuel global goes
// after both, and no export of globals.
var countModule = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x06, 0x01, 0x60, 0x01, 0x7E, 0x01, 0x7E, // type 0: (i64) -> i64
	0x02, 0x08, 0x01, 0x01, 'e', 0x01, 'g', 0x03, 0x7F, 0x00, // import e.g: global i32 const
	0x03, 0x02, 0x01, 0x00, // func 0: type 0
	0x05, 0x03, 0x01, 0x00, 0x02, // memory min 2
	0x06, 0x06, 0x01, 0x7E, 0x01, 0x42, 0x00, 0x0B, // global 1: mut i64 = 0
	0x07, 0x09, 0x01, 0x05, 'c', 'o', 'u', 'n', 't', 0x00, 0x00, // export "count"
	0x0A, 0x17, 0x01, 0x15, 0x00, // code: one body, no locals
	0x03, 0x40, // loop
	0x23, 0x01, 0x42, 0x01, 0x7C, 0x24, 0x01, // g1 = g1 + 1
	0x23, 0x01, 0x20, 0x00, 0x53, 0x0D, 0x00, // br_if (g1 < n)
	0x0B,       // end
	0x23, 0x01, // global.get 1
	0x0B, // end
}

func TestInstrumentCountsAndTraps(t *testing.T) {
	out, st, err := Instrument(countModule, Options{MaxMemoryPages: 4})
	if err != nil {
		t.Fatal(err)
	}
	if st.FuelGlobal != 2 || st.Functions != 1 || st.Sites != 2 {
		t.Fatalf("stats %+v, want fuel global 2, 1 function, 2 sites", st)
	}
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	// The imported global: a module "e" exporting a global "g".
	if _, err := r.InstantiateWithConfig(ctx, globalExporter, wazero.NewModuleConfig().WithName("e")); err != nil {
		t.Fatal(err)
	}
	mod, err := r.InstantiateWithConfig(ctx, out, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	fuel := mod.ExportedGlobal(FuelExport).(api.MutableGlobal)
	count := mod.ExportedFunction("count")
	fuel.Set(1_000_000)
	res, err := count.Call(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if res[0] != 1000 {
		t.Fatalf("count returned %d", res[0])
	}
	// Entry: 1 instruction (loop) up to the first control instruction; loop header: 8 up to br_if.
	if used := 1_000_000 - int64(fuel.Get()); used != 1+8*1000 {
		t.Fatalf("used %d fuel, want %d", used, 1+8*1000)
	}
	// A budget that runs out traps with unreachable and leaves the fuel negative.
	fuel.Set(100)
	_, err = count.Call(ctx, 1_000_000)
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("err %v, want an unreachable trap", err)
	}
	if int64(fuel.Get()) >= 0 {
		t.Fatalf("fuel %d after the trap", int64(fuel.Get()))
	}
}

// globalExporter exports an immutable i32 global "g".
var globalExporter = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x06, 0x06, 0x01, 0x7F, 0x00, 0x41, 0x07, 0x0B,
	0x07, 0x05, 0x01, 0x01, 'g', 0x03, 0x00,
}

func TestMemoryCap(t *testing.T) {
	out, _, err := Instrument(countModule, Options{MaxMemoryPages: 3})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	if _, err := r.CompileModule(ctx, out); err != nil {
		t.Fatal(err)
	}
	// The memory section now reads: one memory, limits with a maximum, min 2, max 3.
	if !strings.Contains(string(out), "\x05\x04\x01\x01\x02\x03") {
		t.Fatalf("memory section not capped: % x", out)
	}
	if _, _, err := Instrument(countModule, Options{MaxMemoryPages: 1}); err == nil || !strings.Contains(err.Error(), "needs 2 pages at start, over the cap of 1") {
		t.Fatalf("cap below the initial size: %v", err)
	}
}

func TestRejects(t *testing.T) {
	if _, _, err := Instrument([]byte("not wasm at all"), Options{}); !errors.Is(err, ErrNotWasm) {
		t.Errorf("not wasm: %v", err)
	}
	truncated := countModule[:len(countModule)-5]
	if _, _, err := Instrument(truncated, Options{}); err == nil {
		t.Error("truncated module accepted")
	}
	bad := append([]byte(nil), countModule...)
	bad[len(bad)-3] = 0xFF // an unknown opcode in the body
	if _, _, err := Instrument(bad, Options{}); err == nil || !strings.Contains(err.Error(), "unknown opcode") {
		t.Errorf("unknown opcode: %v", err)
	}
}

// TestRealModulesValidate instruments the example guests (Go's huge wasip1 functions, clang's
// and rustc's output) and checks that wazero compiles the result.
func TestRealModulesValidate(t *testing.T) {
	ctx := context.Background()
	// The user's compilation cache, as the host uses it: these are the bytes the host compiles
	// for default limits, so a run after the host tests (or before them) compiles once.
	rc := wazero.NewRuntimeConfig()
	if dir, err := os.UserCacheDir(); err == nil {
		if cache, err := wazero.NewCompilationCacheWithDir(filepath.Join(dir, "atoll", "wazero")); err == nil {
			rc = rc.WithCompilationCache(cache)
		}
	}
	r := wazero.NewRuntimeWithConfig(ctx, rc)
	defer r.Close(ctx)
	for _, name := range []string{"go-moment", "go-enrich", "c-moment", "rust-moment"} {
		wasm := examples.Bytes(t, name)
		out, st, err := Instrument(wasm, Options{MaxMemoryPages: 1024})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := r.CompileModule(ctx, out); err != nil {
			t.Fatalf("%s: instrumented module does not compile: %v", name, err)
		}
		t.Logf("%s: %d functions, %d sites, %d -> %d bytes", name, st.Functions, st.Sites, len(wasm), len(out))
	}
}

func FuzzInstrument(f *testing.F) {
	f.Add(countModule)
	f.Fuzz(func(t *testing.T, b []byte) {
		Instrument(b, Options{MaxMemoryPages: 16}) // must not panic
	})
}

// TestCorruptCountsAllocateLittle: a section whose item count is 2^32-1 is an error before any
// allocation sized by that count (found by FuzzInstrument: the worker ran out of memory).
func TestCorruptCountsAllocateLittle(t *testing.T) {
	for name, b := range map[string][]byte{
		"type section":     []byte("\x00asm\x01\x00\x00\x00\x01\x06\xff\xff\xff\xff\x0f\x60"),
		"function section": []byte("\x00asm\x01\x00\x00\x00\x03\x06\xff\xff\xff\xff\x0f\x00"),
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := Instrument(b, Options{})
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: corrupt count accepted", name)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
			t.Errorf("%s: allocated %d bytes for a %d-byte module", name, d, len(b))
		}
	}
}
