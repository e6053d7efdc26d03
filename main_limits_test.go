package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// truncatedWAV is a 16-bit mono WAV at 8 kHz whose data chunk declares 1 s over 0.5 s of samples.
func truncatedWAV() []byte {
	le := binary.LittleEndian
	f := append([]byte("RIFF"), 0, 0, 0, 0)
	f = append(f, "WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00"...)
	f = le.AppendUint32(f, 8000)
	f = le.AppendUint32(f, 16000)
	f = append(f, 2, 0, 16, 0)
	f = append(f, "data"...)
	f = le.AppendUint32(f, 16000)
	return append(f, make([]byte, 8000)...)
}

// `atoll run` on a graph whose rows failed into an errors port with no edge says so and exits 3
// (it used to print "finished" and exit 0); with the port wired it exits 0.
func TestRunReportsUnwiredErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "short.wav"), truncatedWAV(), 0o644); err != nil {
		t.Fatal(err)
	}
	graphJSON := func(wired bool) string {
		edges := `{"from":{"node":"wav","port":"out"},"to":{"node":"sink","port":"in"}}`
		if wired {
			edges += `,{"from":{"node":"wav","port":"errors"},"to":{"node":"sink","port":"in"}}`
		}
		return fmt.Sprintf(`{"version":1,"id":"w","name":"w","nodes":[
			{"id":"wav","type":"source.wav","config":{"path":%q,"frame":800}},
			{"id":"sink","type":"sink.discard"}],"edges":[%s]}`, filepath.Join(dir, "short.wav"), edges)
	}
	for _, wired := range []bool{false, true} {
		path := filepath.Join(dir, fmt.Sprintf("g-%v.json", wired))
		if err := os.WriteFile(path, []byte(graphJSON(wired)), 0o644); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		code := run([]string{"run", "--quiet", path}, &out, &errb)
		switch {
		case wired && code != 0:
			t.Errorf("wired: exit %d\n%s%s", code, out.String(), errb.String())
		case !wired && code != exitUnwiredErrors:
			t.Errorf("unwired: exit %d, want %d\n%s%s", code, exitUnwiredErrors, out.String(), errb.String())
		case !wired:
			if !strings.Contains(out.String(), "finished but 1 rows failed with no edge from their errors port, in ") {
				t.Errorf("summary does not say rows were lost:\n%s", out.String())
			}
			if !strings.Contains(errb.String(), `node "wav": 1 (first: wav "`) || !strings.Contains(errb.String(), "short.wav\": byte 8044:") {
				t.Errorf("stderr does not name the node, the file and the byte:\n%s", errb.String())
			}
		}
	}
}

// A graph whose function nodes may claim more guest memory than the run's budget is refused
// naming the node; --guest-memory-mb raises the budget.
func TestValidateGuestMemoryBudget(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hungry.json")
	g := `{"version":1,"id":"h","name":"h","nodes":[
		{"id":"gen","type":"source.generator","config":{"count":1}},
		{"id":"fn","type":"function.wasm","config":{"module":"nope.wasm","memory_pages":65536,"instances":64}}],
		"edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"fn","port":"in"}}]}`
	if err := os.WriteFile(path, []byte(g), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"validate", path}, &out, &errb); code != 1 || !strings.Contains(out.String(), `node "fn" config memory_pages: guest memory: this node may claim 262144 MiB`) {
		t.Errorf("validate: exit %d\n%s%s", code, out.String(), errb.String())
	}
	out.Reset()
	run([]string{"validate", "--guest-memory-mb", "300000", path}, &out, &errb)
	if strings.Contains(out.String(), "guest memory") || !strings.Contains(out.String(), "nope.wasm") {
		t.Errorf("validate with a 300000 MiB budget:\n%s", out.String())
	}
}
