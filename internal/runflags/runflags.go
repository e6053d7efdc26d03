// Package runflags holds the command-line flags that the studio (`atoll`) and the edge runner
// (`atoll-runner`) share, so that both spell and check them the same way.
package runflags

import (
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/atoll-studio/atoll/engine"
)

// ExitUnwiredErrors is the exit status of `atoll run` and `atoll-runner run` for a run that
// finished but lost rows to errors ports with no edge (engine.Run.UnwiredErrors).
const ExitUnwiredErrors = 3

// GuestMemory adds --guest-memory-mb to fs and returns where the parsed budget goes, in bytes
// as engine.GuestMemoryBudgetService takes it (-1: no limit). Its default is
// engine.DefaultGuestMemoryBudget, or $ATOLL_GUEST_MEMORY_MB.
func GuestMemory(fs *flag.FlagSet) *int64 {
	def := int64(engine.DefaultGuestMemoryBudget >> 20)
	if env := os.Getenv("ATOLL_GUEST_MEMORY_MB"); env != "" {
		if v, err := parseMiB(env); err != nil {
			fmt.Fprintf(os.Stderr, "atoll: $ATOLL_GUEST_MEMORY_MB: %v; using the default %d MiB\n", err, def)
		} else {
			def = v
		}
	}
	budget := new(int64)
	set := func(mb int64) {
		*budget = mb << 20
		if mb < 0 {
			*budget = -1
		}
	}
	set(def)
	fs.Func("guest-memory-mb", fmt.Sprintf("guest (WebAssembly) memory all of a run's function nodes may claim together, in MiB; -1: no limit (default %d, or $ATOLL_GUEST_MEMORY_MB)", def),
		func(s string) error {
			v, err := parseMiB(s)
			if err != nil {
				return err
			}
			set(v)
			return nil
		})
	return budget
}

// parseMiB reads a memory budget in MiB: a number > 0, or -1 for no limit.
func parseMiB(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v == 0 || v < -1 || v > 1<<40 {
		return 0, fmt.Errorf("%q is not a number of MiB > 0 (or -1)", s)
	}
	return v, nil
}
