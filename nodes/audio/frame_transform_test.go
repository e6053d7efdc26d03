package audio

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
)

// frameStarts frames n samples (fed in rows of 1000) and returns the windows' start and end
// samples (t_start and t_end).
func frameStarts(t *testing.T, config string, n int) (starts, ends []int) {
	t.Helper()
	node, err := frameSpec.New(engine.BuildContext{NodeID: "fr"}, json.RawMessage(config))
	if err != nil {
		t.Fatal(err)
	}
	out := &testOutput{}
	for at := 0; at < n; at += 1000 {
		b := &rows.Batch{Rows: []rows.Row{audioRow(make([]float32, min(1000, n-at)), 16000, float64(at)/16000)}}
		if err := node.(engine.Processor).Process(t.Context(), "in", b, out); err != nil {
			t.Fatal(err)
		}
	}
	if err := node.(engine.Flusher).Flush(t.Context(), out); err != nil {
		t.Fatal(err)
	}
	for _, r := range out.rows {
		s, _, _ := readAudio(r)
		if len(s) != 400 && len(s) != 15600 {
			t.Fatalf("window of %d samples", len(s))
		}
		starts = append(starts, int(num(r, FieldStart)*16000+0.5))
		ends = append(ends, int(num(r, FieldEnd)*16000+0.5))
	}
	return starts, ends
}

// The usual framing (the default) pads up to the first window that reaches the end; the older
// framing (tail every_start) pads every window that starts before it; without pad_last only whole
// windows come out. Counts are derived from the formulas in the spec's docs, on lengths that are
// and are not a multiple of the hop.
func TestFrameCounts(t *testing.T) {
	ceilDiv := func(a, b int) int { return (a + b - 1) / b }
	const size, hop = 400, 100
	for _, n := range []int{1, 399, 400, 401, 500, 1000, 1050, 2999, 3000} {
		cover, every, whole := 1+ceilDiv(max(0, n-size), hop), ceilDiv(n, hop), 0
		if n >= size {
			whole = (n-size)/hop + 1
		}
		for _, tc := range []struct {
			config string
			want   int
			padded bool
		}{
			{fmt.Sprintf(`{"size":%d,"hop":%d}`, size, hop), cover, true},
			{fmt.Sprintf(`{"size":%d,"hop":%d,"tail":"every_start"}`, size, hop), every, true},
			{fmt.Sprintf(`{"size":%d,"hop":%d,"pad_last":false}`, size, hop), whole, false},
		} {
			starts, ends := frameStarts(t, tc.config, n)
			if len(starts) != tc.want {
				t.Errorf("%d samples, %s: %d windows, want %d", n, tc.config, len(starts), tc.want)
				continue
			}
			for i, s := range starts {
				if s != i*hop {
					t.Fatalf("%d samples, %s: window %d starts at %d, want %d", n, tc.config, i, s, i*hop)
				}
			}
			if tc.padded { // padded framings reach the end
				if last := starts[len(starts)-1]; last+size < n {
					t.Errorf("%d samples, %s: the last window ends at %d, before the end", n, tc.config, last+size)
				}
				if end := ends[len(ends)-1]; end != min(n, starts[len(starts)-1]+size) {
					t.Errorf("%d samples, %s: the last window's t_end is at sample %d, want the end of the audio", n, tc.config, end)
				}
			}
		}
	}
	// The case the issue reports: 19.6 s at 16 kHz with YAMNet's framing.
	if got, _ := frameStarts(t, `{}`, 313600); len(got) != 39 {
		t.Errorf("19.6 s at 16 kHz: %d windows by default, want 39", len(got))
	}
	if got, _ := frameStarts(t, `{"tail":"every_start"}`, 313600); len(got) != 40 {
		t.Errorf("19.6 s at 16 kHz: %d windows with tail every_start, want 40", len(got))
	}
}
