package bundle_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/bundle"
	"github.com/atoll-studio/atoll/bundle/bundletest"
	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/internal/wasmexamples"
	"github.com/atoll-studio/atoll/nodes"
	_ "github.com/atoll-studio/atoll/nodes/all"
	_ "github.com/atoll-studio/atoll/nodes/studio"
)

// testKey is a fixed key so that bundles are comparable across runs.
func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

const momentGraph = `{
  "version": 1, "id": "moment-test", "name": "moment",
  "parameters": [
    {"name": "count", "type": "integer", "default": 100, "doc": "rows to make"},
    {"name": "out", "type": "string", "default": "out/m.jsonl"}
  ],
  "nodes": [
    {"id": "gen", "type": "source.generator", "config": {"count": "${param:count}", "rate": 0}},
    {"id": "fn", "type": "function.wasm", "config": {"module": "MODULE"}},
    {"id": "sink", "type": "sink.file", "config": {"path": "${param:out}", "format": "jsonl"}}
  ],
  "edges": [
    {"from": {"node": "gen", "port": "out"}, "to": {"node": "fn", "port": "in"}},
    {"from": {"node": "fn", "port": "out"}, "to": {"node": "sink", "port": "in"}}
  ]
}`

func momentOptions(t *testing.T) bundle.Options {
	mod := wasmexamples.Path(t, "go-moment")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m.test.json"), []byte(`{"cases":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return bundle.Options{
		GraphJSON:    []byte(strings.Replace(momentGraph, "MODULE", mod, 1)),
		GraphVersion: 3,
		BaseDir:      dir,
		Platforms:    []string{"linux/arm64", "linux/amd64"},
		Key:          testKey(1),
		AtollVersion: "test",
		Created:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Catalog:      nodes.New(),
		Files:        bundle.TestFilesBeside(filepath.Join(dir, "m.json")),
		SystemdUnit:  true,
	}
}

func TestWriteDeterministicAndVerify(t *testing.T) {
	opts := momentOptions(t)
	var a, b bytes.Buffer
	m, err := bundle.Write(&a, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bundle.Write(&b, opts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("two exports differ (%d and %d bytes)", a.Len(), b.Len())
	}
	planned, err := bundle.Plan(opts)
	if err != nil {
		t.Fatal(err)
	}
	pm, _ := planned.Marshal()
	wm, _ := m.Marshal()
	if !bytes.Equal(pm, wm) {
		t.Fatalf("Plan and Write disagree:\n%s\n%s", pm, wm)
	}
	var kinds []string
	for _, e := range m.Entries {
		kinds = append(kinds, e.Path+":"+e.Kind)
	}
	got := strings.Join(kinds, " ")
	for _, want := range []string{"graph.json:graph", ".wasm:asset", "tests/m.test.json:test", "systemd/atoll-runner.service:unit"} {
		if !strings.Contains(got, want) {
			t.Errorf("entries %s lack %s", got, want)
		}
	}
	if strings.Join(m.Platforms, ",") != "linux/amd64,linux/arm64" || m.GraphVersion != 3 || m.GraphID != "moment-test" {
		t.Errorf("manifest %+v", m)
	}
	if strings.Join(m.NodeTypes, ",") != "function.wasm,sink.file,source.generator" {
		t.Errorf("node types %v", m.NodeTypes)
	}

	trusted := []ed25519.PublicKey{testKey(1).Public().(ed25519.PublicKey)}
	vb, err := bundle.Verify(bytes.NewReader(a.Bytes()), bundle.VerifyOptions{Trusted: trusted})
	if err != nil {
		t.Fatal(err)
	}
	if !vb.Trusted || vb.SignerID() != bundle.KeyID(trusted[0]) {
		t.Fatalf("signer %s trusted %v", vb.SignerID(), vb.Trusted)
	}
	doc, err := vb.Graph()
	if err != nil {
		t.Fatal(err)
	}
	fn, _ := doc.Node("fn")
	if !strings.Contains(string(fn.Config), `"assets/`) {
		t.Fatalf("module reference not rewritten: %s", fn.Config)
	}
	if len(doc.Parameters) != 2 {
		t.Fatalf("parameters lost: %+v", doc.Parameters)
	}

	dir := filepath.Join(t.TempDir(), "unpacked")
	ub, err := bundle.Unpack(bytes.NewReader(a.Bytes()), dir, bundle.VerifyOptions{Trusted: trusted})
	if err != nil {
		t.Fatal(err)
	}
	if ub.SHA256 != vb.SHA256 {
		t.Fatalf("digests differ")
	}
	for _, e := range m.Entries {
		info, err := os.Stat(filepath.Join(dir, e.Path))
		if err != nil || info.Size() != e.Size {
			t.Errorf("unpacked %s: %v", e.Path, err)
		}
	}
}

func TestPlanRefusals(t *testing.T) {
	base := momentOptions(t)
	cases := []struct {
		name  string
		graph string
		want  []string
	}{
		{"studio-only node", `{"version":1,"id":"g","name":"g","nodes":[
			{"id":"gen","type":"source.generator"},{"id":"peek","type":"sink.preview"}],
			"edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"peek","port":"in"}}]}`,
			[]string{`node "peek"`, "only in the studio"}},
		{"missing asset", `{"version":1,"id":"g","name":"g","nodes":[
			{"id":"gen","type":"source.generator"},{"id":"fn","type":"function.wasm","config":{"module":"nope/missing.wasm"}}],
			"edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"fn","port":"in"}}]}`,
			[]string{`node "fn"`, "module", "missing.wasm"}},
		{"store asset without store", `{"version":1,"id":"g","name":"g","nodes":[
			{"id":"gen","type":"source.generator"},{"id":"fn","type":"function.wasm","config":{"module":"` + strings.Repeat("ab", 32) + `"}}],
			"edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"fn","port":"in"}}]}`,
			[]string{`node "fn"`, "asset store"}},
		{"invalid graph", `{"version":1,"id":"g","name":"g","nodes":[{"id":"x","type":"no.such"}],"edges":[]}`,
			[]string{`node "x"`, "no.such"}},
		{"undeclared parameter", `{"version":1,"id":"g","name":"g","nodes":[{"id":"gen","type":"source.generator","config":{"count":"${param:n}"}}],"edges":[]}`,
			[]string{`parameter "n"`, "not declared"}},
		{"mistyped default", `{"version":1,"id":"g","name":"g","parameters":[{"name":"n","type":"integer","default":"ten"}],
			"nodes":[{"id":"gen","type":"source.generator","config":{"count":"${param:n}"}}],"edges":[]}`,
			[]string{`parameter "n"`, "not of type integer"}},
		{"not json", `{"version":1,`, []string{"graph"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := base
			opts.GraphJSON = []byte(c.graph)
			_, err := bundle.Plan(opts)
			var pe *bundle.PlanError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *PlanError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	t.Run("malformed test file", func(t *testing.T) {
		opts := base
		opts.Files = append([]bundle.File(nil), base.Files...)
		opts.Files = append(opts.Files, bundle.File{Path: bundle.TestsDir + "bad.test.json", Data: []byte("{\n  \"tests\": [,]\n}\n"), Kind: bundle.KindTest})
		_, err := bundle.Plan(opts)
		var pe *bundle.PlanError
		if !errors.As(err, &pe) {
			t.Fatalf("got %v, want a *PlanError", err)
		}
		for _, w := range []string{"bad.test.json", "line 2"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
	})
}

// TestVerifyTampering checks each way of changing a bundle is refused with its own reason and
// leaves nothing behind in the directory it would unpack into.
func TestVerifyTampering(t *testing.T) {
	_, cases, err := bundletest.Build(momentOptions(t), testKey(2))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 14 {
		t.Fatalf("only %d cases", len(cases))
	}
	trusted := []ed25519.PublicKey{testKey(1).Public().(ed25519.PublicKey)}
	seen := map[string]string{}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			state := t.TempDir()
			vo := bundle.VerifyOptions{Trusted: trusted, Limits: bundle.Limits{MaxEntrySize: c.MaxEntrySize}}
			_, err := bundle.Unpack(bytes.NewReader(c.Data), filepath.Join(state, "b"), vo)
			if err == nil || !strings.Contains(err.Error(), c.Want) {
				t.Fatalf("got %v, want %q", err, c.Want)
			}
			if other, dup := seen[err.Error()]; dup {
				t.Errorf("same message as case %q: %v", other, err)
			}
			seen[err.Error()] = c.Name
			if left, _ := os.ReadDir(state); len(left) != 0 {
				t.Fatalf("a refused bundle left %d files in the state directory", len(left))
			}
		})
	}
}

func TestParamSubstitution(t *testing.T) {
	opts := momentOptions(t)
	var buf bytes.Buffer
	if _, err := bundle.Write(&buf, opts); err != nil {
		t.Fatal(err)
	}
	vb, err := bundle.Verify(&buf, bundle.VerifyOptions{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := vb.Graph()
	sub, err := doc.Substitute(map[string]any{"count": int64(7), "out": "x/y.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	gen, _ := sub.Node("gen")
	sink, _ := sub.Node("sink")
	if !strings.Contains(string(gen.Config), `"count":7`) || !strings.Contains(string(sink.Config), `"path":"x/y.jsonl"`) {
		t.Fatalf("substituted: %s %s", gen.Config, sink.Config)
	}
	if probs := engine.Validate(sub, nodes.New(), engine.ValidateOptions{Headless: true}); len(probs) > 0 {
		t.Fatalf("substituted graph invalid: %v", probs)
	}
	if _, err := doc.Substitute(map[string]any{"count": "many"}); err == nil || !strings.Contains(err.Error(), `parameter "count"`) {
		t.Fatalf("mistyped value: %v", err)
	}
	if _, err := doc.Substitute(map[string]any{"nope": 1}); err == nil || !strings.Contains(err.Error(), `parameter "nope": not declared`) {
		t.Fatalf("undeclared value: %v", err)
	}
}
