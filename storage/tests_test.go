package storage

import (
	"errors"
	"testing"
)

func TestFlowTestsAreVersionedLikeTheGraph(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	g, err := s.CreateGraph(ctx, "g", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveTest(ctx, g.ID, "a", []byte(`{"name":"a","v":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveVersion(ctx, g.ID, []byte(`{"version":1,"nodes":[],"edges":[]}`), "edit"); err != nil {
		t.Fatal(err)
	}
	ti, err := s.SaveTest(ctx, g.ID, "a", []byte(`{"name":"a","v":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if ti.Version != 2 || ti.GraphVersion != 2 {
		t.Fatalf("second save: %+v, want version 2 against graph version 2", ti)
	}
	if _, err := s.SaveTest(ctx, g.ID, "b", []byte(`{"name":"b"}`)); err != nil {
		t.Fatal(err)
	}
	infos, docs, err := s.ListTests(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[0].Name != "a" || string(docs[0]) != `{"name":"a","v":2}` || infos[1].Name != "b" {
		t.Fatalf("list: %+v %s", infos, docs)
	}
	if _, doc, err := s.LoadTest(ctx, g.ID, "a", 1); err != nil || string(doc) != `{"name":"a","v":1}` {
		t.Fatalf("version 1: %s %v", doc, err)
	}
	if err := s.DeleteTest(ctx, g.ID, "a"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoadTest(ctx, g.ID, "a", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted test: %v, want not found", err)
	}
	if _, doc, err := s.LoadTest(ctx, g.ID, "a", 2); err != nil || string(doc) != `{"name":"a","v":2}` {
		t.Fatalf("a deleted test's versions stay: %s %v", doc, err)
	}
	vs, err := s.ListTestVersions(ctx, g.ID, "a")
	if err != nil || len(vs) != 3 || !vs[0].Deleted {
		t.Fatalf("versions: %+v %v", vs, err)
	}
	if infos, _, _ := s.ListTests(ctx, g.ID); len(infos) != 1 || infos[0].Name != "b" {
		t.Fatalf("after delete: %+v", infos)
	}
	if _, err := s.db.ExecContext(ctx, "UPDATE graph_tests SET doc = 'x'"); err == nil {
		t.Fatal("a test version was rewritten")
	}
	if _, err := s.SaveTest(ctx, "nope", "a", []byte(`{}`)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown graph: %v", err)
	}
	if err := s.DeleteGraph(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	if infos, _, _ := s.ListTests(ctx, g.ID); len(infos) != 0 {
		t.Fatalf("tests outlive their graph: %+v", infos)
	}
}
