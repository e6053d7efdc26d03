// Package atoll is the Go guest SDK for Atoll WebAssembly functions (Atoll ABI v1, see
// engine/wasmhost/ABI.md). A function is a main package that registers one handler in init and
// has an empty main; it is built with the stock toolchain:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o fn.wasm .
//
// The SDK exports the ABI (memory, atoll_abi_version, atoll_alloc, atoll_init, atoll_process),
// decodes each batch with engine/rows — the same codec the host uses — calls the handler, and
// encodes the result into a buffer it keeps (and reuses) until the next call. A row that fails
// goes to the node's errors port with its reason; the rest of the batch goes on.
package atoll

import (
	"fmt"
	"runtime"

	"github.com/atoll-studio/atoll/engine/rows"
)

// ABIVersion is the Atoll ABI version this SDK implements.
const ABIVersion = 1

// ErrorField is the reserved field that marks an output row as failed; its string value is the
// reason. The host removes it and sends the row to the node's errors port.
const ErrorField = "$error"

// Level is a log level.
type Level int32

// Log levels, as passed to the host's atoll_v1.log.
const (
	Debug Level = 0
	Info  Level = 1
	Warn  Level = 2
	Error Level = 3
)

// Emitter collects the output rows of one batch.
type Emitter struct {
	out *rows.Batch
}

// Emit appends a row to the output batch.
func (e *Emitter) Emit(r rows.Row) { e.out.Rows = append(e.out.Rows, r) }

// Fail appends r marked as failed with reason: it goes to the errors port.
func (e *Emitter) Fail(r rows.Row, reason error) {
	f := make(rows.Row, len(r), len(r)+1)
	copy(f, r)
	f = append(f, rows.Field{Name: ErrorField, Value: rows.String(reason.Error())})
	e.out.Rows = append(e.out.Rows, f)
}

// handler is the registered batch function.
var handler func(in *rows.Batch, e *Emitter) error

// perRow reports that the handler emits nothing for an empty batch (Map, FlatMap, Filter), so
// that Process answers one without decoding it or calling the handler.
var perRow bool

// initFn is the registered config handler.
var initFn func(config []byte) error

func setHandler(h func(in *rows.Batch, e *Emitter) error) {
	if handler != nil {
		panic("atoll: more than one handler registered")
	}
	handler = h
	perRow = false
}

// Map registers fn, applied to each row: the returned row is emitted, or the input row goes to
// errors with the returned error. fn may modify and return its argument: it has room for two
// more fields, in memory the SDK reuses for the next batch (so fn must not keep it).
func Map(fn func(r rows.Row) (rows.Row, error)) {
	setHandler(func(in *rows.Batch, e *Emitter) error {
		for i, r := range in.Rows {
			out, err := fn(r)
			if err != nil {
				// fn may have changed r in place: the errors port gets the row as it came in.
				e.Fail(state.original(i), err)
				continue
			}
			e.out.Rows = append(e.out.Rows, out)
		}
		return nil
	})
	perRow = true
}

// FlatMap registers fn, which may emit any number of rows for each input row. On error, the
// rows it emitted for that input are kept and the input row goes to errors.
func FlatMap(fn func(r rows.Row, emit func(rows.Row)) error) {
	setHandler(func(in *rows.Batch, e *Emitter) error {
		for _, r := range in.Rows {
			if err := fn(r, e.Emit); err != nil {
				e.Fail(r, err)
			}
		}
		return nil
	})
	perRow = true
}

// Filter registers fn: rows for which it returns true pass unchanged, the others are dropped.
func Filter(fn func(r rows.Row) (bool, error)) {
	setHandler(func(in *rows.Batch, e *Emitter) error {
		for _, r := range in.Rows {
			keep, err := fn(r)
			if err != nil {
				e.Fail(r, err)
				continue
			}
			if keep {
				e.Emit(r)
			}
		}
		return nil
	})
	perRow = true
}

// Batch registers fn, which sees the whole batch. An error fails every input row with it. The
// batch and its rows live in memory the SDK reuses for the next batch: fn must not keep them.
func Batch(fn func(in *rows.Batch, e *Emitter) error) { setHandler(fn) }

// Init registers fn, called once per instance with the node's function config (JSON) before any
// batch. An error fails the node's start with its message.
func Init(fn func(config []byte) error) { initFn = fn }

// Logf writes to the node's log.
func Logf(level Level, format string, args ...any) { hostLog(level, fmt.Sprintf(format, args...)) }

// Process runs the registered handler over an encoded batch and returns the encoded output,
// in a buffer owned by the SDK that stays valid until the next call. It is what atoll_process
// calls; it is exported so that functions can be tested natively.
func Process(in []byte) []byte {
	if len(in) == len(emptyBatch) && string(in) == emptyBatch && (perRow || handler == nil) {
		// The empty batch (no rows, no names) answers itself: the output is the same bytes.
		return emptyOutput
	}
	state.out.Rows = state.out.Rows[:0]
	state.input, state.orig = in, nil
	b, err := state.dec.DecodeShared(in)
	if err != nil {
		// The host never sends a malformed batch; say so loudly in the result.
		state.out.Rows = append(state.out.Rows, rows.Row{{Name: ErrorField, Value: rows.String("guest: " + err.Error())}})
		return state.enc.Encode(&state.out)
	}
	if handler == nil {
		for _, r := range b.Rows {
			(&Emitter{&state.out}).Fail(r, fmt.Errorf("guest registered no handler"))
		}
		return state.enc.Encode(&state.out)
	}
	e := Emitter{out: &state.out}
	if err := runHandler(b, &e); err != nil {
		state.out.Rows = state.out.Rows[:0]
		for _, r := range state.originals().Rows {
			e.Fail(r, err)
		}
	}
	out := state.enc.Encode(&state.out)
	clear(state.out.Rows) // drop references to this batch's rows
	state.input, state.orig = nil, nil
	// A Go guest never yields between calls, so a GC cycle's background mark worker only runs
	// when the guest yields: until then every allocation pays for marking through assists and
	// the cycle drags on over many batches. Yielding after every 256 KiB of input lets the
	// worker finish a pending cycle at once (a cycle then costs about 3 batches' work, not 30)
	// while an empty call does not pay for a trip through the scheduler.
	state.sinceYield += len(in)
	if state.sinceYield >= 256<<10 {
		state.sinceYield = 0
		runtime.Gosched()
	}
	return out
}

// emptyBatch is the encoding of a batch with no rows; emptyOutput holds it for the host to read.
const emptyBatch = rows.Magic + "\x01\x00\x00\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"

var emptyOutput = []byte(emptyBatch)

func runHandler(b *rows.Batch, e *Emitter) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return handler(b, e)
}

// RunInit calls the registered init function; it is what atoll_init calls.
func RunInit(config []byte) error {
	if initFn == nil {
		return nil
	}
	return initFn(config)
}

// state is what the SDK keeps between calls: buffers handed to the host must stay referenced
// (or the guest's GC frees them) and are reused so that a batch allocates as little as possible.
var state sdkState

type sdkState struct {
	sinceYield int
	in         []byte
	out        rows.Batch
	enc        rows.Encoder
	dec        rows.Decoder // with two spare fields per row (see Map)
	input      []byte       // the batch being processed
	orig       *rows.Batch  // input decoded afresh, once a row fails (see original)
}

func init() { state.dec.Spare = 2 }

// original returns row i of the batch being processed as it came in: handlers may have changed
// the decoded rows in place. The batch is decoded again, once, on the first failure.
func (s *sdkState) original(i int) rows.Row { return s.originals().Rows[i] }

// originals returns the batch being processed as it came in.
func (s *sdkState) originals() *rows.Batch {
	if s.orig == nil {
		b, err := rows.DecodeShared(s.input)
		if err != nil {
			panic("atoll: input batch changed while processed: " + err.Error())
		}
		s.orig = b
	}
	return s.orig
}

// inputBuffer returns a buffer of n bytes for the host to write into, reusing the last one.
func inputBuffer(n int) []byte {
	if cap(state.in) < n {
		state.in = make([]byte, n+n/4)
	}
	state.in = state.in[:n]
	return state.in
}
