package core

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/nodes"
)

// copyGraph wires source.file → sink.file, with the sink's errors to test.errors.
func copyGraph(src, sink string) string {
	return fmt.Sprintf(`{"version":1,"id":"g","name":"g","nodes":[
		{"id":"src","type":"source.file","config":%s},
		{"id":"sink","type":"sink.file","config":%s},
		{"id":"errs","type":"test.errors"}],
		"edges":[{"from":{"node":"src","port":"out"},"to":{"node":"sink","port":"in"}},
		{"from":{"node":"sink","port":"errors"},"to":{"node":"errs","port":"in"}}]}`, src, sink)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFileSinkJSONL(t *testing.T) {
	dir := t.TempDir()
	js := `{"version":1,"id":"g","name":"g","nodes":[
		{"id":"gen","type":"source.generator","config":{"count":5,"rate":0,"batch_size":2}},
		{"id":"m","type":"transform.map","config":{"set":{"half":"n / 2","tag":"'r' + string(n)"}}},
		{"id":"sink","type":"sink.file","config":{"path":"out/sub/rows.jsonl","mode":"%s"}}],
		"edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"m","port":"in"}},
		{"from":{"node":"m","port":"out"},"to":{"node":"sink","port":"in"}}]}`
	want := `{"n":0,"half":0.0,"tag":"r0"}
{"n":1,"half":0.5,"tag":"r1"}
{"n":2,"half":1.0,"tag":"r2"}
{"n":3,"half":1.5,"tag":"r3"}
{"n":4,"half":2.0,"tag":"r4"}
`
	path := filepath.Join(dir, "out", "sub", "rows.jsonl")
	for i, tc := range []struct{ mode, want string }{
		{"truncate", want},
		{"append", want + want},
		{"truncate", want},
	} {
		r := startGraph(t, fmt.Sprintf(js, tc.mode), nodes.New(), dir)
		if err := r.Wait(); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, path); got != tc.want {
			t.Errorf("run %d (%s):\n%s\nwant:\n%s", i, tc.mode, got, tc.want)
		}
	}
}

func TestFileSinkCSV(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.jsonl"), `{"id":"a","v":1.5,"ok":true,"when":"x"}
{"id":"b","ok":false}
{"v":2,"id":"c, \"quoted\""}
{"id":"d","extra":1}
{"id":"e","v":null,"l":[1,2]}
{"id":"f","v":"NaN"}
`)
	// "l" is not in the header either: row e goes to errors too.
	c := newFileCaptures()
	r := startGraph(t, copyGraph(`{"path":"in.jsonl"}`, `{"path":"out.csv","mode":"truncate"}`), c.cat, dir)
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	want := `id,v,ok,when
a,1.5,true,x
b,,false,
"c, ""quoted""",2,,
f,NaN,,
`
	if got := readFile(t, filepath.Join(dir, "out.csv")); got != want {
		t.Errorf("csv:\n%s\nwant:\n%s", got, want)
	}
	var reasons []string
	for _, e := range c.errs.Rows() {
		v, _ := e.Get(engine.ErrorField)
		s, _ := v.AsString()
		reasons = append(reasons, s)
	}
	wantErrs := `file out.csv: field "extra" is not a column of the csv header (id,v,ok,when)
file out.csv: field "l" is not a column of the csv header (id,v,ok,when)`
	if got := strings.Join(reasons, "\n"); got != wantErrs {
		t.Errorf("errors:\n%s\nwant:\n%s", got, wantErrs)
	}

	// Appending reuses the header already in the file, whatever the new rows' field order.
	writeFile(t, filepath.Join(dir, "in2.jsonl"), `{"when":"later","id":"g"}`+"\n")
	r = startGraph(t, copyGraph(`{"path":"in2.jsonl"}`, `{"path":"out.csv"}`), c.cat, dir)
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "out.csv")); got != want+"g,,,later\n" {
		t.Errorf("appended csv:\n%s", got)
	}
}

// TestFileCSVRoundTrip reads a CSV file and writes it back unchanged.
func TestFileCSVRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := "station,temp,rain,note\nnorth,21.5,0,\"dry, windy\"\nsouth,19.0,12,\n\"east \"\"x\"\"\",-3.25,1,\"two\nlines\"\n"
	writeFile(t, filepath.Join(dir, "in.csv"), in)
	c := newFileCaptures()
	r := startGraph(t, copyGraph(`{"path":"in.csv","batch_size":1}`, `{"path":"out.csv","mode":"truncate"}`), c.cat, dir)
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "out.csv")); got != in {
		t.Errorf("round trip:\n%s\nwant:\n%s", got, in)
	}
}

func TestFileSinkNoRowsStillCreatesFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "empty.jsonl"), "")
	c := newFileCaptures()
	r := startGraph(t, copyGraph(`{"path":"empty.jsonl"}`, `{"path":"out.jsonl"}`), c.cat, dir)
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "out.jsonl")); got != "" {
		t.Errorf("got %q", got)
	}
}

func TestFileFormatErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{`{"path":"x.txt"}`, `format auto: cannot tell the format of "x.txt"`},
		{`{"path":"x.csv","delimiter":"\""}`, `delimiter "\"" must be one character`},
	} {
		_, err := engine.Build(mustGraph(t, `{"version":1,"id":"g","name":"g","nodes":[
			{"id":"gen","type":"source.generator"},
			{"id":"out","type":"sink.file","config":`+tc.cfg+`}],
			"edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"out","port":"in"}}]}`), engine.Options{Catalog: nodes.New()})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `node "out"`) {
			t.Errorf("%s: error %v, want %q on node out", tc.cfg, err, tc.want)
		}
	}
}

// TestFileJSONLRoundTrip copies a JSON-lines file through source.file and sink.file: every
// value kind of the JSON view (as the view writes it) comes out byte for byte.
func TestFileJSONLRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := `{"i":-42,"f":1.0,"g":2.5e-07,"s":"tab\tnewline\nquote\"é😀","b":true,"z":null,"l":[1,"two",[3.0]],"nan":"NaN"}
{"only":"one field"}
{}
{"big":9223372036854775807,"obj":"{\"a\":1}"}
`
	writeFile(t, filepath.Join(dir, "in.jsonl"), in)
	c := newFileCaptures()
	r := startGraph(t, copyGraph(`{"path":"in.jsonl","batch_size":2}`, `{"path":"out.jsonl","mode":"truncate"}`), c.cat, dir)
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "out.jsonl")); got != in {
		t.Errorf("round trip:\n%s\nwant:\n%s", got, in)
	}
	if errs := c.errs.Rows(); len(errs) > 0 {
		t.Errorf("errors: %v", errs)
	}
}
