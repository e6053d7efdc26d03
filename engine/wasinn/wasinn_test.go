package wasinn

import (
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/atoll-studio/atoll/engine/wasinn/witx"
	"github.com/atoll-studio/atoll/internal/testdata"
)

// Guest memory layout of the probe tests (2 pages = 131072 bytes).
const (
	memSize   = 2 * 65536
	graphOut  = 16
	ctxOut    = 20
	written   = 24
	builderAt = 128
	nameAt    = 64
	tensorAt  = 256
	dataAt    = 1024
	outAt     = 4096
	modelAt   = 8192
)

func readFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(testdata.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) log(level, msg string) {
	l.mu.Lock()
	l.lines = append(l.lines, level+": "+msg)
	l.mu.Unlock()
}

func (l *logLines) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return ""
	}
	return l.lines[len(l.lines)-1]
}

func sineEnv(t testing.TB, opts Options, logs *logLines) *Env {
	t.Helper()
	opts.Models = map[string][]byte{"sine": readFile(t, "tflite/hello_world/hello_world_float.tflite")}
	if logs != nil {
		opts.Log = logs.log
	}
	env, err := NewEnv(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close() })
	return env
}

func (p *probe) name(s string) (uint32, uint32) {
	p.write(nameAt, []byte(s))
	return nameAt, uint32(len(s))
}

// sineContext loads "sine" by name and returns a context handle.
func (p *probe) sineContext() uint32 {
	p.t.Helper()
	np, nl := p.name("sine")
	if e := p.call("load_by_name", np, nl, graphOut); e != Success {
		p.t.Fatalf("load_by_name: %v", e)
	}
	if e := p.call("init_execution_context", p.u32(graphOut), ctxOut); e != Success {
		p.t.Fatalf("init_execution_context: %v", e)
	}
	return p.u32(ctxOut)
}

func (p *probe) sine(c uint32, x float32) float32 {
	p.t.Helper()
	p.putU32s(dataAt, math.Float32bits(x))
	p.tensor(tensorAt, []uint32{1, 1}, witx.TypeF32, dataAt, 4)
	if e := p.call("set_input", c, 0, tensorAt); e != Success {
		p.t.Fatalf("set_input: %v", e)
	}
	if e := p.call("compute", c); e != Success {
		p.t.Fatalf("compute: %v", e)
	}
	if e := p.call("get_output", c, 0, outAt, 64, written); e != Success {
		p.t.Fatalf("get_output: %v", e)
	}
	if n := p.u32(written); n != 4 {
		p.t.Fatalf("get_output wrote %d bytes, want 4", n)
	}
	return math.Float32frombits(p.u32(outAt))
}

func TestSineByName(t *testing.T) {
	p := newProbe(t, sineEnv(t, Options{Threads: 1}, nil))
	c := p.sineContext()
	for _, x := range []float32{0, 0.5, 1.5, 3, 4.7} {
		if y := p.sine(c, x); math.Abs(float64(y)-math.Sin(float64(x))) > 0.1 {
			t.Errorf("sine(%g) = %g, want about %g", x, y, math.Sin(float64(x)))
		}
	}
}

func TestLoadBytes(t *testing.T) {
	p := newProbe(t, sineEnv(t, Options{Threads: 1}, nil))
	model := readFile(t, "tflite/hello_world/hello_world_float.tflite")
	p.write(modelAt, model)
	p.putU32s(builderAt, modelAt, uint32(len(model)))
	for _, enc := range []uint32{witx.EncodingTensorflowLite, witx.EncodingAutodetect} {
		if e := p.call("load", builderAt, 1, enc, witx.TargetCPU, graphOut); e != Success {
			t.Fatalf("load(encoding %d): %v", enc, e)
		}
		if e := p.call("init_execution_context", p.u32(graphOut), ctxOut); e != Success {
			t.Fatal(e)
		}
		if y := p.sine(p.u32(ctxOut), 1.5); math.Abs(float64(y)-math.Sin(1.5)) > 0.1 {
			t.Fatalf("sine(1.5) = %g", y)
		}
	}
	if st := p.env.Stats(); st.Graphs != 2 || st.Contexts != 2 || st.Instances != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestInt8ByU8 feeds the int8 sine model a u8 tensor (witx has no i8; the bytes are the same).
func TestInt8ByU8(t *testing.T) {
	env, err := NewEnv(Options{Models: map[string][]byte{"sine8": readFile(t, "tflite/hello_world/hello_world_int8.tflite")}})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	in := env.Model("sine8").Inputs()[0]
	p := newProbe(t, env)
	np, nl := p.name("sine8")
	if e := p.call("load_by_name", np, nl, graphOut); e != Success {
		t.Fatal(e)
	}
	if e := p.call("init_execution_context", p.u32(graphOut), ctxOut); e != Success {
		t.Fatal(e)
	}
	c := p.u32(ctxOut)
	dims := make([]uint32, len(in.Shape))
	for i, d := range in.Shape {
		dims[i] = uint32(d)
	}
	p.write(dataAt, []byte{0x10})
	for _, typ := range []byte{witx.TypeU8, witx.LegacyTypeU8} {
		p.tensor(tensorAt, dims, typ, dataAt, 1)
		if e := p.call("set_input", c, 0, tensorAt); e != Success {
			t.Fatalf("set_input u8 (type %d) into %s: %v", typ, in.Type, e)
		}
	}
	p.tensor(tensorAt, dims, witx.TypeF32, dataAt, 1)
	if e := p.call("set_input", c, 0, tensorAt); e != InvalidArgument {
		t.Fatalf("f32 into int8: %v", e)
	}
}

// TestErrors drives every import with bad arguments: each gets its errno, nothing traps, the
// context stays usable.
func TestErrors(t *testing.T) {
	logs := &logLines{}
	p := newProbe(t, sineEnv(t, Options{Threads: 1, MaxContexts: 2, MaxGraphs: 3}, logs))
	c := p.sineContext() // graph 0, context 0
	g := p.u32(graphOut)
	model := readFile(t, "tflite/hello_world/hello_world_float.tflite")
	p.write(modelAt, model)
	const oob = memSize - 2 // a u32 there runs past the end
	np, nl := p.name("sine")
	_ = np

	// Helpers that rewrite the shared tensor record before a set_input.
	goodTensor := func() { p.tensor(tensorAt, []uint32{1, 1}, witx.TypeF32, dataAt, 4) }
	cases := []struct {
		name  string
		setup func()
		fn    string
		args  []uint32
		want  Errno
		log   string
	}{
		{"load: out ptr out of bounds", func() { p.putU32s(builderAt, modelAt, uint32(len(model))) }, "load", []uint32{builderAt, 1, 4, 0, oob}, InvalidArgument, "graph_out_ptr"},
		{"load: builder array out of bounds", nil, "load", []uint32{memSize - 4, 1, 4, 0, graphOut}, InvalidArgument, "builder array"},
		{"load: model bytes out of bounds", func() { p.putU32s(builderAt, memSize-100, 200) }, "load", []uint32{builderAt, 1, 4, 0, graphOut}, InvalidArgument, "out of bounds"},
		{"load: huge model", func() { p.putU32s(builderAt, 0, math.MaxUint32) }, "load", []uint32{builderAt, 1, 4, 0, graphOut}, TooLarge, "exceeds"},
		{"load: two builders", func() { p.putU32s(builderAt, modelAt, uint32(len(model)), modelAt, 4) }, "load", []uint32{builderAt, 2, 4, 0, graphOut}, InvalidArgument, "exactly 1 builder"},
		{"load: onnx", nil, "load", []uint32{builderAt, 1, witx.EncodingONNX, 0, graphOut}, InvalidEncoding, "not supported"},
		{"load: openvino", nil, "load", []uint32{builderAt, 1, witx.EncodingOpenVINO, 0, graphOut}, InvalidEncoding, "not supported"},
		{"load: unknown encoding", nil, "load", []uint32{builderAt, 1, 99, 0, graphOut}, InvalidEncoding, "unknown encoding"},
		{"load: gpu", nil, "load", []uint32{builderAt, 1, 4, witx.TargetGPU, graphOut}, InvalidArgument, "target"},
		{"load: not a model", func() { p.putU32s(builderAt, dataAt, 64) }, "load", []uint32{builderAt, 1, 4, 0, graphOut}, InvalidArgument, "tflite"},
		{"load: autodetect garbage", func() { p.putU32s(builderAt, dataAt, 64) }, "load", []uint32{builderAt, 1, witx.EncodingAutodetect, 0, graphOut}, InvalidEncoding, "autodetect"},
		{"load_by_name: unknown", func() { p.name("nope") }, "load_by_name", []uint32{nameAt, 4, graphOut}, NotFound, `"nope"`},
		{"load_by_name: name out of bounds", nil, "load_by_name", []uint32{memSize - 2, 4, graphOut}, InvalidArgument, "name"},
		{"load_by_name: huge name", nil, "load_by_name", []uint32{0, math.MaxUint32, graphOut}, InvalidArgument, "too long"},
		{"load_by_name: out ptr", func() { p.name("sine") }, "load_by_name", []uint32{nameAt, nl, math.MaxUint32}, InvalidArgument, "graph_out_ptr"},
		{"load_by_name: not utf-8", func() { p.write(nameAt, []byte{0xff, 0xfe}) }, "load_by_name", []uint32{nameAt, 2, graphOut}, InvalidArgument, "UTF-8"},
		{"load_by_name_with_config: config out of bounds", func() { p.name("sine") }, "load_by_name_with_config", []uint32{nameAt, nl, memSize, 1, graphOut}, InvalidArgument, "config"},
		{"init: unknown graph", nil, "init_execution_context", []uint32{77, ctxOut}, InvalidArgument, "unknown graph 77"},
		{"init: out ptr", nil, "init_execution_context", []uint32{g, oob}, InvalidArgument, "ctx_out_ptr"},
		{"set_input: unknown context", goodTensor, "set_input", []uint32{9, 0, tensorAt}, InvalidArgument, "unknown execution context 9"},
		{"set_input: input index", goodTensor, "set_input", []uint32{c, 1, tensorAt}, InvalidArgument, "1 inputs"},
		{"set_input: huge index", goodTensor, "set_input", []uint32{c, math.MaxUint32, tensorAt}, InvalidArgument, "inputs"},
		{"set_input: record out of bounds", nil, "set_input", []uint32{c, 0, memSize - 10}, InvalidArgument, "tensor record"},
		{"set_input: dims out of bounds", func() { p.putU32s(tensorAt, memSize-4, 2, 1, dataAt, 4) }, "set_input", []uint32{c, 0, tensorAt}, InvalidArgument, "dims"},
		{"set_input: huge rank", func() { p.putU32s(tensorAt, 0, math.MaxUint32, 1, dataAt, 4) }, "set_input", []uint32{c, 0, tensorAt}, InvalidArgument, "rank"},
		{"set_input: wrong rank", func() { p.tensor(tensorAt, []uint32{1}, witx.TypeF32, dataAt, 4) }, "set_input", []uint32{c, 0, tensorAt}, InvalidArgument, "rank 1"},
		{"set_input: wrong dims", func() { p.tensor(tensorAt, []uint32{1, 2}, witx.TypeF32, dataAt, 8) }, "set_input", []uint32{c, 0, tensorAt}, InvalidArgument, "[1 2]"},
		{"set_input: wrong type", func() { p.tensor(tensorAt, []uint32{1, 1}, witx.TypeI32, dataAt, 4) }, "set_input", []uint32{c, 0, tensorAt}, InvalidArgument, "i32"},
		{"set_input: legacy i32 byte", func() { p.tensor(tensorAt, []uint32{1, 1}, witx.LegacyTypeI32, dataAt, 4) }, "set_input", []uint32{c, 0, tensorAt}, InvalidArgument, "FLOAT32"},
		{"set_input: unknown type", func() { p.tensor(tensorAt, []uint32{1, 1}, 200, dataAt, 4) }, "set_input", []uint32{c, 0, tensorAt}, InvalidArgument, "unknown tensor type"},
		{"set_input: short data", func() { p.tensor(tensorAt, []uint32{1, 1}, witx.TypeF32, dataAt, 3) }, "set_input", []uint32{c, 0, tensorAt}, InvalidArgument, "takes 4 bytes, got 3"},
		{"set_input: data out of bounds", func() { p.tensor(tensorAt, []uint32{1, 1}, witx.TypeF32, memSize-2, 4) }, "set_input", []uint32{c, 0, tensorAt}, InvalidArgument, "data"},
		{"compute: unknown context", nil, "compute", []uint32{42}, InvalidArgument, "unknown execution context 42"},
		{"get_output: unknown context", nil, "get_output", []uint32{42, 0, outAt, 64, written}, InvalidArgument, "unknown"},
		{"get_output: index", nil, "get_output", []uint32{c, 1, outAt, 64, written}, InvalidArgument, "1 outputs"},
		{"get_output: huge index", nil, "get_output", []uint32{c, math.MaxUint32, outAt, 64, written}, InvalidArgument, "outputs"},
		{"get_output: buffer out of bounds", nil, "get_output", []uint32{c, 0, memSize - 2, 64, written}, InvalidArgument, "output buffer"},
		{"get_output: written ptr", nil, "get_output", []uint32{c, 0, outAt, 64, oob}, InvalidArgument, "bytes_written"},
		{"get_output: small buffer", nil, "get_output", []uint32{c, 0, outAt, 3, written}, TooLarge, "takes 4 bytes"},
		{"unload: unknown graph", nil, "unload", []uint32{1234}, InvalidArgument, "unknown graph"},
		{"finalize: unknown context", nil, "finalize_execution_context", []uint32{1234}, InvalidArgument, "unknown execution context"},
		{"compute_single", nil, "compute_single", []uint32{c}, UnsupportedOperation, "LLM"},
		{"get_output_single", nil, "get_output_single", []uint32{c, 0, outAt, 64, written}, UnsupportedOperation, "LLM"},
		{"fini_single", nil, "fini_single", []uint32{c}, UnsupportedOperation, "LLM"},
	}
	for _, tc := range cases {
		if tc.setup != nil {
			tc.setup()
		}
		if got := p.call(tc.fn, tc.args...); got != tc.want {
			t.Errorf("%s: %s%v = %v, want %v (log: %s)", tc.name, tc.fn, tc.args, got, tc.want, logs.last())
			continue
		}
		if !strings.Contains(logs.last(), tc.log) || !strings.Contains(logs.last(), tc.fn) {
			t.Errorf("%s: log %q does not say %q", tc.name, logs.last(), tc.log)
		}
	}
	// too_large told the guest the size it needs.
	if n := p.u32(written); n != 4 {
		t.Errorf("get_output with a small buffer: bytes_written = %d, want 4", n)
	}
	// The context survived all of it.
	if y := p.sine(c, 1.5); math.Abs(float64(y)-math.Sin(1.5)) > 0.1 {
		t.Fatalf("sine(1.5) = %g after the errors", y)
	}
}

func TestLimitsAndLifetimes(t *testing.T) {
	p := newProbe(t, sineEnv(t, Options{Threads: 1, MaxContexts: 2, MaxGraphs: 2}, nil))
	np, nl := p.name("sine")
	for range 2 {
		if e := p.call("load_by_name", np, nl, graphOut); e != Success {
			t.Fatal(e)
		}
	}
	if e := p.call("load_by_name", np, nl, graphOut); e != TooLarge {
		t.Fatalf("third graph: %v, want too_large", e)
	}
	g := p.u32(graphOut)
	if e := p.call("unload", 0); e != Success {
		t.Fatal(e)
	}
	if e := p.call("init_execution_context", 0, ctxOut); e != InvalidArgument {
		t.Fatalf("context of an unloaded graph: %v", e)
	}
	if e := p.call("load_by_name", np, nl, graphOut); e != Success {
		t.Fatalf("graph after unload: %v", e)
	}
	if got := p.u32(graphOut); got == 0 {
		t.Fatalf("handle 0 was reused")
	}
	for range 2 {
		if e := p.call("init_execution_context", g, ctxOut); e != Success {
			t.Fatal(e)
		}
	}
	if e := p.call("init_execution_context", g, ctxOut); e != TooLarge {
		t.Fatalf("third context: %v, want too_large", e)
	}
	c := p.u32(ctxOut)
	if e := p.call("finalize_execution_context", c); e != Success {
		t.Fatal(e)
	}
	if e := p.call("compute", c); e != InvalidArgument {
		t.Fatalf("compute on a finalized context: %v", e)
	}
	// Per instance: a second instance has its own handles and limits.
	m2 := p.instance()
	if e := p.callOn(m2, "compute", 0); e != InvalidArgument {
		t.Fatalf("second instance sees the first's context: %v", e)
	}
	m2.Memory().Write(np, []byte("sine"))
	if e := p.callOn(m2, "load_by_name", np, nl, graphOut); e != Success {
		t.Fatal(e)
	}
	if st := p.env.Stats(); st.Instances != 2 || st.Graphs != 3 || st.Contexts != 1 {
		t.Fatalf("stats %+v", st)
	}
	// A closed instance's state is freed.
	m2.Close(p.ctx)
	if st := p.env.Stats(); st.Instances != 1 || st.Graphs != 2 {
		t.Fatalf("stats after close %+v", st)
	}
	p.env.Close()
	if e := p.call("load_by_name", np, nl, graphOut); e != Busy {
		t.Fatalf("after Env.Close: %v, want busy", e)
	}
}

func TestNoEnv(t *testing.T) {
	p := newProbe(t, nil)
	if e := p.call("load_by_name", nameAt, 4, graphOut); e != UnsupportedOperation {
		t.Fatalf("without an Env: %v", e)
	}
}

func TestNewEnvBadModel(t *testing.T) {
	if _, err := NewEnv(Options{Models: map[string][]byte{"x": []byte("not a model")}}); err == nil || !strings.Contains(err.Error(), `model "x"`) {
		t.Fatalf("NewEnv with a broken model: %v", err)
	}
}

// TestFuzzCalls throws random arguments at every import, mixed with valid handles and pointers
// near the end of memory: no call may trap or answer outside the errno range.
func TestFuzzCalls(t *testing.T) {
	p := newProbe(t, sineEnv(t, Options{Threads: 1, MaxContexts: 3, MaxGraphs: 4}, nil))
	p.sineContext()
	model := readFile(t, "tflite/hello_world/hello_world_float.tflite")
	p.write(modelAt, model)
	rng := rand.New(rand.NewPCG(1, 2))
	interesting := []uint32{0, 1, 2, 3, 4, 5, 20, memSize - 20, memSize - 4, memSize - 1, memSize, memSize + 1,
		math.MaxUint32, math.MaxUint32 - 3, 1 << 31, nameAt, tensorAt, dataAt, outAt, modelAt, builderAt}
	arg := func() uint32 {
		if rng.IntN(2) == 0 {
			return interesting[rng.IntN(len(interesting))]
		}
		return rng.Uint32()
	}
	counts := map[Errno]int{}
	for range 20000 {
		f := functions[rng.IntN(len(functions))]
		// Sometimes plant plausible structures the pointers may hit.
		switch rng.IntN(4) {
		case 0:
			p.tensor(tensorAt, []uint32{1, arg() % 3}, byte(rng.IntN(8)), arg()%memSize, arg()%16)
		case 1:
			p.putU32s(builderAt, [][]uint32{{modelAt, uint32(len(model))}, {arg(), arg()}}[rng.IntN(2)]...)
		case 2:
			p.name([]string{"sine", "", "x", "sine\x00"}[rng.IntN(4)])
		}
		args := make([]uint32, len(f.params))
		for i := range args {
			args[i] = arg()
		}
		e := p.call(f.name, args...)
		if e > NotFound {
			t.Fatalf("%s%v = %d", f.name, args, e)
		}
		counts[e]++
	}
	t.Logf("errnos: %v", counts)
	if counts[Success] == 0 {
		t.Errorf("no call succeeded: the fuzz never reached the happy path")
	}
	st := p.env.Stats()
	if st.Contexts > 3 || st.Graphs > 4 {
		t.Fatalf("limits broken: %+v", st)
	}
}
