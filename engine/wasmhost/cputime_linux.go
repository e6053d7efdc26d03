package wasmhost

import (
	"syscall"
	"time"
	"unsafe"
)

const clockThreadCPUTimeID = 3 // CLOCK_THREAD_CPUTIME_ID

// threadCPUTime returns the CPU time of the calling OS thread (the caller locks it), so that
// calibration measures the guest's speed and not how much of a core a loaded machine gave us.
func threadCPUTime() (time.Duration, bool) {
	return clockTime(clockThreadCPUTimeID)
}

// threadClock returns the CPU clock of the calling OS thread (the caller locks it) as a clock
// that any thread can read: Linux's MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED).
func threadClock() (int32, bool) {
	return int32(^uint32(syscall.Gettid())<<3 | 6), true
}

// clockTime reads a clock with clock_gettime.
func clockTime(clock int32) (time.Duration, bool) {
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(uint32(clock)), uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
