package function_test

import (
	"fmt"
	"github.com/atoll-studio/atoll/internal/testnodes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/examples/functions/go/moment/momentfn"
	wasmexamples "github.com/atoll-studio/atoll/internal/wasmexamples"
	"github.com/atoll-studio/atoll/nodes"
	_ "github.com/atoll-studio/atoll/nodes/core"
	_ "github.com/atoll-studio/atoll/nodes/function"
)

// capture is the shared test sink.
type capture = testnodes.Capture

func catalog(out, errs *capture) *engine.Catalog {
	cat := nodes.New()
	for id, c := range map[string]*capture{"test.out": out, "test.errors": errs} {
		testnodes.Register(cat, id, c)
	}
	return cat
}

// dirAssets resolves asset references as paths relative to the repository root.
type dirAssets string

func (d dirAssets) Asset(ref string) ([]byte, error) {
	if !filepath.IsAbs(ref) {
		ref = filepath.Join(string(d), ref)
	}
	return os.ReadFile(ref)
}

func build(t *testing.T, js string, out, errs *capture) (*engine.Run, error) {
	t.Helper()
	wasmexamples.Path(t, "go-moment") // builds the examples (or fails naming the make target)
	doc, err := graph.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return engine.Build(doc, engine.Options{Catalog: catalog(out, errs), Assets: dirAssets(wasmexamples.Root())})
}

func run(t *testing.T, js string) (out, errs []rows.Row, r *engine.Run) {
	t.Helper()
	var o, e capture
	r, err := build(t, js, &o, &e)
	if err != nil {
		t.Fatal(err)
	}
	testnodes.RunToEnd(t, r, 60*time.Second)
	return o.Rows(), e.Rows(), r
}

func pipeline(fn string) string {
	return fmt.Sprintf(`{"version":1,"id":"g","name":"g","nodes":[
		{"id":"gen","type":"source.generator","config":{"count":500,"rate":0,"batch_size":64}},
		{"id":"ts","type":"transform.map","config":{"set":{"creation_timestamp":"n * 3599 - 7200"}}},
		{"id":"fn","type":"function.wasm","config":%s},
		{"id":"out","type":"test.out"},
		{"id":"err","type":"test.errors"}],
		"edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"ts","port":"in"}},
		{"from":{"node":"ts","port":"out"},"to":{"node":"fn","port":"in"}},
		{"from":{"node":"fn","port":"out"},"to":{"node":"out","port":"in"}},
		{"from":{"node":"fn","port":"errors"},"to":{"node":"err","port":"in"}}]}`, fn)
}

func TestMomentPipeline(t *testing.T) {
	for _, guest := range []string{"go-moment", "c-moment", "rust-moment"} {
		t.Run(guest, func(t *testing.T) {
			// A generous deadline: this test is about results, and runs under -race on busy machines.
			out, errs, r := run(t, pipeline(fmt.Sprintf(`{"module":"examples/functions/build/%s.wasm","instances":2,"max_call_ms":20000}`, guest)))
			if len(errs) != 0 {
				t.Fatalf("%d error rows, first %v", len(errs), errs[0])
			}
			if len(out) != 500 {
				t.Fatalf("got %d rows, want 500", len(out))
			}
			seen := map[int64]bool{}
			for _, row := range out {
				n, _ := row.Get("n")
				i, _ := n.AsInt()
				seen[i] = true
				ts, _ := row.Get("creation_timestamp")
				sec, _ := ts.AsInt()
				m, _ := row.Get("moment")
				if want := rows.String(momentfn.Moment(sec)); !m.Equal(want) || sec != i*3599-7200 {
					t.Fatalf("row %v: moment %v, want %v", row, m, want)
				}
			}
			if len(seen) != 500 {
				t.Fatalf("%d distinct rows", len(seen))
			}
			if g := r.Metrics()["fn"].Gauges["fuel"]; g <= 0 {
				t.Errorf("fuel gauge %v", g)
			}
		})
	}
}

func TestInfiniteLoopGoesToErrors(t *testing.T) {
	start := time.Now()
	out, errs, r := run(t, pipeline(`{"module":"examples/functions/build/bad-cloop.wasm","max_call_ms":50}`))
	if len(out) != 0 || len(errs) != 500 {
		t.Fatalf("%d out, %d errors; want every row in errors", len(out), len(errs))
	}
	reason, _ := errs[0].Get(engine.ErrorField)
	if s, _ := reason.AsString(); !strings.Contains(s, "max_call_ms (50 ms)") && !strings.Contains(s, "out of fuel") {
		t.Fatalf("reason %q", s)
	}
	if g := r.Metrics()["fn"].Gauges["restarts"]; g < 1 {
		t.Errorf("restarts gauge %v", g)
	}
	t.Logf("500 rows in 8 looping batches: %v", time.Since(start))
}

func TestValidationNamesTheProblem(t *testing.T) {
	dir := t.TempDir()
	notWasm := filepath.Join(dir, "notes.wasm")
	if err := os.WriteFile(notWasm, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cfg  string
		want []string
	}{
		{fmt.Sprintf(`{"module":%q}`, notWasm), []string{`node "fn"`, "not a WebAssembly module"}},
		{`{"module":"examples/functions/build/bad-import.wasm"}`, []string{`node "fn"`, "forbidden import wasi_snapshot_preview1.sock_accept", "forbidden import env.open_network"}},
		{`{"module":"examples/functions/build/bad-abi.wasm"}`, []string{`node "fn"`, "atoll_abi_version returned 2"}},
		{`{"module":"examples/functions/build/go-filter.wasm","config":{"min":"high"}}`, []string{`node "fn"`, "function init failed", "filter config"}},
		{`{"module":"examples/functions/build/missing.wasm"}`, []string{`node "fn"`, "make wasm-examples"}},
	}
	for _, c := range cases {
		var o, e capture
		_, err := build(t, pipeline(c.cfg), &o, &e)
		if err == nil {
			t.Errorf("%s: no error", c.cfg)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.cfg, err, w)
			}
		}
	}
}
