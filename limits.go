package main

import (
	"flag"

	"github.com/atoll-studio/atoll/internal/runflags"
)

// guestMemoryBudget is the guest memory budget of the runs this process builds, in bytes, set
// by --guest-memory-mb (every subcommand that builds runs has it).
var guestMemoryBudget *int64 = new(int64)

const exitUnwiredErrors = runflags.ExitUnwiredErrors

// guestMemoryFlag adds --guest-memory-mb to fs.
func guestMemoryFlag(fs *flag.FlagSet) { guestMemoryBudget = runflags.GuestMemory(fs) }
