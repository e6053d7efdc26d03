// Package app is the studio's one application service, Service, and its two transports: the
// Wails bindings of the desktop window (Service's exported methods, see desktop.go) and HTTP
// plus a WebSocket for `atoll serve` (Handler). API.md is the contract with the frontend.
package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/storage"
)

// Options configure Open.
type Options struct {
	// DB is the SQLite file (storage.DefaultPath when empty).
	DB string
	// Catalog is the node catalog (required).
	Catalog *engine.Catalog
	// Examples holds example graphs (every *.json, subdirectories included) seeded into a fresh
	// database; nil seeds the built-in demo.
	Examples fs.FS
	// DrainTimeout bounds a stop's graceful drain before the run is cancelled (default 5 s).
	DrainTimeout time.Duration
	// ReadyFile, when set, is written when the frontend reports it has rendered (Ready); the
	// desktop test waits for it.
	ReadyFile string
	// Services are passed to every run's nodes (the Wasm runtime, the base directory of
	// relative paths, say).
	Services map[string]any
	// BaseDir is the directory relative asset paths resolve against (else the working
	// directory).
	BaseDir string
	// RunnerDir holds the runner binaries exports may include (atoll-runner-linux-<arch>, as
	// `make runner` writes them into dist/); empty: none.
	RunnerDir string
	// Version is the studio's version, written into exported bundles ("dev" when empty).
	Version string
	// Workspace is the directory the studio's graphs may read and write in, with the
	// directories the user adds in the settings (see paths.go); empty means BaseDir.
	Workspace string
}

// Service is the studio: catalog, graphs and their history, validation, runs with live metrics,
// logs and taps, and assets. Its exported methods are what the desktop window binds
// (window.go.app.Service.<Method>); the HTTP handler calls the same methods.
type Service struct {
	store   *storage.Store
	catalog *engine.Catalog
	opts    Options
	assets  *assetResolver

	ctx    context.Context // cancelled by Close: ends every run
	cancel context.CancelFunc

	mu       sync.Mutex
	runs     map[string]*runState // running, and the last few finished (for their logs)
	finished []string             // ids of finished runs kept in memory, oldest first
	window   *client              // the desktop window's event client, once attached
	closed   bool

	// saveDialog asks where to save a file (the desktop window's dialog; "" = canceled).
	saveDialog func(defaultName string) (string, error)
}

// Open opens (creating if needed) the database, marks runs left running by a previous process
// as failed, and seeds the example graphs into a fresh database.
func Open(opts Options) (*Service, error) {
	if opts.Catalog == nil {
		return nil, fmt.Errorf("app: no catalog")
	}
	if opts.DB == "" {
		p, err := storage.DefaultPath()
		if err != nil {
			return nil, err
		}
		opts.DB = p
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 5 * time.Second
	}
	st, err := storage.Open(opts.DB)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{store: st, catalog: opts.Catalog, opts: opts, ctx: ctx, cancel: cancel, runs: map[string]*runState{}}
	s.assets = &assetResolver{store: st, ctx: ctx, dir: opts.BaseDir}
	if err := s.recoverRuns(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.seed(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops every run (draining each for at most the drain timeout) and closes the database.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var running []*runState
	for _, rs := range s.runs {
		running = append(running, rs)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, rs := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.stop(rs)
		}()
	}
	wg.Wait()
	s.cancel()
	return s.store.Close()
}

// DBPath returns the database file in use.
func (s *Service) DBPath() string { return s.opts.DB }

// Catalog returns every node spec, sorted by id. Each spec's JSON carries its config_schema.
func (s *Service) Catalog() ([]*engine.Spec, error) {
	return s.catalog.Specs(), nil
}

// Graph is a graph's info with its latest document.
type Graph struct {
	Info     storage.GraphInfo `json:"info"`
	Document json.RawMessage   `json:"document"`
}

// ListGraphs returns every graph, the most recently changed first.
func (s *Service) ListGraphs() ([]storage.GraphInfo, error) {
	gs, err := s.store.ListGraphs(s.ctx)
	if gs == nil {
		gs = []storage.GraphInfo{}
	}
	return gs, err
}

// CreateGraph saves document (an empty graph when null) as version 1 of a new graph. An empty
// name takes the document's.
func (s *Service) CreateGraph(name string, document json.RawMessage) (storage.GraphInfo, error) {
	var doc []byte
	if !isNull(document) {
		var err error
		if doc, err = canonical(document); err != nil {
			return storage.GraphInfo{}, err
		}
	}
	return s.store.CreateGraph(s.ctx, name, doc)
}

// GetGraph returns the graph's info and latest document.
func (s *Service) GetGraph(id string) (Graph, error) {
	info, doc, err := s.store.LoadGraph(s.ctx, id)
	if err != nil {
		return Graph{}, err
	}
	return Graph{Info: info, Document: doc}, nil
}

// SaveGraph appends document as the graph's next version. A document with validation problems
// saves (drafts are fine); one that is not a graph document does not.
func (s *Service) SaveGraph(id string, document json.RawMessage, message string) (storage.VersionInfo, error) {
	doc, err := canonical(document)
	if err != nil {
		return storage.VersionInfo{}, err
	}
	return s.store.SaveVersion(s.ctx, id, doc, message)
}

// RenameGraph renames the graph (a new version carries the new name).
func (s *Service) RenameGraph(id, name string) (storage.GraphInfo, error) {
	return s.store.RenameGraph(s.ctx, id, name)
}

// DeleteGraph deletes the graph and its history; its runs stay, detached.
func (s *Service) DeleteGraph(id string) error {
	return s.store.DeleteGraph(s.ctx, id)
}

// DuplicateGraph copies the graph's latest version into a new graph ("<name> (copy)" when
// name is empty).
func (s *Service) DuplicateGraph(id, name string) (storage.GraphInfo, error) {
	return s.store.DuplicateGraph(s.ctx, id, name)
}

// ListVersions returns the graph's versions, newest first.
func (s *Service) ListVersions(id string) ([]storage.VersionInfo, error) {
	vs, err := s.store.ListVersions(s.ctx, id)
	if vs == nil {
		vs = []storage.VersionInfo{}
	}
	return vs, err
}

// GetVersion returns the document of one version.
func (s *Service) GetVersion(id string, version int) (json.RawMessage, error) {
	_, doc, err := s.store.LoadVersion(s.ctx, id, version)
	return doc, err
}

// Diff compares two versions of a graph, node by node.
func (s *Service) Diff(id string, from, to int) (storage.GraphDiff, error) {
	d, err := s.store.DiffVersions(s.ctx, id, from, to)
	if err != nil {
		return d, err
	}
	if d.NodesAdded == nil {
		d.NodesAdded = []storage.GraphNode{}
	}
	if d.NodesRemoved == nil {
		d.NodesRemoved = []storage.GraphNode{}
	}
	if d.NodesChanged == nil {
		d.NodesChanged = []storage.NodeChange{}
	}
	if d.EdgesAdded == nil {
		d.EdgesAdded = []storage.GraphEdge{}
	}
	if d.EdgesRemoved == nil {
		d.EdgesRemoved = []storage.GraphEdge{}
	}
	return d, nil
}

// RestoreVersion appends a copy of an old version as the newest one.
func (s *Service) RestoreVersion(id string, version int) (storage.VersionInfo, error) {
	return s.store.RestoreVersion(s.ctx, id, version)
}

// Validation is the result of Validate.
type Validation struct {
	Problems []engine.Problem `json:"problems"`
}

// Validate checks a document the way a run would, minus starting it: the document's form, the
// catalog's types and schemas, edges and ports, then building every node (which catches what
// only a constructor knows: a bad expression, a missing asset, a Wasm module's exports).
func (s *Service) Validate(document json.RawMessage) (Validation, error) {
	v := Validation{Problems: []engine.Problem{}}
	doc, err := parseDoc(document)
	if err != nil {
		v.Problems = append(v.Problems, engine.Problem{Message: err.Error()})
		return v, nil
	}
	r, err := s.build(doc, nil, nil)
	if err != nil {
		if ig, ok := err.(*engine.InvalidGraphError); ok {
			v.Problems = ig.Problems
			return v, nil
		}
		return v, err
	}
	r.Cancel() // never started: closes the nodes
	return v, nil
}

// Ready is called by the frontend once it has rendered. It writes the ready file when one is
// configured (the desktop test waits for it) with what the frontend reports.
func (s *Service) Ready(detail string) error {
	if s.opts.ReadyFile == "" {
		return nil
	}
	return os.WriteFile(s.opts.ReadyFile, []byte(detail+"\n"), 0o644)
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// parseDoc reads a graph document strictly (unknown fields are errors).
func parseDoc(raw json.RawMessage) (*graph.Document, error) {
	if isNull(raw) {
		return nil, fmt.Errorf("graph: no document")
	}
	return graph.Parse(raw)
}

// canonical parses a document and writes it back pretty with stable key order, so that saved
// versions diff cleanly.
func canonical(raw json.RawMessage) ([]byte, error) {
	doc, err := parseDoc(raw)
	if err != nil {
		return nil, fmt.Errorf("%w document: %w", ErrInvalid, err)
	}
	out, err := doc.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w document: %w", ErrInvalid, err)
	}
	return out, nil
}
