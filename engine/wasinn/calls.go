package wasinn

import (
	"encoding/binary"
	"fmt"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"

	"github.com/atoll-studio/atoll/engine/tflite"
	"github.com/atoll-studio/atoll/engine/wasinn/witx"
)

// maxRank bounds the rank of a tensor a guest describes.
const maxRank = 16

// instanceState holds one guest instance's graphs and execution contexts. Handles are
// sequential from 0 per table and never reused, so a stale handle is an error, not a different
// object. Only the instance's goroutine uses it; changes to the tables hold Env.mu so that Stats
// may count them meanwhile. free runs under Env.mu once the instance is closed (or the Env is).
type instanceState struct {
	env      *Env
	graphs   map[uint32]*graphEntry
	contexts map[uint32]*execContext
	nextG    uint32
	nextC    uint32
	closed   bool
	fn       string // import being served, for log lines
}

type graphEntry struct {
	model *tflite.Model
	name  string
	ins   []tflite.TensorInfo
}

type execContext struct {
	g  *graphEntry
	it *tflite.Interpreter
}

func (s *instanceState) free() {
	for h, c := range s.contexts {
		c.it.Close()
		delete(s.contexts, h)
	}
	clear(s.graphs)
	s.closed = true
}

// fail logs why a call was refused and returns errno.
func (s *instanceState) fail(errno Errno, msg string) Errno { return s.failAt("warn", errno, msg) }

func (s *instanceState) failAt(level string, errno Errno, msg string) Errno {
	s.env.opts.Log(level, fmt.Sprintf("%s.%s: %s (%s)", ModuleName, s.fn, msg, errno))
	return errno
}

// read returns a view of n guest bytes at ptr, or false when out of bounds.
func read(mod api.Module, ptr, n uint32) ([]byte, bool) {
	return mod.Memory().Read(ptr, n)
}

// writeU32 stores v at ptr, or returns false when out of bounds.
func writeU32(mod api.Module, ptr, v uint32) bool {
	return mod.Memory().WriteUint32Le(ptr, v)
}

// checkOut verifies that a 4-byte out-parameter is writable before any side effect.
func checkOut(mod api.Module, ptr uint32) bool {
	_, ok := mod.Memory().Read(ptr, 4)
	return ok
}

func (s *instanceState) addGraph(mod api.Module, g *graphEntry, out uint32) Errno {
	if len(s.graphs) >= s.env.opts.MaxGraphs {
		return s.fail(TooLarge, fmt.Sprintf("too many graphs (limit %d per instance; unload one first)", s.env.opts.MaxGraphs))
	}
	g.ins = g.model.Inputs()
	h := s.nextG
	s.nextG++
	s.env.mu.Lock() // Stats may read the tables from another goroutine
	s.graphs[h] = g
	s.env.mu.Unlock()
	writeU32(mod, out, h) // checked by the caller
	return Success
}

// load(builder_ptr, builder_len, encoding, target, graph_out_ptr)
func (s *instanceState) load(mod api.Module, p []uint64) Errno {
	bptr, blen, enc, target, out := uint32(p[0]), uint32(p[1]), uint32(p[2]), uint32(p[3]), uint32(p[4])
	if s.closed {
		return s.fail(Busy, "the node is closing")
	}
	if !checkOut(mod, out) {
		return s.fail(InvalidArgument, fmt.Sprintf("graph_out_ptr %d is out of bounds", out))
	}
	switch enc {
	case witx.EncodingTensorflowLite, witx.EncodingAutodetect:
	case witx.EncodingOpenVINO, witx.EncodingONNX, witx.EncodingTensorflow, witx.EncodingPyTorch:
		return s.fail(InvalidEncoding, fmt.Sprintf("encoding %d is not supported (this host runs tensorflowlite = 4)", enc))
	default:
		return s.fail(InvalidEncoding, fmt.Sprintf("unknown encoding %d", enc))
	}
	if target != witx.TargetCPU {
		return s.fail(InvalidArgument, fmt.Sprintf("execution target %d is not supported (cpu = 0 only)", target))
	}
	if s.env.opts.NoLoad {
		return s.fail(UnsupportedOperation, "the node allows registered models only (load_by_name)")
	}
	if blen != 1 {
		return s.fail(InvalidArgument, fmt.Sprintf("a tflite graph takes exactly 1 builder, got %d", blen))
	}
	entry, ok := read(mod, bptr, 8)
	if !ok {
		return s.fail(InvalidArgument, fmt.Sprintf("builder array at %d is out of bounds", bptr))
	}
	dptr, dlen := binary.LittleEndian.Uint32(entry), binary.LittleEndian.Uint32(entry[4:])
	if int64(dlen) > int64(s.env.opts.MaxModelBytes) {
		return s.fail(TooLarge, fmt.Sprintf("model of %d bytes exceeds the limit of %d", dlen, s.env.opts.MaxModelBytes))
	}
	data, ok := read(mod, dptr, dlen)
	if !ok {
		return s.fail(InvalidArgument, fmt.Sprintf("model bytes (ptr %d, len %d) are out of bounds", dptr, dlen))
	}
	if enc == witx.EncodingAutodetect && !(len(data) >= 8 && string(data[4:8]) == "TFL3") {
		return s.fail(InvalidEncoding, "autodetect: not a tflite flatbuffer")
	}
	if len(s.graphs) >= s.env.opts.MaxGraphs {
		return s.fail(TooLarge, fmt.Sprintf("too many graphs (limit %d per instance; unload one first)", s.env.opts.MaxGraphs))
	}
	m, err := s.env.loadBytes(data)
	if err != nil {
		return s.fail(InvalidArgument, err.Error())
	}
	return s.addGraph(mod, &graphEntry{model: m}, out)
}

// load_by_name(name_ptr, name_len, graph_out_ptr)
func (s *instanceState) loadByName(mod api.Module, p []uint64) Errno {
	return s.byName(mod, uint32(p[0]), uint32(p[1]), uint32(p[2]))
}

// load_by_name_with_config(name_ptr, name_len, config_ptr, config_len, graph_out_ptr): TFLite
// takes no options, so the config is checked for bounds and otherwise ignored.
func (s *instanceState) loadByNameWithConfig(mod api.Module, p []uint64) Errno {
	if _, ok := read(mod, uint32(p[2]), uint32(p[3])); !ok {
		return s.fail(InvalidArgument, fmt.Sprintf("config (ptr %d, len %d) is out of bounds", uint32(p[2]), uint32(p[3])))
	}
	return s.byName(mod, uint32(p[0]), uint32(p[1]), uint32(p[4]))
}

func (s *instanceState) byName(mod api.Module, nptr, nlen, out uint32) Errno {
	if s.closed {
		return s.fail(Busy, "the node is closing")
	}
	if !checkOut(mod, out) {
		return s.fail(InvalidArgument, fmt.Sprintf("graph_out_ptr %d is out of bounds", out))
	}
	if nlen > 1024 {
		return s.fail(InvalidArgument, fmt.Sprintf("model name of %d bytes is too long", nlen))
	}
	nb, ok := read(mod, nptr, nlen)
	if !ok {
		return s.fail(InvalidArgument, fmt.Sprintf("name (ptr %d, len %d) is out of bounds", nptr, nlen))
	}
	if !utf8.Valid(nb) {
		return s.fail(InvalidArgument, "model name is not UTF-8")
	}
	name := string(nb)
	m := s.env.models[name]
	if m == nil {
		return s.fail(NotFound, fmt.Sprintf("no model registered as %q (the node's models: %v)", name, s.env.modelNames()))
	}
	return s.addGraph(mod, &graphEntry{model: m, name: name}, out)
}

func (e *Env) modelNames() []string {
	names := make([]string, 0, len(e.models))
	for n := range e.models {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// init_execution_context(graph, ctx_out_ptr)
func (s *instanceState) initExecutionContext(mod api.Module, p []uint64) Errno {
	gh, out := uint32(p[0]), uint32(p[1])
	if s.closed {
		return s.fail(Busy, "the node is closing")
	}
	if !checkOut(mod, out) {
		return s.fail(InvalidArgument, fmt.Sprintf("ctx_out_ptr %d is out of bounds", out))
	}
	g := s.graphs[gh]
	if g == nil {
		return s.fail(InvalidArgument, fmt.Sprintf("unknown graph %d", gh))
	}
	if len(s.contexts) >= s.env.opts.MaxContexts {
		return s.fail(TooLarge, fmt.Sprintf("too many execution contexts (limit %d per instance)", s.env.opts.MaxContexts))
	}
	it, err := g.model.NewInterpreter()
	if err != nil {
		return s.fail(RuntimeError, err.Error())
	}
	h := s.nextC
	s.nextC++
	s.env.mu.Lock()
	s.contexts[h] = &execContext{g: g, it: it}
	s.env.mu.Unlock()
	writeU32(mod, out, h)
	return Success
}

func (s *instanceState) context(h uint32) (*execContext, Errno) {
	c := s.contexts[h]
	if c == nil {
		return nil, s.fail(InvalidArgument, fmt.Sprintf("unknown execution context %d", h))
	}
	return c, Success
}

// witxTypes returns the tflite types a tensor_type byte may mean: its current meaning and, for
// 2 and 3, its legacy one (see the spec's version pitfalls).
func witxTypes(t byte) (cur, legacy tflite.DType, curOK, legacyOK bool) {
	switch t {
	case witx.TypeF16:
		return tflite.Float16, 0, true, false
	case witx.TypeF32:
		return tflite.Float32, 0, true, false
	case witx.TypeF64: // legacy: u8
		return tflite.Float64, tflite.UInt8, true, true
	case witx.TypeU8: // legacy: i32
		return tflite.UInt8, tflite.Int32, true, true
	case witx.TypeI32:
		return tflite.Int32, 0, true, false
	case witx.TypeI64:
		return tflite.Int64, 0, true, false
	}
	return 0, 0, false, false
}

// accepts reports whether a guest tensor of witx type want may fill a model input of type have.
// u8 also fills int8 inputs (the same bytes; witx has no i8).
func accepts(have, want tflite.DType) bool {
	return have == want || (have == tflite.Int8 && want == tflite.UInt8)
}

func witxName(t byte) string {
	names := [...]string{"f16", "f32", "f64", "u8", "i32", "i64"}
	if int(t) < len(names) {
		return names[t]
	}
	return fmt.Sprintf("type %d", t)
}

// set_input(ctx, index, tensor_ptr)
func (s *instanceState) setInput(mod api.Module, p []uint64) Errno {
	ch, index, tptr := uint32(p[0]), uint32(p[1]), uint32(p[2])
	c, errno := s.context(ch)
	if errno != Success {
		return errno
	}
	ins := c.g.ins
	if int64(index) >= int64(len(ins)) {
		return s.fail(InvalidArgument, fmt.Sprintf("input %d: the model has %d inputs", index, len(ins)))
	}
	in := ins[index]
	rec, ok := read(mod, tptr, witx.TensorRecordSize)
	if !ok {
		return s.fail(InvalidArgument, fmt.Sprintf("tensor record at %d is out of bounds", tptr))
	}
	dptr, rank := binary.LittleEndian.Uint32(rec), binary.LittleEndian.Uint32(rec[4:])
	typ := rec[8] // one byte: 9–11 may be garbage padding
	data, dlen := binary.LittleEndian.Uint32(rec[12:]), binary.LittleEndian.Uint32(rec[16:])
	if rank > maxRank {
		return s.fail(InvalidArgument, fmt.Sprintf("tensor rank %d is too large", rank))
	}
	dimBytes, ok := read(mod, dptr, rank*4)
	if !ok {
		return s.fail(InvalidArgument, fmt.Sprintf("tensor dims (ptr %d, rank %d) are out of bounds", dptr, rank))
	}
	if int(rank) != len(in.Shape) {
		return s.fail(InvalidArgument, fmt.Sprintf("input %d (%q) has shape %v, got rank %d %v", index, in.Name, in.Shape, rank, dimsOf(dimBytes)))
	}
	for k := range in.Shape {
		if binary.LittleEndian.Uint32(dimBytes[4*k:]) != uint32(in.Shape[k]) {
			return s.fail(InvalidArgument, fmt.Sprintf("input %d (%q) has shape %v, got %v", index, in.Name, in.Shape, dimsOf(dimBytes)))
		}
	}
	want := int64(numElements(in.Shape)) * int64(in.Type.Size())
	cur, legacy, curOK, legacyOK := witxTypes(typ)
	switch {
	case curOK && accepts(in.Type, cur) && int64(dlen) == want:
	case legacyOK && accepts(in.Type, legacy) && int64(dlen) == want:
	case !curOK:
		return s.fail(InvalidArgument, fmt.Sprintf("unknown tensor type %d", typ))
	case !accepts(in.Type, cur) && !(legacyOK && accepts(in.Type, legacy)):
		return s.fail(InvalidArgument, fmt.Sprintf("input %d (%q) is %s, got tensor type %s", index, in.Name, in.Type, witxName(typ)))
	default:
		return s.fail(InvalidArgument, fmt.Sprintf("input %d (%q %s %v) takes %d bytes, got %d", index, in.Name, in.Type, in.Shape, want, dlen))
	}
	raw, ok := read(mod, data, dlen)
	if !ok {
		return s.fail(InvalidArgument, fmt.Sprintf("tensor data (ptr %d, len %d) is out of bounds", data, dlen))
	}
	if err := c.it.SetInput(int(index), raw); err != nil {
		return s.fail(InvalidArgument, err.Error())
	}
	return Success
}

func dimsOf(b []byte) []uint32 {
	d := make([]uint32, len(b)/4)
	for k := range d {
		d[k] = binary.LittleEndian.Uint32(b[4*k:])
	}
	return d
}

func numElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// compute(ctx)
func (s *instanceState) compute(mod api.Module, p []uint64) Errno {
	c, errno := s.context(uint32(p[0]))
	if errno != Success {
		return errno
	}
	t0 := time.Now()
	if err := c.it.Invoke(); err != nil {
		return s.fail(RuntimeError, err.Error())
	}
	s.env.computeTime.Add(int64(time.Since(t0)))
	s.env.computes.Add(1)
	return Success
}

// get_output(ctx, index, out_ptr, out_max_len, bytes_written_out_ptr)
func (s *instanceState) getOutput(mod api.Module, p []uint64) Errno {
	ch, index, optr, omax, wptr := uint32(p[0]), uint32(p[1]), uint32(p[2]), uint32(p[3]), uint32(p[4])
	c, errno := s.context(ch)
	if errno != Success {
		return errno
	}
	if !checkOut(mod, wptr) {
		return s.fail(InvalidArgument, fmt.Sprintf("bytes_written_out_ptr %d is out of bounds", wptr))
	}
	t := c.it.Output(int(min(index, 1<<30)))
	if t == nil {
		return s.fail(InvalidArgument, fmt.Sprintf("output %d: the model has %d outputs", index, len(c.g.model.Outputs())))
	}
	n := uint32(len(t.Data))
	if omax < n {
		writeU32(mod, wptr, n) // as WasmEdge: the size the guest needs
		// Guests size their buffer this way (the SDK does): not worth a warning.
		return s.failAt("debug", TooLarge, fmt.Sprintf("output %d (%q %s %v) takes %d bytes, the buffer has %d", index, t.Name, t.Type, t.Shape, n, omax))
	}
	if !mod.Memory().Write(optr, t.Data) {
		return s.fail(InvalidArgument, fmt.Sprintf("output buffer (ptr %d, len %d) is out of bounds", optr, n))
	}
	writeU32(mod, wptr, n)
	return Success
}

// unload(graph): frees the graph; contexts made from it stay usable until finalized.
func (s *instanceState) unload(mod api.Module, p []uint64) Errno {
	h := uint32(p[0])
	if s.graphs[h] == nil {
		return s.fail(InvalidArgument, fmt.Sprintf("unknown graph %d", h))
	}
	s.env.mu.Lock()
	delete(s.graphs, h)
	s.env.mu.Unlock()
	return Success
}

// finalize_execution_context(ctx)
func (s *instanceState) finalizeExecutionContext(mod api.Module, p []uint64) Errno {
	h := uint32(p[0])
	c, errno := s.context(h)
	if errno != Success {
		return errno
	}
	c.it.Close()
	s.env.mu.Lock()
	delete(s.contexts, h)
	s.env.mu.Unlock()
	return Success
}
