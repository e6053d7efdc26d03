package audio

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/internal/testdata"
)

// window is one window's classifier rows: label → score (indices from a small class map).
type window struct {
	start  float64
	file   string
	origin time.Time // wall-clock time of the file's start, if known
	scores map[string]float64
}

var classIndex = map[string]int64{"Speech": 0, "Bird": 106, "Pigeon, dove": 110, "Owl": 114, "Hoot": 115}

func detect(t *testing.T, config string, windows []window) []string {
	t.Helper()
	det, err := detectSpec.New(engine.BuildContext{NodeID: "det"}, json.RawMessage(config))
	if err != nil {
		t.Fatal(err)
	}
	var in []rows.Row
	for _, w := range windows {
		for label, s := range w.scores {
			r := rows.Row{{Name: "label", Value: rows.String(label)}, {Name: "index", Value: rows.Int(classIndex[label])},
				{Name: "score", Value: rows.Float(s)}, {Name: "t_start", Value: rows.Float(w.start)}, {Name: "t_end", Value: rows.Float(w.start + 1)}}
			if w.file != "" {
				r = append(r, rows.Field{Name: FieldFile, Value: rows.String(w.file)})
			}
			if !w.origin.IsZero() {
				r = append(r, rows.Field{Name: FieldTime, Value: rows.Timestamp(w.origin.Add(time.Duration(w.start * float64(time.Second))))})
			}
			in = append(in, r)
		}
	}
	out := &testOutput{}
	if err := det.(engine.Processor).Process(t.Context(), "in", &rows.Batch{Rows: in}, out); err != nil {
		t.Fatal(err)
	}
	if err := det.(engine.Flusher).Flush(t.Context(), out); err != nil {
		t.Fatal(err)
	}
	var evs []string
	for _, r := range out.rows {
		s := fmt.Sprintf("%s@%g-%g", str(r, "label"), num(r, "t_start"), num(r, "t_end"))
		if f := str(r, FieldFile); f != "" {
			s += " " + f
		}
		if v, ok := r.Get(FieldTime); ok {
			ns, _ := v.AsTimestamp()
			s += " " + time.Unix(0, ns).UTC().Format(time.RFC3339)
		}
		evs = append(evs, s)
	}
	return evs
}

func TestDetectSelectsConfirmsAndSplits(t *testing.T) {
	ws := []window{
		{start: 0, scores: map[string]float64{"Bird": 0.5, "Pigeon, dove": 0.6, "Speech": 0.9}},
		{start: 1, scores: map[string]float64{"Owl": 0.15, "Bird": 0.1}},
		{start: 2, scores: map[string]float64{"Owl": 0.2}},
		{start: 3, scores: map[string]float64{"Hoot": 0.5}},
		{start: 4, scores: map[string]float64{"Owl": 0.25}},
		{start: 5, scores: map[string]float64{}},
		{start: 6, scores: map[string]float64{}},
		{start: 7, scores: map[string]float64{"Bird": 0.9}},
	}
	for _, tc := range []struct {
		name, config string
		want         []string
	}{
		{"birds", `{"threshold":0.3,"indices":["106-116"]}`,
			[]string{"Bird@0-1", "Pigeon, dove@0-1", "Hoot@3-4", "Bird@7-8"}},
		{"exclusion by label wins over the range", `{"threshold":0.3,"indices":["106-116"],"exclude_labels":["Pigeon, dove"]}`,
			[]string{"Bird@0-1", "Hoot@3-4", "Bird@7-8"}},
		{"exclusion by index range", `{"threshold":0.3,"exclude_indices":["0","110-113"]}`,
			[]string{"Bird@0-1", "Hoot@3-4", "Bird@7-8"}},
		{"per-class threshold by label", `{"threshold":0.3,"indices":["106-116"],"thresholds":{"Owl":0.12}}`,
			[]string{"Bird@0-1", "Pigeon, dove@0-1", "Owl@1-3", "Hoot@3-4", "Owl@4-5", "Bird@7-8"}},
		{"per-class threshold by index", `{"threshold":0.3,"labels":["Owl","Bird"],"thresholds":{"114":0.2,"106":0.95}}`,
			[]string{"Owl@2-3", "Owl@4-5"}}, // Owl at 0.15 is under 0.2, Bird's 0.9 under 0.95
		{"2 of 3 windows", `{"threshold":0.3,"labels":["Owl","Bird","Hoot"],"thresholds":{"Owl":0.12},"confirm_n":2,"confirm_m":3}`,
			// Owl hits windows 2, 3 and 5: confirmed at window 3, starting at the first hit; the
			// event ends after window 3, and the hit at window 5 is confirmed by the one at 3
			// (2 of windows 3–5) and starts a new event. Bird hits windows 1 and 8: never 2 in 3.
			// Hoot hits once.
			[]string{"Owl@1-3", "Owl@4-5"}},
		{"3 of 3 windows", `{"threshold":0.3,"labels":["Owl"],"thresholds":{"Owl":0.12},"confirm_n":3,"confirm_m":3}`,
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := detect(t, tc.config, ws)
			if strings.Join(got, "; ") != strings.Join(tc.want, "; ") {
				t.Errorf("events %q\nwant   %q", got, tc.want)
			}
		})
	}
	// Events never span two files, even with a gap that would merge them, and carry the
	// wall-clock time of their start when the file has one.
	dawn := time.Date(2024, 6, 1, 5, 0, 0, 0, time.UTC)
	got := detect(t, `{"threshold":0.3,"max_gap":5}`, []window{
		{start: 0, file: "a.wav", scores: map[string]float64{"Owl": 0.9}},
		{start: 1, file: "a.wav", scores: map[string]float64{"Owl": 0.9}},
		{start: 0, file: "b.wav", origin: dawn, scores: map[string]float64{"Hoot": 0.2}},
		{start: 3, file: "b.wav", origin: dawn, scores: map[string]float64{"Owl": 0.9}},
	})
	if want := "Owl@0-2 a.wav; Owl@3-4 b.wav 2024-06-01T05:00:03Z"; strings.Join(got, "; ") != want {
		t.Errorf("across files: %q, want %q", got, want)
	}
	if _, err := detectSpec.New(engine.BuildContext{}, json.RawMessage(`{"confirm_n":3,"confirm_m":2}`)); err == nil {
		t.Error("confirm_n > confirm_m built")
	}
}

// The model's labels file names the classes: YAMNet's class map reads as 521 names, a plain
// list as its lines, and a name the model lacks is refused when the node is built.
func TestDetectLabelsFile(t *testing.T) {
	csvPath := testdata.Path(t, "models/yamnet/yamnet_class_map.csv")
	data, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	labels, err := ReadLabels(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(labels) != 521 || labels[0] != "Speech" || labels[106] != "Bird" || labels[114] != "Owl" || labels[110] != "Pigeon, dove" {
		t.Fatalf("%d labels: %q … %q", len(labels), labels[0], labels[len(labels)-1])
	}
	txt := filepath.Join(t.TempDir(), "labels.txt")
	os.WriteFile(txt, []byte("silence\r\nunknown\r\nyes\r\nno\r\n"), 0o644)
	data, _ = os.ReadFile(txt)
	if l, err := ReadLabels(data); err != nil || strings.Join(l, ",") != "silence,unknown,yes,no" {
		t.Fatalf("plain labels: %q %v", l, err)
	}
	if _, err := ReadLabels([]byte("index,mid\n0,/m/x\n")); err == nil {
		t.Error("a CSV without a name column was read")
	}
	for _, tc := range []struct{ config, want string }{
		{`{"labels":["Owl"],"exclude_labels":["Pigeon, dove"],"thresholds":{"Hoot":0.1,"114":0.2}}`, ""},
		{`{"labels":["Owl","Tawny owl"]}`, `labels: "Tawny owl" is not one of the 521 classes`},
		{`{"exclude_labels":["owl"]}`, `exclude_labels: "owl"`},
		{`{"thresholds":{"Hooot":0.1}}`, `thresholds: "Hooot"`},
		{`{"thresholds":{"600":0.1}}`, `index 600 is outside the 521 classes`},
	} {
		var cfg map[string]any
		json.Unmarshal([]byte(tc.config), &cfg)
		cfg["labels_file"] = csvPath
		raw, _ := json.Marshal(cfg)
		_, err := detectSpec.New(engine.BuildContext{NodeID: "det"}, raw)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.config, err, tc.want)
		}
	}
}
