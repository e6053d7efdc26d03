package wasinn_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/atoll-studio/atoll/engine/rows"
)

func yamnetLabels(t testing.TB) []string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(readData(t, "models/yamnet/yamnet_class_map.csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var l []string
	for _, r := range recs[1:] {
		l = append(l, r[2])
	}
	return l
}

func f32bytes(f []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), 4*len(f))
}

func get[T any](t testing.TB, r rows.Row, name string, as func(rows.Value) (T, bool)) T {
	t.Helper()
	v, ok := r.Get(name)
	if !ok {
		t.Fatalf("row %s has no %q", r.AppendJSON(nil), name)
	}
	x, ok := as(v)
	if !ok {
		t.Fatalf("row field %q is %s", name, v.Kind())
	}
	return x
}

// TestIntegrationClassifierOnOwl runs the classifier guest through wasi-nn on every window of
// tawnyowl.wav (framed by the real audio nodes) and checks that: the full score vector equals a
// direct interpreter call on the same frame, bit for bit; the top-k rows are that vector's top k
// with the right labels and times; and bird-family classes (106–116) rank in the top 5 in most
// windows.
func TestIntegrationClassifierOnOwl(t *testing.T) {
	frames := owlFrames(t)
	labels := yamnetLabels(t)
	fn, env := classifier(t, map[string]any{"model": "yamnet", "labels": labels, "top_k": 5, "scores": true}, 1)

	direct, err := env.Model("yamnet").NewInterpreter()
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()

	res, err := fn.Process(context.Background(), &rows.Batch{Rows: frames})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) > 0 {
		t.Fatalf("%d windows failed: %s", len(res.Failed), res.Failed[0].Reason)
	}
	if len(res.Out.Rows) != 5*len(frames) {
		t.Fatalf("got %d rows for %d windows, want 5 per window", len(res.Out.Rows), len(frames))
	}
	birdy := 0
	for w, frame := range frames {
		out := res.Out.Rows[5*w : 5*w+5]
		samples := get(t, frame, "samples", rows.Value.AsFloat32s)
		if err := direct.SetInput(0, f32bytes(samples)); err != nil {
			t.Fatal(err)
		}
		if err := direct.Invoke(); err != nil {
			t.Fatal(err)
		}
		want := direct.Output(0).Float32()
		got := get(t, out[0], "scores", rows.Value.AsFloat32s)
		if !slices.Equal(got, want) {
			t.Fatalf("window %d: guest scores differ from the direct interpreter call", w)
		}
		order := make([]int, len(want))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case want[a] > want[b]:
				return -1
			case want[a] < want[b]:
				return 1
			}
			return 0
		})
		bird := false
		for k, r := range out {
			idx := int(get(t, r, "index", rows.Value.AsInt))
			if idx != order[k] {
				t.Fatalf("window %d rank %d: index %d, want %d", w, k+1, idx, order[k])
			}
			if got := get(t, r, "label", rows.Value.AsString); got != labels[idx] {
				t.Fatalf("window %d: label %q, want %q", w, got, labels[idx])
			}
			if s := get(t, r, "score", rows.Value.AsFloat); s != float64(want[idx]) {
				t.Fatalf("window %d: score %v, want %v", w, s, want[idx])
			}
			if get(t, r, "rank", rows.Value.AsInt) != int64(k+1) {
				t.Fatalf("window %d: rank field wrong", w)
			}
			for _, f := range []string{"t_start", "t_end"} {
				if get(t, r, f, rows.Value.AsFloat) != get(t, frame, f, rows.Value.AsFloat) {
					t.Fatalf("window %d: %s not carried over", w, f)
				}
			}
			if _, ok := r.Get("samples"); ok {
				t.Fatalf("window %d: output row carries the samples", w)
			}
			if k > 0 {
				if _, ok := r.Get("scores"); ok {
					t.Fatalf("window %d: rank %d carries the score vector", w, k+1)
				}
			}
			bird = bird || (idx >= 106 && idx <= 116)
		}
		if bird {
			birdy++
		}
	}
	t.Logf("%d of %d windows have a bird-family class in their top 5", birdy, len(frames))
	if birdy*2 <= len(frames) {
		t.Fatalf("bird-family classes in the top 5 of %d of %d windows, want most", birdy, len(frames))
	}
	if st := env.Stats(); st.Instances != 1 || st.Graphs != 1 || st.Contexts != 1 {
		t.Fatalf("env stats %+v: the guest should hold one graph and one context", st)
	}
}

// TestIntegrationClassifierRejects checks that bad rows go to errors with the reason and that
// the function goes on.
func TestIntegrationClassifierRejects(t *testing.T) {
	frames := owlFrames(t)[:2]
	fn, _ := classifier(t, map[string]any{"model": "yamnet", "top_k": 2}, 1)
	short := rows.Row{{Name: "samples", Value: rows.Float32s(make([]float32, 100))}, {Name: "rate", Value: rows.Int(16000)}}
	wrongRate := rows.Row{{Name: "samples", Value: rows.Float32s(make([]float32, 15600))}, {Name: "rate", Value: rows.Int(48000)}}
	noSamples := rows.Row{{Name: "rate", Value: rows.Int(16000)}}
	res, err := fn.Process(context.Background(), &rows.Batch{Rows: []rows.Row{frames[0], short, wrongRate, noSamples, frames[1]}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Out.Rows) != 4 {
		t.Fatalf("got %d rows, want 2 per good window", len(res.Out.Rows))
	}
	if len(res.Failed) != 3 {
		t.Fatalf("got %d failures, want 3", len(res.Failed))
	}
	for k, want := range []string{"window of 100 samples", "48000 Hz", `no "samples"`} {
		if !bytes.Contains([]byte(res.Failed[k].Reason), []byte(want)) {
			t.Errorf("failure %d: %q does not say %q", k, res.Failed[k].Reason, want)
		}
	}
	if l := get(t, res.Out.Rows[0], "label", rows.Value.AsString); l == "" || l[:6] != "class " {
		t.Errorf("without labels the label is %q, want \"class <i>\"", l)
	}
}

// TestIntegrationUnknownModel: a guest asking for a model its node did not register fails its
// start with the reason.
func TestIntegrationUnknownModel(t *testing.T) {
	_, _, err := startClassifier(t, map[string]any{"model": "nope"}, 1)
	if err == nil || !strings.Contains(err.Error(), `load model "nope"`) || !strings.Contains(err.Error(), "not_found") {
		t.Fatalf("start with an unknown model: %v", err)
	}
}
