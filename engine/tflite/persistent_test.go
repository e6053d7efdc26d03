package tflite

import (
	"runtime"
	"slices"
	"testing"
	"weak"
)

// counterKernel is a test operator with persistent state: it outputs a counter that starts at
// 100 (set by Reset) and grows by the input on every Invoke.
type counterKernel struct{ id int }

func (k *counterKernel) Prepare(c *OpContext) error {
	c.Outputs[0].Shape = []int{1}
	k.id = c.AddPersistent(4)
	return nil
}

func (k *counterKernel) Reset(c *OpContext) {
	view[int32](c.Persistent(k.id))[0] = 100
}

func (k *counterKernel) Eval(c *OpContext) error {
	s := view[int32](c.Persistent(k.id))
	s[0] += c.Inputs[0].Int32()[0]
	c.Outputs[0].Int32()[0] = s[0]
	return nil
}

var _ Resetter = (*counterKernel)(nil)

func TestPersistentStateAndReset(t *testing.T) {
	RegisterCustom("AtollTestCounter", func() Kernel { return &counterKernel{} })
	b := buildModel([]testTensor{{shape: []int32{1}, typ: Int32}, {shape: []int32{1}, typ: Int32}},
		[]testOp{{code: OpCustom, custom: "AtollTestCounter", in: []int32{0}, out: []int32{1}}}, []int32{0}, []int32{1})
	m, err := Load(b, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, bb := mustInterp(t, m), mustInterp(t, m)
	step := func(it *Interpreter, add int32) int32 {
		t.Helper()
		it.Input(0).Int32()[0] = add
		if err := it.Invoke(); err != nil {
			t.Fatal(err)
		}
		return it.Output(0).Int32()[0]
	}
	for _, tc := range []struct {
		it   *Interpreter
		add  int32
		want int32
	}{{a, 1, 101}, {bb, 10, 110}, {a, 1, 102}, {bb, 10, 120}, {a, 5, 107}} {
		if got := step(tc.it, tc.add); got != tc.want {
			t.Fatalf("counter = %d, want %d", got, tc.want)
		}
	}
	a.Reset()
	if got := step(a, 1); got != 101 {
		t.Fatalf("after Reset: %d, want 101", got)
	}
	if got := step(bb, 0); got != 120 {
		t.Fatalf("other interpreter after Reset of the first: %d, want 120", got)
	}
}

// msRun feeds the preprocessor windows starting at each offset and returns the features.
func msRun(t *testing.T, it *Interpreter, audio []int16, offs []int) [][]int8 {
	t.Helper()
	var out [][]int8
	for _, off := range offs {
		copy(it.Input(0).Int16(), audio[off:off+msWindow])
		if err := it.Invoke(); err != nil {
			t.Fatal(err)
		}
		out = append(out, slices.Clone(it.Output(0).Int8()))
	}
	return out
}

// TestSpectralSubtractionStatePerInterpreter checks that the noise estimate of
// SignalFilterBankSpectralSubtraction belongs to one interpreter: two interpreters fed
// interleaved windows of different audio give the same features as each fed alone, and Reset
// brings an interpreter back to its initial state.
func TestSpectralSubtractionStatePerInterpreter(t *testing.T) {
	ms := loadMicroSpeech(t)
	yes := readPCM16(t, "tflite/micro_speech/yes_1000ms.wav")
	no := readPCM16(t, "tflite/micro_speech/no_1000ms.wav")
	var offs []int
	for off := 0; off+msWindow <= min(len(yes), len(no)) && len(offs) < 20; off += msStride {
		offs = append(offs, off)
	}
	solo := func(audio []int16) [][]int8 {
		it, err := ms.pre.NewInterpreter()
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		return msRun(t, it, audio, offs)
	}
	wantYes, wantNo := solo(yes), solo(no)
	if slices.EqualFunc(wantYes[len(offs)-1:], msRun(t, mustInterp(t, ms.pre), yes, offs[len(offs)-1:]), slices.Equal) {
		t.Fatal("the last window gives the same features with and without history: the test cannot see the noise state")
	}
	a, b := mustInterp(t, ms.pre), mustInterp(t, ms.pre)
	for i, off := range offs {
		ga := msRun(t, a, yes, []int{off})[0]
		gb := msRun(t, b, no, []int{off})[0]
		if !slices.Equal(ga, wantYes[i]) || !slices.Equal(gb, wantNo[i]) {
			t.Fatalf("window %d: interleaved interpreters differ from solo runs", i)
		}
	}
	a.Reset()
	if got := msRun(t, a, no, offs); !slices.EqualFunc(got, wantNo, slices.Equal) {
		t.Fatal("after Reset the features differ from a fresh interpreter's")
	}
}

func mustInterp(t *testing.T, m *Model) *Interpreter {
	t.Helper()
	it, err := m.NewInterpreter()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(it.Close)
	return it
}

// TestDroppedInterpreterIsFreed checks that nothing in the model (kernels are shared) keeps a
// dropped interpreter's operator contexts or state alive.
func TestDroppedInterpreterIsFreed(t *testing.T) {
	ms := loadMicroSpeech(t)
	audio := readPCM16(t, "tflite/micro_speech/yes_1000ms.wav")
	var ctxs []weak.Pointer[OpContext]
	var states []weak.Pointer[byte]
	for range 8 {
		it, err := ms.pre.NewInterpreter()
		if err != nil {
			t.Fatal(err)
		}
		if len(it.state) == 0 {
			t.Fatal("the preprocessor has no persistent state")
		}
		msRun(t, it, audio, []int{0, msStride})
		ctxs = append(ctxs, weak.Make(&it.ctxs[0]))
		states = append(states, weak.Make(&it.state[0]))
	}
	for range 3 {
		runtime.GC()
	}
	for i := range ctxs {
		if ctxs[i].Value() != nil || states[i].Value() != nil {
			t.Fatalf("interpreter %d is still reachable after being dropped", i)
		}
	}
}
