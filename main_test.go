package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/examples"
)

// buildAtoll builds the plain studio binary into a temporary directory.
func buildAtoll(t *testing.T, tags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "atoll")
	args := []string{"build", "-o", bin}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.CommandContext(t.Context(), "go", append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestIntegrationCLI builds `atoll` and runs it on the example graphs: validate, a headless run
// with --timeout, and serve on a free loopback port.
func TestIntegrationCLI(t *testing.T) {
	bin := buildAtoll(t)
	dir := t.TempDir()
	if err := os.CopyFS(dir, examples.FS); err != nil {
		t.Fatal(err)
	}
	atoll := func(args ...string) (string, string, int) {
		cmd := exec.CommandContext(t.Context(), bin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "ATOLL_DB="+filepath.Join(dir, "atoll.db"))
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}

	if out, _, code := atoll("version"); code != 0 || !strings.HasPrefix(out, "atoll ") {
		t.Errorf("version: %d %q", code, out)
	}
	if out, errs, code := atoll("validate", "graphs/sine_to_log.json"); code != 0 || out != "" {
		t.Errorf("validate of a good graph: exit %d, %q %q", code, out, errs)
	}

	// A graph with problems: one per line, located, exit 1.
	bad := `{"version":1,"id":"b","name":"bad","nodes":[
	  {"id":"gen","type":"source.generator","config":{"count":"many"}},
	  {"id":"m","type":"transform.map","config":{"set":{"x":"n +"}}}],"edges":[]}`
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte(bad), 0o644)
	out, _, code := atoll("validate", "bad.json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != 2 || !strings.HasPrefix(lines[0], `node "gen"`) || !strings.HasPrefix(lines[1], `node "m" port "in": `) {
		t.Errorf("validate of a bad graph: exit %d:\n%s", code, out)
	}
	if _, errs, code := atoll("run", "bad.json"); code == 0 || !strings.Contains(errs, `node "m"`) {
		t.Errorf("run of a bad graph: exit %d: %s", code, errs)
	}
	if _, errs, code := atoll("validate", "missing.json"); code != 1 || !strings.Contains(errs, "missing.json") {
		t.Errorf("validate of a missing file: exit %d: %s", code, errs)
	}

	// A headless run of an example graph: relative paths resolve against the graph's directory.
	out, errs, code := atoll("run", "--timeout", "60s", "--quiet", "graphs/generator_to_file.json")
	if code != 0 || !strings.Contains(out, "finished") || !strings.Contains(out, "rows in") {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "graphs", "out", "generator_filtered.jsonl")); err != nil {
		t.Errorf("the example's output file: %v\n%s", err, out)
	}
	// An endless source ends with --timeout, drained: exit 0, "stopped".
	os.WriteFile(filepath.Join(dir, "endless.json"), []byte(endlessGraph), 0o644)
	out, errs, code = atoll("run", "--timeout", "1s", "endless.json")
	if code != 0 || !strings.Contains(out, "stopped (timeout 1s)") || !strings.Contains(out, "preview preview:") {
		t.Errorf("run --timeout: exit %d\n%s\n%s", code, out, errs)
	}

	// serve on a free port: the line the e2e tests parse, the API, a clean stop on SIGTERM.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "serve.db"))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var url, open string
	for open == "" && sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "atoll: serving "); ok {
			url = u
		}
		if u, ok := strings.CutPrefix(sc.Text(), "atoll: open "); ok {
			open, _, _ = strings.Cut(u, " ")
		}
	}
	go io.Copy(io.Discard, stdout)
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/") {
		t.Fatalf("serve printed %q", url)
	}
	// The studio's address carries the per-start token; the API refuses calls without it.
	_, token, ok := strings.Cut(open, "#token=")
	if !strings.HasPrefix(open, url) || !ok || token == "" {
		t.Fatalf("serve printed %q to open the studio, want %s#token=...", open, url)
	}
	apiToken = token
	if resp, err := http.Get(url + "api/graphs"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the API without the token: %v %v, want 401", resp, err)
	}
	resp, err := apiDo("GET", url+"api/graphs", nil)
	if err != nil {
		t.Fatal(err)
	}
	var graphs []struct{ ID, Name string }
	json.NewDecoder(resp.Body).Decode(&graphs)
	resp.Body.Close()
	gs, _ := examples.Graphs()
	if len(graphs) != len(gs) {
		t.Errorf("serve seeded %d graphs, want the %d examples: %+v", len(graphs), len(gs), graphs)
	}
	// Every seeded example runs in the studio as it is: its relative paths resolve in the
	// workspace beside the database, where the checkout's example functions and the shared test
	// data are linked (the binary finds the checkout as ./examples: the test runs at the root).
	for _, g := range graphs {
		var got struct{ Document json.RawMessage }
		getJSON(t, url+"api/graphs/"+g.ID, &got)
		var doc struct {
			Nodes []struct {
				Type   string
				Config struct{ Path string }
			}
		}
		json.Unmarshal(got.Document, &doc)
		if bytes.Contains(got.Document, []byte(`.mqtt"`)) {
			continue // needs a broker: run against a real one by examples/mqtt_test.go
		}
		if bytes.Contains(got.Document, []byte(`"source.http_`)) || bytes.Contains(got.Document, []byte(`"sink.http"`)) {
			continue // needs HTTP servers: run against loopback ones by examples/http_test.go
		}
		body, _ := json.Marshal(map[string]any{"graph_id": g.ID, "document": got.Document})
		resp, err := apiDo("POST", url+"api/runs", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var run struct{ ID, Status, Error string }
		json.NewDecoder(resp.Body).Decode(&run)
		resp.Body.Close()
		for deadline := time.Now().Add(90 * time.Second); run.Status == "running" && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
			getJSON(t, url+"api/runs/"+run.ID, &run)
		}
		if run.Status != "finished" {
			t.Errorf("studio run of %q: %+v", g.Name, run)
		}
		for _, n := range doc.Nodes {
			if n.Type != "sink.file" {
				continue
			}
			p := filepath.Join(dir, "workspace", "graphs", n.Config.Path)
			if st, err := os.Stat(p); err != nil || st.Size() == 0 {
				t.Errorf("studio run of %q wrote nothing to %s: %v", g.Name, p, err)
			}
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v", err)
	}
}

const endlessGraph = `{"version":1,"id":"","name":"endless","nodes":[
 {"id":"gen","type":"source.generator","config":{"count": 0,"rate":100}},
 {"id":"preview","type":"sink.preview"}],
 "edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"preview","port":"in"}}]}`

// apiToken is the token of the studio the test started (TestIntegrationCLI).
var apiToken string

// apiDo sends an API request with the studio's token.
func apiDo(method, url string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return http.DefaultClient.Do(req)
}

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := apiDo("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
