package storage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// testDoc builds a pretty graph document with n nodes in a chain; salt varies the configs so
// that successive documents differ.
func testDoc(id, name string, n, salt int) []byte {
	type ui struct {
		X float64 `json:"x"`
		Y float64 `json:"y"`
	}
	type node struct {
		ID     string         `json:"id"`
		Type   string         `json:"type"`
		Config map[string]any `json:"config"`
		UI     ui             `json:"ui"`
	}
	type end struct {
		Node string `json:"node"`
		Port string `json:"port"`
	}
	type edge struct {
		From end `json:"from"`
		To   end `json:"to"`
	}
	doc := struct {
		Version int    `json:"version"`
		ID      string `json:"id"`
		Name    string `json:"name"`
		Nodes   []node `json:"nodes"`
		Edges   []edge `json:"edges"`
	}{Version: 1, ID: id, Name: name, Nodes: []node{}, Edges: []edge{}}
	for i := range n {
		doc.Nodes = append(doc.Nodes, node{
			ID:   fmt.Sprintf("n%d", i),
			Type: "dsp.resample",
			Config: map[string]any{
				"sample_rate": 16000 + salt,
				"quality":     "high",
				"channels":    []int{0, 1},
				"note":        fmt.Sprintf("node %d of %d, save %d", i, n, salt),
			},
			UI: ui{X: float64(i * 120), Y: float64(salt % 7 * 10)},
		})
		if i > 0 {
			doc.Edges = append(doc.Edges, edge{end{fmt.Sprintf("n%d", i-1), "out"}, end{fmt.Sprintf("n%d", i), "in"}})
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func TestGraphLifecycle(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)

	g, err := s.CreateGraph(ctx, "birds", nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.Version != 1 || g.Name != "birds" || g.ID == "" {
		t.Fatalf("CreateGraph = %+v", g)
	}
	_, doc, err := s.LoadGraph(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Version  int
		ID, Name string
		Nodes    []any
		Edges    []any
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatalf("empty graph document: %v\n%s", err, doc)
	}
	if d.Version != 1 || d.ID != g.ID || d.Name != "birds" || d.Nodes == nil || d.Edges == nil {
		t.Errorf("empty graph document = %s", doc)
	}

	v2 := testDoc(g.ID, "birds", 3, 2)
	vi, err := s.SaveVersion(ctx, g.ID, v2, "three nodes")
	if err != nil {
		t.Fatal(err)
	}
	if vi.Version != 2 || vi.Message != "three nodes" || vi.GraphID != g.ID {
		t.Errorf("SaveVersion = %+v", vi)
	}
	info, latest, err := s.LoadGraph(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(latest, v2) || info.Version != 2 || !info.UpdatedAt.Equal(vi.CreatedAt) {
		t.Errorf("LoadGraph = %+v, document equal %v", info, bytes.Equal(latest, v2))
	}

	// A document carrying another graph's identity is brought in line, nothing else changes.
	foreign := testDoc("someone-else", "other name", 3, 3)
	if _, err := s.SaveVersion(ctx, g.ID, foreign, ""); err != nil {
		t.Fatal(err)
	}
	_, got, _ := s.LoadGraph(ctx, g.ID)
	if want := testDoc(g.ID, "birds", 3, 3); !bytes.Equal(got, want) {
		t.Errorf("saved foreign document =\n%s\nwant\n%s", got, want)
	}

	renamed, err := s.RenameGraph(ctx, g.ID, "birds <dawn>")
	if err != nil {
		t.Fatal(err)
	}
	if renamed.Name != "birds <dawn>" || renamed.Version != 4 {
		t.Errorf("RenameGraph = %+v, want name changed at version 4", renamed)
	}
	_, got, _ = s.LoadGraph(ctx, g.ID)
	if want := testDoc(g.ID, "birds <dawn>", 3, 3); !bytes.Equal(got, want) {
		t.Errorf("renamed document =\n%s\nwant\n%s", got, want)
	}
	if again, err := s.RenameGraph(ctx, g.ID, "birds <dawn>"); err != nil || again.Version != 4 {
		t.Errorf("rename to the same name = %+v, %v; want no new version", again, err)
	}

	dup, err := s.DuplicateGraph(ctx, g.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if dup.Name != "birds <dawn> (copy)" || dup.Version != 1 || dup.ID == g.ID {
		t.Errorf("DuplicateGraph = %+v", dup)
	}
	_, got, _ = s.LoadGraph(ctx, dup.ID)
	if want := testDoc(dup.ID, "birds <dawn> (copy)", 3, 3); !bytes.Equal(got, want) {
		t.Errorf("duplicated document =\n%s\nwant\n%s", got, want)
	}

	list, err := s.ListGraphs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != dup.ID || list[1].ID != g.ID {
		t.Errorf("ListGraphs = %+v, want the duplicate then the original", list)
	}

	vs, err := s.ListVersions(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	var nums []int
	for _, v := range vs {
		nums = append(nums, v.Version)
	}
	if fmt.Sprint(nums) != "[4 3 2 1]" || vs[0].Message != `renamed from "birds"` || vs[3].Message != "created" {
		t.Errorf("ListVersions = %+v", vs)
	}

	if err := s.DeleteGraph(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"LoadGraph":    third(s.LoadGraph(ctx, g.ID)),
		"LoadVersion":  third(s.LoadVersion(ctx, g.ID, 1)),
		"ListVersions": second(s.ListVersions(ctx, g.ID)),
		"SaveVersion":  second(s.SaveVersion(ctx, g.ID, v2, "")),
		"Restore":      second(s.RestoreVersion(ctx, g.ID, 1)),
		"Rename":       second(s.RenameGraph(ctx, g.ID, "x")),
		"Duplicate":    second(s.DuplicateGraph(ctx, g.ID, "")),
		"DeleteGraph":  s.DeleteGraph(ctx, g.ID),
		"DiffVersions": second(s.DiffVersions(ctx, g.ID, 1, 2)),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s of a deleted graph = %v, want ErrNotFound", name, err)
		}
	}
	if _, _, err := s.LoadVersion(ctx, dup.ID, 2); !errors.Is(err, ErrNotFound) ||
		err.Error() != fmt.Sprintf("graph %q version 2: not found", dup.ID) {
		t.Errorf("LoadVersion of a missing version = %v", err)
	}
}

// second returns the error of a two-result call.
func second[T any](_ T, err error) error { return err }

// third returns the error of a three-result call.
func third[T, U any](_ T, _ U, err error) error { return err }

func TestCreateGraphTakesNameFromDocument(t *testing.T) {
	s := openTest(t)
	g, err := s.CreateGraph(t.Context(), "", testDoc("imported-id", "from file", 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != "from file" {
		t.Errorf("name = %q, want the document's", g.Name)
	}
	for _, doc := range []string{`[]`, `{"nodes": [`, `{"id": 7}`, `"x"`} {
		if _, err := s.CreateGraph(t.Context(), "bad", []byte(doc)); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateGraph(%s) = %v, want ErrInvalid", doc, err)
		}
	}
	if _, err := s.CreateGraph(t.Context(), "", []byte(`{"nodes": []}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("CreateGraph without any name = %v, want ErrInvalid", err)
	}
}

func TestVersionsAppendOnly(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	g, err := s.CreateGraph(ctx, "g", nil)
	if err != nil {
		t.Fatal(err)
	}
	saved := map[int][]byte{}
	_, saved[1], _ = s.LoadGraph(ctx, g.ID)
	for i := 2; i <= 6; i++ {
		doc := testDoc(g.ID, "g", i, i)
		vi, err := s.SaveVersion(ctx, g.ID, doc, fmt.Sprintf("save %d", i))
		if err != nil {
			t.Fatal(err)
		}
		if vi.Version != i {
			t.Fatalf("save %d got version %d", i, vi.Version)
		}
		saved[i] = doc
	}
	for v, want := range saved {
		vi, got, err := s.LoadVersion(ctx, g.ID, v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) || vi.Version != v {
			t.Errorf("version %d changed after later saves", v)
		}
	}
	// The schema itself refuses to rewrite history.
	for _, stmt := range []string{
		"UPDATE graph_versions SET doc = '{}' WHERE graph_id = ? AND version = 1",
		"UPDATE graph_versions SET message = 'rewritten' WHERE graph_id = ?",
		"DELETE FROM graph_versions WHERE graph_id = ? AND version = 2",
	} {
		_, err := s.db.ExecContext(ctx, stmt, g.ID)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want append-only refusal", stmt, err)
		}
	}
}

func TestRestoreVersion(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	g, err := s.CreateGraph(ctx, "g", testDoc("", "g", 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveVersion(ctx, g.ID, testDoc(g.ID, "g", 5, 1), "bigger"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RenameGraph(ctx, g.ID, "renamed"); err != nil {
		t.Fatal(err)
	}
	vi, err := s.RestoreVersion(ctx, g.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if vi.Version != 4 || vi.Message != "restored version 1" {
		t.Errorf("RestoreVersion = %+v", vi)
	}
	info, got, err := s.LoadGraph(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Version 1's content under the current name.
	if want := testDoc(g.ID, "renamed", 2, 0); !bytes.Equal(got, want) || info.Name != "renamed" {
		t.Errorf("restored document =\n%s\nwant\n%s", got, want)
	}
	if _, err := s.RestoreVersion(ctx, g.ID, 99); !errors.Is(err, ErrNotFound) {
		t.Errorf("restore of a missing version = %v, want ErrNotFound", err)
	}
	if vs, _ := s.ListVersions(ctx, g.ID); len(vs) != 4 {
		t.Errorf("history has %d versions after a failed restore, want 4", len(vs))
	}
}

func TestWithIdentity(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"already right (untouched)", "{\n  \"version\": 1,\n  \"id\": \"g1\",\n  \"name\": \"n\"\n}", "{\n  \"version\": 1,\n  \"id\": \"g1\",\n  \"name\": \"n\"\n}"},
		{"replace in place", "{\n  \"name\": \"old\",\n  \"id\": \"x\", \"nodes\": []\n}", "{\n  \"name\": \"n\",\n  \"id\": \"g1\", \"nodes\": []\n}"},
		{"insert pretty", "{\n  \"version\": 1,\n  \"nodes\": []\n}", "{\n  \"id\": \"g1\",\n  \"name\": \"n\",\n  \"version\": 1,\n  \"nodes\": []\n}"},
		{"insert compact", `{"version":1}`, `{"id":"g1","name":"n","version":1}`},
		{"insert one", `{"id":"g1","v":1}`, `{"name":"n","id":"g1","v":1}`},
		{"empty object", `{}`, `{"id":"g1","name":"n"}`},
		{"nested id untouched", `{"nodes":[{"id":"a","name":"b"}],"id":"g1","name":"n"}`, `{"nodes":[{"id":"a","name":"b"}],"id":"g1","name":"n"}`},
		{"escaped value", `{"id":"g1","name":"a\u0022b"}`, `{"id":"g1","name":"n"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := withIdentity([]byte(tc.doc), "g1", "n")
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Errorf("result is not valid JSON")
			}
		})
	}
	for _, bad := range []string{``, `[]`, `{"id":1}`, `{"id":"a","id":"b"}`, `{"name":"a"} x`} {
		if _, err := withIdentity([]byte(bad), "g1", "n"); !errors.Is(err, ErrInvalid) {
			t.Errorf("withIdentity(%s) = %v, want ErrInvalid", bad, err)
		}
	}
}

// FuzzWithIdentity checks the byte-level edit against a real decoder: the result is valid JSON
// with the wanted id and name and every other member unchanged.
func FuzzWithIdentity(f *testing.F) {
	for _, seed := range []string{`{}`, `{"id":"a","name":"b"}`, "{\n  \"version\": 1,\n  \"nodes\": [{\"id\":\"x\"}]\n}",
		`{"name":"a\"}","x":[1,{"id":2}],"id":"q"}`, `{ "x" : -1.5e3 , "y":true}`, `{"\u0069d":"z"}`} {
		f.Add([]byte(seed), "g1", "n <&> \u2028")
	}
	f.Fuzz(func(t *testing.T, doc []byte, id, name string) {
		var in map[string]any
		if json.Unmarshal(doc, &in) != nil || in == nil {
			return
		}
		out, err := withIdentity(doc, id, name)
		if err != nil {
			return // a non-string or repeated id/name is refused
		}
		var got map[string]any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("result is not JSON: %v\n%s", err, out)
		}
		if !utf8.ValidString(id) || !utf8.ValidString(name) {
			return // invalid UTF-8 is replaced by U+FFFD on encoding
		}
		if got["id"] != id || got["name"] != name {
			t.Fatalf("id, name = %q, %q in\n%s", got["id"], got["name"], out)
		}
		delete(in, "id")
		delete(in, "name")
		delete(got, "id")
		delete(got, "name")
		a, _ := json.Marshal(in)
		b, _ := json.Marshal(got)
		if !bytes.Equal(a, b) {
			t.Fatalf("other members changed:\n%s\n%s", doc, out)
		}
	})
}
