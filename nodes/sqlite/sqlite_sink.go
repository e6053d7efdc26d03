// Package sqlite holds the SQLite sink. It uses github.com/ncruces/go-sqlite3, SQLite compiled to
// pure Go (no cgo), through its own API rather than database/sql: the runner cross-compiles with
// CGO_ENABLED=0, and the studio binary also links mattn/go-sqlite3, whose database/sql driver
// name ("sqlite3") the ncruces driver package would register a second time. See RATIONALE.md.
package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	sqlite3 "github.com/ncruces/go-sqlite3"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
	"github.com/atoll-studio/atoll/nodes/core"
)

var sqliteSinkSpec = engine.Spec{
	ID:       "sink.sqlite",
	Category: "sink",
	Summary:  "Writes rows to a table of a SQLite database file, one transaction per batch.",
	Docs: `Inserts every row it receives into ` + "`table`" + ` of the SQLite database at ` + "`path`" + `
(created with its directory when missing; a relative path resolves against the graph file's
directory). The table is created from the first row's fields; a field that appears later becomes a
new column (` + "`ALTER TABLE … ADD COLUMN`" + `), so earlier rows hold NULL there. A column is created
when its first non-null value arrives.

| Row value | Column type | Stored as |
|---|---|---|
| int | ` + "`INTEGER`" + ` | integer |
| float | ` + "`REAL`" + ` | real (an int into a REAL column is stored as a real) |
| bool | ` + "`BOOLEAN`" + ` | integer 0 or 1 |
| string | ` + "`TEXT`" + ` | text |
| bytes | ` + "`BLOB`" + ` | blob |
| timestamp | ` + "`TIMESTAMP`" + ` | text, RFC 3339 with nanoseconds, UTC (sorts in time order; SQLite's date functions read it) |
| list, float32 array | ` + "`JSON`" + ` | text, the value's JSON view |
| null | — | NULL |

A value whose kind does not fit its column's type (a string into an ` + "`INTEGER`" + ` column, say)
sends that row to ` + "`errors`" + `, naming the field and both types; the rest of the batch is written.
Each input batch is one transaction (` + "`BEGIN IMMEDIATE`" + ` … ` + "`COMMIT`" + `) with one
prepared insert per set of columns. The database runs in WAL mode with ` + "`synchronous=FULL`" + `,
so a committed batch survives a power loss. A batch whose transaction fails (the database locked by
another writer beyond ` + "`busy_timeout_ms`" + `, a full disk) goes to ` + "`errors`" + ` whole: none of
its rows are in the table.

### Delivery guarantee

**At-least-once.** The node returns from a batch only after its ` + "`COMMIT`" + `, so the source is
acknowledged only for committed rows (or rows sent to ` + "`errors`" + `). A crash between the commit
and the acknowledgement makes an at-least-once source deliver the batch again: add a ` + "`UNIQUE`" + `
key to the table yourself if duplicates matter (the insert then fails and the row goes to
` + "`errors`" + `).

Pure Go (SQLite compiled to Go by ncruces/go-sqlite3): runs in the studio, ` + "`atoll run`" + ` and the
runner on every target.`,
	Headless: true,
	Inputs:   []engine.Port{{Name: "in", Type: "any", Required: true}},
	Fields: []engine.Field{
		{Name: "path", Type: "string", Doc: "database file (relative: to the graph file's directory)", Required: true, Path: true,
			Schema: map[string]any{"type": "string", "minLength": 1}},
		{Name: "table", Type: "string", Doc: "table to insert into (created when missing)", Default: "rows",
			Schema: map[string]any{"type": "string", "minLength": 1, "maxLength": 128}},
		{Name: "busy_timeout_ms", Type: "integer", Doc: "how long a write waits for another writer's lock before the batch fails", Default: 5000, Min: engine.Num(0)},
	},
	Examples: []engine.Example{
		{Name: "readings", Config: json.RawMessage(`{"path":"out/readings.db","table":"readings"}`)},
		{Name: "shared database", Config: json.RawMessage(`{"path":"/var/lib/atoll/detections.db","table":"detections","busy_timeout_ms":20000}`)},
	},
	Defaults: sqliteSinkDefaults,
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, sqliteSinkDefaults)
		if err != nil {
			return nil, err
		}
		path := cfg.Path
		if dir, ok := bc.Services[core.BaseDirService].(string); ok && dir != "" && path != "" && !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		return &sqliteSink{cfg: cfg, path: path}, nil
	},
}

type sqliteSinkConfig struct {
	Path          string `json:"path"`
	Table         string `json:"table"`
	BusyTimeoutMS int    `json:"busy_timeout_ms"`
}

var sqliteSinkDefaults = sqliteSinkConfig{Table: "rows", BusyTimeoutMS: 5000}

func init() { nodes.Register(sqliteSinkSpec) }

// Column types the sink creates, by row value kind.
var columnTypes = map[rows.Kind]string{
	rows.KindInt:       "INTEGER",
	rows.KindFloat:     "REAL",
	rows.KindBool:      "BOOLEAN",
	rows.KindString:    "TEXT",
	rows.KindBytes:     "BLOB",
	rows.KindTimestamp: "TIMESTAMP",
	rows.KindList:      "JSON",
	rows.KindFloat32s:  "JSON",
}

type sqliteSink struct {
	cfg  sqliteSinkConfig
	path string // resolved

	conn    *sqlite3.Conn
	columns map[string]string // name → declared type (upper case), as in the table
	inserts map[string]*sqlite3.Stmt
	commits int
	key     []byte // the non-null field names of the row being inserted, each ended by NUL
	buf     []byte
}

func (s *sqliteSink) Validate() error {
	if strings.TrimSpace(s.cfg.Path) == "" {
		return errors.New("config: path is empty")
	}
	if s.cfg.Table == "" || strings.IndexByte(s.cfg.Table, 0) >= 0 {
		return errors.New("config: table must be a non-empty name without NUL")
	}
	if s.cfg.BusyTimeoutMS < 0 {
		return errors.New("config: busy_timeout_ms must be >= 0")
	}
	return nil
}

// where names the database and table in errors.
func (s *sqliteSink) where() string {
	return fmt.Sprintf("sqlite %s table %q", s.cfg.Path, s.cfg.Table)
}

// open opens the database on the first batch, so that validating a graph touches no file.
func (s *sqliteSink) open() error {
	if s.conn != nil {
		return nil
	}
	if err := s.Validate(); err != nil {
		return err
	}
	if dir := filepath.Dir(s.path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("%s: %w", s.where(), err)
		}
	}
	conn, err := sqlite3.Open(s.path)
	if err != nil {
		return fmt.Errorf("%s: open: %w", s.where(), err)
	}
	if err := conn.BusyTimeout(time.Duration(s.cfg.BusyTimeoutMS) * time.Millisecond); err != nil {
		conn.Close()
		return fmt.Errorf("%s: %w", s.where(), err)
	}
	if err := conn.Exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;`); err != nil {
		conn.Close()
		return fmt.Errorf("%s: %w", s.where(), err)
	}
	s.conn = conn
	s.inserts = map[string]*sqlite3.Stmt{}
	if err := s.loadColumns(); err != nil {
		s.Close()
		return err
	}
	return nil
}

// loadColumns reads the table's columns, if the table exists.
func (s *sqliteSink) loadColumns() error {
	stmt, _, err := s.conn.Prepare(`SELECT name, type FROM pragma_table_info(?)`)
	if err != nil {
		return fmt.Errorf("%s: %w", s.where(), err)
	}
	defer stmt.Close()
	if err := stmt.BindText(1, s.cfg.Table); err != nil {
		return fmt.Errorf("%s: %w", s.where(), err)
	}
	s.columns = map[string]string{}
	for stmt.Step() {
		s.columns[stmt.ColumnText(0)] = strings.ToUpper(stmt.ColumnText(1))
	}
	if err := stmt.Err(); err != nil {
		return fmt.Errorf("%s: reading the columns: %w", s.where(), err)
	}
	return nil
}

func (s *sqliteSink) Process(ctx context.Context, _ string, b *rows.Batch, out engine.Output) (err error) {
	if err := s.open(); err != nil {
		return err
	}
	old := s.conn.SetInterrupt(ctx)
	defer s.conn.SetInterrupt(old)
	// Columns added in a failed transaction are rolled back with it.
	columnsBefore := len(s.columns)
	tx, err := s.conn.BeginImmediate()
	if err != nil {
		return fmt.Errorf("%s: begin: %w", s.where(), err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			if len(s.columns) != columnsBefore {
				s.resetSchema()
			}
		}
	}()
	for i, r := range b.Rows {
		if reason := s.check(r); reason != nil {
			out.Reject(r, fmt.Errorf("%s: row %d of the batch: %w", s.where(), i, reason))
			continue
		}
		if err := s.insert(r); err != nil {
			return fmt.Errorf("%s: row %d of the batch: %w", s.where(), i, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", s.where(), err)
	}
	s.commits++
	out.Gauge("commits", float64(s.commits))
	return nil
}

// resetSchema forgets columns and statements after a rollback undid an ALTER TABLE: they are
// read again from the database.
func (s *sqliteSink) resetSchema() {
	for _, st := range s.inserts {
		st.Close()
	}
	s.inserts = map[string]*sqlite3.Stmt{}
	if err := s.loadColumns(); err != nil {
		s.columns = map[string]string{}
	}
}

// check returns why a row cannot go into the table as it is, or nil.
func (s *sqliteSink) check(r rows.Row) error {
	if len(s.columns) == 0 && !hasValue(r) {
		return errors.New("no non-null field to create the table from")
	}
	for _, f := range r {
		if f.Value.IsNull() {
			continue
		}
		typ, ok := s.columns[f.Name]
		if !ok {
			continue // a new column, made to fit
		}
		if !fits(f.Value.Kind(), typ) {
			return fmt.Errorf("field %q: a %s value does not fit column type %s", f.Name, f.Value.Kind(), typeName(typ))
		}
	}
	return nil
}

func hasValue(r rows.Row) bool {
	for _, f := range r {
		if !f.Value.IsNull() {
			return true
		}
	}
	return false
}

func typeName(t string) string {
	if t == "" {
		return "(none)"
	}
	return t
}

// fits reports whether a value of kind k may go into a column declared as typ. Columns the sink
// did not create keep SQLite's own rules through their affinity.
func fits(k rows.Kind, typ string) bool {
	want, ok := columnTypes[k]
	switch {
	case !ok:
		return false
	case want == typ:
		return true
	case k == rows.KindInt && typ == "REAL":
		return true
	}
	switch typ {
	case "INTEGER", "REAL", "BOOLEAN", "TEXT", "BLOB", "TIMESTAMP", "JSON":
		return false
	}
	return true // a column declared by someone else (no type, NUMERIC, VARCHAR(20), ...)
}

// insert writes one row, creating the table or columns it needs first.
func (s *sqliteSink) insert(r rows.Row) error {
	var missing []rows.Field
	s.key = s.key[:0]
	for _, f := range r {
		if f.Value.IsNull() {
			continue
		}
		if _, ok := s.columns[f.Name]; !ok {
			missing = append(missing, f)
		}
		s.key = append(append(s.key, f.Name...), 0)
	}
	if len(missing) > 0 {
		if err := s.addColumns(missing); err != nil {
			return err
		}
	}
	stmt := s.inserts[string(s.key)] // looked up without a copy: nothing allocated per row
	if stmt == nil {
		var names []string
		for _, f := range r {
			if !f.Value.IsNull() {
				names = append(names, f.Name)
			}
		}
		var q strings.Builder
		q.WriteString("INSERT INTO ")
		q.WriteString(sqlite3.QuoteIdentifier(s.cfg.Table))
		if len(names) == 0 {
			q.WriteString(" DEFAULT VALUES")
		} else {
			q.WriteString(" (")
			for i, n := range names {
				if i > 0 {
					q.WriteString(", ")
				}
				q.WriteString(sqlite3.QuoteIdentifier(n))
			}
			q.WriteString(") VALUES (")
			q.WriteString(strings.Repeat("?, ", len(names)-1))
			q.WriteString("?)")
		}
		var err error
		if stmt, _, err = s.conn.Prepare(q.String()); err != nil {
			return err
		}
		s.inserts[string(s.key)] = stmt
	}
	i := 0
	for _, f := range r {
		if f.Value.IsNull() {
			continue
		}
		i++
		if err := s.bind(stmt, i, f.Value); err != nil {
			return fmt.Errorf("field %q: %w", f.Name, err)
		}
	}
	err := stmt.Exec()
	stmt.ClearBindings()
	return err
}

func (s *sqliteSink) bind(stmt *sqlite3.Stmt, i int, v rows.Value) error {
	switch v.Kind() {
	case rows.KindInt:
		n, _ := v.AsInt()
		return stmt.BindInt64(i, n)
	case rows.KindFloat:
		f, _ := v.AsFloat()
		return stmt.BindFloat(i, f)
	case rows.KindBool:
		b, _ := v.AsBool()
		return stmt.BindBool(i, b)
	case rows.KindString:
		str, _ := v.AsString()
		return stmt.BindText(i, str)
	case rows.KindBytes:
		b, _ := v.AsBytes()
		return stmt.BindBlob(i, b)
	case rows.KindTimestamp:
		ns, _ := v.AsTimestamp()
		s.buf = time.Unix(0, ns).UTC().AppendFormat(s.buf[:0], time.RFC3339Nano)
		return stmt.BindRawText(i, s.buf)
	}
	s.buf = v.AppendJSON(s.buf[:0])
	return stmt.BindRawText(i, s.buf)
}

// addColumns creates the table from the fields, or adds them to it as columns.
func (s *sqliteSink) addColumns(fs []rows.Field) error {
	table := sqlite3.QuoteIdentifier(s.cfg.Table)
	if len(s.columns) == 0 {
		var q strings.Builder
		fmt.Fprintf(&q, "CREATE TABLE IF NOT EXISTS %s (", table)
		for i, f := range fs {
			if i > 0 {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "%s %s", sqlite3.QuoteIdentifier(f.Name), columnTypes[f.Value.Kind()])
		}
		q.WriteString(")")
		if err := s.conn.Exec(q.String()); err != nil {
			return fmt.Errorf("creating the table: %w", err)
		}
	} else {
		for _, f := range fs {
			typ := columnTypes[f.Value.Kind()]
			if err := s.conn.Exec(fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", table, sqlite3.QuoteIdentifier(f.Name), typ)); err != nil {
				return fmt.Errorf("adding column %q %s: %w", f.Name, typ, err)
			}
		}
	}
	for _, f := range fs {
		s.columns[f.Name] = columnTypes[f.Value.Kind()]
	}
	return nil
}

// Close closes the statements and the database.
func (s *sqliteSink) Close() error {
	if s.conn == nil {
		return nil
	}
	for _, st := range s.inserts {
		st.Close()
	}
	err := s.conn.Close()
	s.conn, s.inserts = nil, nil
	if err != nil {
		return fmt.Errorf("%s: close: %w", s.where(), err)
	}
	return nil
}

var (
	_ engine.Processor = (*sqliteSink)(nil)
	_ engine.Validator = (*sqliteSink)(nil)
	_ io.Closer        = (*sqliteSink)(nil)
)
