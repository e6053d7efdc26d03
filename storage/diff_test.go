package storage

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestDiffVersions(t *testing.T) {
	const base = `{"version": 1, "id": "", "name": "g", "nodes": [
		{"id": "wav", "type": "source.wav", "config": {"path": "a.wav", "loop": false}, "ui": {"x": 0, "y": 0}},
		{"id": "rs", "type": "dsp.resample", "config": {"rate": 16000, "quality": "high"}, "ui": {"x": 100, "y": 0}},
		{"id": "cls", "type": "wasm.function", "config": {"module": "abc", "limits": {"memory_mb": 64, "deadline_ms": 100}, "labels": ["a", "b"]}},
		{"id": "old", "type": "sink.log", "config": {}}
	], "edges": [
		{"from": {"node": "wav", "port": "out"}, "to": {"node": "rs", "port": "in"}},
		{"from": {"node": "rs", "port": "out"}, "to": {"node": "cls", "port": "in"}},
		{"from": {"node": "cls", "port": "out"}, "to": {"node": "old", "port": "in"}}
	]}`
	tests := []struct {
		name string
		to   string
		want string // the diff without from/to, as compact JSON
	}{
		{
			name: "identical",
			to:   base,
			want: `{"nodes_added":[],"nodes_removed":[],"nodes_changed":[],"edges_added":[],"edges_removed":[]}`,
		},
		{
			name: "numbers compare by value, key order and layout do not matter",
			to: `{"version": 1, "id": "", "name": "g", "edges": [
				{"to": {"port": "in", "node": "rs"}, "from": {"node": "wav", "port": "out"}},
				{"from": {"node": "rs", "port": "out"}, "to": {"node": "cls", "port": "in"}},
				{"from": {"node": "cls", "port": "out"}, "to": {"node": "old", "port": "in"}}
			], "nodes": [
				{"id": "rs", "type": "dsp.resample", "config": {"quality": "high", "rate": 1.6e4}, "ui": {"x": 100.0, "y": 0}},
				{"id": "wav", "type": "source.wav", "config": {"loop": false, "path": "a.wav"}, "ui": {"x": 0, "y": 0}},
				{"id": "cls", "type": "wasm.function", "config": {"module": "abc", "limits": {"deadline_ms": 100, "memory_mb": 64}, "labels": ["a", "b"]}},
				{"id": "old", "type": "sink.log"}
			]}`,
			want: `{"nodes_added":[],"nodes_removed":[],"nodes_changed":[],"edges_added":[],"edges_removed":[]}`,
		},
		{
			name: "every kind of change",
			to: `{"version": 1, "id": "", "name": "g", "nodes": [
				{"id": "wav", "type": "source.wav", "config": {"path": "b.wav", "loop": false}, "ui": {"x": 0, "y": 40}},
				{"id": "rs", "type": "dsp.resample_fast", "config": {"rate": 16000, "quality": "high", "taps": 32}, "ui": {"x": 100, "y": 0}},
				{"id": "cls", "type": "wasm.function", "config": {"module": "abc", "limits": {"memory_mb": 128}, "labels": ["a", "c", "d"], "a.b": 1}, "ui": {"x": 5, "y": 5}},
				{"id": "preview", "type": "sink.preview", "config": {"rows": 50}}
			], "edges": [
				{"from": {"node": "wav", "port": "out"}, "to": {"node": "rs", "port": "in"}},
				{"from": {"node": "rs", "port": "out"}, "to": {"node": "cls", "port": "in"}},
				{"from": {"node": "cls", "port": "out"}, "to": {"node": "preview", "port": "in"}}
			]}`,
			want: `{
				"nodes_added": [{"id": "preview", "type": "sink.preview", "config": {"rows": 50}}],
				"nodes_removed": [{"id": "old", "type": "sink.log", "config": {}}],
				"nodes_changed": [
					{"id": "wav", "moved": true, "fields": [{"path": "path", "before": "a.wav", "after": "b.wav"}]},
					{"id": "rs", "type_changed": ["dsp.resample", "dsp.resample_fast"], "fields": [{"path": "taps", "before": null, "after": 32}]},
					{"id": "cls", "moved": true, "fields": [
						{"path": "[\"a.b\"]", "before": null, "after": 1},
						{"path": "labels", "before": ["a", "b"], "after": ["a", "c", "d"]},
						{"path": "limits.deadline_ms", "before": 100, "after": null},
						{"path": "limits.memory_mb", "before": 64, "after": 128}
					]}
				],
				"edges_added": [{"from": {"node": "cls", "port": "out"}, "to": {"node": "preview", "port": "in"}}],
				"edges_removed": [{"from": {"node": "cls", "port": "out"}, "to": {"node": "old", "port": "in"}}]
			}`,
		},
		{
			name: "arrays of equal length diff by element",
			to: `{"version": 1, "id": "", "name": "g", "nodes": [
				{"id": "wav", "type": "source.wav", "config": {"path": "a.wav", "loop": false}, "ui": {"x": 0, "y": 0}},
				{"id": "rs", "type": "dsp.resample", "config": {"rate": 16000, "quality": "high"}, "ui": {"x": 100, "y": 0}},
				{"id": "cls", "type": "wasm.function", "config": {"module": "abc", "limits": {"memory_mb": 64, "deadline_ms": 100}, "labels": ["a", {"x": [1, 2]}]}},
				{"id": "old", "type": "sink.log", "config": {}}
			], "edges": [
				{"from": {"node": "wav", "port": "out"}, "to": {"node": "rs", "port": "in"}},
				{"from": {"node": "rs", "port": "out"}, "to": {"node": "cls", "port": "in"}},
				{"from": {"node": "cls", "port": "out"}, "to": {"node": "old", "port": "in"}}
			]}`,
			want: `{"nodes_added":[],"nodes_removed":[],"nodes_changed":[
				{"id": "cls", "fields": [{"path": "labels[1]", "before": "b", "after": {"x": [1, 2]}}]}
			],"edges_added":[],"edges_removed":[]}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t)
			g, err := s.CreateGraph(ctx, "g", []byte(base))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.SaveVersion(ctx, g.ID, []byte(tc.to), ""); err != nil {
				t.Fatal(err)
			}
			d, err := s.DiffVersions(ctx, g.ID, 1, 2)
			if err != nil {
				t.Fatal(err)
			}
			if d.From != 1 || d.To != 2 {
				t.Errorf("from, to = %d, %d", d.From, d.To)
			}
			d.From, d.To = 0, 0
			got, _ := json.Marshal(d)
			got = bytes.Replace(got, []byte(`"from":0,"to":0,`), nil, 1)
			if !jsonEqual(t, got, []byte(tc.want)) {
				t.Errorf("diff =\n%s\nwant\n%s", indent(got), indent([]byte(tc.want)))
			}
		})
	}
}

func TestDiffIsSymmetric(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	g, _ := s.CreateGraph(ctx, "g", testDoc("", "g", 3, 1))
	if _, err := s.SaveVersion(ctx, g.ID, testDoc(g.ID, "g", 4, 2), ""); err != nil {
		t.Fatal(err)
	}
	fwd, err := s.DiffVersions(ctx, g.ID, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	back, err := s.DiffVersions(ctx, g.ID, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(fwd.NodesAdded) != 1 || len(back.NodesRemoved) != 1 || fwd.NodesAdded[0].ID != back.NodesRemoved[0].ID {
		t.Errorf("added %v, removed backwards %v", fwd.NodesAdded, back.NodesRemoved)
	}
	if len(fwd.EdgesAdded) != 1 || len(back.EdgesRemoved) != 1 || len(fwd.NodesChanged) != 3 || len(back.NodesChanged) != 3 {
		t.Errorf("forward %+v\nbackward %+v", fwd, back)
	}
	for i, c := range fwd.NodesChanged {
		b := back.NodesChanged[i]
		for j, f := range c.Fields {
			if string(f.Before) != string(b.Fields[j].After) || string(f.After) != string(b.Fields[j].Before) {
				t.Errorf("node %s field %s: forward %s→%s, backward %s→%s", c.ID, f.Path, f.Before, f.After, b.Fields[j].Before, b.Fields[j].After)
			}
		}
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%v: %s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func indent(b []byte) []byte {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return b
	}
	return out.Bytes()
}
