package wasmhost_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/engine/wasmhost"
	examples "github.com/atoll-studio/atoll/internal/wasmexamples"
)

var (
	rtOnce sync.Once
	rt     *wasmhost.Runtime
	rtErr  error
)

// runtimeForTest returns one runtime shared by the tests (calibrated like a real one).
func runtimeForTest(t testing.TB) *wasmhost.Runtime {
	t.Helper()
	rtOnce.Do(func() {
		// The user's compilation cache: the race-detector run after the plain one (make test)
		// finds the Go guests compiled already.
		rt, rtErr = wasmhost.NewRuntime(context.Background(), wasmhost.Config{})
	})
	if rtErr != nil {
		t.Fatal(rtErr)
	}
	return rt
}

// load loads a built example. Tests that are not about deadlines get a generous one: they run
// under -race on machines shared with other builds.
func load(t testing.TB, name string, lim wasmhost.Limits) *wasmhost.Module {
	t.Helper()
	if lim.MaxCallMS == 0 {
		lim.MaxCallMS = 20000
	}
	m, err := runtimeForTest(t).Load(context.Background(), examples.Bytes(t, name), lim)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return m
}

func newFunction(t testing.TB, name string, lim wasmhost.Limits, cfg wasmhost.FunctionConfig) *wasmhost.Function {
	t.Helper()
	f, err := load(t, name, lim).NewFunction(cfg)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// refMoment is an independent native implementation of the moment function, for checking
// the guests row by row.
func refMoment(r rows.Row) (rows.Row, string) {
	v, ok := r.Get("creation_timestamp")
	if !ok {
		return nil, "creation_timestamp: missing"
	}
	ts, ok := v.AsInt()
	if !ok {
		return nil, "creation_timestamp: want int"
	}
	t := time.Unix(ts, 0).UTC()
	m := "day" // REEF: (0, 0) midnight, (12, 0) midday, h <= 8 || h >= 20 night
	switch h, min := t.Hour(), t.Minute(); {
	case h == 0 && min == 0:
		m = "midnight"
	case h == 12 && min == 0:
		m = "midday"
	case h <= 8 || h >= 20:
		m = "night"
	}
	out := r.Clone()
	out.Set("moment", rows.String(m))
	return out, ""
}

// momentRows covers every hour, negative times, odd fields and failing rows.
func momentRows() *rows.Batch {
	b := &rows.Batch{}
	for i := int64(-30); i < 200; i++ {
		ts := i*3600 + i*37%3600
		r := rows.Row{
			{Name: "id", Value: rows.Int(i)},
			{Name: "creation_timestamp", Value: rows.Int(ts)},
			{Name: "site", Value: rows.String(fmt.Sprintf("reef-%d", i%3))},
		}
		switch i % 17 {
		case 3:
			r = append(r, rows.Field{Name: "frame", Value: rows.Float32s([]float32{1.5, float32(i), -2})})
		case 5:
			r = append(r, rows.Field{Name: "moment", Value: rows.String("stale")})
		case 7:
			r.Delete("creation_timestamp")
		case 11:
			r.Set("creation_timestamp", rows.String("yesterday"))
		case 13:
			r = append(r, rows.Field{Name: "tags", Value: rows.List([]rows.Value{rows.Null(), rows.Bool(true), rows.Float32s([]float32{3})})})
		}
		b.Rows = append(b.Rows, r)
	}
	return b
}

func checkMoment(t *testing.T, in *rows.Batch, res wasmhost.Result) {
	t.Helper()
	var wantOut []rows.Row
	var wantFail []string
	for _, r := range in.Rows {
		out, reason := refMoment(r)
		if reason != "" {
			wantFail = append(wantFail, reason)
			continue
		}
		wantOut = append(wantOut, out)
	}
	if len(res.Out.Rows) != len(wantOut) {
		t.Fatalf("got %d output rows, want %d", len(res.Out.Rows), len(wantOut))
	}
	for i := range wantOut {
		if !res.Out.Rows[i].Equal(wantOut[i]) {
			t.Fatalf("row %d:\n got %v\nwant %v", i, res.Out.Rows[i], wantOut[i])
		}
	}
	if len(res.Failed) != len(wantFail) {
		t.Fatalf("got %d failed rows, want %d", len(res.Failed), len(wantFail))
	}
	for i, f := range res.Failed {
		if !strings.HasPrefix(f.Reason, wantFail[i]) {
			t.Errorf("failed row %d: reason %q, want %q", i, f.Reason, wantFail[i])
		}
	}
}

var momentGuests = []string{"go-moment", "c-moment", "rust-moment"}

func TestMomentGuestsMatchNative(t *testing.T) {
	in := momentRows()
	for _, name := range momentGuests {
		for _, metering := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/metering=%v", name, metering), func(t *testing.T) {
				f := newFunction(t, name, wasmhost.Limits{NoMetering: !metering}, wasmhost.FunctionConfig{})
				for round := 0; round < 3; round++ { // buffers are reused across batches
					res, err := f.Process(t.Context(), in)
					if err != nil {
						t.Fatal(err)
					}
					checkMoment(t, in, res)
					if metering && res.Fuel <= 0 {
						t.Errorf("fuel used %d, want > 0", res.Fuel)
					}
				}
				// The empty batch and a batch of one.
				for _, b := range []*rows.Batch{{}, {Rows: in.Rows[40:41]}} {
					res, err := f.Process(t.Context(), b)
					if err != nil {
						t.Fatal(err)
					}
					checkMoment(t, b, res)
				}
			})
		}
	}
}

func TestMisbehavingGuestsAreContained(t *testing.T) {
	in := &rows.Batch{Rows: momentRows().Rows[:5]}
	cases := []struct {
		module string
		lim    wasmhost.Limits
		reason string
	}{
		{"bad-loop", wasmhost.Limits{MaxCallMS: 200}, "call "},
		{"bad-cloop", wasmhost.Limits{MaxCallMS: 200}, "call "},
		{"bad-sleep", wasmhost.Limits{MaxCallMS: 200}, "call exceeded 10 × max_call_ms (200 ms) of wall time while using less CPU time"},
		{"bad-hog", wasmhost.Limits{MemoryPages: 256, MaxCallMS: 20000}, "out of memory"},
		{"bad-trap", wasmhost.Limits{}, "guest trapped: wasm error: unreachable"},
		{"bad-panic", wasmhost.Limits{}, "panic: boom: the guest lost its mind"},
		{"bad-wildptr", wasmhost.Limits{}, "out-of-bounds output"},
	}
	good := newFunction(t, "go-moment", wasmhost.Limits{}, wasmhost.FunctionConfig{})
	for _, c := range cases {
		t.Run(c.module, func(t *testing.T) {
			var logs []string
			var mu sync.Mutex
			f := newFunction(t, c.module, c.lim, wasmhost.FunctionConfig{InstanceConfig: wasmhost.InstanceConfig{
				Log: func(level, msg string) { mu.Lock(); logs = append(logs, level+": "+msg); mu.Unlock() },
			}})
			for round := 1; round <= 2; round++ {
				start := time.Now()
				res, err := f.Process(t.Context(), in)
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				if el := time.Since(start); el > time.Minute {
					t.Errorf("round %d took %v", round, el)
				}
				if len(res.Out.Rows) != 0 || len(res.Failed) != len(in.Rows) {
					t.Fatalf("round %d: %d out, %d failed; want every row failed", round, len(res.Out.Rows), len(res.Failed))
				}
				for i, fl := range res.Failed {
					if !strings.Contains(fl.Reason, c.reason) {
						t.Fatalf("round %d row %d: reason %q, want it to contain %q", round, i, fl.Reason, c.reason)
					}
					if !fl.Row.Equal(in.Rows[i]) {
						t.Fatalf("round %d row %d: failed row %v, want the input row", round, i, fl.Row)
					}
				}
				t.Logf("round %d: %v: %s", round, time.Since(start), res.Failed[0].Reason)
				if st := f.Stats(); st.Restarts != int64(round) {
					t.Errorf("round %d: %d restarts", round, st.Restarts)
				}
				// The host goes on: another function's next batch is fine.
				ok, err := good.Process(t.Context(), in)
				if err != nil {
					t.Fatal(err)
				}
				checkMoment(t, in, ok)
			}
		})
	}
}

func TestValidation(t *testing.T) {
	r := runtimeForTest(t)
	cases := []struct {
		name string
		wasm []byte
		want []string
		init bool // the problem shows when the first instance starts
	}{
		{"not wasm", []byte("#!/bin/sh\necho hi\n"), []string{"not a WebAssembly module"}, false},
		{"missing exports", spinModule, []string{`missing export "memory"`, `missing export "atoll_alloc"`, `missing export "atoll_process"`, `missing export "atoll_abi_version"`}, false},
		{"forbidden imports", examples.Bytes(t, "bad-import"), []string{"forbidden import wasi_snapshot_preview1.sock_accept", `forbidden import env.open_network (module "env" is not granted)`}, false},
		{"wrong ABI version", examples.Bytes(t, "bad-abi"), []string{"atoll_abi_version returned 2, this host runs version 1"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := r.Load(t.Context(), c.wasm, wasmhost.Limits{})
			if err == nil && c.init {
				var f *wasmhost.Function
				f, err = m.NewFunction(wasmhost.FunctionConfig{})
				if f != nil {
					f.Close()
				}
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// spinModule is a valid module with none of the ABI's exports.
var spinModule = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
	0x03, 0x02, 0x01, 0x00,
	0x07, 0x08, 0x01, 0x04, 's', 'p', 'i', 'n', 0x00, 0x00,
	0x0A, 0x04, 0x01, 0x02, 0x00, 0x0B,
}

func TestInitConfigAndLogs(t *testing.T) {
	var logs []string
	var mu sync.Mutex
	logf := func(level, msg string) { mu.Lock(); logs = append(logs, level+": "+msg); mu.Unlock() }
	f := newFunction(t, "go-filter", wasmhost.Limits{}, wasmhost.FunctionConfig{InstanceConfig: wasmhost.InstanceConfig{
		Config: []byte(`{"field": "temp", "min": 20}`),
		Log:    logf,
	}, Instances: 2})
	in := &rows.Batch{Rows: []rows.Row{
		{{Name: "temp", Value: rows.Float(19.5)}},
		{{Name: "temp", Value: rows.Int(25)}},
		{{Name: "other", Value: rows.Int(25)}},
		{{Name: "temp", Value: rows.String("warm")}},
	}}
	res, err := f.Process(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Out.Rows) != 1 || !res.Out.Rows[0].Equal(in.Rows[1]) {
		t.Errorf("out %v", res.Out.Rows)
	}
	if len(res.Failed) != 2 || res.Failed[0].Reason != "temp: missing" || res.Failed[1].Reason != "temp: want a number, got string" {
		t.Errorf("failed %+v", res.Failed)
	}
	mu.Lock()
	joined := strings.Join(logs, "\n")
	mu.Unlock()
	if !strings.Contains(joined, "info: filter: keep temp >= 20") {
		t.Errorf("logs %q", joined)
	}

	_, err = load(t, "go-filter", wasmhost.Limits{}).NewFunction(wasmhost.FunctionConfig{InstanceConfig: wasmhost.InstanceConfig{Config: []byte(`{"min": "high"}`)}})
	if err == nil || !strings.Contains(err.Error(), "function init failed") || !strings.Contains(err.Error(), "filter config") {
		t.Errorf("bad config: %v", err)
	}
}

func TestEnrich(t *testing.T) {
	f := newFunction(t, "go-enrich", wasmhost.Limits{}, wasmhost.FunctionConfig{InstanceConfig: wasmhost.InstanceConfig{
		Config: []byte(`{"key": "device", "table": {"d1": {"site": "reef-north", "depth_m": 12}}}`),
	}})
	in := &rows.Batch{Rows: []rows.Row{
		{{Name: "device", Value: rows.String("d1")}, {Name: "payload", Value: rows.String(`{"t": 21.5, "ok": true}`)}},
		{{Name: "device", Value: rows.String("d9")}},
	}}
	res, err := f.Process(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := rows.Row{
		{Name: "device", Value: rows.String("d1")}, {Name: "payload", Value: rows.String(`{"t": 21.5, "ok": true}`)},
		{Name: "depth_m", Value: rows.Int(12)}, {Name: "site", Value: rows.String("reef-north")},
		{Name: "payload.ok", Value: rows.Bool(true)}, {Name: "payload.t", Value: rows.Float(21.5)},
	}
	if len(res.Out.Rows) != 1 || !res.Out.Rows[0].Equal(want) {
		t.Errorf("out %v, want %v", res.Out.Rows, want)
	}
	if len(res.Failed) != 1 || res.Failed[0].Reason != `device "d9": not in the lookup table` {
		t.Errorf("failed %+v", res.Failed)
	}
}

func TestConcurrentInstances(t *testing.T) {
	f := newFunction(t, "c-moment", wasmhost.Limits{}, wasmhost.FunctionConfig{Instances: 3})
	in := momentRows()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 10; k++ {
				res, err := f.Process(context.Background(), in)
				if err != nil {
					errs <- err
					return
				}
				if len(res.Out.Rows)+len(res.Failed) != len(in.Rows) {
					errs <- errors.New("row count")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestSandbox(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := &rows.Batch{Rows: []rows.Row{{{Name: "n", Value: rows.Int(1)}}}}
	for _, c := range []struct {
		allow string
		want  rows.Row
	}{
		{"", rows.Row{
			{Name: "n", Value: rows.Int(1)}, {Name: "read_passwd", Value: rows.Bool(false)},
			{Name: "list_root", Value: rows.Int(0)}, {Name: "hello", Value: rows.String("")},
			{Name: "create_file", Value: rows.Bool(false)}, {Name: "env", Value: rows.Int(0)},
			{Name: "args", Value: rows.Int(0)},
		}},
		{dir, rows.Row{
			{Name: "n", Value: rows.Int(1)}, {Name: "read_passwd", Value: rows.Bool(false)},
			{Name: "list_root", Value: rows.Int(1)}, {Name: "hello", Value: rows.String("from the host")},
			{Name: "create_file", Value: rows.Bool(false)}, {Name: "env", Value: rows.Int(0)},
			{Name: "args", Value: rows.Int(0)},
		}},
	} {
		var mu sync.Mutex
		var logs []string
		f := newFunction(t, "bad-snoop", wasmhost.Limits{}, wasmhost.FunctionConfig{InstanceConfig: wasmhost.InstanceConfig{
			AllowDir: c.allow,
			Log:      func(level, msg string) { mu.Lock(); logs = append(logs, level+": "+msg); mu.Unlock() },
		}})
		res, err := f.Process(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Out.Rows) != 1 || !res.Out.Rows[0].Equal(c.want) {
			t.Errorf("allow_dir %q: got %v, want %v", c.allow, res.Out.Rows, c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "written.txt")); err == nil {
			t.Errorf("allow_dir %q: the guest wrote into the host directory", c.allow)
		}
		mu.Lock()
		joined := strings.Join(logs, "\n")
		mu.Unlock()
		if !strings.Contains(joined, "info: snoop: stdout line") || !strings.Contains(joined, "warn: snoop: stderr line") {
			t.Errorf("stdout/stderr not in the log: %q", joined)
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if rt != nil {
		rt.Close(context.Background())
	}
	os.Exit(code)
}

// TestInstrumentedModuleCache: a second runtime on the same cache directory reads the
// instrumented module back instead of rewriting it, with the same metering, and a damaged entry
// is rewritten, not trusted.
func TestInstrumentedModuleCache(t *testing.T) {
	dir := t.TempDir()
	in := momentRows()
	start := func() (*wasmhost.Module, func()) {
		r, err := wasmhost.NewRuntime(context.Background(), wasmhost.Config{CacheDir: dir, FuelPerMS: 1e6})
		if err != nil {
			t.Fatal(err)
		}
		m, err := r.Load(context.Background(), examples.Bytes(t, "c-moment"), wasmhost.Limits{MaxCallMS: 20000})
		if err != nil {
			t.Fatal(err)
		}
		f, err := m.NewFunction(wasmhost.FunctionConfig{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := f.Process(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		checkMoment(t, in, res)
		if res.Fuel <= 0 {
			t.Errorf("fuel used %d, want > 0", res.Fuel)
		}
		return m, func() { f.Close(); r.Close(context.Background()) }
	}
	first, done := start()
	done()
	entries, _ := filepath.Glob(filepath.Join(dir, "atoll-meter", "*.wasm"))
	if len(entries) != 1 {
		t.Fatalf("instrumented modules cached: %v, want one", entries)
	}
	st, _ := os.Stat(entries[0])
	second, done := start()
	done()
	if second.Sites() != first.Sites() || second.Sites() == 0 {
		t.Errorf("metering sites: %d from the cache, %d rewritten", second.Sites(), first.Sites())
	}
	if st2, _ := os.Stat(entries[0]); !st2.ModTime().Equal(st.ModTime()) {
		t.Error("the cached entry was rewritten although it was intact")
	}
	// Truncate the entry (a crash while another process wrote it would leave no entry, but a
	// disk can lose one): the next start rewrites it and still runs.
	full, _ := os.ReadFile(entries[0])
	os.WriteFile(entries[0], full[:len(full)/2], 0o600)
	third, done := start()
	done()
	if third.Sites() != first.Sites() {
		t.Errorf("metering sites after a damaged entry: %d, want %d", third.Sites(), first.Sites())
	}
	if b, _ := os.ReadFile(entries[0]); !bytes.Equal(b, full) {
		t.Errorf("the damaged entry was not rewritten (%d bytes, want %d)", len(b), len(full))
	}
}
