package app

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/bundle"
	"github.com/atoll-studio/atoll/examples"
	"github.com/atoll-studio/atoll/internal/testdata"
	"github.com/atoll-studio/atoll/storage"
)

// repoRoot is the module root (this package is app/).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
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

// jsonlRows reads a JSONL file as one decoded value per line.
func jsonlRows(t *testing.T, path string) []any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		var v any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s line %d: %v", path, line, err)
		}
		rows = append(rows, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// examplesStudio is a studio seeded with the example graphs, its workspace a copy of the examples
// completed as the studio completes its own (functions and test data linked), so the graphs'
// relative paths resolve as in the checkout. It fails when the example modules are not built.
func examplesStudio(t testing.TB) (*testStudio, string) {
	t.Helper()
	root := repoRoot(t)
	// (The moment example's flow tests, bundled with it, run the C and Rust guests too.)
	for _, m := range []string{"go-moment.wasm", "c-moment.wasm", "rust-moment.wasm", "classifier.wasm"} {
		if _, err := os.Stat(filepath.Join(root, "examples", "functions", "build", m)); err != nil {
			t.Fatalf("example module %s is not built (make wasm-examples classifier-wasm): %v", m, err)
		}
	}
	testdata.Path(t, "models/yamnet/yamnet.tflite")
	ex := filepath.Join(t.TempDir(), "examples")
	if err := os.CopyFS(ex, examples.FS); err != nil {
		t.Fatal(err)
	}
	if missing, err := examples.Link(ex, filepath.Join(root, "examples")); err != nil || len(missing) > 0 {
		t.Fatalf("link the examples: %v, missing %v", err, missing)
	}
	graphs, err := fs.Sub(examples.FS, "graphs")
	if err != nil {
		t.Fatal(err)
	}
	return newStudioWith(t, Options{Examples: graphs, BaseDir: filepath.Join(ex, "graphs"), Workspace: ex, Version: "integration"}), ex
}

// TestIntegrationStudioBundlesRunLikeAtollRun exports the moment example and the bird example
// through the studio's HTTP API (signed, as the export dialog does), runs each bundle with
// `atoll-runner run` trusting the studio's public key, and compares what it writes, row for row,
// with `atoll run` on the same graph file. (The CLI's own `atoll export` is tested beside it.)
func TestIntegrationStudioBundlesRunLikeAtollRun(t *testing.T) {
	bin := t.TempDir()
	atoll, runner := filepath.Join(bin, "atoll"), filepath.Join(bin, "atoll-runner")
	goBuild(t, atoll, ".")
	goBuild(t, runner, "./cmd/atoll-runner", "CGO_ENABLED=0")

	s, ex := examplesStudio(t)
	var key KeyInfo
	s.must(t, "GET", "/api/keys/signing", nil, &key)
	trust := filepath.Join(t.TempDir(), "studio.pub")
	if err := os.WriteFile(trust, []byte(key.PublicKey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	trusted, err := bundle.LoadTrust(trust)
	if err != nil {
		t.Fatal(err)
	}
	var list []storage.GraphInfo
	s.must(t, "GET", "/api/graphs", nil, &list)

	for _, c := range []struct {
		file, out string // the example graph and the file its sink writes (under out/)
		minRows   int
		tests     bool // the example has flow tests, saved with the graph and bundled
	}{
		{"generator_moment_to_file.json", "moments.jsonl", 480, true},
		{"birds_yamnet.json", "birds_yamnet.jsonl", 1, true},
	} {
		t.Run(c.file, func(t *testing.T) {
			doc, err := os.ReadFile(filepath.Join(ex, "graphs", c.file))
			if err != nil {
				t.Fatal(err)
			}
			var head struct{ Name string }
			json.Unmarshal(doc, &head)
			id := ""
			for _, g := range list {
				if g.Name == head.Name {
					id = g.ID
				}
			}
			if id == "" {
				t.Fatalf("the studio did not seed %q (%s)", head.Name, c.file)
			}

			body, resp := s.download(t, ExportRequest{GraphID: id, Platforms: []string{"linux/" + runtime.GOARCH}, Sign: true})
			if resp.StatusCode != 200 {
				t.Fatalf("export %s: %d %s", c.file, resp.StatusCode, body)
			}
			b, err := bundle.Verify(bytes.NewReader(body), bundle.VerifyOptions{Trusted: trusted})
			if err != nil {
				t.Fatalf("verify the export: %v", err)
			}
			if _, ok := b.Manifest.Entry(bundle.StoredTestsPath); ok != c.tests {
				t.Errorf("bundle has the graph's stored tests: %v, want %v", ok, c.tests)
			}
			dir := t.TempDir()
			file := filepath.Join(dir, "graph.atoll")
			if err := os.WriteFile(file, body, 0o644); err != nil {
				t.Fatal(err)
			}
			work := filepath.Join(dir, "device")
			os.MkdirAll(work, 0o755)

			run := func(name string, args ...string) {
				t.Helper()
				cmd := exec.CommandContext(t.Context(), name, args...)
				cmd.Dir = dir
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				start := time.Now()
				if err := cmd.Run(); err != nil {
					t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, stderr.String())
				}
				t.Logf("%s %s: %v", filepath.Base(name), args[0], time.Since(start).Round(time.Millisecond))
			}
			run(runner, "verify", "--trust", trust, file)
			run(runner, "run", "--trust", trust, "--state", filepath.Join(dir, "state"), "--workdir", work, "--timeout", "180s", file)
			run(atoll, "run", "--timeout", "180s", filepath.Join(ex, "graphs", c.file))

			got := jsonlRows(t, filepath.Join(work, "out", c.out))
			want := jsonlRows(t, filepath.Join(ex, "graphs", "out", c.out))
			if len(want) < c.minRows {
				t.Fatalf("atoll run wrote %d rows, want at least %d", len(want), c.minRows)
			}
			if len(got) != len(want) {
				t.Errorf("the bundle wrote %d rows, atoll run %d", len(got), len(want))
			}
			for i := range min(len(got), len(want)) {
				g, _ := json.Marshal(got[i])
				w, _ := json.Marshal(want[i])
				if !bytes.Equal(g, w) {
					t.Fatalf("row %d differs:\nbundle:    %s\natoll run: %s", i+1, g, w)
				}
			}
			t.Logf("%s: %d rows equal, bundle %d bytes", c.file, len(got), len(body))
		})
	}
}

// BenchmarkExportBirds exports the bird example (YAMNet model, classifier module, recording)
// through the studio service: preview (plan: validate, hash every asset) and the signed bundle
// written to a file. It reports the bundle's size and its entries' total.
func BenchmarkExportBirds(b *testing.B) {
	s, _ := examplesStudio(b)
	gs, err := s.svc.ListGraphs()
	if err != nil {
		b.Fatal(err)
	}
	id := ""
	for _, g := range gs {
		if strings.HasPrefix(g.Name, "Birds") {
			id = g.ID
		}
	}
	if id == "" {
		b.Fatal("no seeded bird example")
	}
	req := ExportRequest{GraphID: id, Platforms: []string{"linux/arm64"}, Sign: true}
	out := filepath.Join(b.TempDir(), "birds.atoll")
	b.Run("preview", func(b *testing.B) {
		var total int64
		for b.Loop() {
			p, err := s.svc.PreviewBundle(req)
			if err != nil {
				b.Fatal(err)
			}
			total = p.TotalSize
		}
		b.ReportMetric(float64(total)/(1<<20), "MiB-entries")
	})
	b.Run("write", func(b *testing.B) {
		var size int64
		for b.Loop() {
			saved, err := s.svc.exportBundleFile(req, out)
			if err != nil {
				b.Fatal(err)
			}
			size = saved.Size
		}
		b.ReportMetric(float64(size)/(1<<20), "MiB-bundle")
	})
}
