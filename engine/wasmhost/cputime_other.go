//go:build !linux

package wasmhost

import "time"

// threadCPUTime is not available here: calibration uses wall time.
func threadCPUTime() (time.Duration, bool) { return 0, false }

// threadClock is not available here: call deadlines are wall time.
func threadClock() (int32, bool) { return 0, false }

func clockTime(int32) (time.Duration, bool) { return 0, false }
