package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoll-studio/atoll/internal/runflags"
)

// A run that finished with rows failed into an errors port with no edge exits 3 and logs which
// node lost how many and why (it used to log "run finished" and exit 0); wired, it exits 0.
// A graph over the guest memory budget is refused naming the node.
func TestRunnerUnwiredErrorsAndGuestMemory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in.jsonl"), []byte("{\"n\":1}\n{broken\n{\"n\":3}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name, g string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(g), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const nodes = `"nodes":[{"id":"src","type":"source.file","config":{"path":"in.jsonl"}},{"id":"out","type":"sink.discard"}]`
	const toOut = `{"from":{"node":"src","port":"out"},"to":{"node":"out","port":"in"}}`
	unwired := write("unwired.json", `{"version":1,"id":"u","name":"u",`+nodes+`,"edges":[`+toOut+`]}`)
	wired := write("wired.json", `{"version":1,"id":"w","name":"w",`+nodes+`,"edges":[`+toOut+`,{"from":{"node":"src","port":"errors"},"to":{"node":"out","port":"in"}}]}`)
	var out, errb bytes.Buffer
	if code := runMain([]string{"run", unwired}, &out, &errb, nil); code != runflags.ExitUnwiredErrors {
		t.Errorf("unwired: exit %d, want %d\n%s", code, runflags.ExitUnwiredErrors, errb.String())
	}
	if !strings.Contains(errb.String(), `run finished, but 1 rows failed with no edge from their errors port: node \"src\": 1 (first: file in.jsonl line 2: `) {
		t.Errorf("the log does not say which rows were lost:\n%s", errb.String())
	}
	errb.Reset()
	if code := runMain([]string{"run", wired}, &out, &errb, nil); code != exitOK {
		t.Errorf("wired: exit %d\n%s", code, errb.String())
	}

	hungry := write("hungry.json", `{"version":1,"id":"h","name":"h","nodes":[
		{"id":"gen","type":"source.generator","config":{"count":1}},
		{"id":"fn","type":"function.wasm","config":{"module":"nope.wasm","memory_pages":4096,"instances":8}}],
		"edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"fn","port":"in"}}]}`)
	out.Reset()
	if code := runMain([]string{"validate", hungry}, &out, &errb, nil); code != exitInvalid || !strings.Contains(out.String(), `node "fn" config memory_pages: guest memory: this node may claim 2048 MiB`) {
		t.Errorf("validate over the budget: exit %d\n%s", code, out.String())
	}
	out.Reset()
	runMain([]string{"validate", "--guest-memory-mb", "4096", hungry}, &out, &errb, nil)
	if strings.Contains(out.String(), "guest memory") {
		t.Errorf("validate with --guest-memory-mb 4096 still refuses:\n%s", out.String())
	}
}
