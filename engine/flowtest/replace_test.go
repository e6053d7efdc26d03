package flowtest_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/flowtest"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/nodes"
	_ "github.com/atoll-studio/atoll/nodes/all"
)

// fileAssets resolves asset references as file paths, for source.wav.
type fileAssets struct{}

func (fileAssets) Asset(ref string) ([]byte, error) { return os.ReadFile(ref) }

func env(t *testing.T) flowtest.Env {
	return flowtest.Env{Catalog: nodes.New(), Assets: fileAssets{}, Dir: t.TempDir(), Headless: true}
}

// pipe is source → map (adds "k") → sink.file, the source of type typ with config cfg.
func pipe(typ, cfg string) *graph.Document {
	return &graph.Document{Version: 1, ID: "p", Name: "p",
		Nodes: []graph.Node{
			{ID: "src", Type: typ, Config: json.RawMessage(cfg)},
			{ID: "map", Type: "transform.map", Config: json.RawMessage(`{"set":{"k":"1"}}`)},
			{ID: "out", Type: "sink.file", Config: json.RawMessage(`{"path":"/nonexistent/never-written.jsonl"}`)},
		},
		Edges: []graph.Edge{
			{From: graph.Endpoint{Node: "src", Port: "out"}, To: graph.Endpoint{Node: "map", Port: "in"}},
			{From: graph.Endpoint{Node: "map", Port: "out"}, To: graph.Endpoint{Node: "out", Port: "in"}},
		}}
}

func mustRun(t *testing.T, doc *graph.Document, test string, e flowtest.Env) *flowtest.Result {
	t.Helper()
	tt, err := flowtest.ParseTest([]byte(test))
	if err != nil {
		t.Fatal(err)
	}
	res, err := flowtest.Run(t.Context(), doc, tt, e)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestEverySourceTypeIsReplaced replaces a node of every source type in the catalog (whatever
// its config: the real source never runs, so an MQTT source needs no broker) by inline rows.
func TestEverySourceTypeIsReplaced(t *testing.T) {
	cat := nodes.New()
	n := 0
	for _, spec := range cat.Specs() {
		if len(spec.Inputs) > 0 {
			continue
		}
		n++
		t.Run(spec.ID, func(t *testing.T) {
			cfg := `{}`
			if len(spec.Examples) > 0 {
				cfg = string(spec.Examples[0].Config)
			}
			doc := pipe(spec.ID, cfg)
			doc.Edges[0].From.Port = spec.Outputs[0].Name
			res := mustRun(t, doc, `{"name":"x","sources":{"src":{"rows":[{"a":1},{"a":2,"s":"x"}],"batch_size":1}},
				"expect":{"out":{"rows":[{"a":1,"k":1},{"a":2,"s":"x","k":1}]}},
				"metrics":{"src":{"rows_out":2},"out":{"rows_in":2}}}`, env(t))
			if !res.Passed {
				t.Fatalf("%s: %s", spec.ID, res.First())
			}
		})
	}
	if n < 3 {
		t.Fatalf("only %d source types in the catalog", n)
	}
}

func TestSourceFromFiles(t *testing.T) {
	e := env(t)
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(e.Dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("in.jsonl", `{"a":1,"t":"2024-05-01T00:00:00Z"}`+"\n\n"+`{"a":2,"t":"2024-05-01T00:00:01Z"}`+"\n")
	write("in.csv", "station,temp\nnorth,12.5\nsouth,7\n")
	write("want.jsonl", `{"a":1,"t":"2024-05-01T00:00:00Z","k":1}`+"\n"+`{"a":2,"t":"2024-05-01T00:00:01Z","k":1}`+"\n")
	wav := filepath.Join(e.Dir, "tone.wav")
	writeWAV(t, wav, 8000, 1000)
	doc := pipe("source.generator", `{"count":5}`)
	for _, c := range []struct{ name, test string }{
		{"jsonl with types", `{"name":"j","sources":{"src":{"file":"in.jsonl","types":{"t":"timestamp"}}},
			"expect":{"out":{"file":"want.jsonl"}, "map.out":{"count":2,"tally":{"a":{"1":1,"2":1}}}}}`},
		{"csv typed by columns", `{"name":"c","sources":{"src":{"file":"in.csv","columns":{"temp":"float"}}},
			"expect":{"out":{"rows":[{"station":"north","temp":12.5,"k":1},{"station":"south","temp":7.0,"k":1}]}}}`},
		{"wav through source.wav", `{"name":"w","sources":{"src":{"file":"tone.wav"}},
			"expect":{"out":{"count":1,"rows":[{"rate":8000,"t_start":0,"t_end":0.125,"k":1}],"fields":{"samples":"present"}}}}`},
		{"a sequence", `{"name":"s","sources":{"src":{"sequence":{"field":"n","from":10,"count":3,"step":5}}},
			"expect":{"out":{"rows":[{"n":10,"k":1},{"n":15,"k":1},{"n":20,"k":1}]}}}`},
		{"the real source kept", `{"name":"k","sources":{"src":{"keep":true}},"config":{"src":{"count":3,"rate":0}},
			"expect":{"out":{"rows":[{"n":0,"k":1},{"n":1,"k":1},{"n":2,"k":1}]}}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if res := mustRun(t, doc, c.test, e); !res.Passed {
				t.Fatalf("%s; got %s", res.First(), gotRows(res))
			}
		})
	}
}

func gotRows(r *flowtest.Result) string {
	var b strings.Builder
	for _, tg := range r.Targets {
		fmt.Fprintf(&b, "%s: ", tg.Label)
		for _, g := range tg.Got[:min(3, len(tg.Got))] {
			b.Write(g)
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// writeWAV writes a mono 16-bit PCM WAV of n samples.
func writeWAV(t *testing.T, path string, rate, n int) {
	t.Helper()
	data := make([]byte, 44+2*n)
	copy(data, "RIFF")
	binary.LittleEndian.PutUint32(data[4:], uint32(36+2*n))
	copy(data[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(data[16:], 16)
	binary.LittleEndian.PutUint16(data[20:], 1)
	binary.LittleEndian.PutUint16(data[22:], 1)
	binary.LittleEndian.PutUint32(data[24:], uint32(rate))
	binary.LittleEndian.PutUint32(data[28:], uint32(rate*2))
	binary.LittleEndian.PutUint16(data[32:], 2)
	binary.LittleEndian.PutUint16(data[34:], 16)
	copy(data[36:], "data")
	binary.LittleEndian.PutUint32(data[40:], uint32(2*n))
	for i := range n {
		binary.LittleEndian.PutUint16(data[44+2*i:], uint16(int16(i*7)))
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestErrorsPortAndMetrics(t *testing.T) {
	doc := pipe("source.generator", `{}`)
	doc.Nodes[1].Config = json.RawMessage(`{"set":{"k":"10 / a"}}`)
	res := mustRun(t, doc, `{"name":"e","sources":{"src":{"rows":[{"a":2},{"a":"x"}]}},
		"expect":{"out":{"rows":[{"a":2,"k":5}],"fields":{"k":{"tolerance":1e-9}}},
		          "map.errors":{"rows":[{"a":"x","_error":"","_node":"map"}],"fields":{"_error":{"regex":"a"}}}},
		"metrics":{"map":{"rows_in":2,"rows_out":1,"errors":1}}}`, env(t))
	if !res.Passed {
		t.Fatalf("%s; got %s", res.First(), gotRows(res))
	}
	res = mustRun(t, doc, `{"name":"e","sources":{"src":{"rows":[{"a":2},{"a":"x"}]}},
		"metrics":{"map":{"rows_in":2,"rows_out":2,"errors":0}}}`, env(t))
	if res.Passed || res.First() != `node "map" rows_out: 1, want 2` || len(res.Diffs) != 2 {
		t.Fatalf("metrics: %+v", res.Diffs)
	}
}

func TestProblemsNameTheirPlace(t *testing.T) {
	doc := pipe("source.generator", `{}`)
	for _, c := range []struct{ test, err string }{
		{`{"name":"a","sources":{}}`, `source "src": the test gives nothing for it`},
		{`{"name":"a","sources":{"src":{"keep":true},"map":{"keep":true}}}`, `source "map": node "map" (transform.map) is not a source`},
		{`{"name":"a","sources":{"nope":{"keep":true}}}`, `source "nope": no node "nope"`},
		{`{"name":"a","sources":{"src":{"keep":true}},"expect":{"map":{}}}`, `expect "map": node "map" is not a sink`},
		{`{"name":"a","sources":{"src":{"keep":true}},"expect":{"map.nope":{}}}`, `expect "map.nope": node "map" has no output port "nope"`},
		{`{"name":"a","sources":{"src":{"file":"missing.jsonl"}}}`, `missing.jsonl`},
		{`{"name":"a","sources":{"src":{"rows":[{"t":"yesterday"}],"types":{"t":"timestamp"}}}}`, `source "src": row 1: field "t": timestamp`},
		{`{"name":"a","config":{"ghost":{}},"sources":{"src":{"keep":true}}}`, `config: no node "ghost"`},
	} {
		res := mustRun(t, doc, c.test, env(t))
		if res.Passed || !strings.Contains(res.Error, c.err) {
			t.Errorf("%s: error %q, want one containing %q", c.test, res.Error, c.err)
		}
	}
}

func TestRecordMakesAPassingTest(t *testing.T) {
	doc := pipe("source.generator", `{"count":0,"rate":0,"batch_size":7}`) // endless: Record stops it
	e := env(t)
	tt, err := flowtest.Record(t.Context(), doc, flowtest.RecordOptions{Name: "rec", MaxRows: 25, Targets: []string{"out", "map.out"}}, e)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tt.Sources["src"].Rows); n != 25 {
		t.Fatalf("recorded %d source rows, want 25", n)
	}
	if n := len(tt.Expect["out"].Rows); n != 25 || string(tt.Expect["out"].Rows[24]) != `{"n":24,"k":1}` {
		t.Fatalf("expected rows: %d, last %s", n, tt.Expect["out"].Rows[n-1])
	}
	if c := tt.Metrics["map"]; c.RowsIn == nil || *c.RowsIn != 25 {
		t.Fatalf("metrics %+v", tt.Metrics)
	}
	b, _ := json.Marshal(tt)
	back, err := flowtest.ParseTest(b)
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := flowtest.Run(t.Context(), doc, back, e); !res.Passed {
		t.Fatalf("the recorded test fails on its own graph: %s", res.First())
	}
	doc.Nodes[1].Config = json.RawMessage(`{"set":{"k":"2"}}`)
	res, _ := flowtest.Run(t.Context(), doc, back, e)
	if res.Passed || res.First() != `edge "map.out" row 1 field "k": want 1, got 2` {
		t.Fatalf("after a change: %q", res.First())
	}
	_ = engine.ErrorsPort
}
