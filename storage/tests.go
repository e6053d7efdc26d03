package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// TestInfo describes one saved version of a graph's flow test (engine/flowtest).
type TestInfo struct {
	GraphID string `json:"graph_id"`
	Name    string `json:"name"`
	Version int    `json:"version"`
	// GraphVersion is the graph's version when the test was saved.
	GraphVersion int       `json:"graph_version"`
	CreatedAt    time.Time `json:"created_at"`
	// Deleted marks the tombstone a DeleteTest appends.
	Deleted bool `json:"deleted,omitempty"`
}

// SaveTest appends doc (one test, JSON) as the next version of the graph's test name.
func (s *Store) SaveTest(ctx context.Context, graphID, name string, doc []byte) (TestInfo, error) {
	if strings.TrimSpace(name) == "" {
		return TestInfo{}, fmt.Errorf("graph %q: save test: empty name: %w", graphID, ErrInvalid)
	}
	if !json.Valid(doc) {
		return TestInfo{}, fmt.Errorf("graph %q: save test %q: not JSON: %w", graphID, name, ErrInvalid)
	}
	ti, err := s.appendTest(ctx, graphID, name, doc)
	if err != nil {
		return TestInfo{}, fmt.Errorf("graph %q: save test %q: %w", graphID, name, err)
	}
	return ti, nil
}

// DeleteTest appends a tombstone to the graph's test name; its versions stay readable.
func (s *Store) DeleteTest(ctx context.Context, graphID, name string) error {
	if _, _, err := s.LoadTest(ctx, graphID, name, 0); err != nil {
		return err
	}
	if _, err := s.appendTest(ctx, graphID, name, nil); err != nil {
		return fmt.Errorf("graph %q: delete test %q: %w", graphID, name, err)
	}
	return nil
}

func (s *Store) appendTest(ctx context.Context, graphID, name string, doc []byte) (TestInfo, error) {
	ti := TestInfo{GraphID: graphID, Name: name, Deleted: doc == nil}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		g, err := graphRow(ctx, tx, graphID)
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) + 1 FROM graph_tests WHERE graph_id = ? AND name = ?",
			graphID, name).Scan(&ti.Version); err != nil {
			return err
		}
		now := nowNS()
		ti.GraphVersion, ti.CreatedAt = g.Version, fromNS(now)
		_, err = tx.ExecContext(ctx, "INSERT INTO graph_tests (graph_id, name, version, graph_version, created_at, doc) VALUES (?, ?, ?, ?, ?, ?)",
			graphID, name, ti.Version, g.Version, now, doc)
		return err
	})
	return ti, err
}

// ListTests returns the latest version of each test of the graph that is not deleted, with its
// document, sorted by name.
func (s *Store) ListTests(ctx context.Context, graphID string) ([]TestInfo, []json.RawMessage, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT t.name, t.version, t.graph_version, t.created_at, t.doc FROM graph_tests t
		WHERE t.graph_id = ? AND t.doc IS NOT NULL
		  AND t.version = (SELECT MAX(version) FROM graph_tests WHERE graph_id = t.graph_id AND name = t.name)
		ORDER BY t.name`, graphID)
	if err != nil {
		return nil, nil, fmt.Errorf("graph %q: list tests: %w", graphID, err)
	}
	defer rows.Close()
	infos, docs := []TestInfo{}, []json.RawMessage{}
	for rows.Next() {
		ti := TestInfo{GraphID: graphID}
		var created int64
		var doc []byte
		if err := rows.Scan(&ti.Name, &ti.Version, &ti.GraphVersion, &created, &doc); err != nil {
			return nil, nil, fmt.Errorf("graph %q: list tests: %w", graphID, err)
		}
		ti.CreatedAt = fromNS(created)
		infos, docs = append(infos, ti), append(docs, doc)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("graph %q: list tests: %w", graphID, err)
	}
	return infos, docs, nil
}

// LoadTest returns version v of the graph's test name (0: the latest). A deleted test's latest
// version is not found.
func (s *Store) LoadTest(ctx context.Context, graphID, name string, v int) (TestInfo, json.RawMessage, error) {
	ti := TestInfo{GraphID: graphID, Name: name}
	var created int64
	var doc []byte
	q := "SELECT version, graph_version, created_at, doc FROM graph_tests WHERE graph_id = ? AND name = ? AND version = ?"
	args := []any{graphID, name, v}
	if v == 0 {
		q = "SELECT version, graph_version, created_at, doc FROM graph_tests WHERE graph_id = ? AND name = ? ORDER BY version DESC LIMIT 1"
		args = args[:2]
	}
	err := s.db.QueryRowContext(ctx, q, args...).Scan(&ti.Version, &ti.GraphVersion, &created, &doc)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && doc == nil && v == 0) {
		return TestInfo{}, nil, fmt.Errorf("graph %q test %q: %w", graphID, name, ErrNotFound)
	}
	if err != nil {
		return TestInfo{}, nil, fmt.Errorf("graph %q test %q: load: %w", graphID, name, err)
	}
	ti.CreatedAt, ti.Deleted = fromNS(created), doc == nil
	return ti, doc, nil
}

// ListTestVersions returns every version of the graph's test name, the newest first.
func (s *Store) ListTestVersions(ctx context.Context, graphID, name string) ([]TestInfo, error) {
	rows, err := s.db.QueryContext(ctx,
		"SELECT version, graph_version, created_at, doc IS NULL FROM graph_tests WHERE graph_id = ? AND name = ? ORDER BY version DESC",
		graphID, name)
	if err != nil {
		return nil, fmt.Errorf("graph %q test %q: list versions: %w", graphID, name, err)
	}
	defer rows.Close()
	var out []TestInfo
	for rows.Next() {
		ti := TestInfo{GraphID: graphID, Name: name}
		var created int64
		if err := rows.Scan(&ti.Version, &ti.GraphVersion, &created, &ti.Deleted); err != nil {
			return nil, fmt.Errorf("graph %q test %q: list versions: %w", graphID, name, err)
		}
		ti.CreatedAt = fromNS(created)
		out = append(out, ti)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("graph %q test %q: %w", graphID, name, ErrNotFound)
	}
	return out, nil
}
