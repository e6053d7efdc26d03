package tflite

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestUnsupportedOperatorNamesOperatorAndIndex(t *testing.T) {
	tensors := []testTensor{{shape: shape32(4), typ: Float32}, {shape: shape32(4), typ: Float32}, {shape: shape32(4), typ: Float32}}
	ops := []testOp{
		{code: OpRelu, in: []int32{0}, out: []int32{1}},
		{code: OpCumsum, in: []int32{1}, out: []int32{2}}, // code 128: only in builtin_code
	}
	_, err := Load(buildModel(tensors, ops, []int32{0}, []int32{2}), Options{})
	if err == nil || !strings.Contains(err.Error(), "operator 1 (CUMSUM): unsupported") {
		t.Fatalf("got %v, want an error naming operator 1 (CUMSUM)", err)
	}
	ops[1] = testOp{code: OpCustom, custom: "NoSuchOp", in: []int32{1}, out: []int32{2}}
	_, err = Load(buildModel(tensors, ops, []int32{0}, []int32{2}), Options{})
	if err == nil || !strings.Contains(err.Error(), `operator 1 (custom "NoSuchOp"): unsupported`) {
		t.Fatalf("got %v, want an error naming the custom operator", err)
	}
}

func TestDeprecatedBuiltinCodeOnly(t *testing.T) {
	// Old files fill only the int8 deprecated_builtin_code; max() of both fields resolves it.
	tensors := []testTensor{{shape: shape32(3), typ: Float32}, {shape: shape32(3), typ: Float32}}
	model := buildModel(tensors, []testOp{{code: OpRelu, in: []int32{0}, out: []int32{1}}}, []int32{0}, []int32{1})
	if _, err := Load(model, Options{}); err != nil {
		t.Fatal(err)
	}
}

func TestExternalBufferOffset(t *testing.T) {
	// A constant stored after the flatbuffer (Buffer.offset/size), as in models > 2 GB.
	w := []float32{1, 2, 3}
	tensors := []testTensor{{shape: shape32(3), typ: Float32}, {shape: shape32(3), typ: Float32, data: f32Bytes(w)},
		{shape: shape32(3), typ: Float32}}
	model := buildModel(tensors, []testOp{{code: OpAdd, in: []int32{0, 1}, out: []int32{2}}}, []int32{0}, []int32{2})
	// Rebuild with the buffer moved out: patch by building a model whose buffer table has offset/size.
	ext := f32Bytes([]float32{10, 20, 30})
	b := buildFlatbufferWithExternal(tensors, ext)
	m, err := Load(b, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	it, _ := m.NewInterpreter()
	defer it.Close()
	if err := it.SetInput(0, f32Bytes([]float32{1, 1, 1})); err != nil {
		t.Fatal(err)
	}
	if err := it.Invoke(); err != nil {
		t.Fatal(err)
	}
	if got := it.Output(0).Float32(); got[0] != 11 || got[2] != 31 {
		t.Fatalf("got %v", got)
	}
	_ = model
}

// buildFlatbufferWithExternal builds ADD(input, constant) where the constant's bytes live
// after the flatbuffer and are referenced by Buffer.offset/size.
func buildFlatbufferWithExternal(tensors []testTensor, ext []byte) []byte {
	ts := []tbl{
		{tensorShape: tensors[0].shape, tensorType: uint8(Float32)},
		{tensorShape: tensors[1].shape, tensorType: uint8(Float32), tensorBuffer: uint32(1)},
		{tensorShape: tensors[2].shape, tensorType: uint8(Float32)},
	}
	sg := tbl{subgraphTensors: ts, subgraphInputs: []int32{0}, subgraphOutputs: []int32{2},
		subgraphOperators: []tbl{{operatorOpcodeIndex: uint32(0), operatorInputs: []int32{0, 1}, operatorOutputs: []int32{2}}}}
	const placeholder = 0x7fff_0000
	root := tbl{0: uint32(3), modelOperatorCodes: []tbl{{opcodeBuiltin: int32(OpAdd)}}, modelSubgraphs: []tbl{sg},
		modelBuffers: []tbl{{}, {bufferOffset: uint64(placeholder), bufferSize: uint64(len(ext))}}}
	b := buildFlatbuffer(root)
	for len(b)%16 != 0 {
		b = append(b, 0)
	}
	off := len(b)
	// Patch the placeholder offset.
	for i := 0; i+8 <= len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 0xff && b[i+3] == 0x7f && b[i+4] == 0 && b[i+5] == 0 && b[i+6] == 0 && b[i+7] == 0 {
			b[i], b[i+1], b[i+2], b[i+3] = byte(off), byte(off>>8), byte(off>>16), byte(off>>24)
			break
		}
	}
	return append(b, ext...)
}

func TestMalformedModelsFailCleanly(t *testing.T) {
	good := readTestFile(t, "tflite/hello_world/hello_world_float.tflite")
	if _, err := Load(nil, Options{}); err == nil {
		t.Fatal("nil model loaded")
	}
	if _, err := Load([]byte("xxxxTFL3"), Options{}); err == nil {
		t.Fatal("truncated model loaded")
	}
	for n := 0; n < len(good); n += 7 { // the tail past the last referenced byte may go unnoticed
		if _, err := Load(good[:n], Options{}); err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatalf("model truncated to %d bytes: %v", n, err)
		}
	}
	// Corrupt copies of small real models (every operator family we run, Signal ops included):
	// byte sets, overlapping copies, 32-bit index/size sets and insertions. Each must load with an
	// error or load and run; a recovered panic ("internal error") fails the test.
	var seeds [][]byte
	for _, p := range mutationSeeds {
		seeds = append(seeds, readTestFile(t, p))
	}
	// A built int16 block: TRANSPOSE_CONV, LEAKY_RELU, RESIZE_NEAREST_NEIGHBOR, TANH, QUANTIZE.
	tensors, ops, _ := seanetBlock(rand.New(rand.NewPCG(81, 82)))
	seeds = append(seeds, buildModel(tensors, ops, []int32{0}, []int32{10}))
	seedNames := append(slices.Clone(mutationSeeds), "built SEANet-style int16 block")
	r := rand.New(rand.NewPCG(21, 22))
	for i := range 40000 {
		b := mutateModel(r, seeds[i%len(seeds)])
		m, err := Load(b, Options{Threads: 1})
		if err != nil {
			if strings.Contains(err.Error(), "internal error") {
				t.Fatalf("mutation %d of %s: load panicked: %v", i, seedNames[i%len(seeds)], err)
			}
			continue
		}
		if m.ArenaBytes() > 16<<20 {
			continue // a corrupt shape that is merely large: loading it was the test
		}
		it, err := m.NewInterpreter()
		if err != nil {
			continue
		}
		if err := it.Invoke(); err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatalf("mutation %d of %s: invoke panicked: %v", i, seedNames[i%len(seeds)], err)
		}
		it.Close()
	}
}

var mutationSeeds = []string{
	"tflite/hello_world/hello_world_float.tflite", "tflite/hello_world/hello_world_int8.tflite",
	"tflite/micro_speech/micro_speech_quantized.tflite",
	"tflite/micro_speech/audio_preprocessor_int8.tflite", "tflite/micro_speech/audio_preprocessor_float.tflite",
	"tflite/seanet/add/add0.tflite", "tflite/seanet/conv/conv2.tflite", "tflite/seanet/pad/pad1.tflite",
}

// mutateModel returns a corrupted copy of good: one to six edits of the kinds a flatbuffer is
// most sensitive to.
func mutateModel(r *rand.Rand, good []byte) []byte {
	b := append([]byte(nil), good...)
	for range 1 + r.IntN(6) {
		switch r.IntN(4) {
		case 0:
			b[r.IntN(len(b))] = byte(r.Uint32())
		case 1: // copy a chunk over another place
			n := 1 + r.IntN(16)
			src, dst := r.IntN(len(b)-n), r.IntN(len(b)-n)
			copy(b[dst:dst+n], b[src:src+n])
		case 2: // an aligned little-endian 32-bit value: an index, a count, an offset
			p := r.IntN(len(b)-4) &^ 3
			v := []uint32{0, 1, 0xffffffff, 0x7fffffff, uint32(r.IntN(64)), uint32(len(b))}[r.IntN(6)]
			binary.LittleEndian.PutUint32(b[p:], v)
		case 3: // insert a copy of a chunk
			n := 1 + r.IntN(64)
			src, at := r.IntN(len(b)-n), r.IntN(len(b))
			chunk := append([]byte(nil), b[src:src+n]...)
			b = append(b[:at], append(chunk, b[at:]...)...)
		}
	}
	return b
}

func TestSetInputChecksLength(t *testing.T) {
	_, it := loadTestModel(t, "tflite/hello_world/hello_world_float.tflite", Options{Threads: 1})
	if err := it.SetInput(0, make([]byte, 3)); err == nil {
		t.Fatal("short input accepted")
	}
	if err := it.SetInput(1, make([]byte, 4)); !errors.Is(err, ErrIndex) {
		t.Fatalf("got %v, want ErrIndex", err)
	}
}

func TestInterpretersRunConcurrently(t *testing.T) {
	m, _ := loadTestModel(t, "models/yamnet/yamnet.tflite", Options{Threads: 2})
	frames := readTestFile(t, "models/yamnet/reference/synthetic_frames.f32")
	done := make(chan []float32, 2)
	for g := 0; g < 2; g++ {
		go func() {
			it, err := m.NewInterpreter()
			if err != nil {
				done <- nil
				return
			}
			defer it.Close()
			var out []float32
			for range 2 {
				if it.SetInput(0, frames[:15600*4]) != nil || it.Invoke() != nil {
					done <- nil
					return
				}
				out = append([]float32(nil), it.Output(0).Float32()...)
			}
			done <- out
		}()
	}
	a, b := <-done, <-done
	if a == nil || b == nil {
		t.Fatal("interpreter failed")
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("score %d differs between interpreters: %g vs %g", i, a[i], b[i])
		}
	}
}

func FuzzLoad(f *testing.F) {
	for _, p := range mutationSeeds { // small models only: a mutated YAMNet costs seconds per run
		f.Add(readTestFile(f, p))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Load(b, Options{Threads: 1})
		if err != nil {
			if strings.Contains(err.Error(), "internal error") {
				t.Fatalf("load panicked: %v", err)
			}
			return
		}
		if m.ArenaBytes() > 16<<20 {
			return
		}
		it, err := m.NewInterpreter()
		if err != nil {
			return
		}
		defer it.Close()
		if err := it.Invoke(); err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatalf("invoke panicked: %v", err)
		}
	})
}
