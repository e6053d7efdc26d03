package app

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/atoll-studio/atoll/storage"
)

const seededSetting = "studio.examples_seeded"

// demoGraph is seeded when no example graphs are given: a sine generator, a map that labels
// each row, and a live preview.
const demoGraph = `{
  "version": 1,
  "id": "",
  "name": "Demo: sine to preview",
  "nodes": [
    {"id": "sine", "type": "source.generator", "config": {"mode": "sine", "count": 0, "rate": 20, "frequency": 0.5}, "ui": {"x": 60, "y": 120}},
    {"id": "label", "type": "transform.map", "config": {"set": {"high": "value > 0.5", "double": "value * 2"}}, "ui": {"x": 340, "y": 120}},
    {"id": "preview", "type": "sink.preview", "config": {"keep": 100}, "ui": {"x": 620, "y": 120}}
  ],
  "edges": [
    {"from": {"node": "sine", "port": "out"}, "to": {"node": "label", "port": "in"}},
    {"from": {"node": "label", "port": "out"}, "to": {"node": "preview", "port": "in"}}
  ]
}`

// seed saves the example graphs into a fresh database, once: a database that has graphs, or
// was seeded before, is left alone (deleted examples stay deleted).
func (s *Service) seed() error {
	var done bool
	err := s.store.GetSetting(s.ctx, seededSetting, &done)
	if err == nil && done {
		return nil
	}
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	graphs, err := s.store.ListGraphs(s.ctx)
	if err != nil {
		return err
	}
	if len(graphs) == 0 {
		docs, err := exampleDocs(s.opts.Examples)
		if err != nil {
			return err
		}
		for _, d := range docs {
			doc, err := canonical(d.data)
			if err != nil {
				return fmt.Errorf("example %s: %w", d.name, err)
			}
			g, err := s.store.CreateGraph(s.ctx, "", doc)
			if err != nil {
				return fmt.Errorf("example %s: %w", d.name, err)
			}
			if err := s.seedTests(s.opts.Examples, d.name, g.ID); err != nil {
				return fmt.Errorf("example %s: %w", d.name, err)
			}
		}
	}
	return s.store.SetSetting(s.ctx, seededSetting, true)
}

type exampleDoc struct {
	name string
	data []byte
}

// exampleDocs reads every *.json in fsys, subdirectories included, sorted by path, except the
// flow tests beside the graphs (*.test.json, run by `atoll test`); the built-in demo when fsys
// is nil or holds none.
func exampleDocs(fsys fs.FS) ([]exampleDoc, error) {
	var out []exampleDoc
	if fsys != nil {
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || path.Ext(p) != ".json" || strings.HasSuffix(p, ".test.json") {
				return err // the flow tests of NAME.json; seedTests stores them with the graph
			}
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				return fmt.Errorf("example %s: %w", p, err)
			}
			out = append(out, exampleDoc{name: p, data: b})
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	}
	if len(out) == 0 {
		out = append(out, exampleDoc{name: "demo", data: []byte(demoGraph)})
	}
	return out, nil
}
