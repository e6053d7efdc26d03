package wasmhost

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/engine/wasmhost/internal/meter"
)

// InstanceConfig configures one instance of a module.
type InstanceConfig struct {
	// Config is the function's config (JSON) passed to the guest's atoll_init, when it has one.
	Config []byte
	// Log receives the guest's log lines and its stdout/stderr ("debug", "info", "warn",
	// "error"). Nil discards them.
	Log func(level, msg string)
	// AllowDir, when set, is a host directory the guest may read, mounted read-only at "/".
	// Without it the guest sees no files. Every path the guest opens is resolved inside it
	// (os.Root): a symbolic link, or a ".." after one, that leads outside is refused, whenever
	// the link was made.
	AllowDir string
	// Context is the context of every guest call (host modules read per-node values from it);
	// nil means context.Background(). Cancelling it does not interrupt a call: the deadline does.
	Context context.Context
}

// Failure is one row that failed, with the reason.
type Failure struct {
	Row    rows.Row
	Reason string
}

// Result is what one call returns.
type Result struct {
	// Out holds the output rows.
	Out *rows.Batch
	// Failed holds the rows the guest marked as failed (their ErrorField removed).
	Failed []Failure
	// Fuel is the fuel the call used (0 when the module is not metered).
	Fuel int64
}

// CallError is a failure of a whole call: a trap, an exit, the deadline, a broken ABI contract.
// The instance that returned it is dead and must be replaced (Function does that).
type CallError struct {
	// Reason is a one-line description ("call exceeded max_call_ms (1000 ms)").
	Reason string
	// Interrupted is true when the call was stopped by its fuel budget or deadline.
	Interrupted bool
	Err         error
}

func (e *CallError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *CallError) Unwrap() error { return e.Err }

// Instance is one instantiated guest. It is used by one goroutine at a time.
type Instance struct {
	m       *Module
	mod     api.Module
	mem     api.Memory
	alloc   api.Function
	process api.Function
	fuel    api.MutableGlobal
	budget  int64
	ctx     context.Context
	log     func(level, msg string)
	stderr  *lineWriter
	stdout  *lineWriter
	enc     rows.Encoder
	stack   [2]uint64
	dead    error
	root    *os.Root // the AllowDir the guest reads through, when granted

	deadline      time.Duration
	startDeadline time.Duration
	startBudget   int64
	starting      bool
	state         atomic.Uint32 // callIdle, callRunning, callInterrupted
	timer         *time.Timer
	fired         chan struct{}
	wake          chan struct{} // end tells a watchdog still watching the call that it ended

	// The call being watched, written by begin and read by the watchdog.
	callLimit atomic.Int64 // its deadline (ns of CPU time, or of wall time without a CPU clock)
	wall0     atomic.Int64 // unix ns when it began
	clock     atomic.Int32 // the CPU clock of its thread
	cpu0      atomic.Int64 // that clock when it began
	cpuOK     atomic.Bool  // the clock can be read (Linux)
	byWall    atomic.Bool  // the watchdog stopped it at WallFactor × its deadline
}

// WallFactor bounds a call's wall time where its CPU time is what max_call_ms limits: a call
// that waits (a guest sleeping, a host call blocked) or that a saturated machine starves is
// stopped after WallFactor × max_call_ms of wall time.
const WallFactor = 10

const (
	callIdle uint32 = iota
	callRunning
	callInterrupted
)

// interruptFuel is what the watchdog stores in the fuel global: far below zero, so that the
// next metering site traps whatever its cost.
var interruptFuel int64 = math.MinInt64 / 2

// StartDeadline is the least deadline of each step of an instance's start: _initialize,
// atoll_abi_version and atoll_init each get max(max_call_ms, StartDeadline).
const StartDeadline = 10 * time.Second

type logKey struct{}

// NewInstance instantiates the module, runs its reactor initialisation (_initialize) and its
// atoll_init with the config, and checks its ABI version. Every step runs under the deadline.
func (m *Module) NewInstance(cfg InstanceConfig) (*Instance, error) {
	ctx := cfg.Context
	if ctx == nil {
		ctx = context.Background()
	}
	log := cfg.Log
	if log == nil {
		log = func(string, string) {}
	}
	i := &Instance{
		m:        m,
		log:      log,
		deadline: time.Duration(m.limits.MaxCallMS) * time.Millisecond,
		budget:   m.rt.fuelPerMS * int64(m.limits.MaxCallMS),
		fired:    make(chan struct{}, 1),
		wake:     make(chan struct{}, 1),
	}
	// Starting an instance (a Go runtime's initialisation, say) may take longer than a batch.
	i.startDeadline = max(i.deadline, StartDeadline)
	i.startBudget = m.rt.fuelPerMS * i.startDeadline.Milliseconds()
	i.ctx = context.WithValue(ctx, logKey{}, i)
	i.stdout = &lineWriter{level: "info", log: log}
	i.stderr = &lineWriter{level: "warn", log: log}
	i.timer = time.AfterFunc(time.Hour, i.interrupt)
	i.timer.Stop()

	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(). // _initialize is called below, metered and under the deadline
		WithStdout(i.stdout).
		WithStderr(i.stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(i.sleep).
		WithRandSource(rand.Reader)
	if cfg.AllowDir != "" {
		// wazero's directory mount follows symbolic links wherever they point; an os.Root
		// resolves each open inside the directory (openat2 RESOLVE_BENEATH on Linux), so a
		// link made during the run cannot lead out either. The fs.FS adapter is read-only.
		root, err := os.OpenRoot(cfg.AllowDir)
		if err != nil {
			return nil, fmt.Errorf("allow_dir: %w", err)
		}
		i.root = root
		mc = mc.WithFSConfig(wazero.NewFSConfig().WithFSMount(root.FS(), "/"))
	}
	mod, err := m.rt.rt.InstantiateModule(i.ctx, m.compiled, mc)
	if err != nil {
		i.closeRoot()
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	i.mod = mod
	i.mem = mod.ExportedMemory(ExportMemory)
	i.alloc = mod.ExportedFunction(ExportAlloc)
	i.process = mod.ExportedFunction(ExportProcess)
	g, ok := mod.ExportedGlobal(meter.FuelExport).(api.MutableGlobal)
	if !ok || i.mem == nil || i.alloc == nil || i.process == nil {
		i.Close()
		return nil, fmt.Errorf("%w: exports missing after instantiation", ErrABI)
	}
	i.fuel = g
	if f := mod.ExportedFunction("_initialize"); f != nil {
		if err := i.startCall(f, i.stack[:]); err != nil {
			i.Close()
			return nil, fmt.Errorf("_initialize: %w", err)
		}
	}
	if err := i.startCall(mod.ExportedFunction(ExportABIVersion), i.stack[:]); err != nil {
		i.Close()
		return nil, fmt.Errorf("%s: %w", ExportABIVersion, err)
	}
	if v := int32(uint32(i.stack[0])); v != ABIVersion {
		i.Close()
		return nil, fmt.Errorf("%w: %s returned %d, this host runs version %d", ErrABI, ExportABIVersion, v, ABIVersion)
	}
	if m.hasInit {
		ptr, err := i.write(cfg.Config)
		if err != nil {
			i.Close()
			return nil, fmt.Errorf("%s: %w", ExportInit, err)
		}
		i.stack[0], i.stack[1] = uint64(ptr), uint64(len(cfg.Config))
		if err := i.startCall(mod.ExportedFunction(ExportInit), i.stack[:]); err != nil {
			i.Close()
			return nil, fmt.Errorf("%s: %w", ExportInit, err)
		}
		if code := int32(uint32(i.stack[0])); code != 0 {
			msg := i.lastError()
			i.Close()
			if msg != "" {
				return nil, fmt.Errorf("function init failed (code %d): %s", code, msg)
			}
			return nil, fmt.Errorf("function init failed (code %d)", code)
		}
	}
	return i, nil
}

// Close releases the instance.
func (i *Instance) Close() error {
	i.timer.Stop()
	defer i.closeRoot()
	if i.mod == nil {
		return nil
	}
	return i.mod.Close(context.Background())
}

func (i *Instance) closeRoot() {
	if i.root != nil {
		i.root.Close()
		i.root = nil
	}
}

// Dead returns the reason the instance can no longer be used, or nil.
func (i *Instance) Dead() error { return i.dead }

// MemoryBytes returns the size of the guest's memory.
func (i *Instance) MemoryBytes() uint32 { return i.mem.Size() }

// Process sends a batch through the guest. A *CallError means the instance is dead and every
// row of b failed with its reason; other errors do not happen unless the host is closing.
func (i *Instance) Process(b *rows.Batch) (Result, error) {
	if i.dead != nil {
		return Result{}, i.dead
	}
	if i.stderr.first != "" {
		i.stderr.reset()
	}
	data := i.enc.Encode(b)
	// One fuel budget and one deadline cover atoll_alloc and atoll_process.
	i.begin(i.deadline, i.budget)
	ptr, err := i.put(data)
	if err == nil {
		i.stack[0], i.stack[1] = uint64(ptr), uint64(len(data))
		err = i.process.CallWithStack(i.ctx, i.stack[:])
	}
	if err := i.end(err); err != nil {
		return Result{}, err
	}
	used := i.budget - int64(i.fuel.Get())
	if i.m.limits.NoMetering {
		used = 0
	}
	res := i.stack[0]
	outPtr, outLen := uint32(res>>32), uint32(res)
	view, ok := i.mem.Read(outPtr, outLen)
	if !ok {
		return Result{}, i.kill(&CallError{Reason: fmt.Sprintf("%s returned out-of-bounds output (ptr %d, len %d, memory %d bytes)", ExportProcess, outPtr, outLen, i.mem.Size())})
	}
	out, err := rows.Decode(view)
	if err != nil {
		return Result{}, i.kill(&CallError{Reason: fmt.Sprintf("%s returned a malformed batch", ExportProcess), Err: err})
	}
	r := Result{Out: out, Fuel: used}
	if bytes.Contains(view, errorFieldBytes) { // without "$error" in the batch, no row failed
		splitFailures(&r)
	}
	return r, nil
}

var errorFieldBytes = []byte(ErrorField)

// splitFailures moves the rows carrying ErrorField from r.Out to r.Failed.
func splitFailures(r *Result) {
	kept := r.Out.Rows[:0]
	for _, row := range r.Out.Rows {
		idx := -1
		for j := range row {
			if row[j].Name == ErrorField {
				idx = j
				break
			}
		}
		if idx < 0 {
			kept = append(kept, row)
			continue
		}
		reason, ok := row[idx].Value.AsString()
		if !ok {
			reason = "failed (" + row[idx].Value.String() + ")"
		}
		row.Delete(ErrorField)
		r.Failed = append(r.Failed, Failure{Row: row, Reason: reason})
	}
	r.Out.Rows = kept
}

// write asks the guest for a buffer of len(data) bytes and copies data into it, as a call of
// its own.
func (i *Instance) write(data []byte) (uint32, error) {
	i.begin(i.startDeadline, i.startBudget)
	ptr, err := i.put(data)
	return ptr, i.end(err)
}

// put calls atoll_alloc and copies data into the buffer it returns, bounds-checked; it runs
// between begin and end.
func (i *Instance) put(data []byte) (uint32, error) {
	i.stack[0] = uint64(len(data))
	if err := i.alloc.CallWithStack(i.ctx, i.stack[:]); err != nil {
		return 0, err
	}
	ptr := uint32(i.stack[0])
	if len(data) > 0 && (ptr == 0 || !i.mem.Write(ptr, data)) {
		return 0, &CallError{Reason: fmt.Sprintf("%s(%d) returned an out-of-bounds buffer (ptr %d, memory %d bytes)", ExportAlloc, len(data), ptr, i.mem.Size())}
	}
	return ptr, nil
}

// startCall runs one step of an instance's start (_initialize, atoll_abi_version, atoll_init)
// under the start deadline and budget.
func (i *Instance) startCall(fn api.Function, stack []uint64) error {
	i.begin(i.startDeadline, i.startBudget)
	return i.end(fn.CallWithStack(i.ctx, stack))
}

// begin gives the guest a fuel budget and arms the deadline for the calls that follow. The
// goroutine stays on its OS thread until end, so that the watchdog can read that thread's CPU
// clock: the deadline is CPU time where the OS has per-thread clocks (Linux), wall time elsewhere.
func (i *Instance) begin(deadline time.Duration, budget int64) {
	i.fuel.Set(uint64(budget))
	i.starting = deadline != i.deadline
	runtime.LockOSThread()
	clock, ok := threadClock()
	var cpu0 time.Duration
	if ok {
		cpu0, ok = clockTime(clock)
	}
	i.clock.Store(clock)
	i.cpu0.Store(int64(cpu0))
	i.cpuOK.Store(ok)
	i.callLimit.Store(int64(deadline))
	i.wall0.Store(time.Now().UnixNano())
	i.byWall.Store(false)
	select {
	case <-i.wake: // left by a watchdog that had already let go
	default:
	}
	i.state.Store(callRunning)
	i.timer.Reset(deadline)
}

// end disarms the deadline and turns a call's error into a *CallError, killing the instance.
func (i *Instance) end(err error) error {
	interrupted := !i.state.CompareAndSwap(callRunning, callIdle)
	if !i.timer.Stop() {
		select {
		case i.wake <- struct{}{}:
		default:
		}
		<-i.fired // the watchdog ran (or is running): wait until it is done with the fuel
	}
	runtime.UnlockOSThread()
	if interrupted {
		i.state.Store(callIdle)
	}
	if err == nil {
		return nil
	}
	if ce, ok := err.(*CallError); ok {
		return i.kill(ce)
	}
	return i.kill(i.classify(err, interrupted))
}

// interrupt is the watchdog: it runs when a call has run for its deadline in wall time. If the
// call's thread has used less CPU time than that (it waited, or the machine is busy), it
// watches on until the CPU time or WallFactor × the deadline in wall time is spent; then it
// makes the guest trap at its next metering site.
func (i *Instance) interrupt() {
	defer func() { i.fired <- struct{}{} }()
	limit := time.Duration(i.callLimit.Load())
	wallLimit := WallFactor * limit
	for i.cpuOK.Load() {
		if i.state.Load() != callRunning {
			return
		}
		wall := time.Since(time.Unix(0, i.wall0.Load()))
		if wall >= wallLimit {
			i.byWall.Store(true)
			break
		}
		now, ok := clockTime(i.clock.Load())
		used := now - time.Duration(i.cpu0.Load())
		if !ok || used >= limit {
			break
		}
		t := time.NewTimer(max(time.Millisecond, min(limit-used, wallLimit-wall)))
		select {
		case <-i.wake:
			t.Stop()
			return
		case <-t.C:
		}
	}
	if i.state.CompareAndSwap(callRunning, callInterrupted) {
		i.fuel.Set(uint64(interruptFuel))
	}
}

// sleep is the guest's nanosleep (WASI poll_oneoff): it wakes up early when interrupted.
func (i *Instance) sleep(ns int64) {
	end := time.Now().Add(time.Duration(ns))
	for {
		left := time.Until(end)
		if left <= 0 || i.state.Load() == callInterrupted {
			return
		}
		time.Sleep(min(left, 5*time.Millisecond))
	}
}

func (i *Instance) classify(err error, interrupted bool) *CallError {
	var exit *sys.ExitError
	i.stderr.endTrace()
	outOfFuel := !i.m.limits.NoMetering && int64(i.fuel.Get()) < 0 && strings.Contains(err.Error(), "unreachable")
	if reason, ok := i.outOfMemory(err, interrupted || outOfFuel); ok {
		return &CallError{Reason: reason}
	}
	switch {
	case interrupted && i.byWall.Load():
		what := fmt.Sprintf("call exceeded %d × max_call_ms (%d ms)", WallFactor, i.m.limits.MaxCallMS)
		if i.starting {
			what = fmt.Sprintf("instance start exceeded %d × its %d ms deadline", WallFactor, i.startDeadline.Milliseconds())
		}
		return &CallError{Reason: what + " of wall time while using less CPU time: the guest was waiting or the machine is saturated", Interrupted: true}
	case interrupted && i.starting:
		return &CallError{Reason: fmt.Sprintf("instance start exceeded %d ms%s", i.startDeadline.Milliseconds(), i.timeKind()), Interrupted: true}
	case interrupted:
		return &CallError{Reason: fmt.Sprintf("call exceeded max_call_ms (%d ms)%s", i.m.limits.MaxCallMS, i.timeKind()), Interrupted: true}
	case outOfFuel:
		return &CallError{Reason: fmt.Sprintf("call ran out of fuel (max_call_ms %d ms at %d fuel/ms)", i.m.limits.MaxCallMS, i.m.rt.fuelPerMS), Interrupted: true}
	case errors.As(err, &exit):
		reason := fmt.Sprintf("guest exited with code %d", exit.ExitCode())
		if tail := i.stderr.firstLine(); tail != "" {
			reason += ": " + tail
		}
		return &CallError{Reason: reason}
	}
	msg := err.Error()
	if k := strings.IndexByte(msg, '\n'); k >= 0 {
		msg = msg[:k]
	}
	reason := "guest trapped: " + msg
	if line := i.stderr.firstLine(); line != "" {
		// A Go guest prints its panic or fatal error, then aborts with unreachable.
		reason += ": " + line
	}
	return &CallError{Reason: reason}
}

// timeKind says which clock the deadline was measured on.
func (i *Instance) timeKind() string {
	if i.cpuOK.Load() {
		return " of CPU time"
	}
	return ""
}

// outOfMemory reports whether a failed call ran out of guest memory: the guest said so (a Go
// runtime's "out of memory", Rust's "memory allocation of N bytes failed"), or its memory is at
// the cap and the call was stopped for time (a garbage collector working at the cap).
func (i *Instance) outOfMemory(err error, stopped bool) (string, bool) {
	capBytes := uint64(i.m.limits.MemoryPages) * 65536
	size := uint64(i.mem.Size())
	atCap := size+4*65536 > capBytes // within four pages: a Go heap grows by more than that
	line := i.stderr.firstLine()
	said := strings.Contains(line, "out of memory") || strings.Contains(line, "memory allocation of") ||
		strings.Contains(err.Error(), "out of memory")
	if !said && !(atCap && stopped) {
		return "", false
	}
	reason := fmt.Sprintf("out of memory: the guest uses %d MiB of its %d MiB cap (memory_pages %d)", size>>20, capBytes>>20, i.m.limits.MemoryPages)
	switch {
	case said && line != "":
		reason += ": " + line
	case stopped:
		reason += " and ran past its deadline"
	}
	return reason, true
}

// kill marks the instance dead with err and closes it; it returns err.
func (i *Instance) kill(err *CallError) error {
	i.dead = err
	i.mod.Close(context.Background())
	return err
}

// lastError returns the last error-level line the guest logged.
func (i *Instance) lastError() string {
	if i.stderr.lastErr != "" {
		return i.stderr.lastErr
	}
	return i.stderr.firstLine()
}

// hostLog is atoll_v1.log(level, ptr, len).
func hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	level, ptr, n := uint32(stack[0]), uint32(stack[1]), uint32(stack[2])
	const maxLine = 4096
	if n > maxLine {
		n = maxLine
	}
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		panic(fmt.Errorf("%s.log: out-of-bounds message (ptr %d, len %d)", HostModuleName, ptr, n))
	}
	i, _ := ctx.Value(logKey{}).(*Instance)
	if i == nil {
		return
	}
	lv := "info"
	switch level {
	case 0:
		lv = "debug"
	case 2:
		lv = "warn"
	case 3:
		lv = "error"
		i.stderr.lastErr = string(b)
	}
	i.log(lv, string(b))
}

// lineWriter turns a guest's stdout or stderr into log lines. It keeps the first line written
// since the last reset (a Go guest's "panic: ..." or "fatal error: ..." line, say) and the last
// error the guest logged, for error reasons. It is only called from the instance's goroutine.
type lineWriter struct {
	level   string
	log     func(level, msg string)
	buf     []byte
	first   string
	lastErr string
	trace   int // lines of a Go stack trace not logged (> 0: in one)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		k := bytes.IndexByte(w.buf, '\n')
		if k < 0 {
			break
		}
		line := string(w.buf[:k])
		w.buf = w.buf[k+1:]
		w.emit(line)
	}
	if len(w.buf) > 4096 {
		w.emit(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *lineWriter) emit(line string) {
	if strings.TrimSpace(line) == "" {
		return
	}
	if w.first == "" {
		w.first = line
	}
	// A Go guest's panic or fatal error is followed by every goroutine's stack (a hundred lines
	// and more): the message goes to the log, the stack is counted.
	if w.trace > 0 || strings.HasPrefix(line, "goroutine ") && strings.HasSuffix(line, "]:") {
		w.trace++
		return
	}
	w.log(w.level, line)
}

// endTrace logs how many lines of a stack trace were left out, if any.
func (w *lineWriter) endTrace() {
	w.firstLine()
	if w.trace > 0 {
		w.log(w.level, fmt.Sprintf("(%d lines of the guest's stack trace not logged)", w.trace))
		w.trace = 0
	}
}

// firstLine returns the first line written since the last reset, flushing a partial line.
func (w *lineWriter) firstLine() string {
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = w.buf[:0]
	}
	return w.first
}

func (w *lineWriter) reset() {
	w.endTrace()
	w.first = ""
}
