package main

import (
	"os"
	"slices"
	"testing"

	"github.com/atoll-studio/atoll/internal/testdata"
)

func TestTopK(t *testing.T) {
	s := []float32{0.1, 0.9, 0.3, 0.9, 0.5, 0}
	for _, tc := range []struct {
		k    int
		want []int
	}{{1, []int{1}}, {3, []int{1, 3, 4}}, {6, []int{1, 3, 4, 2, 0, 5}}, {10, []int{1, 3, 4, 2, 0, 5}}} {
		if got := topK(s, tc.k, nil); !slices.Equal(got, tc.want) {
			t.Errorf("topK(k=%d) = %v, want %v", tc.k, got, tc.want)
		}
	}
}

func TestParseLabels(t *testing.T) {
	data, err := os.ReadFile(testdata.Path(t, "models/yamnet/yamnet_class_map.csv"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := parseLabels(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 521 || l[0] != "Speech" || l[1] != "Child speech, kid speaking" || l[106] != "Bird" || l[116] != "Bird flight, flapping wings" {
		t.Fatalf("yamnet labels: %d, %q %q %q %q", len(l), l[0], l[1], l[106], l[116])
	}
	l, err = parseLabels([]byte("yes\n\nno\r\nsilence\n"))
	if err != nil || !slices.Equal(l, []string{"yes", "no", "silence"}) {
		t.Fatalf("line labels: %q, %v", l, err)
	}
}
