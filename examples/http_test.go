package examples_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sqlite3 "github.com/ncruces/go-sqlite3"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/examples"
	"github.com/atoll-studio/atoll/nodes"
	"github.com/atoll-studio/atoll/nodes/core"
)

// needsServer reports whether an example graph polls, serves or posts over HTTP: those run
// against loopback servers started by the tests below, with their addresses rewritten.
func needsServer(g examples.Graph) bool {
	return bytes.Contains(g.Data, []byte(`"source.http_`)) || bytes.Contains(g.Data, []byte(`"sink.http"`))
}

// startHTTPExample copies the examples, applies patch (node id → config fields to replace) to
// graph name and starts it from the copy's graphs directory, which it returns.
func startHTTPExample(t *testing.T, name string, patch map[string]map[string]any) (*engine.Run, string) {
	t.Helper()
	g := graphNamed(t, name)
	if !needsServer(g) {
		t.Fatalf("%s has no HTTP node", g.Path)
	}
	return startExampleCopy(t, g, func(doc *graph.Document) {
		for id, fields := range patch {
			n, ok := doc.Node(id)
			if !ok {
				t.Fatalf("%s has no node %q", g.Path, id)
			}
			var cfg map[string]any
			if err := json.Unmarshal(n.Config, &cfg); err != nil {
				t.Fatal(err)
			}
			for k, v := range fields {
				if _, ok := cfg[k]; !ok {
					t.Fatalf("%s: node %s has no %q to rewrite", g.Path, id, k)
				}
				cfg[k] = v
			}
			n.Config, _ = json.Marshal(cfg)
		}
	}, "error", "warn")
}

// startExampleCopy starts graph g from a fresh copy of the examples (copyExamples), once
// rewrite has changed its document (servers' addresses), and returns the run and the copy's
// graphs directory. A node logging at one of failLevels fails the test.
func startExampleCopy(t *testing.T, g examples.Graph, rewrite func(*graph.Document), failLevels ...string) (*engine.Run, string) {
	t.Helper()
	root := copyExamples(t, g)
	dir := filepath.Dir(filepath.Join(root, g.Path))
	doc, err := graph.ReadFile(filepath.Join(root, g.Path))
	if err != nil {
		t.Fatal(err)
	}
	rewrite(doc)
	r, err := engine.Build(doc, engine.Options{
		Catalog:  nodes.Default,
		Headless: true,
		Assets:   fileAssets(dir),
		Services: map[string]any{core.BaseDirService: dir},
		Log: func(e engine.LogEntry) {
			if slices.Contains(failLevels, e.Level) {
				t.Errorf("%s: node %q logged at %s: %s", g.Path, e.Node, e.Level, e.Msg)
			}
		},
	})
	if err != nil {
		t.Fatalf("%s: %v", g.Path, err)
	}
	r.Start(t.Context())
	t.Cleanup(r.Cancel)
	return r, dir
}

// carbonAPI is a loopback stand-in for a carbon-intensity API: the current half hour's reading,
// with an ETag; it answers 304 while the client has it.
type carbonAPI struct {
	mu       sync.Mutex
	readings []string // the "data" array served, one per version
	version  int      // index into readings
	served   map[string]int
}

func (c *carbonAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	etag := fmt.Sprintf(`"reading-%d"`, c.version)
	if r.URL.Path != "/intensity" {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("If-None-Match") == etag {
		c.served["304"]++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	c.served["200"]++
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"data":%s}`, c.readings[c.version])
}

func (c *carbonAPI) count(status string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.served[status]
}

func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("no free loopback port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestHTTPCarbonExample runs REEF's carbon case as the two example graphs: http_carbon polls a
// loopback carbon-intensity API, maps each reading and posts it to http_ingest_sqlite, a webhook
// that stores the rows in SQLite. Each new reading reaches the table once; 304s emit nothing.
func TestHTTPCarbonExample(t *testing.T) {
	api := &carbonAPI{served: map[string]int{}, readings: []string{
		`[{"from":"2026-12-02T15:00Z","to":"2026-12-02T15:30Z","intensity":{"forecast":266,"actual":263,"index":"moderate"}}]`,
		`[{"from":"2026-12-02T15:30Z","to":"2026-12-02T16:00Z","intensity":{"forecast":180,"actual":null,"index":"low"}}]`,
	}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	addr := freeLoopback(t)
	ingest, dir := startHTTPExample(t, "http_ingest_sqlite", map[string]map[string]any{"ingest": {"address": addr}})
	carbon, _ := startHTTPExample(t, "http_carbon", map[string]map[string]any{
		"carbon":   {"url": srv.URL + "/intensity", "interval_ms": 20},
		"platform": {"url": "http://" + addr + "/ingest"},
	})
	db := filepath.Join(dir, "out", "carbon.db")
	waitRows := func(n int) []string {
		t.Helper()
		var got []string
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			got = tableRows(t, db)
			if len(got) >= n {
				return got
			}
		}
		t.Fatalf("after 20 s the table holds %d rows, want %d: %v", len(got), n, got)
		return nil
	}
	waitRows(1)
	for deadline := time.Now().Add(20 * time.Second); api.count("304") < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the poller never got a 304: it does not send If-None-Match")
		}
	}
	api.mu.Lock()
	api.version = 1
	api.mu.Unlock()
	waitRows(2)
	for deadline := time.Now().Add(20 * time.Second); api.count("304") < 6; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no 304 for the second reading")
		}
	}
	stop := func(r *engine.Run) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	stop(carbon)
	stop(ingest)
	got := tableRows(t, db)
	want := []string{
		`from=text:2026-12-02T15:00Z to=text:2026-12-02T15:30Z actual=float:263.0 forecast=float:266.0 high=integer:1 index=text:moderate site=text:site-1`,
		`from=text:2026-12-02T15:30Z to=text:2026-12-02T16:00Z actual=null: forecast=float:180.0 high=integer:0 index=text:low site=text:site-1`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("table:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := api.count("200"); n != 2 {
		t.Errorf("the API served %d full responses, want 2 (one per reading; the rest 304)", n)
	}
}

// tableRows returns the intensity table's rows as "column=type:value" lists, in insertion order.
func tableRows(t *testing.T, path string) []string {
	t.Helper()
	c, err := sqlite3.Open("file:" + path + "?mode=ro")
	if err != nil {
		return nil
	}
	defer c.Close()
	stmt, _, err := c.Prepare(`SELECT * FROM intensity ORDER BY rowid`)
	if err != nil {
		return nil // not created yet
	}
	defer stmt.Close()
	var out []string
	for stmt.Step() {
		var cells []string
		for i := 0; i < stmt.ColumnCount(); i++ {
			v := stmt.ColumnText(i)
			if stmt.ColumnType(i) == sqlite3.FLOAT && !strings.Contains(v, ".") {
				v += ".0"
			}
			cells = append(cells, fmt.Sprintf("%s=%s:%s", stmt.ColumnName(i), strings.ToLower(stmt.ColumnType(i).String()), v))
		}
		out = append(out, strings.Join(cells, " "))
	}
	return out
}
