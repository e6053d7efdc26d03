// Package wasmexamples gives tests the example and misbehaving guest modules, built from source by
// `make -f mk/wasm.mk wasm-examples` (run once per test binary; make skips what is up to date).
// A module that cannot be built fails the test naming the make target: never a silent skip.
package wasmexamples

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	once    sync.Once
	out     []byte
	makeErr error
)

// Root returns the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	// file is <root>/internal/wasmexamples/wasmexamples.go
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Path returns the path of examples/functions/build/<name>.wasm, building the examples first.
func Path(t testing.TB, name string) string {
	t.Helper()
	once.Do(func() {
		cmd := exec.Command("make", "-s", "-C", Root(), "-f", "mk/wasm.mk", "wasm-examples")
		out, makeErr = cmd.CombinedOutput()
	})
	if makeErr != nil {
		t.Fatalf("building the wasm examples (make -f mk/wasm.mk wasm-examples) failed: %v\n%s", makeErr, out)
	}
	p := filepath.Join(Root(), "examples", "functions", "build", name+".wasm")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s was not built by make target wasm-examples (mk/wasm.mk): %v", p, err)
	}
	return p
}

// Bytes returns the module's bytes.
func Bytes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(Path(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
