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
	"strings"
)

//go:embed graphs/*.json data/*.csv
var files embed.FS

// FS holds graphs/*.json and data/*.csv.
var FS fs.FS = files

// Graph is one example graph document.
type Graph struct {
	// Name is the file name without ".json", e.g. "generator_to_file".
	Name string
	// Path is the file's path inside FS, e.g. "graphs/generator_to_file.json".
	Path string
	// Data is the graph document (JSON).
	Data []byte
}

// Graphs returns every example graph, sorted by name.
func Graphs() ([]Graph, error) {
	paths, err := fs.Glob(files, "graphs/*.json")
	if err != nil {
		return nil, err
	}
	out := make([]Graph, 0, len(paths))
	for _, p := range paths { // fs.Glob returns sorted paths
		data, err := fs.ReadFile(files, p)
		if err != nil {
			return nil, err
		}
		out = append(out, Graph{Name: strings.TrimSuffix(path.Base(p), ".json"), Path: p, Data: data})
	}
	return out, nil
}
