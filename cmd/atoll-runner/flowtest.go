package main

import (
	"context"
	"io"
	"os"
	"path/filepath"

	"github.com/atoll-studio/atoll/engine/flowtest"
	"github.com/atoll-studio/atoll/nodes"
	"github.com/atoll-studio/atoll/nodes/core"
)

// cmdTest runs `atoll-runner test graph.json|TESTFILE|DIR`: the flow tests beside graph files
// (engine/flowtest/TESTS.md), headless, as `atoll test` does. Exit 0 all passed, 1 a test
// failed, 2 a test file or graph could not be read.
func cmdTest(args []string, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-signals:
			cancel()
		case <-ctx.Done():
		}
	}()
	return flowtest.Command(ctx, "atoll-runner", args, stdout, stderr, func(graphFile string) flowtest.Env {
		dir, err := filepath.Abs(filepath.Dir(graphFile))
		if err != nil {
			dir = filepath.Dir(graphFile)
		}
		return flowtest.Env{Catalog: nodes.Default, Headless: true, Assets: fileAssets(dir),
			Services: map[string]any{core.BaseDirService: dir}}
	})
}
