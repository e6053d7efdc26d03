package storage

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// RunInfo is the record of one run of a graph.
type RunInfo struct {
	ID           string          `json:"id"`
	GraphID      string          `json:"graph_id,omitempty"`
	GraphVersion int             `json:"graph_version,omitempty"` // 0 when the run was of an unsaved document
	Status       string          `json:"status"`                  // running, stopping, finished, failed or stopped
	StartedAt    time.Time       `json:"started_at"`
	EndedAt      *time.Time      `json:"ended_at,omitempty"`
	Error        string          `json:"error,omitempty"`
	Metrics      json.RawMessage `json:"metrics,omitempty"` // node id → NodeMetrics, as given to FinishRun
}

// Run statuses.
const (
	RunRunning  = "running"
	RunStopping = "stopping"
	RunFinished = "finished"
	RunFailed   = "failed"
	RunStopped  = "stopped"
)

// CreateRun records a run that starts now and returns its ID. graphID may be empty (a document
// that was never saved); version 0 means the run's document is not a saved version.
func (s *Store) CreateRun(ctx context.Context, graphID string, version int) (string, error) {
	if graphID == "" && version != 0 {
		return "", fmt.Errorf("create run: version %d without a graph: %w", version, ErrInvalid)
	}
	id := newID()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var gid, gv any // NULLs unless given
		if graphID != "" {
			g, err := graphRow(ctx, tx, graphID)
			if err != nil {
				return err
			}
			gid = graphID
			if version != 0 {
				if version < 1 || version > g.Version {
					return fmt.Errorf("graph %q version %d: %w", graphID, version, ErrNotFound)
				}
				gv = version
			}
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO runs (id, graph_id, graph_version, status, started_at) VALUES (?, ?, ?, ?, ?)",
			id, gid, gv, RunRunning, nowNS())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("create run: %w", err)
	}
	return id, nil
}

// FinishRun records how a running run ended: status is finished, failed or stopped, errText the
// failure (if any) and metrics the final per-node metrics as a JSON object (or nil).
func (s *Store) FinishRun(ctx context.Context, id, status, errText string, metrics json.RawMessage) error {
	switch status {
	case RunFinished, RunFailed, RunStopped:
	default:
		return fmt.Errorf("run %q: finish with status %q (want finished, failed or stopped): %w", id, status, ErrInvalid)
	}
	var m any // NULL unless given
	if len(metrics) > 0 {
		if !json.Valid(metrics) {
			return fmt.Errorf("run %q: metrics are not valid JSON: %w", id, ErrInvalid)
		}
		m = []byte(metrics)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var cur string
		err := tx.QueryRowContext(ctx, "SELECT status FROM runs WHERE id = ?", id).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if cur != RunRunning && cur != RunStopping {
			return fmt.Errorf("already %s: %w", cur, ErrInvalid)
		}
		_, err = tx.ExecContext(ctx, "UPDATE runs SET status = ?, ended_at = ?, error = ?, metrics = ? WHERE id = ?",
			status, nowNS(), errText, m, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("run %q: %w", id, err)
	}
	return nil
}

// GetRun returns the run.
func (s *Store) GetRun(ctx context.Context, id string) (RunInfo, error) {
	rows, err := s.db.QueryContext(ctx, runSelect+" WHERE id = ?", id)
	if err != nil {
		return RunInfo{}, fmt.Errorf("run %q: %w", id, err)
	}
	runs, err := scanRuns(rows)
	if err != nil {
		return RunInfo{}, fmt.Errorf("run %q: %w", id, err)
	}
	if len(runs) == 0 {
		return RunInfo{}, fmt.Errorf("run %q: %w", id, ErrNotFound)
	}
	return runs[0], nil
}

// ListRuns returns the newest runs first, at most limit of them (all when limit <= 0).
func (s *Store) ListRuns(ctx context.Context, limit int) ([]RunInfo, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.db.QueryContext(ctx, runSelect+" ORDER BY started_at DESC, id LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	runs, err := scanRuns(rows)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return runs, nil
}

const runSelect = "SELECT id, graph_id, graph_version, status, started_at, ended_at, error, metrics FROM runs"

func scanRuns(rows *sql.Rows) ([]RunInfo, error) {
	defer rows.Close()
	runs := []RunInfo{}
	for rows.Next() {
		var r RunInfo
		var gid sql.NullString
		var gv, ended sql.NullInt64
		var started int64
		var metrics []byte
		if err := rows.Scan(&r.ID, &gid, &gv, &r.Status, &started, &ended, &r.Error, &metrics); err != nil {
			return nil, err
		}
		r.GraphID, r.GraphVersion = gid.String, int(gv.Int64)
		r.StartedAt = fromNS(started)
		if ended.Valid {
			t := fromNS(ended.Int64)
			r.EndedAt = &t
		}
		if len(metrics) > 0 {
			r.Metrics = metrics
		}
		runs = append(runs, r)
	}
	return runs, rows.Err()
}

// GetSetting decodes the JSON value stored under key into dst (a *json.RawMessage takes it
// as is).
func (s *Store) GetSetting(ctx context.Context, key string, dst any) error {
	var v []byte
	err := s.db.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("setting %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("setting %q: %w", key, err)
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return fmt.Errorf("setting %q: %w", key, err)
	}
	return nil
}

// SetSetting stores value, encoded as JSON, under key.
func (s *Store) SetSetting(ctx context.Context, key string, value any) error {
	if key == "" {
		return fmt.Errorf("setting: empty key: %w", ErrInvalid)
	}
	v, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("setting %q: %v: %w", key, err, ErrInvalid)
	}
	if _, err := s.db.ExecContext(ctx,
		"INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
		key, v, nowNS()); err != nil {
		return fmt.Errorf("setting %q: %w", key, err)
	}
	return nil
}

const signingKeyName = "bundle-signing"

// GetOrCreateSigningKey returns the ed25519 key that signs exported bundles, generating it the
// first time. Concurrent first calls, in one process or several, all get the same key.
func (s *Store) GetOrCreateSigningKey(ctx context.Context) (ed25519.PrivateKey, error) {
	_, fresh, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	var seed []byte
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO keys (name, algorithm, private, created_at) VALUES (?, 'ed25519', ?, ?) ON CONFLICT (name) DO NOTHING",
			signingKeyName, fresh.Seed(), nowNS()); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, "SELECT private FROM keys WHERE name = ? AND algorithm = 'ed25519'", signingKeyName).Scan(&seed)
	})
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("signing key: stored seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
