package storage

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// openTest opens a fresh database in a temporary directory and closes it when the test ends.
func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "atoll.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenCreatesAndConfigures(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "atoll.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("database mode = %v, want 0600 (it holds the signing key)", st.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "blobs")); err != nil {
		t.Errorf("blobs directory: %v", err)
	}
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "2"}, // FULL
		{"busy_timeout", "10000"},
	} {
		var got string
		if err := s.db.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
		}
	}
}

func TestMigrationsIdempotentOnReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "atoll.db")
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var graphID string
	for i := range 3 {
		s, err := Open(path)
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		var n, maxV int
		if err := s.db.QueryRowContext(t.Context(), "SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &maxV); err != nil {
			t.Fatal(err)
		}
		if n != len(ms) || maxV != len(ms) {
			t.Errorf("open #%d: schema_migrations has %d rows up to %d, want %d", i+1, n, maxV, len(ms))
		}
		if i == 0 {
			g, err := s.CreateGraph(t.Context(), "kept", nil)
			if err != nil {
				t.Fatal(err)
			}
			graphID = g.ID
		} else if _, _, err := s.LoadGraph(t.Context(), graphID); err != nil {
			t.Errorf("open #%d: data lost: %v", i+1, err)
		}
		s.Close()
	}
}

func TestOpenRefusesNewerDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "atoll.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(t.Context(), "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future', 0)"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(path)
	if err == nil || !strings.Contains(err.Error(), "database schema version 999 is newer") {
		t.Fatalf("Open = %v, want a refusal naming schema version 999", err)
	}
}

func TestOpenRejectsBadPaths(t *testing.T) {
	for _, path := range []string{"", filepath.Join(t.TempDir(), "a?b.db")} {
		if _, err := Open(path); !errors.Is(err, ErrInvalid) {
			t.Errorf("Open(%q) = %v, want ErrInvalid", path, err)
		}
	}
}

func TestDefaultPath(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the XDG layout is Linux's; other systems use os.UserConfigDir")
	}
	home := t.TempDir()
	tests := []struct {
		name, atollDB, xdg, want string
	}{
		{"override", "/srv/atoll/studio.db", "/xdg", "/srv/atoll/studio.db"},
		{"xdg", "", "/xdg", "/xdg/atoll/atoll.db"},
		{"relative xdg is ignored", "", "xdg", home + "/.local/share/atoll/atoll.db"},
		{"home", "", "", home + "/.local/share/atoll/atoll.db"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("HOME", home)
			t.Setenv("ATOLL_DB", tc.atollDB)
			t.Setenv("XDG_DATA_HOME", tc.xdg)
			got, err := DefaultPath()
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("DefaultPath() = %s, want %s", got, tc.want)
			}
		})
	}
}
