package core

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

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

// fileCaptures is a catalog with two capture sinks, "test.rows" and "test.errors".
type fileCaptures struct {
	rows, errs capture
	cat        *engine.Catalog
}

func newFileCaptures() *fileCaptures {
	c := &fileCaptures{cat: nodes.New()}
	for id, sink := range map[string]*capture{"test.rows": &c.rows, "test.errors": &c.errs} {
		sink := sink
		c.cat.Register(engine.Spec{ID: id, Category: "sink", Headless: true,
			Inputs: []engine.Port{{Name: "in", Type: "any", Required: true}},
			New:    func(engine.BuildContext, json.RawMessage) (engine.Node, error) { return sink, nil }})
	}
	return c
}

// sourceGraph wires a source.file with config cfg to test.rows (out) and test.errors (errors).
func sourceGraph(t testing.TB, cfg string) string {
	t.Helper()
	return fmt.Sprintf(`{"version":1,"id":"g","name":"g","nodes":[
		{"id":"src","type":"source.file","config":%s},
		{"id":"rows","type":"test.rows"},{"id":"errs","type":"test.errors"}],
		"edges":[{"from":{"node":"src","port":"out"},"to":{"node":"rows","port":"in"}},
		{"from":{"node":"src","port":"errors"},"to":{"node":"errs","port":"in"}}]}`, cfg)
}

// startGraph builds and starts a graph with relative paths resolved against dir.
func startGraph(t testing.TB, js string, cat *engine.Catalog, dir string) *engine.Run {
	t.Helper()
	r, err := engine.Build(mustGraph(t, js), engine.Options{Catalog: cat, Services: map[string]any{BaseDirService: dir}})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	return r
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t testing.TB, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

func jsonRows(rs []rows.Row) string {
	var b strings.Builder
	for _, r := range rs {
		b.Write(r.AppendJSON(nil))
		b.WriteByte('\n')
	}
	return b.String()
}

func TestFileSourceJSONL(t *testing.T) {
	dir := t.TempDir()
	content := `{"n":1,"s":"a"}
{"n":2,"s":"b"}

{"n":3,"f":1.5,"l":[1,2]}
{"n":4,"nested":{"x":1}}
{"n":5}
{"n":6 oops
{"n":7}
[1,2]
{"n":8}`
	writeFile(t, filepath.Join(dir, "in.jsonl"), content)
	c := newFileCaptures()
	r := startGraph(t, sourceGraph(t, `{"path":"in.jsonl","batch_size":3}`), c.cat, dir)
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	want := `{"n":1,"s":"a"}
{"n":2,"s":"b"}
{"n":3,"f":1.5,"l":[1,2]}
{"n":4,"nested":"{\"x\":1}"}
{"n":5}
{"n":7}
{"n":8}
`
	if got := jsonRows(c.rows.Rows()); got != want {
		t.Errorf("rows:\n%s\nwant:\n%s", got, want)
	}
	errs := c.errs.Rows()
	if len(errs) != 2 {
		t.Fatalf("got %d error rows, want 2: %v", len(errs), errs)
	}
	for i, wantLine := range []int64{7, 9} {
		line, _ := errs[i].Get("line")
		raw, _ := errs[i].Get("raw")
		reason, _ := errs[i].Get(engine.ErrorField)
		msg, _ := reason.AsString()
		node, _ := errs[i].Get(engine.ErrorNodeField)
		if !line.Equal(rows.Int(wantLine)) || raw.IsNull() || !node.Equal(rows.String("src")) || !strings.HasPrefix(msg, fmt.Sprintf("file in.jsonl line %d: ", wantLine)) {
			t.Errorf("error row %d: %v", i, errs[i])
		}
	}
	m := r.Metrics()["src"]
	if m.Progress == nil || *m.Progress != 1 {
		t.Errorf("progress: %v", m.Progress)
	}
	if got := m.Gauges["acked_offset"]; got != float64(len(content)) {
		t.Errorf("acked_offset %v, want %d", got, len(content))
	}
	if m.Errors != 2 || m.RowsOut != 7 {
		t.Errorf("metrics: %+v", m)
	}
}

func TestFileSourceCSV(t *testing.T) {
	dir := t.TempDir()
	content := "\xef\xbb\xbfid,temp,ok,note,when\r\n" +
		"a,21.5,true,plain,2024-05-01T10:00:00Z\r\n" +
		"b,,false,\"with, comma\",\n" +
		"c,19,1,\"two\nlines \"\"quoted\"\"\",2024-05-01T10:00:01.5Z\n" +
		"d,hot,true,x,\n" + // temp is not a float
		"e,1,true\n" + // too few fields
		"f,2,t,bare\"quote,\n" +
		"\n" +
		"g,3,false,last,"
	writeFile(t, filepath.Join(dir, "in.csv"), content)
	c := newFileCaptures()
	r := startGraph(t, sourceGraph(t, `{"path":"in.csv","columns":{"temp":"float","ok":"bool","when":"timestamp","id":"string"}}`), c.cat, dir)
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	want := `{"id":"a","temp":21.5,"ok":true,"note":"plain","when":"2024-05-01T10:00:00Z"}
{"id":"b","temp":null,"ok":false,"note":"with, comma","when":null}
{"id":"c","temp":19.0,"ok":true,"note":"two\nlines \"quoted\"","when":"2024-05-01T10:00:01.5Z"}
{"id":"g","temp":3.0,"ok":false,"note":"last","when":null}
`
	if got := jsonRows(c.rows.Rows()); got != want {
		t.Errorf("rows:\n%s\nwant:\n%s", got, want)
	}
	var lines []string
	for _, e := range c.errs.Rows() {
		reason, _ := e.Get(engine.ErrorField)
		s, _ := reason.AsString()
		lines = append(lines, s)
	}
	wantErrs := []string{
		`file in.csv line 6: column "temp": "hot" is not a float`,
		`file in.csv line 7: 3 fields, the header has 5`,
		`file in.csv line 8: field 4: bare " in an unquoted field`,
	}
	if strings.Join(lines, "\n") != strings.Join(wantErrs, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(wantErrs, "\n"))
	}
}

func TestFileSourceCSVAutoTypes(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.csv"), "a,b,c,d,e\n1,2.5,x,,nan\n-3,1e3,true,\" \",007\n")
	c := newFileCaptures()
	r := startGraph(t, sourceGraph(t, `{"path":"in.csv"}`), c.cat, dir)
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	want := `{"a":1,"b":2.5,"c":"x","d":null,"e":"nan"}
{"a":-3,"b":1000.0,"c":"true","d":" ","e":7}
`
	if got := jsonRows(c.rows.Rows()); got != want {
		t.Errorf("rows:\n%s\nwant:\n%s", got, want)
	}
}

func TestFileSourceMissingFile(t *testing.T) {
	c := newFileCaptures()
	js := strings.Replace(sourceGraph(t, `{"path":"nope.jsonl"}`), `"type":"source.file",`, `"type":"source.file","supervision":{"policy":"stop"},`, 1)
	r := startGraph(t, js, c.cat, t.TempDir())
	err := r.Wait()
	if err == nil || !strings.Contains(err.Error(), `node "src"`) || !strings.Contains(err.Error(), "file nope.jsonl") {
		t.Fatalf("error %v, want one naming the node and the file", err)
	}
}

// waitRows waits until the capture holds n rows.
func waitRows(t *testing.T, c *capture, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(c.Rows()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d rows; have %d: %s", n, len(c.Rows()), jsonRows(c.Rows()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFileSourceFollow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "live.jsonl")
	c := newFileCaptures()
	// The file does not exist yet: the source waits for it.
	r := startGraph(t, sourceGraph(t, `{"path":"live.jsonl","follow":true,"poll_ms":10}`), c.cat, dir)
	time.Sleep(30 * time.Millisecond)
	writeFile(t, path, `{"n":1}`+"\n"+`{"n":2}`+"\n")
	waitRows(t, &c.rows, 2)

	// A line written in two parts is read once complete.
	appendFile(t, path, `{"n":`)
	time.Sleep(40 * time.Millisecond)
	if n := len(c.rows.Rows()); n != 2 {
		t.Fatalf("a partial line was emitted: %d rows", n)
	}
	appendFile(t, path, "3}\n")
	waitRows(t, &c.rows, 3)

	// Truncation: start again from the top.
	writeFile(t, path, `{"n":4}`+"\n")
	waitRows(t, &c.rows, 4)

	// Rotation: the old file is moved away and a new one created at the path.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".1", `{"n":5}`+"\n") // the old writer's last line
	time.Sleep(30 * time.Millisecond)
	writeFile(t, path, `{"n":6}`+"\n"+`{"n":7}`+"\n")
	waitRows(t, &c.rows, 7)

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	want := "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":4}\n{\"n\":5}\n{\"n\":6}\n{\"n\":7}\n"
	if got := jsonRows(c.rows.Rows()); got != want {
		t.Errorf("rows:\n%s\nwant:\n%s", got, want)
	}
	if got := r.Metrics()["src"].Gauges["acked_offset"]; got != 16 {
		t.Errorf("acked_offset %v, want 16 (the end of the new file)", got)
	}
}

func TestOffsetAcksOutOfOrder(t *testing.T) {
	var a offsetAcks
	var mu sync.Mutex
	var seen []int64
	a.gauge = func(v int64) { mu.Lock(); seen = append(seen, v); mu.Unlock() }
	s1, s2, s3 := a.add(10), a.add(20), a.add(30)
	a.ack(s2)
	if a.offset() != 0 {
		t.Fatalf("offset %d before the first batch is acked", a.offset())
	}
	a.ack(s1)
	if a.offset() != 20 {
		t.Fatalf("offset %d, want 20", a.offset())
	}
	a.ack(s3)
	a.ack(s3) // twice: ignored
	if a.offset() != 30 || fmt.Sprint(seen) != "[20 30]" {
		t.Fatalf("offset %d, gauges %v", a.offset(), seen)
	}
}

func TestSplitCSV(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  string
	}{
		{in: "a,b,c", want: "[a b c]"},
		{in: "a,,", want: "[a  ]"},
		{in: `"a,b","c""d",e`, want: `[a,b c"d e]`},
		{in: `"open`, err: errUnterminated.Error()},
		{in: `"a"x,b`, err: `field 1: 'x' after a quoted field`},
		{in: `a"b`, err: `field 1: bare " in an unquoted field`},
	} {
		got, err := splitCSV(tc.in, ',')
		switch {
		case tc.err != "":
			if err == nil || err.Error() != tc.err {
				t.Errorf("splitCSV(%q): error %v, want %q", tc.in, err, tc.err)
			}
		case err != nil || fmt.Sprint(got) != tc.want:
			t.Errorf("splitCSV(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

// TestFileSourceLongLinesAndCRLF reads lines longer than the read buffer and CRLF line ends.
func TestFileSourceLongLinesAndCRLF(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", 300<<10)
	writeFile(t, filepath.Join(dir, "in.jsonl"), `{"s":"`+long+`"}`+"\r\n"+`{"n":2}`+"\r\n"+`{"s":"`+long+`"`)
	c := newFileCaptures()
	r := startGraph(t, sourceGraph(t, `{"path":"in.jsonl"}`), c.cat, dir)
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	got := c.rows.Rows()
	if len(got) != 2 {
		t.Fatalf("got %d rows", len(got))
	}
	if s, _ := got[0].Get("s"); !s.Equal(rows.String(long)) {
		t.Errorf("long line: %d bytes", len(s.String()))
	}
	errs := c.errs.Rows()
	if len(errs) != 1 {
		t.Fatalf("got %d errors, want the unterminated last line", len(errs))
	}
	raw, _ := errs[0].Get("raw")
	if s, _ := raw.AsString(); len(s) > maxRaw+4 {
		t.Errorf("raw text of %d bytes is not bounded", len(s))
	}
}

// TestFileSourceFollowCSV follows a CSV file: the header is read once, and again after a
// truncation.
func TestFileSourceFollowCSV(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "live.csv")
	writeFile(t, path, "a,b\n1,x\n")
	c := newFileCaptures()
	r := startGraph(t, sourceGraph(t, `{"path":"live.csv","follow":true,"poll_ms":10}`), c.cat, dir)
	waitRows(t, &c.rows, 1)
	appendFile(t, path, "2,\"multi\n")
	time.Sleep(40 * time.Millisecond)
	appendFile(t, path, "line\"\n")
	waitRows(t, &c.rows, 2)
	writeFile(t, path, "c\n3\n")
	waitRows(t, &c.rows, 3)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	want := "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"multi\\nline\"}\n{\"c\":3}\n"
	if got := jsonRows(c.rows.Rows()); got != want {
		t.Errorf("rows:\n%s\nwant:\n%s", got, want)
	}
	if errs := c.errs.Rows(); len(errs) > 0 {
		t.Errorf("errors: %v", errs)
	}
}

// TestFileSourceAckedOffsetNotInsideRecord checks that while a quoted CSV field is still open
// at the end of a followed file, the acknowledged offset stays at the start of that record.
func TestFileSourceAckedOffsetNotInsideRecord(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "live.csv")
	writeFile(t, path, "a\n1\n\"x\n")
	c := newFileCaptures()
	r := startGraph(t, sourceGraph(t, `{"path":"live.csv","follow":true,"poll_ms":10}`), c.cat, dir)
	acked := func(want float64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for r.Metrics()["src"].Gauges["acked_offset"] != want {
			if time.Now().After(deadline) {
				t.Fatalf("acked_offset %v, want %v", r.Metrics()["src"].Gauges["acked_offset"], want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitRows(t, &c.rows, 1)
	acked(4) // "a\n1\n": not past the open record
	appendFile(t, path, "y\"\n")
	waitRows(t, &c.rows, 2)
	acked(10)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
