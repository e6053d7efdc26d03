// Package storage keeps Atoll's state in one SQLite file: graphs with an append-only version
// history, content-addressed assets, runs with their summary metrics, settings and the bundle
// signing key. A Store is safe for concurrent use, also by several processes sharing one file.
//
// Missing graphs, versions, assets, runs and settings are reported with errors wrapping
// ErrNotFound; input the store refuses (a document that is not a JSON object, an unknown asset
// kind, a run finished twice) with errors wrapping ErrInvalid. Decisions that are not obvious are
// explained in RATIONALE.md.
package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// ErrNotFound is wrapped by every error about a graph, version, asset, run or setting that does
// not exist.
var ErrNotFound = errors.New("not found")

// ErrInvalid is wrapped by every error about input the store refuses to save.
var ErrInvalid = errors.New("invalid")

// Store is an open Atoll database.
type Store struct {
	db      *sql.DB
	path    string
	blobDir string
}

// options are the knobs tests and benchmarks turn; Open uses the defaults.
type options struct {
	synchronous string // FULL (default) or NORMAL
}

// DefaultPath returns where the studio keeps its database: $ATOLL_DB when set, otherwise
// atoll/atoll.db in the user's data directory ($XDG_DATA_HOME or ~/.local/share on Unix,
// ~/Library/Application Support on macOS, %LocalAppData% on Windows).
func DefaultPath() (string, error) {
	if p := os.Getenv("ATOLL_DB"); p != "" {
		return p, nil
	}
	dir, err := userDataDir()
	if err != nil {
		return "", fmt.Errorf("locate user data directory: %w (set ATOLL_DB)", err)
	}
	return filepath.Join(dir, "atoll", "atoll.db"), nil
}

func userDataDir() (string, error) {
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("LocalAppData"); d != "" {
			return d, nil
		}
		return os.UserConfigDir()
	case "darwin", "ios":
		return os.UserConfigDir() // ~/Library/Application Support
	}
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".local", "share"), nil
}

// Open opens the database at path, creating the file, its parent directories and the blobs/
// directory beside it when missing, and brings the schema up to date. It refuses a database
// written by a newer Atoll.
func Open(path string) (*Store, error) {
	return open(path, options{})
}

func open(path string, opt options) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("open database: empty path: %w", ErrInvalid)
	}
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("open database %s: path must not contain '?': %w", path, ErrInvalid)
	}
	if opt.synchronous == "" {
		opt.synchronous = "FULL"
	}
	dir := filepath.Dir(path)
	blobDir := filepath.Join(dir, "blobs")
	if err := os.MkdirAll(blobDir, 0o700); err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// The file holds the signing key: create it private before SQLite creates it with the umask
	// (SQLite gives the -wal and -shm files the same mode as the database).
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	f.Close()

	dsn := path + "?_journal_mode=WAL&_foreign_keys=1&_busy_timeout=10000&_txlock=immediate" +
		"&_synchronous=" + opt.synchronous
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s := &Store{db: db, path: path, blobDir: blobDir}
	ctx := context.Background()
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		db.Close()
		return nil, fmt.Errorf("open database %s: journal mode is %q, want wal (is the file on a network file system?)", path, mode)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s.removeStaleTemps()
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close database %s: %w", s.path, err)
	}
	return nil
}

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in order; their numbers must run 1, 2, 3...
func migrations() ([]migration, error) {
	entries, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries { // Glob returns names sorted
		base := path.Base(e)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNNN_what.sql", base)
		}
		if v != len(ms)+1 {
			return nil, fmt.Errorf("migration %s: expected number %d", base, len(ms)+1)
		}
		b, err := migrationFS.ReadFile(e)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: strings.TrimSuffix(base, ".sql"), sql: string(b)})
	}
	return ms, nil
}

// migrate applies the embedded migrations the database has not seen, each in its own
// transaction together with its schema_migrations row. Two processes opening a fresh database at
// once are fine: the transactions are IMMEDIATE and each re-checks under the write lock.
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("database schema version %d is newer than this build of atoll supports (%d): use a newer atoll", current, len(ms))
	}
	for _, m := range ms[current:] {
		err := withTx(ctx, db, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil // another process got here first
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, nowNS())
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// withTx runs fn in a transaction (BEGIN IMMEDIATE, see the DSN) and commits when fn succeeds.
func withTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	return withTx(ctx, s.db, fn)
}

func nowNS() int64 { return time.Now().UnixNano() }

func fromNS(ns int64) time.Time { return time.Unix(0, ns).UTC() }

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a random 16-character identifier (80 bits) for graphs and runs.
func newID() string {
	var b [10]byte
	rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}
