package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// checkpointStore keeps the sources' acknowledged positions (core.Checkpoints) for one graph id
// in STATE/checkpoints/<graph id>.json. Save only updates memory; flush writes the file
// atomically (temporary file, fsync, rename), on a timer and after a run ends. A file on disk is
// therefore never ahead of the output: a runner killed with SIGKILL re-reads at most what was
// acknowledged since the last flush (at-least-once).
type checkpointStore struct {
	file string

	mu    sync.Mutex
	nodes map[string]json.RawMessage
	dirty bool
}

func openCheckpoints(stateDir, graphID string) (*checkpointStore, error) {
	dir := filepath.Join(stateDir, "checkpoints")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	s := &checkpointStore{file: filepath.Join(dir, safeName(graphID)+".json"), nodes: map[string]json.RawMessage{}}
	data, err := os.ReadFile(s.file)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		return nil, fmt.Errorf("checkpoints: %w", err)
	default:
		if err := json.Unmarshal(data, &s.nodes); err != nil {
			return nil, fmt.Errorf("checkpoints: %s: %w", s.file, err)
		}
	}
	return s, nil
}

// safeName keeps a graph id usable as a file name.
func safeName(id string) string {
	b := []byte(id)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') || (i == 0 && c == '.') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

func (s *checkpointStore) Load(node string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.nodes[node]
	return v, ok
}

func (s *checkpointStore) Save(node string, state json.RawMessage) {
	s.mu.Lock()
	s.nodes[node] = append(json.RawMessage(nil), state...)
	s.dirty = true
	s.mu.Unlock()
}

// flush writes the positions when they changed.
func (s *checkpointStore) flush() error {
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	data, err := json.MarshalIndent(s.nodes, "", "  ")
	s.dirty = false
	s.mu.Unlock()
	if err != nil {
		return err
	}
	tmp := s.file + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.file)
	}
	if err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	return nil
}

// snapshot copies the positions (taken at a swap, so that a rollback can return to them).
func (s *checkpointStore) snapshot() map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := make(map[string]json.RawMessage, len(s.nodes))
	for k, v := range s.nodes {
		c[k] = v
	}
	return c
}

// restore puts a snapshot back: a rolled-back bundle re-reads what the failed one consumed.
func (s *checkpointStore) restore(snap map[string]json.RawMessage) {
	s.mu.Lock()
	s.nodes = make(map[string]json.RawMessage, len(snap))
	for k, v := range snap {
		s.nodes[k] = v
	}
	s.dirty = true
	s.mu.Unlock()
}
