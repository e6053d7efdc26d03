package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sqlite3 "github.com/ncruces/go-sqlite3"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/internal/conformance"
	"github.com/atoll-studio/atoll/internal/testnodes"
	"github.com/atoll-studio/atoll/nodes"
)

// tableEnv reads a sink.sqlite table back through a connection of its own.
type tableEnv struct {
	t     *testing.T
	path  string
	table string
	stall sync.Once
}

func (e *tableEnv) Config() json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"path":%q,"table":%q}`, e.path, e.table))
}

func (e *tableEnv) Received(context.Context) ([]rows.Row, error) {
	return readTable(e.path, e.table)
}

// Poison is a row whose seq is a string: the table's seq column is INTEGER.
func (e *tableEnv) Poison() (rows.Row, string) {
	r := conformance.Row(99)
	r.Set("seq", rows.String("ninety-nine"))
	return r, `field "seq": a string value does not fit column type INTEGER`
}

// Stall takes the database's write lock from another connection until the test ends.
func (e *tableEnv) Stall() {
	e.stall.Do(func() {
		c := openConn(e.t, e.path)
		c.BusyTimeout(5 * time.Second)
		if err := c.Exec("BEGIN IMMEDIATE"); err != nil {
			e.t.Fatalf("taking the write lock: %v", err)
		}
	})
}

func openConn(t *testing.T, path string) *sqlite3.Conn {
	t.Helper()
	c, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readTable reads every row of a table in insertion order, typing values by the column's
// declared type as sink.sqlite documents it (BOOLEAN 0/1 → bool, TIMESTAMP text → timestamp).
func readTable(path, table string) ([]rows.Row, error) {
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return nil, nil
	}
	c, err := sqlite3.Open(path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stmt, _, err := c.Prepare(`SELECT * FROM ` + sqlite3.QuoteIdentifier(table) + ` ORDER BY rowid`)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil, nil
		}
		return nil, err
	}
	defer stmt.Close()
	var out []rows.Row
	for stmt.Step() {
		var r rows.Row
		for i := 0; i < stmt.ColumnCount(); i++ {
			var v rows.Value
			switch {
			case stmt.ColumnType(i) == sqlite3.NULL:
				v = rows.Null()
			case stmt.ColumnDeclType(i) == "BOOLEAN":
				v = rows.Bool(stmt.ColumnInt64(i) != 0)
			case stmt.ColumnDeclType(i) == "TIMESTAMP":
				ts, err := time.Parse(time.RFC3339Nano, stmt.ColumnText(i))
				if err != nil {
					return nil, err
				}
				v = rows.Timestamp(ts)
			case stmt.ColumnType(i) == sqlite3.INTEGER:
				v = rows.Int(stmt.ColumnInt64(i))
			case stmt.ColumnType(i) == sqlite3.FLOAT:
				v = rows.Float(stmt.ColumnFloat(i))
			case stmt.ColumnType(i) == sqlite3.BLOB:
				v = rows.Bytes(stmt.ColumnBlob(i, nil))
			default:
				v = rows.String(stmt.ColumnText(i))
			}
			r = append(r, rows.Field{Name: stmt.ColumnName(i), Value: v})
		}
		out = append(out, r)
	}
	return out, stmt.Err()
}

func TestConformance(t *testing.T) {
	conformance.TestSink(t, conformance.Sink{Type: "sink.sqlite", Start: func(t *testing.T) conformance.SinkEnv {
		return &tableEnv{t: t, path: filepath.Join(t.TempDir(), "db", "out.db"), table: "readings"}
	}})
}

// batches is a source that emits fixed batches, each acknowledged through onAck.
type batches struct {
	list  [][]rows.Row
	onAck func(i int)
}

func (b *batches) Run(ctx context.Context, out engine.Output) error {
	for i, rs := range b.list {
		if err := out.EmitAcked("out", &rows.Batch{Rows: rs}, func() { b.onAck(i) }); err != nil {
			return nil
		}
	}
	return nil
}

// runSink runs batches into a sink.sqlite with config cfg and returns the run and the rows its
// errors port got.
func runSink(t *testing.T, src *batches, cfg string) (*engine.Run, []rows.Row) {
	t.Helper()
	cat := nodes.New()
	cat.Register(engine.Spec{ID: "test.batches", Category: "source", Headless: true,
		Outputs: []engine.Port{{Name: "out", Type: "rows"}},
		New:     func(engine.BuildContext, json.RawMessage) (engine.Node, error) { return src, nil }})
	errs := &testnodes.Capture{}
	testnodes.Register(cat, "test.errors", errs)
	doc := &graph.Document{Version: 1, ID: "t", Name: "t",
		Nodes: []graph.Node{{ID: "src", Type: "test.batches"}, {ID: "db", Type: "sink.sqlite", Config: json.RawMessage(cfg)}, {ID: "errs", Type: "test.errors"}},
		Edges: []graph.Edge{
			{From: graph.Endpoint{Node: "src", Port: "out"}, To: graph.Endpoint{Node: "db", Port: "in"}},
			{From: graph.Endpoint{Node: "db", Port: "errors"}, To: graph.Endpoint{Node: "errs", Port: "in"}},
		}}
	r, err := engine.Build(doc, engine.Options{Catalog: cat, Headless: true})
	if err != nil {
		t.Fatal(err)
	}
	testnodes.RunToEnd(t, r, 30*time.Second)
	return r, errs.Rows()
}

// TestTypesAndColumns checks the table made from the first row, the column added for a field
// that appears later, and every type mapping, read back with SQLite's own typeof().
func TestTypesAndColumns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "types.db")
	ts := time.Date(2026, 12, 2, 15, 4, 5, 123456789, time.UTC)
	first := rows.Row{
		{Name: "i", Value: rows.Int(-7)},
		{Name: "f", Value: rows.Float(2.5)},
		{Name: "b", Value: rows.Bool(true)},
		{Name: "s", Value: rows.String("héllo \"quoted\"")},
		{Name: "raw", Value: rows.Bytes([]byte{0, 1, 2, 255})},
		{Name: "at", Value: rows.Timestamp(ts)},
		{Name: "tags", Value: rows.List([]rows.Value{rows.String("a"), rows.Int(1)})},
		{Name: "frame", Value: rows.Float32s([]float32{0.5, -1})},
		{Name: "nothing", Value: rows.Null()},
		{Name: "odd name; DROP TABLE x", Value: rows.Int(1)},
	}
	later := rows.Row{{Name: "i", Value: rows.Int(8)}, {Name: "f", Value: rows.Int(3)}, {Name: "added", Value: rows.String("new")}, {Name: "nothing", Value: rows.Int(5)}}
	src := &batches{list: [][]rows.Row{{first}, {later}}, onAck: func(int) {}}
	_, errs := runSink(t, src, fmt.Sprintf(`{"path":%q,"table":"all types"}`, path))
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	c := openConn(t, path)
	stmt, _, err := c.Prepare(`SELECT name, type FROM pragma_table_info('all types') ORDER BY cid`)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for stmt.Step() {
		cols = append(cols, stmt.ColumnText(0)+" "+stmt.ColumnText(1))
	}
	stmt.Close()
	want := []string{"i INTEGER", "f REAL", "b BOOLEAN", "s TEXT", "raw BLOB", "at TIMESTAMP", "tags JSON", "frame JSON",
		"odd name; DROP TABLE x INTEGER", "added TEXT", "nothing INTEGER"}
	if strings.Join(cols, ", ") != strings.Join(want, ", ") {
		t.Fatalf("columns:\n got %s\nwant %s", strings.Join(cols, ", "), strings.Join(want, ", "))
	}
	stmt, _, err = c.Prepare(`SELECT typeof(i), i, typeof(f), f, typeof(b), b, s, hex(raw), at, tags, frame, typeof("nothing"), added FROM "all types" ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	var got []string
	for stmt.Step() {
		var cells []string
		for i := 0; i < stmt.ColumnCount(); i++ {
			cells = append(cells, stmt.ColumnText(i))
		}
		got = append(got, strings.Join(cells, "|"))
	}
	wantRows := []string{
		`integer|-7|real|2.5|integer|1|héllo "quoted"|000102FF|2026-12-02T15:04:05.123456789Z|["a",1]|[0.5,-1.0]|null|`,
		strings.Join([]string{"integer", "8", "real", "3.0", "null", "", "", "", "", "", "", "integer", "new"}, "|"),
	}
	if strings.Join(got, "\n") != strings.Join(wantRows, "\n") {
		t.Fatalf("rows:\n got %s\nwant %s", strings.Join(got, "\n"), strings.Join(wantRows, "\n"))
	}
}

// TestTransactionPerBatch checks that each batch is one transaction: every acknowledgement
// comes after its batch is visible to another connection (committed), the commit count is the
// batch count, and a batch that cannot commit (the database locked by another writer) leaves
// none of its rows in the table and goes to errors whole, while the next batch goes in.
func TestTransactionPerBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tx.db")
	reader := openConn(t, path)
	count := func() int {
		stmt, _, err := reader.Prepare(`SELECT count(*) FROM t`)
		if err != nil {
			return 0 // no table yet
		}
		defer stmt.Close()
		stmt.Step()
		return stmt.ColumnInt(0)
	}
	var locker *sqlite3.Conn
	var mu sync.Mutex
	var visibleAtAck []int
	src := &batches{list: [][]rows.Row{conformance.Rows(0, 10), conformance.Rows(10, 25), conformance.Rows(25, 30), conformance.Rows(30, 31)}}
	src.onAck = func(i int) {
		mu.Lock()
		defer mu.Unlock()
		visibleAtAck = append(visibleAtAck, count())
		if i == 1 { // lock the database before batch 2 is written; batch 3 finds it free again
			locker = openConn(t, path)
			if err := locker.Exec("BEGIN IMMEDIATE"); err != nil {
				t.Errorf("lock: %v", err)
			}
		}
		if i == 2 {
			locker.Exec("ROLLBACK")
		}
	}
	r, errs := runSink(t, src, fmt.Sprintf(`{"path":%q,"table":"t","busy_timeout_ms":50}`, path))
	mu.Lock()
	defer mu.Unlock()
	// Batch 2 failed: its rows went to errors, which also acknowledges them (the rows were
	// handled), with nothing of it committed.
	if want := []int{10, 25, 25, 26}; fmt.Sprint(visibleAtAck) != fmt.Sprint(want) {
		t.Fatalf("rows visible at each acknowledgement: %v, want %v", visibleAtAck, want)
	}
	if len(errs) != 5 {
		t.Fatalf("%d error rows, want the 5 rows of the locked batch", len(errs))
	}
	for i, e := range errs {
		if !conformance.Contains(e, conformance.Row(25+i)) {
			t.Fatalf("error row %d is %s, want row %d", i, e.AppendJSON(nil), 25+i)
		}
		v, _ := e.Get(engine.ErrorField)
		if s, _ := v.AsString(); !strings.Contains(s, "locked") && !strings.Contains(s, "busy") {
			t.Fatalf("error %q does not say the database was locked", s)
		}
	}
	got, err := readTable(path, "t")
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, row := range got {
		v, _ := row.Get("seq")
		n, _ := v.AsInt()
		seqs = append(seqs, n)
	}
	if len(seqs) != 26 || seqs[24] != 24 || seqs[25] != 30 {
		t.Fatalf("table holds seqs %v, want 0..24 and 30", seqs)
	}
	if c := r.Metrics()["db"].Gauges["commits"]; c != 3 {
		t.Fatalf("commits gauge %v, want 3 (one per batch that went in)", c)
	}
}

// TestAppendsToExistingTable checks that a table made by someone else is reused: its columns
// and types are read, a missing column is added and a value that does not fit goes to errors.
func TestAppendsToExistingTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "existing.db")
	c := openConn(t, path)
	if err := c.Exec(`CREATE TABLE readings (id INTEGER PRIMARY KEY, station VARCHAR(20), temp REAL NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	src := &batches{onAck: func(int) {}, list: [][]rows.Row{{
		{{Name: "station", Value: rows.String("a")}, {Name: "temp", Value: rows.Int(20)}},
		{{Name: "station", Value: rows.String("b")}, {Name: "temp", Value: rows.String("warm")}},
		{{Name: "station", Value: rows.String("c")}, {Name: "temp", Value: rows.Float(21.5)}, {Name: "wind", Value: rows.Float(3)}},
	}}}
	_, errs := runSink(t, src, fmt.Sprintf(`{"path":%q,"table":"readings"}`, path))
	if len(errs) != 1 {
		t.Fatalf("%d error rows, want 1: %v", len(errs), errs)
	}
	v, _ := errs[0].Get(engine.ErrorField)
	if s, _ := v.AsString(); !strings.Contains(s, `field "temp": a string value does not fit column type REAL`) || !strings.Contains(s, "row 1") {
		t.Fatalf("error %q", s)
	}
	got, err := readTable(path, "readings")
	if err != nil {
		t.Fatal(err)
	}
	var text []string
	for _, r := range got {
		text = append(text, string(r.AppendJSON(nil)))
	}
	want := `{"id":1,"station":"a","temp":20.0,"wind":null} {"id":2,"station":"c","temp":21.5,"wind":3.0}`
	if strings.Join(text, " ") != want {
		t.Fatalf("table:\n got %s\nwant %s", strings.Join(text, " "), want)
	}
}
