//go:build cgo

package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	_ "github.com/mattn/go-sqlite3" // the studio's storage driver, linked beside ncruces in bin/atoll

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/internal/conformance"
)

// TestBesideMattn links mattn/go-sqlite3 (registered as database/sql "sqlite3") into the same
// binary as this node, as bin/atoll does: nothing panics at init, and what the node commits is
// read back through mattn's SQLite from the same file.
func TestBesideMattn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	src := &batches{list: [][]rows.Row{conformance.Rows(0, 3), conformance.Rows(3, 5)}, onAck: func(int) {}}
	_, errs := runSink(t, src, fmt.Sprintf(`{"path":%q,"table":"t"}`, path))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, sum int
	var name string
	if err := db.QueryRow(`SELECT count(*), sum(seq), max(name) FROM t`).Scan(&n, &sum, &name); err != nil {
		t.Fatal(err)
	}
	if n != 5 || sum != 10 || name != "row 4, «ü»" {
		t.Fatalf("mattn reads %d rows, seq sum %d, max name %q; want 5, 10, %q", n, sum, name, "row 4, «ü»")
	}
}
