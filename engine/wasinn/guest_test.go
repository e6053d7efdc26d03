package wasinn

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// probeModule assembles a tiny guest that imports every wasi_ephemeral_nn function and exports,
// for each, a wrapper "call_<name>" with the same i32 parameters, plus 2 pages of memory: the
// tests drive the host through a real guest call with any arguments they like.
func probeModule() []byte {
	u := func(b []byte, v uint32) []byte { return binary.AppendUvarint(b, uint64(v)) }
	name := func(b []byte, s string) []byte { return append(u(b, uint32(len(s))), s...) }
	section := func(out []byte, id byte, body []byte) []byte {
		return append(u(append(out, id), uint32(len(body))), body...)
	}
	// One function type per arity: (i32 × n) -> i32.
	arity := map[int]uint32{}
	var types []byte
	var ntypes uint32
	for _, f := range functions {
		n := len(f.params)
		if _, ok := arity[n]; ok {
			continue
		}
		arity[n] = ntypes
		ntypes++
		types = append(types, 0x60)
		types = u(types, uint32(n))
		for range n {
			types = append(types, 0x7f)
		}
		types = append(types, 1, 0x7f)
	}
	nf := uint32(len(functions))
	imports := u(nil, nf)
	funcs := u(nil, nf)
	exports := u(nil, nf+1)
	exports = append(name(exports, "memory"), 0x02, 0)
	code := u(nil, nf)
	for i, f := range functions {
		imports = name(name(imports, ModuleName), f.name)
		imports = u(append(imports, 0x00), arity[len(f.params)])
		funcs = u(funcs, arity[len(f.params)])
		exports = u(append(name(exports, "call_"+f.name), 0x00), nf+uint32(i))
		var body []byte
		body = append(body, 0) // no locals
		for k := range f.params {
			body = u(append(body, 0x20), uint32(k))
		}
		body = u(append(body, 0x10), uint32(i))
		body = append(body, 0x0b)
		code = append(u(code, uint32(len(body))), body...)
	}
	m := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	m = section(m, 1, append(u(nil, ntypes), types...))
	m = section(m, 2, imports)
	m = section(m, 3, funcs)
	m = section(m, 5, []byte{1, 0x00, 2})
	m = section(m, 7, exports)
	m = section(m, 10, code)
	return m
}

// probe is one instance of the probe guest with an Env.
type probe struct {
	t   testing.TB
	ctx context.Context
	rt  wazero.Runtime
	mod api.Module
	env *Env
}

func newProbe(t testing.TB, env *Env) *probe {
	t.Helper()
	ctx := t.Context()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { rt.Close(context.Background()) })
	if err := Instantiate(ctx, rt); err != nil {
		t.Fatal(err)
	}
	p := &probe{t: t, ctx: ctx, rt: rt, env: env}
	if env != nil {
		p.ctx = WithEnv(ctx, env)
	}
	p.mod = p.instance()
	return p
}

func (p *probe) instance() api.Module {
	p.t.Helper()
	cm, err := p.rt.CompileModule(p.ctx, probeModule())
	if err != nil {
		p.t.Fatal(err)
	}
	mod, err := p.rt.InstantiateModule(p.ctx, cm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		p.t.Fatal(err)
	}
	return mod
}

// call calls import fn through the guest and returns its errno.
func (p *probe) call(fn string, args ...uint32) Errno {
	return p.callOn(p.mod, fn, args...)
}

func (p *probe) callOn(mod api.Module, fn string, args ...uint32) Errno {
	p.t.Helper()
	f := mod.ExportedFunction("call_" + fn)
	if f == nil {
		p.t.Fatalf("no import %s", fn)
	}
	params := make([]uint64, len(args))
	for i, a := range args {
		params[i] = uint64(a)
	}
	res, err := f.Call(p.ctx, params...)
	if err != nil {
		p.t.Fatalf("%s%v trapped: %v", fn, args, err)
	}
	return Errno(uint32(res[0]))
}

func (p *probe) write(at uint32, b []byte) {
	p.t.Helper()
	if !p.mod.Memory().Write(at, b) {
		p.t.Fatalf("write %d bytes at %d", len(b), at)
	}
}

func (p *probe) u32(at uint32) uint32 {
	v, ok := p.mod.Memory().ReadUint32Le(at)
	if !ok {
		p.t.Fatalf("read at %d", at)
	}
	return v
}

func (p *probe) putU32s(at uint32, vs ...uint32) {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	p.write(at, b)
}

// tensor writes a tensor record at at: dims at at+32, data at dataAt.
func (p *probe) tensor(at uint32, dims []uint32, typ byte, dataAt, dataLen uint32) {
	p.putU32s(at+32, dims...)
	p.putU32s(at, at+32, uint32(len(dims)), uint32(typ), dataAt, dataLen)
}
