//go:build !wasip1

package atoll

import (
	"fmt"
	"os"
)

// hostLog writes to stderr when the function runs natively (tests).
func hostLog(level Level, msg string) { fmt.Fprintf(os.Stderr, "atoll guest [%d]: %s\n", level, msg) }
