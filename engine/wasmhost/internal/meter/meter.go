// Package meter rewrites a WebAssembly binary so that it counts its own work: a new mutable i64
// global ("fuel") is decremented at every function entry and every loop header, and the code
// traps with `unreachable` when it goes below zero. The host sets the global before a call and
// reads it afterwards; another goroutine may set it negative to stop a running call at its next
// metering site. The rewrite also caps the module's memory. See ../../RATIONALE.md.
package meter

import (
	"errors"
	"fmt"
)

// FuelExport is the export name of the fuel global added by Instrument.
const FuelExport = "atoll_fuel"

// Version names the rewrite's output format: bump it whenever Instrument's output for the same
// input and options changes (the host caches instrumented modules on disk under it).
const Version = 1

// ErrNotWasm is returned for input that is not a WebAssembly binary module.
var ErrNotWasm = errors.New("not a WebAssembly module (bad magic or version)")

// Options tune Instrument.
type Options struct {
	// MaxMemoryPages caps the module's own memory (64 KiB pages); 0 leaves it as declared.
	MaxMemoryPages uint32
	// NoFuel skips the fuel instrumentation (memory capping still applies); the fuel global is
	// still added and exported so that the host code path is the same.
	NoFuel bool
}

// Stats describes what Instrument did.
type Stats struct {
	Functions  int // function bodies rewritten
	Sites      int // metering sites inserted (entries + loops)
	FuelGlobal uint32
}

// Section ids of the binary format.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// sectionOrder gives the required position of each known section (custom sections go anywhere).
var sectionOrder = map[byte]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5, secTag: 6,
	secGlobal: 7, secExport: 8, secStart: 9, secElement: 10, secDataCount: 11, secCode: 12, secData: 13,
}

type section struct {
	id      byte
	name    string // custom sections
	content []byte
}

// Instrument returns a rewritten copy of wasm. Function and global indices of the original
// module keep their meaning: the fuel global is appended at the end of the global index space.
func Instrument(wasm []byte, opt Options) ([]byte, Stats, error) {
	var st Stats
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, st, ErrNotWasm
	}
	if wasm[4] != 1 || wasm[5] != 0 || wasm[6] != 0 || wasm[7] != 0 {
		return nil, st, ErrNotWasm
	}
	secs, err := splitSections(wasm)
	if err != nil {
		return nil, st, err
	}
	m := module{}
	for _, s := range secs {
		switch s.id {
		case secType:
			if err := m.readTypes(s.content); err != nil {
				return nil, st, fmt.Errorf("type section: %w", err)
			}
		case secImport:
			if err := m.readImports(s.content); err != nil {
				return nil, st, fmt.Errorf("import section: %w", err)
			}
		case secFunction:
			r := reader{b: s.content}
			n, err := r.count()
			if err != nil {
				return nil, st, fmt.Errorf("function section: %w", err)
			}
			m.funcTypes = make([]uint32, n)
			for i := range m.funcTypes {
				if m.funcTypes[i], err = r.u32(); err != nil {
					return nil, st, fmt.Errorf("function section: %w", err)
				}
			}
		case secGlobal:
			r := reader{b: s.content}
			n, err := r.u32()
			if err != nil {
				return nil, st, fmt.Errorf("global section: %w", err)
			}
			m.definedGlobals = n
		case secExport:
			if err := m.checkExports(s.content); err != nil {
				return nil, st, err
			}
		}
	}
	fuel := m.importedGlobals + m.definedGlobals
	st.FuelGlobal = fuel

	var out []section
	haveGlobal, haveExport := false, false
	insertBefore := func(order int) {
		// Called before emitting a known section of the given order: add the sections we must
		// create when the module has none.
		if !haveGlobal && order > sectionOrder[secGlobal] {
			out = append(out, section{id: secGlobal, content: appendGlobalDef(appendU32(nil, 1))})
			haveGlobal = true
		}
		if !haveExport && order > sectionOrder[secExport] {
			out = append(out, section{id: secExport, content: appendExportEntry(appendU32(nil, 1), fuel)})
			haveExport = true
		}
	}
	for _, s := range secs {
		if s.id == secCustom {
			// DWARF refers to code offsets that the rewrite moves: drop it. Names stay valid
			// (function and local indices are unchanged).
			if len(s.name) >= 7 && s.name[:7] == ".debug_" {
				continue
			}
			out = append(out, s)
			continue
		}
		insertBefore(sectionOrder[s.id])
		switch s.id {
		case secMemory:
			c, err := capMemory(s.content, opt.MaxMemoryPages)
			if err != nil {
				return nil, st, err
			}
			s.content = c
		case secGlobal:
			r := reader{b: s.content}
			n, _ := r.u32()
			s.content = appendU32(nil, n+1)
			s.content = append(s.content, r.b[r.p:]...)
			s.content = appendGlobalDef(s.content)
			haveGlobal = true
		case secExport:
			r := reader{b: s.content}
			n, _ := r.u32()
			s.content = appendU32(nil, n+1)
			s.content = append(s.content, r.b[r.p:]...)
			s.content = appendExportEntry(s.content, fuel)
			haveExport = true
		case secCode:
			c, err := m.rewriteCode(s.content, fuel, opt, &st)
			if err != nil {
				return nil, st, fmt.Errorf("code section: %w", err)
			}
			s.content = c
		}
		out = append(out, s)
	}
	insertBefore(1 << 30)

	buf := make([]byte, 0, len(wasm)+len(wasm)/8+64)
	buf = append(buf, wasm[:8]...)
	for _, s := range out {
		buf = append(buf, s.id)
		buf = appendU32(buf, uint32(len(s.content)))
		buf = append(buf, s.content...)
	}
	return buf, st, nil
}

// appendGlobalDef appends the fuel global: mutable i64 initialised to 0.
func appendGlobalDef(dst []byte) []byte {
	return append(dst, 0x7E, 0x01, 0x42, 0x00, 0x0B)
}

// appendExportEntry appends the export of the fuel global.
func appendExportEntry(dst []byte, fuel uint32) []byte {
	dst = appendU32(dst, uint32(len(FuelExport)))
	dst = append(dst, FuelExport...)
	dst = append(dst, 0x03) // global
	return appendU32(dst, fuel)
}

func splitSections(wasm []byte) ([]section, error) {
	r := reader{b: wasm, p: 8}
	var secs []section
	last := 0
	for r.p < len(r.b) {
		at := r.p
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("section at byte %d: %w", at, err)
		}
		if uint64(size) > uint64(len(r.b)-r.p) {
			return nil, fmt.Errorf("section %d at byte %d: size %d exceeds the %d bytes left", id, at, size, len(r.b)-r.p)
		}
		content := r.b[r.p : r.p+int(size)]
		r.p += int(size)
		s := section{id: id, content: content}
		if id == secCustom {
			cr := reader{b: content}
			n, err := cr.u32()
			if err != nil || uint64(n) > uint64(len(content)-cr.p) {
				return nil, fmt.Errorf("custom section at byte %d: bad name", at)
			}
			s.name = string(content[cr.p : cr.p+int(n)])
		} else {
			o, ok := sectionOrder[id]
			if !ok {
				return nil, fmt.Errorf("unknown section id %d at byte %d", id, at)
			}
			if o <= last {
				return nil, fmt.Errorf("section %d at byte %d out of order", id, at)
			}
			last = o
		}
		secs = append(secs, s)
	}
	return secs, nil
}

type module struct {
	typeParams      []uint32 // number of params of each type
	importedFuncs   uint32
	importedGlobals uint32
	definedGlobals  uint32
	funcTypes       []uint32
}

func (m *module) readTypes(b []byte) error {
	r := reader{b: b}
	n, err := r.count()
	if err != nil {
		return err
	}
	m.typeParams = make([]uint32, 0, n)
	for i := uint32(0); i < n; i++ {
		form, err := r.byte()
		if err != nil {
			return err
		}
		if form != 0x60 {
			return fmt.Errorf("type %d: unsupported type form 0x%x", i, form)
		}
		np, err := r.u32()
		if err != nil {
			return err
		}
		if err := r.skipValTypes(np); err != nil {
			return err
		}
		nr, err := r.u32()
		if err != nil {
			return err
		}
		if err := r.skipValTypes(nr); err != nil {
			return err
		}
		m.typeParams = append(m.typeParams, np)
	}
	return nil
}

func (r *reader) skipValTypes(n uint32) error {
	for j := uint32(0); j < n; j++ {
		if err := r.skipValType(); err != nil {
			return err
		}
	}
	return nil
}

func (r *reader) skipValType() error {
	t, err := r.byte()
	if err != nil {
		return err
	}
	if t == 0x63 || t == 0x64 { // (ref null? ht)
		_, err = r.s64()
	}
	return err
}

func (m *module) readImports(b []byte) error {
	r := reader{b: b}
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		for k := 0; k < 2; k++ { // module, name
			l, err := r.u32()
			if err != nil {
				return err
			}
			if err := r.skip(int(l)); err != nil {
				return err
			}
		}
		kind, err := r.byte()
		if err != nil {
			return err
		}
		switch kind {
		case 0x00: // func
			if _, err := r.u32(); err != nil {
				return err
			}
			m.importedFuncs++
		case 0x01: // table
			if err := r.skipValType(); err != nil {
				return err
			}
			if err := r.skipLimits(); err != nil {
				return err
			}
		case 0x02: // memory
			if err := r.skipLimits(); err != nil {
				return err
			}
		case 0x03: // global
			if err := r.skipValType(); err != nil {
				return err
			}
			if _, err := r.byte(); err != nil {
				return err
			}
			m.importedGlobals++
		case 0x04: // tag
			if _, err := r.byte(); err != nil {
				return err
			}
			if _, err := r.u32(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("import %d: unknown kind %d", i, kind)
		}
	}
	return nil
}

func (m *module) checkExports(b []byte) error {
	r := reader{b: b}
	n, err := r.u32()
	if err != nil {
		return fmt.Errorf("export section: %w", err)
	}
	for i := uint32(0); i < n; i++ {
		l, err := r.u32()
		if err != nil {
			return fmt.Errorf("export section: %w", err)
		}
		if uint64(l) > uint64(len(r.b)-r.p) {
			return fmt.Errorf("export section: name too long")
		}
		if string(r.b[r.p:r.p+int(l)]) == FuelExport {
			return fmt.Errorf("export %q is reserved for the host", FuelExport)
		}
		r.p += int(l)
		if _, err := r.byte(); err != nil {
			return fmt.Errorf("export section: %w", err)
		}
		if _, err := r.u32(); err != nil {
			return fmt.Errorf("export section: %w", err)
		}
	}
	return nil
}

func (r *reader) skipLimits() error {
	flags, err := r.byte()
	if err != nil {
		return err
	}
	if _, err := r.u64(); err != nil {
		return err
	}
	if flags&1 != 0 {
		if _, err := r.u64(); err != nil {
			return err
		}
	}
	return nil
}

// capMemory lowers the maximum of the module's memories to max pages.
func capMemory(b []byte, max uint32) ([]byte, error) {
	if max == 0 {
		return b, nil
	}
	r := reader{b: b}
	n, err := r.u32()
	if err != nil {
		return nil, fmt.Errorf("memory section: %w", err)
	}
	out := appendU32(nil, n)
	for i := uint32(0); i < n; i++ {
		flags, err := r.byte()
		if err != nil {
			return nil, fmt.Errorf("memory section: %w", err)
		}
		if flags&^3 != 0 {
			return nil, fmt.Errorf("memory %d: unsupported limits flags 0x%x (memory64?)", i, flags)
		}
		min, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("memory section: %w", err)
		}
		mx := max
		if flags&1 != 0 {
			declared, err := r.u32()
			if err != nil {
				return nil, fmt.Errorf("memory section: %w", err)
			}
			if declared < mx {
				mx = declared
			}
		}
		if min > mx {
			return nil, fmt.Errorf("memory %d needs %d pages at start, over the cap of %d pages", i, min, mx)
		}
		out = append(out, flags|1)
		out = appendU32(out, min)
		out = appendU32(out, mx)
	}
	return out, nil
}

// rewriteCode instruments every function body of a code section.
func (m *module) rewriteCode(b []byte, fuel uint32, opt Options, st *Stats) ([]byte, error) {
	r := reader{b: b}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	if int(n) != len(m.funcTypes) {
		return nil, fmt.Errorf("%d bodies for %d functions", n, len(m.funcTypes))
	}
	out := make([]byte, 0, len(b)+len(b)/4)
	out = appendU32(out, n)
	var body []byte
	var sites []site
	for i := uint32(0); i < n; i++ {
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		if uint64(size) > uint64(len(r.b)-r.p) {
			return nil, fmt.Errorf("function %d: body size %d exceeds the %d bytes left", i, size, len(r.b)-r.p)
		}
		src := r.b[r.p : r.p+int(size)]
		r.p += int(size)
		ti := m.funcTypes[i]
		if int(ti) >= len(m.typeParams) {
			return nil, fmt.Errorf("function %d: type index %d out of range", i, ti)
		}
		body, sites, err = instrumentBody(body[:0], sites[:0], src, m.typeParams[ti], fuel, opt.NoFuel)
		if err != nil {
			return nil, fmt.Errorf("function %d (index %d): %w", i, m.importedFuncs+i, err)
		}
		st.Functions++
		st.Sites += len(sites)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	if r.p != len(r.b) {
		return nil, fmt.Errorf("%d trailing bytes", len(r.b)-r.p)
	}
	return out, nil
}

// site is a metering point: the byte offset in the source body where the check goes, and the
// cost charged there.
type site struct {
	at   int
	cost int64
}

// instrumentBody rewrites one function body: it adds an i64 scratch local and inserts a fuel
// check at the start of the body and right after every loop's block type.
//
// The cost of a site is the number of instructions from it up to and including the first
// instruction that can change control flow (block, loop, if, else, end, br*, return, call*,
// throw...). Straight-line code after a nested block is not charged: fuel is a lower bound on
// executed instructions, and the wall-clock watchdog bounds the rest (see RATIONALE.md).
func instrumentBody(dst []byte, sites []site, src []byte, nparams uint32, fuel uint32, noFuel bool) ([]byte, []site, error) {
	r := reader{b: src}
	ngroups, err := r.u32()
	if err != nil {
		return nil, nil, err
	}
	groupsStart := r.p
	nlocals := uint64(nparams)
	for g := uint32(0); g < ngroups; g++ {
		c, err := r.u32()
		if err != nil {
			return nil, nil, err
		}
		if err := r.skipValType(); err != nil {
			return nil, nil, err
		}
		nlocals += uint64(c)
	}
	if nlocals >= 50000 {
		return nil, nil, fmt.Errorf("%d locals: too many to add the fuel scratch local", nlocals)
	}
	codeStart := r.p
	scratch := uint32(nlocals)

	// Pass 1: find the sites and their costs.
	sites = append(sites, site{at: codeStart})
	open := 0 // index of the site being costed, -1 once its straight line ended
	depth := 0
	for r.p < len(r.b) {
		op, err := r.instr()
		if err != nil {
			return nil, nil, fmt.Errorf("byte %d: %w", r.p, err)
		}
		if open >= 0 {
			sites[open].cost++
		}
		switch op {
		case 0x02, 0x04, 0x06, 0x1F: // block, if, try, try_table
			depth++
			open = -1
		case 0x03: // loop: a new site right after the block type
			depth++
			sites = append(sites, site{at: r.p})
			open = len(sites) - 1
		case 0x0B: // end
			depth--
			open = -1
			if depth < 0 {
				if r.p != len(r.b) {
					return nil, nil, fmt.Errorf("byte %d: code after the function's end", r.p)
				}
			}
		case 0x05, 0x07, 0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x18, 0x19, 0xD5, 0xD6:
			open = -1
		}
	}
	if depth != -1 {
		return nil, nil, fmt.Errorf("unbalanced blocks (depth %d at the end)", depth)
	}

	// Pass 2: emit locals (plus the scratch local) and code with checks inserted.
	dst = appendU32(dst, ngroups+1)
	dst = append(dst, src[groupsStart:codeStart]...)
	dst = append(dst, 0x01, 0x7E) // one i64
	prev := codeStart
	for _, s := range sites {
		dst = append(dst, src[prev:s.at]...)
		prev = s.at
		if noFuel {
			continue
		}
		dst = appendCheck(dst, fuel, scratch, s.cost)
	}
	dst = append(dst, src[prev:]...)
	return dst, sites, nil
}

// appendCheck appends: fuel -= cost; if fuel < 0 { unreachable }.
func appendCheck(dst []byte, fuel, scratch uint32, cost int64) []byte {
	dst = append(dst, 0x23) // global.get
	dst = appendU32(dst, fuel)
	dst = append(dst, 0x42) // i64.const
	dst = appendS64(dst, cost)
	dst = append(dst, 0x7D) // i64.sub
	dst = append(dst, 0x22) // local.tee
	dst = appendU32(dst, scratch)
	dst = append(dst, 0x24) // global.set
	dst = appendU32(dst, fuel)
	dst = append(dst, 0x20) // local.get
	dst = appendU32(dst, scratch)
	dst = append(dst, 0x42, 0x00) // i64.const 0
	dst = append(dst, 0x53)       // i64.lt_s
	dst = append(dst, 0x04, 0x40) // if (empty)
	dst = append(dst, 0x00)       // unreachable
	return append(dst, 0x0B)      // end
}
