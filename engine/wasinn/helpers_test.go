package wasinn_test

import (
	"context"
	"encoding/json"
	"github.com/atoll-studio/atoll/internal/testnodes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/engine/wasinn"
	"github.com/atoll-studio/atoll/engine/wasmhost"
	"github.com/atoll-studio/atoll/internal/testdata"
	"github.com/atoll-studio/atoll/nodes"
	_ "github.com/atoll-studio/atoll/nodes/all"
)

// repoRoot is the repository root.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

var (
	buildOnce sync.Once
	buildOut  []byte
	buildErr  error
)

// guestWasm builds the guests of mk/wasinn.mk (classifier-wasm, wasinn-test-wasm) once per test
// binary (make skips what is up to date) and returns examples/functions/build/<name>.wasm.
func guestWasm(t testing.TB, name string) []byte {
	t.Helper()
	buildOnce.Do(func() {
		buildOut, buildErr = exec.Command("make", "-s", "-C", repoRoot(), "-f", "mk/wasinn.mk", "classifier-wasm", "wasinn-test-wasm").CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("building the guests (make -f mk/wasinn.mk classifier-wasm wasinn-test-wasm) failed: %v\n%s", buildErr, buildOut)
	}
	b, err := os.ReadFile(filepath.Join(repoRoot(), "examples", "functions", "build", name+".wasm"))
	if err != nil {
		t.Fatalf("mk/wasinn.mk did not build %s: %v", name, err)
	}
	return b
}

// classifierWasm returns the classifier guest (examples/functions/go/classifier).
func classifierWasm(t testing.TB) []byte { return guestWasm(t, "classifier") }

func readData(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(testdata.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// capture is the shared test sink.
type capture = testnodes.Capture

// owlFrames runs source.wav → transform.resample (16 kHz) → transform.frame (15600/8000) on
// tawnyowl.wav and returns the YAMNet windows, as the birds graph feeds its classifier.
func owlFrames(t testing.TB) []rows.Row {
	t.Helper()
	wav := testdata.Path(t, "audio/birds/tawnyowl.wav")
	var c capture
	cat := nodes.New()
	testnodes.Register(cat, "test.capture", &c)
	src, _ := json.Marshal(map[string]any{"path": wav, "frame": 4800})
	doc, err := graph.Parse([]byte(`{"version":1,"id":"frames","name":"frames","nodes":[
		{"id":"wav","type":"source.wav","config":` + string(src) + `},
		{"id":"resample","type":"transform.resample","config":{"to_rate":16000}},
		{"id":"frame","type":"transform.frame","config":{"size":15600,"hop":8000}},
		{"id":"cap","type":"test.capture"}],
		"edges":[{"from":{"node":"wav","port":"out"},"to":{"node":"resample","port":"in"}},
		{"from":{"node":"resample","port":"out"},"to":{"node":"frame","port":"in"}},
		{"from":{"node":"frame","port":"out"},"to":{"node":"cap","port":"in"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := engine.Build(doc, engine.Options{Catalog: cat, Headless: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r.Start(ctx)
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	if c.Len() < 20 {
		t.Fatalf("tawnyowl.wav gave %d windows, want about 30", c.Len())
	}
	return c.Rows()
}

// classifier starts the classifier guest on a runtime that offers wasi_ephemeral_nn, with the
// YAMNet model registered as "yamnet"; it returns the Function and the node's Env.
func classifier(t testing.TB, config map[string]any, threads int) (*wasmhost.Function, *wasinn.Env) {
	t.Helper()
	fn, env, err := startClassifier(t, config, threads)
	if err != nil {
		t.Fatal(err)
	}
	return fn, env
}

func startClassifier(t testing.TB, config map[string]any, threads int) (*wasmhost.Function, *wasinn.Env, error) {
	t.Helper()
	return startGuest(t, map[string]string{"yamnet": "models/yamnet/yamnet.tflite"}, config, threads, 1)
}

// startGuest starts the classifier guest with instances instances and the given models (name →
// test data path) registered.
func startGuest(t testing.TB, models map[string]string, config map[string]any, threads, instances int) (*wasmhost.Function, *wasinn.Env, error) {
	t.Helper()
	ctx := context.Background()
	rt, err := wasmhost.NewRuntime(ctx, wasmhost.Config{HostModules: []wasmhost.HostModule{wasinn.HostModule()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(ctx) })
	blobs := map[string][]byte{}
	for name, rel := range models {
		blobs[name] = readData(t, rel)
	}
	env, err := wasinn.NewEnv(wasinn.Options{
		Models:  blobs,
		Threads: threads,
		Log:     func(level, msg string) { t.Logf("wasi-nn %s: %s", level, msg) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close() })
	mod, err := rt.Load(ctx, classifierWasm(t), wasmhost.Limits{MaxCallMS: 60000})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(config)
	fn, err := mod.NewFunction(wasmhost.FunctionConfig{InstanceConfig: wasmhost.InstanceConfig{
		Config:  cfg,
		Context: wasinn.WithEnv(ctx, env),
		Log:     func(level, msg string) { t.Logf("guest %s: %s", level, msg) },
	}, Instances: instances})
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { fn.Close() })
	return fn, env, nil
}
