package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/bundle"
	"github.com/atoll-studio/atoll/bundle/bundletest"
	"github.com/atoll-studio/atoll/examples"
	"github.com/atoll-studio/atoll/internal/wasmexamples"
	"github.com/atoll-studio/atoll/nodes"
	_ "github.com/atoll-studio/atoll/nodes/studio"
)

// binaries are built once per test binary: the studio, the runner for this machine and the
// arm64 runner.
var binaries struct {
	once                   sync.Once
	dir                    string
	atoll, runner, arm64   string
	err                    error
	atollOut, runnerOutput []byte
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binaries.dir != "" {
		os.RemoveAll(binaries.dir)
	}
	os.Exit(code)
}

func buildBinaries(t *testing.T) (atoll, runner, arm64 string) {
	t.Helper()
	b := &binaries
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "atoll-bundle-bins-"); b.err != nil {
			return
		}
		b.atoll, b.runner, b.arm64 = filepath.Join(b.dir, "atoll"), filepath.Join(b.dir, "atoll-runner"), filepath.Join(b.dir, "atoll-runner-arm64")
		for _, c := range []struct {
			out, pkg string
			env      []string
		}{
			{b.atoll, ".", nil},
			{b.runner, "./cmd/atoll-runner", []string{"CGO_ENABLED=0"}},
			{b.arm64, "./cmd/atoll-runner", []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64"}},
		} {
			cmd := exec.Command("go", "build", "-o", c.out, c.pkg)
			cmd.Dir = repoRoot(t)
			cmd.Env = append(os.Environ(), c.env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.err = fmt.Errorf("go build %s %v: %v\n%s", c.pkg, c.env, err, out)
				return
			}
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.atoll, b.runner, b.arm64
}

type procResult struct {
	stdout, stderr string
	code           int
}

// runProc runs a binary in dir and waits for it.
func runProc(t *testing.T, dir string, env []string, bin string, args ...string) procResult {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	return procResult{out.String(), errb.String(), code}
}

func mustOK(t *testing.T, what string, r procResult) procResult {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", what, r.code, r.stdout, r.stderr)
	}
	return r
}

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestIntegrationBundleExamples exports the moment and bird examples with `atoll export` (the
// studio's key, created on first use) and through the Go API the studio calls, checks both give
// the same bytes, runs the bundle with `atoll-runner run` and compares its output with `atoll
// run` on the graph row for row; the moment bundle also runs on the arm64 runner under
// qemu-aarch64-static.
func TestIntegrationBundleExamples(t *testing.T) {
	atoll, runner, arm64 := buildBinaries(t)
	root := repoRoot(t)
	gs, err := examples.Graphs()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]examples.Graph{}
	for _, g := range gs {
		byName[filepath.Base(g.Path)] = g
	}
	for _, c := range []struct {
		graph, out string
		qemu       bool
	}{
		{"generator_moment_to_file.json", "out/moments.jsonl", true},
		{"birds_yamnet.json", "out/birds_yamnet.jsonl", false},
	} {
		t.Run(c.graph, func(t *testing.T) {
			g, ok := byName[c.graph]
			if !ok {
				t.Fatalf("example %s not found", c.graph)
			}
			if strings.Contains(string(g.Data), "classifier.wasm") {
				cmd := exec.CommandContext(t.Context(), "make", "-s", "-C", root, "-f", "mk/wasinn.mk", "classifier-wasm")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("make -f mk/wasinn.mk classifier-wasm: %v\n%s", err, out)
				}
			}
			wasmexamples.Path(t, "go-moment")
			dir := copyExamples(t, root, g)
			graphFile := filepath.Join(dir, filepath.FromSlash(g.Path))
			env := []string{"ATOLL_DB=" + filepath.Join(t.TempDir(), "atoll.db"), "SOURCE_DATE_EPOCH=1767225600"}

			// The reference: atoll run on the graph.
			mustOK(t, "atoll run", runProc(t, dir, env, atoll, "run", "--quiet", "--timeout", "300s", graphFile))
			want, err := os.ReadFile(filepath.Join(filepath.Dir(graphFile), c.out))
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 {
				t.Fatalf("atoll run wrote an empty %s", c.out)
			}

			// Export with the CLI; the studio key is created on first use and printed by atoll key.
			bfile := filepath.Join(t.TempDir(), "g.atoll")
			mustOK(t, "atoll export", runProc(t, dir, env, atoll, "export", "-o", bfile, "--platform", "linux/arm64", graphFile))
			pub := mustOK(t, "atoll key public", runProc(t, dir, env, atoll, "key", "public")).stdout
			trust := filepath.Join(t.TempDir(), "trust.pub")
			writeFile(t, trust, []byte(pub))

			// The same export through the Go API gives the same bytes.
			keyFile := filepath.Join(t.TempDir(), "key")
			mustOK(t, "atoll key export", runProc(t, dir, env, atoll, "key", "export", "-o", keyFile))
			keyText, _ := os.ReadFile(keyFile)
			key, err := bundle.ParsePrivateKey(string(keyText))
			if err != nil {
				t.Fatal(err)
			}
			var api bytes.Buffer
			if _, err := bundle.Write(&api, bundle.Options{GraphJSON: g.Data, BaseDir: filepath.Dir(graphFile), Key: key,
				Platforms: []string{"linux/arm64"}, AtollVersion: "dev", Created: time.Unix(1767225600, 0), Catalog: nodes.New(),
				Files: bundle.TestFilesBeside(graphFile)}); err != nil {
				t.Fatal(err)
			}
			cli, _ := os.ReadFile(bfile)
			if !bytes.Equal(cli, api.Bytes()) {
				t.Errorf("atoll export and bundle.Write differ (%d and %d bytes)", len(cli), api.Len())
			}

			if c.qemu {
				// The flow tests beside the graph travel in the bundle and pass there.
				tr := mustOK(t, "atoll-runner test", runProc(t, t.TempDir(), nil, runner, "test", "--trust", trust, "--run", "edges", bfile))
				if !strings.Contains(tr.stdout, "1 tests, 1 passed") {
					t.Fatalf("atoll-runner test: %s", tr.stdout)
				}
			}
			runs := []struct {
				name string
				bin  []string
			}{{"atoll-runner", []string{runner}}}
			if c.qemu {
				q, err := exec.LookPath("qemu-aarch64-static")
				if err != nil {
					t.Fatalf("qemu-aarch64-static not found (Debian package qemu-user-static, .ci/packages/bundle.txt): %v", err)
				}
				runs = append(runs, struct {
					name string
					bin  []string
				}{"arm64 runner under qemu", []string{q, arm64}})
			}
			for _, r := range runs {
				work := t.TempDir()
				args := append(r.bin[1:], "run", "--trust", trust, "--state", filepath.Join(work, "state"), "--timeout", "600s", bfile)
				res := mustOK(t, r.name, runProc(t, work, nil, r.bin[0], args...))
				if !strings.Contains(res.stdout, "running bundle "+bfile) || !strings.Contains(res.stdout, "(trusted)") {
					t.Errorf("%s: no start line in stdout:\n%s", r.name, res.stdout)
				}
				got, err := os.ReadFile(filepath.Join(work, c.out))
				if err != nil {
					t.Fatalf("%s: %v", r.name, err)
				}
				wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
				if len(wl) != len(gl) {
					t.Fatalf("%s: %d rows, atoll run wrote %d", r.name, len(gl)-1, len(wl)-1)
				}
				for i := range wl {
					if wl[i] != gl[i] {
						t.Fatalf("%s: row %d differs:\natoll run:    %s\natoll-runner: %s", r.name, i+1, wl[i], gl[i])
					}
				}
				t.Logf("%s: %d rows equal to atoll run", r.name, len(wl)-1)
			}
		})
	}
}

// TestIntegrationBundleTampering runs the tampering table through `atoll-runner run`: each
// bundle is refused with exit status 2 and its own message, and nothing is written outside the
// state directory (nor left inside it).
func TestIntegrationBundleTampering(t *testing.T) {
	_, runner, _ := buildBinaries(t)
	root := repoRoot(t)
	cmd := exec.CommandContext(t.Context(), "make", "-s", "-C", root, "-f", "mk/wasinn.mk", "classifier-wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make -f mk/wasinn.mk classifier-wasm: %v\n%s", err, out)
	}
	gs, _ := examples.Graphs()
	var birds examples.Graph
	for _, g := range gs {
		if strings.HasSuffix(g.Path, "birds_yamnet.json") {
			birds = g
		}
	}
	dir := copyExamples(t, root, birds)
	opts := bundle.Options{GraphJSON: birds.Data, BaseDir: filepath.Join(dir, "graphs"), Key: testKey(1), AtollVersion: "test",
		Catalog: nodes.New(), Files: []bundle.File{{Path: "data/notes.txt", Data: []byte("device notes\n")}}}
	good, cases, err := bundletest.Build(opts, testKey(2))
	if err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	trust := filepath.Join(keys, "k.pub")
	writeFile(t, trust, []byte(bundle.FormatPublicKey(testKey(1).Public().(ed25519.PublicKey))+"\n"))
	names := map[string]bool{}
	for _, c := range cases {
		names[c.Name] = true
		t.Run(c.Name, func(t *testing.T) {
			work := t.TempDir()
			bfile := filepath.Join(keys, strings.ReplaceAll(c.Name, " ", "_")+".atoll")
			writeFile(t, bfile, c.Data)
			args := []string{"run", "--trust", trust, "--state", "state"}
			if c.MaxEntrySize > 0 {
				args = append(args, "--max-entry-size", fmt.Sprint(c.MaxEntrySize))
			}
			res := runProc(t, work, nil, runner, append(args, bfile)...)
			if res.code != exitInvalid {
				t.Fatalf("exit %d, want 2\n%s", res.code, res.stderr)
			}
			if !logHas(res.stderr, c.Want) {
				t.Fatalf("stderr lacks %q:\n%s", c.Want, res.stderr)
			}
			var left []string
			filepath.WalkDir(work, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					left = append(left, p)
				}
				return nil
			})
			if len(left) > 0 {
				t.Fatalf("a refused bundle left files: %v", left)
			}
			vargs := []string{"verify", "--trust", trust}
			if c.MaxEntrySize > 0 {
				vargs = append(vargs, "--max-entry-size", fmt.Sprint(c.MaxEntrySize))
			}
			vr := runProc(t, work, nil, runner, append(vargs, bfile)...)
			if vr.code != exitInvalid || !strings.Contains(vr.stderr, c.Want) {
				t.Fatalf("verify: exit %d, stderr %s", vr.code, vr.stderr)
			}
		})
	}
	for _, want := range []string{"manifest byte", "graph byte", "wasm byte", "model byte", "data byte", "truncated", "unsigned",
		"untrusted key", "dotdot", "absolute", "symlink", "hard link", "inflates past the limit", "missing entry", "extra entry"} {
		if !names[want] {
			t.Errorf("the table lacks the case %q", want)
		}
	}
	// A graph needing a node type this runner lacks (the studio's preview), in a bundle that
	// verifies, is refused before anything runs.
	studio := []byte(`{"version":1,"id":"example-birds-yamnet","name":"g","nodes":[
		{"id":"gen","type":"source.generator"},{"id":"peek","type":"sink.preview"}],
		"edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"peek","port":"in"}}]}`)
	data, err := bundletest.ReplaceEntry(good, testKey(1), bundle.GraphPath, studio)
	if err != nil {
		t.Fatal(err)
	}
	bfile := filepath.Join(keys, "studio.atoll")
	writeFile(t, bfile, data)
	work := t.TempDir()
	res := runProc(t, work, nil, runner, "run", "--trust", trust, "--state", "state", bfile)
	if want := `node "peek" needs node type "sink.preview", which this runner lacks`; res.code != exitInvalid || !logHas(res.stderr, want) {
		t.Fatalf("exit %d, want 2 and %q:\n%s", res.code, want, res.stderr)
	}
}

// logHas reports whether a JSON log holds a message, its quotes escaped.
func logHas(log, msg string) bool {
	return strings.Contains(log, msg) || strings.Contains(log, strings.ReplaceAll(msg, `"`, `\"`))
}

var startLine = regexp.MustCompile(`http://(127\.0\.0\.1:\d+)`)

// runner is a started atoll-runner process.
type runnerProc struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	exited chan struct{} // closed when the process has exited; err is then set
	err    error
}

// wait waits for the process to exit and returns its error.
func (p *runnerProc) wait() error {
	<-p.exited
	return p.err
}

func startRunner(t *testing.T, dir, bin string, args ...string) *runnerProc {
	t.Helper()
	p := &runnerProc{stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, p *runnerProc, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			stderr := ""
			if p != nil {
				stderr = p.stderr.String()
				if len(stderr) > 6000 {
					stderr = stderr[len(stderr)-6000:]
				}
			}
			t.Fatalf("timed out waiting for %s\nstderr (tail):\n%s", what, stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lineCount(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte("\n"))
}

// seqs reads the "seq" field of every complete line.
func seqs(t *testing.T, path string) ([]int64, []map[string]any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []int64
	var rows []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v: %q", path, err, sc.Text())
		}
		out = append(out, int64(m["seq"].(float64)))
		rows = append(rows, m)
	}
	return out, rows
}

// checkNoGap checks that every sequence number 0..n-1 appears at least once and reports the
// duplicates.
func checkNoGap(t *testing.T, got []int64, n int64) int {
	t.Helper()
	seen := make([]int, n)
	for _, s := range got {
		if s < 0 || s >= n {
			t.Fatalf("sequence number %d out of range [0,%d)", s, n)
		}
		seen[s]++
	}
	dups := 0
	for i, c := range seen {
		if c == 0 {
			t.Fatalf("sequence number %d is missing (of %d; %d rows written)", i, n, len(got))
		}
		dups += c - 1
	}
	return dups
}

const kill9Graph = `{"version":1,"id":"kill9","name":"kill -9",
 "parameters":[{"name":"input","type":"string","default":"in.jsonl"},{"name":"output","type":"string","default":"out.jsonl"}],
 "nodes":[
  {"id":"src","type":"source.file","config":{"path":"${param:input}","batch_size":128}},
  {"id":"fn","type":"function.wasm","config":{"module":"MODULE","config":{"key":"kind","table":{"a":{"v":1}}}}},
  {"id":"out","type":"sink.file","config":{"path":"${param:output}"}}],
 "edges":[{"from":{"node":"src","port":"out"},"to":{"node":"fn","port":"in"}},
          {"from":{"node":"fn","port":"out"},"to":{"node":"out","port":"in"}}]}`

// TestIntegrationBundleKill9 kills a runner reading a large JSON-lines file with SIGKILL in the
// middle and restarts it on the same state directory: the output holds every input row at least
// once, with no gap, and the restart resumed from the checkpoint instead of the start.
func TestIntegrationBundleKill9(t *testing.T) {
	_, runner, _ := buildBinaries(t)
	mod := wasmexamples.Path(t, "go-enrich")
	work := t.TempDir()
	const n = 80000
	var in bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&in, `{"seq":%d,"kind":"a","pad":"%s"}`+"\n", i, strings.Repeat("x", 40))
	}
	writeFile(t, filepath.Join(work, "in.jsonl"), in.Bytes())
	bfile := filepath.Join(t.TempDir(), "k.atoll")
	var b bytes.Buffer
	if _, err := bundle.Write(&b, bundle.Options{GraphJSON: []byte(strings.Replace(kill9Graph, "MODULE", mod, 1)), Key: testKey(1), Catalog: nodes.New()}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, bfile, b.Bytes())
	trust := filepath.Join(t.TempDir(), "k.pub")
	writeFile(t, trust, []byte(bundle.FormatPublicKey(testKey(1).Public().(ed25519.PublicKey))+"\n"))
	out := filepath.Join(work, "out.jsonl")
	args := []string{"run", "--trust", trust, "--state", "state", "--checkpoint-every", "50ms", bfile}

	p := startRunner(t, work, runner, args...)
	waitFor(t, "a quarter of the rows", 120*time.Second, p, func() bool { return lineCount(out) > n/4 })
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.wait()
	first := lineCount(out)
	if first >= n {
		t.Fatalf("the runner finished (%d rows) before it was killed: make the input larger", first)
	}
	// A killed writer may leave a torn last line: the restart appends after it; drop it here.
	data, _ := os.ReadFile(out)
	if i := bytes.LastIndexByte(data, '\n'); i+1 < len(data) {
		writeFile(t, out, data[:i+1])
	}
	p2 := startRunner(t, work, runner, args...)
	select {
	case <-p2.exited:
		if err := p2.err; err != nil {
			t.Fatalf("restart: %v\n%s", err, p2.stderr.String())
		}
	case <-time.After(180 * time.Second):
		t.Fatalf("restart did not finish\n%s", p2.stderr.String())
	}
	if !strings.Contains(p2.stderr.String(), "resuming at byte") {
		t.Fatalf("the restart did not resume from a checkpoint:\n%s", p2.stderr.String())
	}
	got, rows := seqs(t, out)
	dups := checkNoGap(t, got, n)
	if rows[len(rows)-1]["v"] == nil {
		t.Fatalf("rows did not pass the function: %v", rows[len(rows)-1])
	}
	t.Logf("killed after %d rows; %d rows written in all, %d duplicates (at-least-once), no gap", first, len(got), dups)
	if dups >= first {
		t.Errorf("%d duplicates of %d rows written before the kill: the restart started over instead of resuming", dups, first)
	}
}

const liveGraph = `{"version":VERSION,"id":"live","name":"live update",
 "nodes":[
  {"id":"src","type":"source.file","config":{"path":"in.jsonl","follow":true,"poll_ms":20,"batch_size":64}},
  {"id":"fn","type":"function.wasm","config":{"module":"MODULE","config":CONFIG}},
  {"id":"out","type":"sink.file","config":{"path":"out.jsonl"}}],
 "edges":[{"from":{"node":"src","port":"out"},"to":{"node":"fn","port":"in"}},
          {"from":{"node":"fn","port":"out"},"to":{"node":"out","port":"in"}}]}`

// liveBundle writes a version of the live-update graph. The graph's document version stays 1;
// the bundle's version is the stored graph version.
func liveBundle(t *testing.T, version int, module, config string, key ed25519.PrivateKey) []byte {
	t.Helper()
	return liveBundleGraph(t, version, strings.NewReplacer("VERSION", "1", "MODULE", module, "CONFIG", config).Replace(liveGraph), key)
}

func liveBundleGraph(t *testing.T, version int, g string, key ed25519.PrivateKey) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := bundle.Write(&b, bundle.Options{GraphJSON: []byte(g), GraphVersion: version, Key: key, Catalog: nodes.New(),
		Created: time.Unix(int64(1767225600+version), 0)}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// initTrapModule builds a guest whose atoll_init traps, with clang (as mk/wasm.mk builds the C
// guests).
func initTrapModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "inittrap.c")
	writeFile(t, src, []byte(`#include "atoll.h"
static atoll_buffer in_buf;
ATOLL_EXPORT(atoll_abi_version) int32_t atoll_abi_version(void) { return ATOLL_ABI_VERSION; }
ATOLL_EXPORT(atoll_alloc) uint8_t *atoll_alloc(uint32_t len) { return atoll_reserve(&in_buf, len ? len : 1); }
ATOLL_EXPORT(atoll_init) int32_t atoll_init(const uint8_t *json, uint32_t len) { (void)json; (void)len; __builtin_trap(); }
ATOLL_EXPORT(atoll_process) uint64_t atoll_process(const uint8_t *in, uint32_t len) { (void)in; (void)len; __builtin_trap(); }
`))
	out := filepath.Join(dir, "inittrap.wasm")
	cmd := exec.CommandContext(t.Context(), "clang", "--target=wasm32", "-O2", "-mbulk-memory", "-nostdlib", "-Wl,--no-entry",
		"-I"+filepath.Join(repoRoot(t), "sdk", "c"), "-o", out, src)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clang (Debian clang and lld, as in .ci/packages/wasm.txt): %v\n%s", err, b)
	}
	return out
}

func healthz(t *testing.T, addr string) map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

var sinkRowsIn = regexp.MustCompile(`atoll_node_rows_in_total\{node="out",type="sink.file"\} (\d+)`)

func metricRowsIn(t *testing.T, addr string) int64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := sinkRowsIn.FindSubmatch(b)
	if m == nil {
		t.Fatalf("/metrics has no sink rows_in:\n%s", b)
	}
	var v int64
	fmt.Sscan(string(m[1]), &v)
	return v
}

func lastUpdate(h map[string]any) (result, reason string) {
	lu, _ := h["last_update"].(map[string]any)
	if lu == nil {
		return "", ""
	}
	r, _ := lu["result"].(string)
	s, _ := lu["reason"].(string)
	return r, s
}

// TestIntegrationBundleLiveUpdate feeds a followed file at a steady rate with a sequence number
// through function v1 into a file sink; v2 (another output field) arrives in the watched
// directory, v3 (another field again) from a loopback HTTP server polled with If-None-Match; then
// a v4 whose module traps at start (from the server) and a v4 signed by an untrusted key (in the
// directory) are refused and v3 keeps running; a v5 that fails after it started is rolled back. The output has no sequence number missing, the
// versions follow each other, and /metrics counters never go back.
func TestIntegrationBundleLiveUpdate(t *testing.T) {
	_, runner, _ := buildBinaries(t)
	mod := wasmexamples.Path(t, "go-enrich")
	trap := initTrapModule(t)
	work, updates := t.TempDir(), t.TempDir()
	keyDir := t.TempDir()
	trust := filepath.Join(keyDir, "k.pub")
	writeFile(t, trust, []byte(bundle.FormatPublicKey(testKey(1).Public().(ed25519.PublicKey))+"\n"))
	cfg := func(field string) string { return `{"key":"kind","table":{"a":{"` + field + `":true}}}` }
	v1 := liveBundle(t, 1, mod, cfg("v1"), testKey(1))
	v2 := liveBundle(t, 2, mod, cfg("v2"), testKey(1))
	v3 := liveBundle(t, 3, mod, cfg("v3"), testKey(1))
	v4trap := liveBundle(t, 4, trap, cfg("v4"), testKey(1))
	v4bad := liveBundle(t, 4, mod, cfg("v4"), testKey(2))
	// v5 builds and starts, then its sink fails on the first batch (a path it cannot create,
	// policy stop): rolled back to v3 within the probation, from the positions of the swap.
	v5 := liveBundleGraph(t, 5, strings.NewReplacer("VERSION", "1", "MODULE", mod, "CONFIG", cfg("v5"),
		`"id":"out","type":"sink.file","config":{"path":"out.jsonl"}`,
		`"id":"out","type":"sink.file","supervision":{"policy":"stop"},"config":{"path":"/proc/atoll-no-such-dir/out.jsonl"}`).Replace(liveGraph), testKey(1))
	// v4 builds and would run, but the flow test it carries fails (it expects the v3 field):
	// refused before the swap, v3 keeps running.
	v4test := func() []byte {
		var b bytes.Buffer
		g := strings.NewReplacer("VERSION", "1", "MODULE", mod, "CONFIG", cfg("v4")).Replace(liveGraph)
		test := `{"version":1,"tests":[{"name":"enriches with v3","sources":{"src":{"rows":[{"seq":1,"kind":"a"}]}},` +
			`"expect":{"out":{"rows":[{"seq":1,"kind":"a","v3":true}]}}}]}`
		if _, err := bundle.Write(&b, bundle.Options{GraphJSON: []byte(g), GraphVersion: 4, Key: testKey(1), Catalog: nodes.New(),
			Created: time.Unix(1767225604, 0), Files: []bundle.File{{Path: bundle.TestsDir + "live.test.json", Data: []byte(test), Kind: bundle.KindTest}}}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}()
	b1 := filepath.Join(keyDir, "v1.atoll")
	writeFile(t, b1, v1)

	// The update server: one bundle at a time, with an ETag; counts the 304s.
	var served atomic.Pointer[[]byte]
	var notModified, fulls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := served.Load()
		if b == nil {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		etag := fmt.Sprintf(`"%x"`, len(*b)) + fmt.Sprintf(`"%x"`, (*b)[len(*b)-8:])
		if r.Header.Get("If-None-Match") == etag {
			notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fulls.Add(1)
		w.Header().Set("ETag", etag)
		w.Write(*b)
	}))
	defer srv.Close()

	// The generator: rows with a sequence number at a steady rate.
	in := filepath.Join(work, "in.jsonl")
	writeFile(t, in, nil)
	var written atomic.Int64
	ctx, stopGen := context.WithCancel(t.Context())
	genDone := make(chan struct{})
	go func() {
		defer close(genDone)
		f, err := os.OpenFile(in, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			panic(err)
		}
		defer f.Close()
		tick := time.NewTicker(5 * time.Millisecond) // 10 rows each: 2000 rows/s
		defer tick.Stop()
		for seq := int64(0); ; {
			select {
			case <-ctx.Done():
				written.Store(seq)
				return
			case <-tick.C:
			}
			var b bytes.Buffer
			for i := 0; i < 10; i++ {
				fmt.Fprintf(&b, `{"seq":%d,"kind":"a"}`+"\n", seq)
				seq++
			}
			f.Write(b.Bytes())
			written.Store(seq)
		}
	}()

	out := filepath.Join(work, "out.jsonl")
	p := startRunner(t, work, runner, "run", "--trust", trust, "--state", "state", "--http", "127.0.0.1:0",
		"--watch-dir", updates, "--watch-every", "50ms", "--watch-url", srv.URL+"/bundle", "--poll-every", "100ms", b1)
	waitFor(t, "the start line", 60*time.Second, p, func() bool { return startLine.MatchString(p.stdout.String()) })
	addr := startLine.FindStringSubmatch(p.stdout.String())[1]
	waitFor(t, "v1 rows", 60*time.Second, p, func() bool { return lineCount(out) > 500 })

	drop := func(name string, data []byte) {
		tmp := filepath.Join(updates, "."+name+".tmp")
		writeFile(t, tmp, data)
		if err := os.Rename(tmp, filepath.Join(updates, name)); err != nil {
			t.Fatal(err)
		}
	}
	version := func() float64 { v, _ := healthz(t, addr)["graph_version"].(float64); return v }
	before := metricRowsIn(t, addr)
	drop("v2.atoll", v2)
	waitFor(t, "the swap to v2", 60*time.Second, p, func() bool { return version() == 2 })
	if after := metricRowsIn(t, addr); after < before {
		t.Fatalf("sink rows_in went back across the swap: %d -> %d", before, after)
	}
	n2 := lineCount(out)
	waitFor(t, "v2 rows", 30*time.Second, p, func() bool { return lineCount(out) > n2+300 })

	served.Store(&v3)
	waitFor(t, "the swap to v3 over HTTP", 60*time.Second, p, func() bool { return version() == 3 })
	waitFor(t, "a 304 from the update server", 10*time.Second, p, func() bool { return notModified.Load() > 0 })
	n3 := lineCount(out)
	waitFor(t, "v3 rows", 30*time.Second, p, func() bool { return lineCount(out) > n3+300 })

	served.Store(&v4trap)
	waitFor(t, "the trapping v4 refused", 60*time.Second, p, func() bool {
		r, reason := lastUpdate(healthz(t, addr))
		return r == "refused" && strings.Contains(reason, "init")
	})
	_, reason := lastUpdate(healthz(t, addr))
	t.Logf("trapping v4: %s", reason)
	drop("v4-bad.atoll", v4bad)
	waitFor(t, "the badly signed v4 refused", 60*time.Second, p, func() bool {
		r, reason := lastUpdate(healthz(t, addr))
		return r == "refused" && strings.Contains(reason, "not trusted")
	})
	drop("v4-test.atoll", v4test)
	waitFor(t, "v4 with a failing flow test refused", 60*time.Second, p, func() bool {
		r, reason := lastUpdate(healthz(t, addr))
		return r == "refused" && strings.Contains(reason, "tests:")
	})
	_, reason = lastUpdate(healthz(t, addr))
	t.Logf("v4 with a failing test: %s", reason)
	if v := version(); v != 3 {
		t.Fatalf("running version %v after the refused updates, want 3", v)
	}
	n4 := lineCount(out)
	waitFor(t, "v3 still running", 30*time.Second, p, func() bool { return lineCount(out) > n4+200 })
	if !strings.Contains(p.stderr.String(), "update refused") {
		t.Errorf("the refusals are not in the log")
	}
	served.Store(&v5)
	waitFor(t, "v5 rolled back", 60*time.Second, p, func() bool {
		r, _ := lastUpdate(healthz(t, addr))
		return r == "rolled back"
	})
	waitFor(t, "v3 running again", 30*time.Second, p, func() bool { return version() == 3 })
	n5 := lineCount(out)
	waitFor(t, "v3 rows after the rollback", 30*time.Second, p, func() bool { return lineCount(out) > n5+200 })

	stopGen()
	<-genDone
	total := written.Load()
	waitFor(t, "the last rows", 60*time.Second, p, func() bool { return int64(lineCount(out)) >= total })
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(); err != nil {
		t.Fatalf("runner exit: %v\n%s", err, p.stderr.String())
	}
	got, rows := seqs(t, out)
	dups := checkNoGap(t, got, total)
	// The versions follow each other: v1 rows, then v2, then v3, never back.
	stage := 0
	for i, r := range rows {
		s := 0
		for k, f := range []string{"v1", "v2", "v3"} {
			if r[f] == true {
				s = k + 1
			}
		}
		if s == 0 {
			t.Fatalf("row %d passed no function version: %v", i, r)
		}
		if s < stage {
			t.Fatalf("row %d (seq %v) is v%d after v%d rows", i, r["seq"], s, stage)
		}
		stage = s
	}
	if stage != 3 {
		t.Fatalf("the output ends with v%d rows", stage)
	}
	t.Logf("%d rows, %d duplicates, no gap; %d full downloads, %d not-modified polls", len(got), dups, fulls.Load(), notModified.Load())
}
