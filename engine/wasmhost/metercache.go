package wasmhost

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/atoll-studio/atoll/engine/wasmhost/internal/meter"
)

// The instrumented module is cached on disk beside wazero's compilation cache: wazero keys its
// cache by the bytes it compiles, so a process that starts a module it compiled before must
// first produce the same instrumented bytes, and rewriting a 2.7 MB Go guest costs more than
// reading the result back (engine/wasmhost/RATIONALE.md, "Start from the cache").
//
// A file is "ATMC", the rewriter version (u32), the sites count (u32), then the module. The
// name holds the SHA-256 of the original module and the options, so a file is never stale; one
// that is truncated or corrupt fails wazero's validation and is rewritten (see Runtime.load).
const meterCacheMagic = "ATMC"

type meterCache struct{ dir string } // dir "" disables it

func (c meterCache) path(wasmSum [32]byte, opt meter.Options) string {
	return filepath.Join(c.dir, fmt.Sprintf("%s-v%d-p%d-f%v.wasm", hex.EncodeToString(wasmSum[:]),
		meter.Version, opt.MaxMemoryPages, !opt.NoFuel))
}

// get returns the cached instrumented module, or ok false.
func (c meterCache) get(wasmSum [32]byte, opt meter.Options) (inst []byte, st meter.Stats, ok bool) {
	if c.dir == "" {
		return nil, st, false
	}
	b, err := os.ReadFile(c.path(wasmSum, opt))
	if err != nil || len(b) < 12 || string(b[:4]) != meterCacheMagic ||
		binary.LittleEndian.Uint32(b[4:]) != meter.Version {
		return nil, st, false
	}
	st.Sites = int(binary.LittleEndian.Uint32(b[8:]))
	return b[12:], st, true
}

// put stores an instrumented module, atomically (a temporary file renamed), ignoring failures:
// the cache only saves time.
func (c meterCache) put(wasmSum [32]byte, opt meter.Options, inst []byte, st meter.Stats) {
	if c.dir == "" || os.MkdirAll(c.dir, 0o700) != nil {
		return
	}
	f, err := os.CreateTemp(c.dir, "tmp-*")
	if err != nil {
		return
	}
	var hdr [12]byte
	copy(hdr[:], meterCacheMagic)
	binary.LittleEndian.PutUint32(hdr[4:], meter.Version)
	binary.LittleEndian.PutUint32(hdr[8:], uint32(st.Sites))
	_, err = f.Write(append(hdr[:], inst...))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), c.path(wasmSum, opt))
	}
	if err != nil {
		os.Remove(f.Name())
	}
}

// drop removes an entry that did not compile.
func (c meterCache) drop(wasmSum [32]byte, opt meter.Options) {
	if c.dir != "" {
		os.Remove(c.path(wasmSum, opt))
	}
}
