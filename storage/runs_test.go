package storage

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"sync"
	"testing"
)

func TestRuns(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	g, err := s.CreateGraph(ctx, "g", nil)
	if err != nil {
		t.Fatal(err)
	}

	adhoc, err := s.CreateRun(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	saved, err := s.CreateRun(ctx, g.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		graphID string
		version int
		want    error
	}{
		{"missing graph", "nope", 0, ErrNotFound},
		{"missing version", g.ID, 2, ErrNotFound},
		{"version without graph", "", 3, ErrInvalid},
	} {
		if _, err := s.CreateRun(ctx, tc.graphID, tc.version); !errors.Is(err, tc.want) {
			t.Errorf("%s: CreateRun = %v, want %v", tc.name, err, tc.want)
		}
	}

	r, err := s.GetRun(ctx, saved)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != RunRunning || r.GraphID != g.ID || r.GraphVersion != 1 || r.EndedAt != nil || r.Metrics != nil {
		t.Errorf("new run = %+v", r)
	}

	metrics := json.RawMessage(`{"wav":{"state":"done","rows_in":0,"rows_out":480,"errors":0,"queue_depth":0,"rows_per_s":9600,"latency_ms":0.4}}`)
	if err := s.FinishRun(ctx, saved, RunFinished, "", metrics); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, adhoc, RunFailed, `node "cls": wasm trap`, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, id, status string
		metrics          json.RawMessage
		want             error
	}{
		{"twice", saved, RunStopped, nil, ErrInvalid},
		{"not terminal", adhoc, RunStopping, nil, ErrInvalid},
		{"bad metrics", adhoc, RunFinished, json.RawMessage(`{`), ErrInvalid},
		{"missing run", "nope", RunFinished, nil, ErrNotFound},
	} {
		if err := s.FinishRun(ctx, tc.id, tc.status, "", tc.metrics); !errors.Is(err, tc.want) {
			t.Errorf("%s: FinishRun = %v, want %v", tc.name, err, tc.want)
		}
	}

	r, _ = s.GetRun(ctx, saved)
	if r.Status != RunFinished || r.EndedAt == nil || r.EndedAt.Before(r.StartedAt) || !jsonEqual(t, r.Metrics, metrics) {
		t.Errorf("finished run = %+v", r)
	}
	r, _ = s.GetRun(ctx, adhoc)
	if r.Status != RunFailed || r.Error != `node "cls": wasm trap` || r.GraphID != "" {
		t.Errorf("failed run = %+v", r)
	}
	out, _ := json.Marshal(r)
	if bytes.Contains(out, []byte("graph_id")) || bytes.Contains(out, []byte("metrics")) {
		t.Errorf("ad-hoc run JSON = %s, want graph_id and metrics omitted", out)
	}

	runs, err := s.ListRuns(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].ID != saved || runs[1].ID != adhoc {
		t.Errorf("ListRuns = %+v, want newest first", runs)
	}
	if runs, _ := s.ListRuns(ctx, 1); len(runs) != 1 {
		t.Errorf("ListRuns(1) returned %d runs", len(runs))
	}
	if _, err := s.GetRun(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetRun(nope) = %v, want ErrNotFound", err)
	}

	// Deleting the graph keeps its runs, detached.
	if err := s.DeleteGraph(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	if r, err := s.GetRun(ctx, saved); err != nil || r.GraphID != "" {
		t.Errorf("run after its graph was deleted = %+v, %v", r, err)
	}
}

func TestSettings(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	type theme struct {
		Dark bool `json:"dark"`
		Zoom int  `json:"zoom"`
	}
	if err := s.GetSetting(ctx, "ui.theme", &theme{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing setting = %v, want ErrNotFound", err)
	}
	tests := []struct {
		key   string
		value any
		into  any
	}{
		{"ui.theme", theme{Dark: true, Zoom: 110}, &theme{}},
		{"ui.theme", theme{Dark: false, Zoom: 90}, &theme{}}, // overwrite
		{"serve.bind", "127.0.0.1:7300", new(string)},
		{"raw", json.RawMessage(`{"a":[1,2]}`), new(json.RawMessage)},
	}
	for _, tc := range tests {
		if err := s.SetSetting(ctx, tc.key, tc.value); err != nil {
			t.Fatal(err)
		}
		if err := s.GetSetting(ctx, tc.key, tc.into); err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(tc.value)
		got, _ := json.Marshal(tc.into)
		if !bytes.Equal(got, want) {
			t.Errorf("setting %s = %s, want %s", tc.key, got, want)
		}
	}
	if err := s.SetSetting(ctx, "bad", make(chan int)); !errors.Is(err, ErrInvalid) {
		t.Errorf("unencodable setting = %v, want ErrInvalid", err)
	}
}

func TestSigningKey(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	keys := make([]ed25519.PrivateKey, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := s.GetOrCreateSigningKey(ctx)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !k.Equal(keys[0]) {
			t.Fatal("concurrent first calls returned different keys")
		}
	}
	msg := []byte("manifest")
	if !ed25519.Verify(keys[0].Public().(ed25519.PublicKey), msg, ed25519.Sign(keys[0], msg)) {
		t.Error("the key does not sign")
	}
	// The key survives a reopen.
	path := s.path
	s.Close()
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	k, err := s2.GetOrCreateSigningKey(ctx)
	if err != nil || !k.Equal(keys[0]) {
		t.Errorf("key after reopen differs (%v)", err)
	}
}
