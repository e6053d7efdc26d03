//go:build !linux

package wasmhost

import "time"

// threadCPUTime is not available here: calibration uses wall time.
func threadCPUTime() (time.Duration, bool) { return 0, false }
