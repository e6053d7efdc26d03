package examples_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/examples"
	"github.com/atoll-studio/atoll/examples/functions/go/moment/momentfn"
	"github.com/atoll-studio/atoll/internal/testdata"
	"github.com/atoll-studio/atoll/nodes"
	_ "github.com/atoll-studio/atoll/nodes/all"
	"github.com/atoll-studio/atoll/nodes/core"
)

func graphs(t *testing.T) []examples.Graph {
	t.Helper()
	gs, err := examples.Graphs()
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) < 3 {
		t.Fatalf("found %d example graphs, want at least 3", len(gs))
	}
	return gs
}

// TestGraphsAreCanonical checks that each example is written the way the studio writes graphs
// (pretty, stable key order), so that saving one unchanged gives the same bytes.
func TestGraphsAreCanonical(t *testing.T) {
	for _, g := range graphs(t) {
		doc, err := graph.Parse(g.Data)
		if err != nil {
			t.Errorf("%s: %v", g.Path, err)
			continue
		}
		canon, err := doc.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(canon, g.Data) {
			t.Errorf("%s is not in canonical form; rewrite it with graph.Document.Marshal:\n%s", g.Path, canon)
		}
	}
}

func TestGraphsValidateHeadless(t *testing.T) {
	for _, g := range graphs(t) {
		doc, err := graph.Parse(g.Data)
		if err != nil {
			t.Fatalf("%s: %v", g.Path, err)
		}
		if probs := engine.Validate(doc, nodes.Default, engine.ValidateOptions{Headless: true}); len(probs) > 0 {
			t.Errorf("%s: %v", g.Path, probs)
		}
	}
}

// fileAssets resolves asset paths against a directory.
type fileAssets string

func (d fileAssets) Asset(ref string) ([]byte, error) {
	if !filepath.IsAbs(ref) {
		ref = filepath.Join(string(d), ref)
	}
	return os.ReadFile(ref)
}

// runExample copies the examples to a temporary directory and runs one graph headless from
// there; it returns the graphs directory, where outputs land.
func runExample(t *testing.T, g examples.Graph) (string, []engine.LogEntry) {
	t.Helper()
	root := copyExamples(t, g)
	dir := filepath.Dir(filepath.Join(root, g.Path))
	doc, err := graph.ReadFile(filepath.Join(root, g.Path))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logs []engine.LogEntry
	r, err := engine.Build(doc, engine.Options{
		Catalog:  nodes.Default,
		Headless: true,
		Assets:   fileAssets(dir),
		Services: map[string]any{core.BaseDirService: dir},
		Log: func(e engine.LogEntry) {
			mu.Lock()
			logs = append(logs, e)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatalf("%s: %v", g.Path, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	r.Start(ctx)
	if err := r.Wait(); err != nil {
		t.Fatalf("%s: %v", g.Path, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s: did not finish within 60 s", g.Path)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, e := range logs {
		if e.Level == "error" {
			t.Errorf("%s: node %q logged an error: %s", g.Path, e.Node, e.Msg)
		}
	}
	return dir, logs
}

// copyExamples copies the examples into a temporary directory and returns the copy's examples
// directory. The example functions (the modules `make wasm-examples` builds are not embedded)
// and the shared test data are linked as the studio links them (examples.Link), so every
// relative path of a graph resolves as it does in the checkout.
func copyExamples(t *testing.T, g examples.Graph) string {
	t.Helper()
	ws := t.TempDir()
	root := filepath.Join(ws, "main", "examples")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(root, examples.FS); err != nil {
		t.Fatal(err)
	}
	checkout, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(g.Data, []byte("../testdata/")) {
		testdata.Path(t, ".") // fails the test, naming the path, when the shared data is missing
	}
	if _, err := examples.Link(root, checkout); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestGraphsRunHeadless(t *testing.T) {
	for _, g := range graphs(t) {
		if needsBroker(g) {
			continue // run against a real broker by TestMQTT* (mqtt_test.go)
		}
		if needsServer(g) {
			continue // run against loopback servers by TestHTTP* (http_test.go)
		}
		t.Run(g.Name, func(t *testing.T) { runExample(t, g) })
	}
}

func graphNamed(t *testing.T, name string) examples.Graph {
	t.Helper()
	for _, g := range graphs(t) {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("no example graph %q", name)
	return examples.Graph{}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// TestGeneratorToFile checks the generator → map → filter → file example row by row.
func TestGeneratorToFile(t *testing.T) {
	dir, _ := runExample(t, graphNamed(t, "generator_to_file"))
	got := readLines(t, filepath.Join(dir, "out", "generator_filtered.jsonl"))
	var want []string
	for n := int64(0); n < 100; n++ {
		if n%3 != 0 {
			continue
		}
		parity := "odd"
		if n%2 == 0 {
			parity = "even"
		}
		r := rows.Row{{Name: "n", Value: rows.Int(n)}, {Name: "parity", Value: rows.String(parity)}, {Name: "square", Value: rows.Int(n * n)}}
		want = append(want, string(r.AppendJSON(nil)))
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: got %s, want %s", i, got[i], want[i])
		}
	}
}

// TestGeneratorMomentToFile checks the generator → moment.wasm (the Go guest, metered) → file
// example row by row against the same business function run natively.
func TestGeneratorMomentToFile(t *testing.T) {
	dir, _ := runExample(t, graphNamed(t, "generator_moment_to_file"))
	got := readLines(t, filepath.Join(dir, "out", "moments.jsonl"))
	if len(got) != 480 {
		t.Fatalf("got %d rows, want 480", len(got))
	}
	seen := map[string]int{}
	for n := int64(0); n < 480; n++ {
		ts := 1699920000 + n*1800 // from midnight UTC, every half hour: 00:00 and 12:00 are hit
		m := momentfn.Moment(ts)
		seen[m]++
		want := rows.Row{{Name: "n", Value: rows.Int(n)}, {Name: "creation_timestamp", Value: rows.Int(ts)}, {Name: "moment", Value: rows.String(m)}}
		if w := string(want.AppendJSON(nil)); got[n] != w {
			t.Fatalf("row %d: got %s, want %s", n, got[n], w)
		}
	}
	for _, m := range []string{"midnight", "midday", "day", "night"} {
		if seen[m] == 0 {
			t.Errorf("no row has moment %q: the example does not cover every case", m)
		}
	}
}

// TestCSVToCSV checks the CSV example row by row against the sample data.
func TestCSVToCSV(t *testing.T) {
	dir, _ := runExample(t, graphNamed(t, "csv_to_csv"))
	in, err := os.ReadFile(filepath.Join(dir, "..", "data", "sensors.csv"))
	if err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(bytes.NewReader(in)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"station,time,temp_c,temp_f"}
	var rejected []string
	for _, rec := range records[1:] {
		if rec[2] == "" {
			rejected = append(rejected, rec[0]+" "+rec[1])
			continue
		}
		c, err := strconv.ParseFloat(rec[2], 64)
		if err != nil {
			t.Fatal(err)
		}
		f := string(rows.Float(c*9/5 + 32).AppendJSON(nil))
		want = append(want, fmt.Sprintf("%s,%s,%s,%s", rec[0], rec[1], rows.Float(c).AppendJSON(nil), f))
	}
	got := readLines(t, filepath.Join(dir, "out", "sensors_f.csv"))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("sensors_f.csv:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	rej := readLines(t, filepath.Join(dir, "out", "sensors_rejects.jsonl"))
	if len(rej) != len(rejected) || len(rejected) == 0 {
		t.Fatalf("rejects: %v, want one per row without temp_c: %v", rej, rejected)
	}
	for i, r := range rej {
		row, err := rows.ParseJSON([]byte(r))
		if err != nil {
			t.Fatal(err)
		}
		node, _ := row.Get(engine.ErrorNodeField)
		reason, _ := row.Get(engine.ErrorField)
		station, _ := row.Get("station")
		if !node.Equal(rows.String("fahrenheit")) || reason.IsNull() || !strings.HasPrefix(rejected[i], station.Any().(string)) {
			t.Errorf("reject %d: %s", i, r)
		}
	}
}

// TestSineToLog checks that the log example logs sampled rows.
func TestSineToLog(t *testing.T) {
	_, logs := runExample(t, graphNamed(t, "sine_to_log"))
	n := 0
	for _, e := range logs {
		if e.Node == "log" && strings.HasPrefix(e.Msg, `{"n":`) {
			n++
		}
	}
	// 100 rows at 50 a second take 2 s; at most 5 a second are logged.
	if n < 5 || n > 20 {
		t.Errorf("logged %d rows, want between 5 and 20", n)
	}
}
