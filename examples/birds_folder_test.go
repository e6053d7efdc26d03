package examples_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestIntegrationBirdsFolder runs the bird folder example headless on the shared recordings
// (birdnet_sample.wav, 3 s; tawnyowl.wav, 15 s): high-pass → resample → frame → YAMNet → detect,
// with a spectrogram branch. Every detection names its file, lies within that file's duration
// and has a bird-family class; the owl recording has detections covering most of it.
func TestIntegrationBirdsFolder(t *testing.T) {
	dir, _ := runExample(t, graphNamed(t, "birds_folder"))
	durations := map[string]float64{"birdnet_sample.wav": 3, "tawnyowl.wav": 15}
	lines := readLines(t, filepath.Join(dir, "out", "birds_folder.jsonl"))
	perFile := map[string]float64{}
	for _, l := range lines {
		var ev struct {
			File       string  `json:"file"`
			Label      string  `json:"label"`
			Index      int     `json:"index"`
			TStart     float64 `json:"t_start"`
			TEnd       float64 `json:"t_end"`
			Confidence float64 `json:"confidence"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		d, ok := durations[filepath.Base(ev.File)]
		if !ok {
			t.Fatalf("detection from %q, not one of the recordings: %s", ev.File, l)
		}
		if ev.TStart < 0 || ev.TEnd <= ev.TStart || ev.TEnd > d+1e-9 {
			t.Errorf("detection %s is not within the %g s of %s", l, d, ev.File)
		}
		if ev.Index < 106 || ev.Index > 116 || ev.Confidence < 0.05 {
			t.Errorf("detection outside the bird family or under the threshold: %s", l)
		}
		if ev.Label == "Bird" {
			perFile[filepath.Base(ev.File)] += ev.TEnd - ev.TStart
		}
	}
	t.Logf("%d detections; \"Bird\" spans %v", len(lines), perFile)
	if perFile["tawnyowl.wav"] < 7.5 {
		t.Errorf("\"Bird\" spans %.1f s of the 15 s owl recording, want most of it", perFile["tawnyowl.wav"])
	}
	if errs := readLines(t, filepath.Join(dir, "out", "birds_folder_errors.jsonl")); len(errs) != 1 || errs[0] != "" {
		t.Errorf("unreadable recordings: %s", strings.Join(errs, "\n"))
	}
}
