package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestRunnerDependencies checks that the runner imports no cgo and none of the studio's
// packages (app, storage), so that it cross-compiles with CGO_ENABLED=0 for every edge target.
func TestRunnerDependencies(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), "go", "list", "-deps",
		"-f", "{{.ImportPath}} {{.Standard}} {{len .CgoFiles}}", ".")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=1") // list the cgo files a cgo build would use
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	n := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		n++
		path, std, cgoFiles := f[0], f[1] == "true", f[2]
		if !std && cgoFiles != "0" {
			t.Errorf("the runner depends on %s, which uses cgo", path)
		}
		for _, banned := range []string{"github.com/atoll-studio/atoll/app", "github.com/atoll-studio/atoll/storage", "github.com/atoll-studio/atoll/frontend"} {
			if path == banned || strings.HasPrefix(path, banned+"/") {
				t.Errorf("the runner depends on %s: it may import only engine and nodes", path)
			}
		}
	}
	if n < 10 {
		t.Fatalf("go list gave %d packages:\n%s", n, out)
	}
}

// TestIntegrationRunnerCrossCompiles builds the runner with CGO_ENABLED=0 for the edge targets
// least like this machine, 32-bit armv7 and riscv64 (no assembly kernels), so that
// architecture-specific code cannot break them unnoticed; `make runner` builds all four.
func TestIntegrationRunnerCrossCompiles(t *testing.T) {
	for _, target := range []struct{ goarch, goarm string }{{"arm", "7"}, {"riscv64", ""}} {
		name := "linux/" + target.goarch + target.goarm
		cmd := exec.CommandContext(t.Context(), "go", "build", "-o", os.DevNull, ".")
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+target.goarch, "GOARM="+target.goarm)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", name, err, out)
		}
	}
}
