package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoll-studio/atoll/nodes"
)

// TestDocsUpToDate fails when docs/nodes does not match the specs: run `make docs`.
func TestDocsUpToDate(t *testing.T) {
	dir := filepath.Join("..", "..", "docs", "nodes")
	if problems := Check(dir, Generate(nodes.Default)); len(problems) > 0 {
		t.Fatalf("node docs are stale; run `make docs` (go run ./tools/gendocs) and commit docs/nodes:\n%s", strings.Join(problems, "\n"))
	}
}

func TestCheckFindsStaleAndLeftoverPages(t *testing.T) {
	dir := t.TempDir()
	pages := Generate(nodes.Default)
	if err := Write(dir, pages); err != nil {
		t.Fatal(err)
	}
	if p := Check(dir, pages); len(p) != 0 {
		t.Fatalf("fresh pages: %v", p)
	}
	os.WriteFile(filepath.Join(dir, "source.file.md"), []byte("edited"), 0o644)
	os.WriteFile(filepath.Join(dir, "source.gone.md"), []byte("old"), 0o644)
	os.Remove(filepath.Join(dir, "sink.log.md"))
	got := strings.Join(Check(dir, pages), "\n")
	for _, want := range []string{"source.file.md is stale", "sink.log.md is missing", "source.gone.md documents no node type"} {
		if !strings.Contains(got, want) {
			t.Errorf("check output lacks %q:\n%s", want, got)
		}
	}
	if err := Write(dir, pages); err != nil {
		t.Fatal(err)
	}
	if p := Check(dir, pages); len(p) != 0 {
		t.Fatalf("after rewrite: %v", p)
	}
}
