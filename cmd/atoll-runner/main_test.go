package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/examples"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader in different goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type result struct {
	code           int
	stdout, stderr string
}

// start runs the command in the background; send on the returned channel to signal it.
func start(args ...string) (chan os.Signal, *syncBuffer, <-chan result) {
	sigs := make(chan os.Signal, 2)
	var stdout, stderr syncBuffer
	done := make(chan result, 1)
	go func() {
		code := runMain(args, &stdout, &stderr, sigs)
		done <- result{code, stdout.String(), stderr.String()}
	}()
	return sigs, &stderr, done
}

func runCmd(t *testing.T, args ...string) result {
	t.Helper()
	_, _, done := start(args...)
	select {
	case r := <-done:
		return r
	case <-time.After(60 * time.Second):
		t.Fatalf("atoll-runner %s did not finish", strings.Join(args, " "))
	}
	return result{}
}

// exampleDir copies the examples into a temporary directory and returns it.
func exampleDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, examples.FS); err != nil {
		t.Fatal(err)
	}
	return dir
}

func writeGraph(t *testing.T, dir, name, js string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// jsonLines checks that every stderr line is a JSON object and returns them.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

func TestVersion(t *testing.T) {
	r := runCmd(t, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "atoll-runner ") {
		t.Fatalf("%+v", r)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"run"}, {"run", "--bogus", "x.json"}, {"run", "a.json", "b.json"}} {
		if r := runCmd(t, args...); r.code != exitInvalid {
			t.Errorf("%q: exit %d, want %d", args, r.code, exitInvalid)
		}
	}
}

func TestValidate(t *testing.T) {
	dir := exampleDir(t)
	r := runCmd(t, "validate", filepath.Join(dir, "graphs", "generator_to_file.json"))
	if r.code != 0 || !strings.Contains(r.stdout, "ok (4 nodes, 3 edges)") {
		t.Fatalf("%+v", r)
	}
	bad := writeGraph(t, dir, "bad.json", `{"version":1,"id":"b","name":"b","nodes":[
		{"id":"gen","type":"source.generator","config":{"count":-1}},
		{"id":"show","type":"sink.preview"},
		{"id":"what","type":"sink.nope"}],
		"edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"show","port":"in"}}]}`)
	r = runCmd(t, "validate", bad)
	for _, want := range []string{
		`node "show": node type "sink.preview" runs only in the studio, not headless`,
		`node "what": unknown node type "sink.nope" (valid: `,
		`node "gen" config /count: `,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("validate output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.code != exitInvalid {
		t.Errorf("exit %d, want %d", r.code, exitInvalid)
	}
	r = runCmd(t, "validate", "--json", bad)
	var probs []map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &probs); err != nil || len(probs) < 3 || r.code != exitInvalid {
		t.Errorf("--json: %v %+v", err, r)
	}
}

// TestRunRefusesStudioNodes checks that run names the studio-only node and starts nothing.
func TestRunRefusesStudioNodes(t *testing.T) {
	dir := t.TempDir()
	p := writeGraph(t, dir, "g.json", `{"version":1,"id":"g","name":"g","nodes":[
		{"id":"gen","type":"source.generator"},{"id":"peek","type":"sink.preview"}],
		"edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"peek","port":"in"}}]}`)
	r := runCmd(t, "run", p)
	if r.code != exitInvalid {
		t.Fatalf("exit %d, want %d", r.code, exitInvalid)
	}
	found := false
	for _, l := range jsonLines(t, r.stderr) {
		if l["node"] == "peek" && strings.Contains(fmt.Sprint(l["msg"]), "runs only in the studio") {
			found = true
		}
	}
	if !found {
		t.Errorf("no log line names node peek:\n%s", r.stderr)
	}
}

// TestRunResolvesAgainstGraphDir runs an example from another working directory: its relative
// paths resolve against the graph file's directory.
func TestRunResolvesAgainstGraphDir(t *testing.T) {
	dir := exampleDir(t)
	r := runCmd(t, "run", filepath.Join(dir, "graphs", "csv_to_csv.json"))
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	out, err := os.ReadFile(filepath.Join(dir, "graphs", "out", "sensors_f.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "station,time,temp_c,temp_f\nnorth,") {
		t.Errorf("output:\n%s", out)
	}
	lines := jsonLines(t, r.stderr)
	if last := lines[len(lines)-1]; last["msg"] != "run finished" {
		t.Errorf("last log line: %v", last)
	}
}

var rowPattern = regexp.MustCompile(`^\{"n":(\d+)\}$`)

// checkContiguous checks that a drained output holds n = 0, 1, 2, ... with no gap or torn line.
func checkContiguous(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("%s is empty or ends in a torn line", path)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for i, l := range lines {
		if m := rowPattern.FindStringSubmatch(l); m == nil || m[1] != fmt.Sprint(i) {
			t.Fatalf("%s line %d: %q, want n = %d", path, i+1, l, i)
		}
	}
	return len(lines)
}

const endless = `{"version":1,"id":"endless","name":"endless","nodes":[
	{"id":"gen","type":"source.generator","config":{"count":0,"rate":2000}},
	{"id":"out","type":"sink.file","config":{"path":"out.jsonl","mode":"truncate"}}],
	"edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"out","port":"in"}}]}`

func TestRunTimeoutDrains(t *testing.T) {
	dir := t.TempDir()
	p := writeGraph(t, dir, "g.json", endless)
	r := runCmd(t, "run", "--timeout", "300ms", "--metrics-every", "100ms", p)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	if n := checkContiguous(t, filepath.Join(dir, "out.jsonl")); n < 10 {
		t.Errorf("only %d rows in 300 ms", n)
	}
	periodic := 0
	for _, l := range jsonLines(t, r.stderr) {
		if l["msg"] == "node metrics" && l["node"] == "out" {
			periodic++
		}
	}
	if periodic < 1 {
		t.Errorf("no periodic metrics lines:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, `"reason":"timeout 300ms"`) {
		t.Errorf("no timeout log line:\n%s", r.stderr)
	}
}

func TestRunSignalDrainsAndServesHTTP(t *testing.T) {
	dir := t.TempDir()
	p := writeGraph(t, dir, "g.json", endless)
	sigs, stderr, done := start("run", "--http", "127.0.0.1:0", p)
	addr := ""
	deadline := time.Now().Add(10 * time.Second)
	for addr == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no http address logged:\n%s", stderr.String())
		}
		if m := regexp.MustCompile(`"msg":"http listening","addr":"([^"]+)"`).FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	time.Sleep(200 * time.Millisecond)
	if code, body := get("/healthz"); code != 200 || !strings.Contains(body, `"status":"running"`) {
		t.Errorf("/healthz: %d %s", code, body)
	}
	code, body := get("/metrics")
	for _, want := range []string{
		"# TYPE atoll_node_rows_out_total counter",
		`atoll_node_rows_in_total{node="out",type="sink.file"} `,
		`atoll_node_state{node="gen",state="running"} 1`,
		`atoll_runner_info{version="dev",graph="endless"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	if code != 200 {
		t.Errorf("/metrics: %d", code)
	}
	sigs <- syscall.SIGTERM
	r := <-done
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	checkContiguous(t, filepath.Join(dir, "out.jsonl"))
	if !strings.Contains(r.stderr, `"reason":"signal terminated"`) {
		t.Errorf("no stop log line:\n%s", r.stderr)
	}
}

func TestRunFailureExitsNonZero(t *testing.T) {
	dir := t.TempDir()
	p := writeGraph(t, dir, "g.json", `{"version":1,"id":"g","name":"g","nodes":[
		{"id":"src","type":"source.file","config":{"path":"missing.jsonl"},"supervision":{"policy":"stop"}},
		{"id":"out","type":"sink.discard"}],
		"edges":[{"from":{"node":"src","port":"out"},"to":{"node":"out","port":"in"}}]}`)
	r := runCmd(t, "run", p)
	if r.code != exitFailed {
		t.Fatalf("exit %d, want %d:\n%s", r.code, exitFailed, r.stderr)
	}
	found := false
	for _, l := range jsonLines(t, r.stderr) {
		if l["level"] == "ERROR" && l["node"] == "src" && strings.Contains(fmt.Sprint(l["msg"]), "missing.jsonl") {
			found = true
		}
	}
	if !found {
		t.Errorf("no error line names node src and the file:\n%s", r.stderr)
	}
}
