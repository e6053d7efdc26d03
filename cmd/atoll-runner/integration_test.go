package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/examples"
	"github.com/atoll-studio/atoll/internal/testdata"
)

// repoRoot returns the module root (this package is cmd/atoll-runner).
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

func goBuild(t *testing.T, out, pkg string, env ...string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", out, pkg)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// outputs returns the files under dir by path relative to dir.
func outputs(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return files
}

// TestIntegrationBinariesAgree builds the studio binary (`atoll`, main package at the repository
// root) and the runner, runs every example graph that writes files with `atoll run` and
// `atoll-runner run`, each in its own copy of the examples, and compares the files they write
// byte for byte. Both run from the examples directory, not the graph's, so the graphs' relative
// paths must resolve against the graph file's directory, not the working directory.
func TestIntegrationBinariesAgree(t *testing.T) {
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "main.go")); err != nil {
		t.Fatalf("the studio binary's main package (main.go at the repository root, built by `make bin/atoll`) does not exist yet: %v", err)
	}
	bin := t.TempDir()
	atoll, runner := filepath.Join(bin, "atoll"), filepath.Join(bin, "atoll-runner")
	goBuild(t, atoll, ".")
	goBuild(t, runner, "./cmd/atoll-runner", "CGO_ENABLED=0")

	gs, err := examples.Graphs()
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, g := range gs {
		if !bytes.Contains(g.Data, []byte(`"sink.file"`)) {
			continue // nothing to compare (logs carry times)
		}
		t.Run(g.Name, func(t *testing.T) {
			got := map[string]map[string][]byte{}
			for _, b := range []struct{ name, path string }{{"atoll", atoll}, {"atoll-runner", runner}} {
				dir := copyExamples(t, root, g)
				cmd := exec.CommandContext(t.Context(), b.path, "run", "--timeout", "120s", filepath.FromSlash(g.Path))
				cmd.Dir = dir
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				start := time.Now()
				if err := cmd.Run(); err != nil {
					t.Fatalf("%s run %s: %v\n%s", b.name, g.Path, err, stderr.String())
				}
				t.Logf("%s run %s: %v", b.name, g.Name, time.Since(start).Round(time.Millisecond))
				got[b.name] = outputs(t, filepath.Join(dir, filepath.Dir(filepath.FromSlash(g.Path)), "out"))
				for name, data := range got[b.name] {
					// Rows may name the files they came from (source.wav_dir's "file"): each
					// binary ran in its own copy of the examples.
					got[b.name][name] = bytes.ReplaceAll(data, []byte(dir), []byte("$DIR"))
				}
				if stray := outputs(t, filepath.Join(dir, "out")); len(stray) > 0 {
					t.Errorf("%s wrote %s relative to the working directory: relative paths must resolve against the graph file's directory (pass core.BaseDirService to engine.Build)", b.name, strings.Join(keys(stray), ", "))
				}
			}
			a, r := got["atoll"], got["atoll-runner"]
			if len(r) == 0 {
				t.Fatalf("atoll-runner wrote no output under out/ beside %s", g.Path)
			}
			for _, name := range keys(r) {
				switch want, ok := a[name]; {
				case !ok:
					t.Errorf("atoll wrote no out/%s (atoll-runner did)", name)
				case !bytes.Equal(want, r[name]):
					t.Errorf("out/%s differs:\natoll:\n%s\natoll-runner:\n%s", name, want, r[name])
				}
			}
			for _, name := range keys(a) {
				if _, ok := r[name]; !ok {
					t.Errorf("atoll wrote out/%s, atoll-runner did not", name)
				}
			}
		})
		compared++
	}
	if compared < 2 {
		t.Fatalf("only %d example graphs write files; want at least 2", compared)
	}
}

// copyExamples copies the examples into a temporary directory laid out like the checkout
// (<tmp>/main/examples beside <tmp>/shared/testdata), links the built example functions and, for
// graphs that read it, the shared test data, and returns the copy's examples directory.
func copyExamples(t *testing.T, repo string, g examples.Graph) string {
	t.Helper()
	ws := t.TempDir()
	dir := filepath.Join(ws, "main", "examples")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dir, examples.FS); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(g.Data, []byte("../testdata/")) {
		testdata.Path(t, ".") // fails the test, naming the path, when the shared data is missing
	}
	if _, err := examples.Link(dir, filepath.Join(repo, "examples")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func keys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
