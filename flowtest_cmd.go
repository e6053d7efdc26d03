package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/atoll-studio/atoll/engine/flowtest"
	"github.com/atoll-studio/atoll/nodes/core"
)

// testGraphs runs `atoll test`: the flow tests beside graph files (engine/flowtest/TESTS.md).
func testGraphs(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return flowtest.Command(ctx, "atoll", args, stdout, stderr, func(graphFile string) flowtest.Env {
		// Relative paths in the graph resolve against its file's directory, as in `atoll run`.
		dir, err := filepath.Abs(filepath.Dir(graphFile))
		if err != nil {
			dir = filepath.Dir(graphFile)
		}
		return flowtest.Env{Catalog: catalog(), Assets: &fileAssets{dir: dir},
			Services: map[string]any{core.BaseDirService: dir}}
	})
}
