package wasinn

import (
	"sync"
	"testing"
)

// FuzzCalls calls any import with any arguments after planting fuzzed bytes at the places the
// arguments most often point to (the tensor record, the name, the builder array). No input may
// trap the guest, panic the host or answer outside the errno range. Run it with
// `go test -fuzz FuzzCalls ./engine/wasinn/`; the seeds run with the tests.
func FuzzCalls(f *testing.F) {
	f.Add(uint8(4), uint32(0), uint32(0), uint32(tensorAt), uint32(0), uint32(0), []byte{0x20, 1, 0, 0, 2, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0, 4, 0, 0, 4, 0, 0, 0})
	f.Add(uint8(1), uint32(nameAt), uint32(4), uint32(graphOut), uint32(0), uint32(0), []byte("sine"))
	f.Add(uint8(0), uint32(builderAt), uint32(1), uint32(4), uint32(0), uint32(graphOut), []byte{0, 0x20, 0, 0, 0x5c, 0x0c, 0, 0})
	f.Add(uint8(6), uint32(0), uint32(0), uint32(outAt), uint32(3), uint32(written), []byte(nil))
	p := newProbe(f, sineEnv(f, Options{Threads: 1, MaxContexts: 2, MaxGraphs: 2}, nil))
	p.sineContext()
	p.write(modelAt, readFile(f, "tflite/hello_world/hello_world_float.tflite"))
	var mu sync.Mutex // the probe's memory is shared by the fuzz target's calls
	f.Fuzz(func(t *testing.T, fn uint8, a0, a1, a2, a3, a4 uint32, blob []byte) {
		mu.Lock()
		defer mu.Unlock()
		p.t = t
		if len(blob) > 64 {
			blob = blob[:64]
		}
		for _, at := range []uint32{tensorAt, nameAt, builderAt} {
			p.write(at, blob)
		}
		h := functions[int(fn)%len(functions)]
		args := []uint32{a0, a1, a2, a3, a4}[:len(h.params)]
		if e := p.call(h.name, args...); e > NotFound {
			t.Fatalf("%s%v = %d", h.name, args, e)
		}
	})
}
