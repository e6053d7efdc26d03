// Package examples embeds Atoll's example graphs (graphs/*.json) and the sample data they read
// (data/), so that the studio can seed them and tests can run them.
//
// Relative file paths in a graph resolve against the directory of the graph file (the runner
// and `atoll run` pass it to the nodes; see core.BaseDirService). The examples therefore read
// "../data/..." and write "out/..." next to themselves: copy FS to a directory (os.CopyFS) and
// run the graphs from its graphs/ subdirectory. A graph that runs an example function names its
// module "../functions/build/<name>.wasm": the modules are built by `make wasm-examples` and are
// not embedded, so a copy needs functions/ beside it (the tests link it).
package examples

import (
	"embed"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// A new subdirectory of graphs/ needs its own pattern here (a recursive pattern would also
// embed what the examples write into out/).
//
//go:embed graphs/*.json graphs/wasinn/*.json data/*.csv
var files embed.FS

// FS holds graphs/*.json, graphs/wasinn/*.json and data/*.csv. Graphs in graphs/wasinn read the
// shared test data (models, recordings) as ../../../../shared/testdata: they run from a checkout
// that has it beside the repository.
var FS fs.FS = files

// Graph is one example graph document.
type Graph struct {
	// Name is the path under graphs/ without ".json", e.g. "generator_to_file" or
	// "wasinn/birds_yamnet".
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
		if err != nil || d.IsDir() || path.Ext(p) != ".json" {
			return err
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
