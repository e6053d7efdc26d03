// Package examples embeds Atoll's example graphs (graphs/*.json) and the sample data they read
// (data/), so that the studio can seed them and tests can run them.
//
// Relative file paths in a graph resolve against the directory of the graph file (the runner
// and `atoll run` pass it to the nodes; see core.BaseDirService). The examples therefore read
// "../data/..." and write "out/..." next to themselves: copy FS to a directory (os.CopyFS) and
// run the graphs from its graphs/ subdirectory. A graph that runs an example function names its
// module "../functions/build/<name>.wasm" (built by `make wasm-examples`, not embedded); a graph
// that reads the shared models and recordings names "../testdata/...", where testdata is a link
// to ../shared/testdata beside the checkout. A copy needs functions/ and testdata/ beside its
// graphs/: the tests link them, and so does the studio's workspace (see Link).
package examples

import (
	"embed"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// A subdirectory of graphs/ would need its own pattern here (a recursive pattern would also
// embed what the examples write into out/).
//
//go:embed graphs/*.json data/*.csv
var files embed.FS

// FS holds graphs/*.json (graphs, and their flow tests in graphs/*.test.json) and data/*.csv.
var FS fs.FS = files

// Graph is one example graph document.
type Graph struct {
	// Name is the path under graphs/ without ".json", e.g. "generator_to_file".
	Name string
	// Path is the file's path inside FS, e.g. "graphs/generator_to_file.json".
	Path string
	// Data is the graph document (JSON).
	Data []byte
}

// Graphs returns every example graph, sorted by name.
func Graphs() ([]Graph, error) {
	var out []Graph
	err := fs.WalkDir(files, "graphs", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".json" || strings.HasSuffix(p, ".test.json") {
			return err // NAME.test.json holds NAME.json's flow tests (engine/flowtest), not a graph
		}
		data, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(strings.TrimPrefix(p, "graphs/"), ".json")
		out = append(out, Graph{Name: name, Path: p, Data: data})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}
