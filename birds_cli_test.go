package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoll-studio/atoll/examples"
	"github.com/atoll-studio/atoll/internal/testdata"
)

// TestIntegrationBirdsFolderCLI runs the bird folder example with `atoll run` and with
// `atoll-runner run` (both built here) on the shared recordings: both finish and write the same
// detections, byte for byte.
func TestIntegrationBirdsFolderCLI(t *testing.T) {
	testdata.Path(t, "audio/birds/tawnyowl.wav") // fails loudly when the shared data is absent
	checkout, err := filepath.Abs("examples")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(checkout, "functions", "build", "classifier.wasm")); err != nil {
		t.Fatalf("the classifier guest is not built (make classifier-wasm): %v", err)
	}
	atoll := buildAtoll(t)
	runner := filepath.Join(t.TempDir(), "atoll-runner")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", runner, "./cmd/atoll-runner").CombinedOutput(); err != nil {
		t.Fatalf("go build atoll-runner: %v\n%s", err, out)
	}
	var results [][]byte
	for _, bin := range [][]string{{atoll, "run", "--timeout", "5m", "--quiet"}, {runner, "run", "--timeout", "5m"}} {
		dir := t.TempDir()
		if err := os.CopyFS(dir, examples.FS); err != nil {
			t.Fatal(err)
		}
		if missing, err := examples.Link(dir, checkout); err != nil || len(missing) > 0 {
			t.Fatalf("link the example functions and test data: %v (missing %v)", err, missing)
		}
		cmd := exec.CommandContext(t.Context(), bin[0], append(bin[1:], "graphs/birds_folder.json")...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "ATOLL_DB="+filepath.Join(dir, "atoll.db"))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", filepath.Base(bin[0]), err, out.String())
		}
		got, err := os.ReadFile(filepath.Join(dir, "graphs", "out", "birds_folder.jsonl"))
		if err != nil {
			t.Fatalf("%s: %v\n%s", filepath.Base(bin[0]), err, out.String())
		}
		if !bytes.Contains(got, []byte(`"label":"Bird"`)) {
			t.Fatalf("%s: no Bird detection:\n%s", filepath.Base(bin[0]), got)
		}
		// The file field names each copy's own path: compare what the recordings are called.
		results = append(results, bytes.ReplaceAll(got, []byte(dir), []byte("DIR")))
	}
	if !bytes.Equal(results[0], results[1]) {
		t.Fatalf("atoll run and atoll-runner run differ:\n%s\n---\n%s", results[0], results[1])
	}
	t.Logf("%d detections, the same from both", strings.Count(string(results[0]), "\n"))
}
