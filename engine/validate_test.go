package engine_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
)

var update = flag.Bool("update", false, "rewrite the expected output of golden files")

const separator = "----------"

// TestValidateGolden runs every testdata/validate/*.txt: a graph document, a separator line,
// then the expected problems one per line (or the parse error). -update rewrites them.
func TestValidateGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "validate", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files in testdata/validate: %v", err)
	}
	cat := testCatalog(nil)
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			input, want, ok := bytes.Cut(data, []byte("\n"+separator+"\n"))
			if !ok {
				t.Fatalf("%s: no %q line", path, separator)
			}
			got := validateLines(input, cat)
			if *update {
				out := append(append(input, "\n"+separator+"\n"...), got...)
				if err := os.WriteFile(path, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if string(got) != string(want) {
				t.Errorf("%s: problems differ (run with -update to accept)\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

func validateLines(input []byte, cat *engine.Catalog) []byte {
	d, err := graph.Parse(input)
	if err != nil {
		return []byte("parse: " + err.Error() + "\n")
	}
	var b bytes.Buffer
	for _, p := range engine.Validate(d, cat, engine.ValidateOptions{Headless: true}) {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// FuzzParseValidate: parsing and validating any input never panics, and a document that
// parses writes out to one that parses again to the same bytes.
func FuzzParseValidate(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "validate", "*.txt"))
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		input, _, _ := bytes.Cut(data, []byte("\n"+separator+"\n"))
		f.Add(input)
	}
	f.Add([]byte(`{"version":1,"nodes":[{"id":"a","type":"test.pass"}],"edges":[{"from":{"node":"a","port":"out"},"to":{"node":"a","port":"in"}}]}`))
	cat := testCatalog(nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := graph.Parse(data)
		if err != nil {
			return
		}
		probs := engine.Validate(d, cat, engine.ValidateOptions{})
		for _, p := range probs {
			_ = p.String()
		}
		out, err := d.Marshal()
		if err != nil {
			t.Fatalf("marshal of a parsed document: %v", err)
		}
		d2, err := graph.Parse(out)
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, out)
		}
		out2, err := d2.Marshal()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("marshal not stable: %v\n%s\n%s", err, out, out2)
		}
		if len(probs) == 0 {
			// A valid graph builds (and closes) without trouble.
			if r, err := engine.Build(d, engine.Options{Catalog: cat}); err == nil {
				r.Cancel()
			}
		}
	})
}
