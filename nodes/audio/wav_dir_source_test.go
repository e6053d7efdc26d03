package audio

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/internal/testnodes"
	"github.com/atoll-studio/atoll/nodes"
)

// runGraph runs nodesJSON with test.out and test.errors captures and returns what each got and
// the run's metrics.
func runGraph(t *testing.T, nodesJSON, edgesJSON string) (out, errs []rows.Row, m map[string]engine.NodeMetrics) {
	t.Helper()
	cOut, cErr := &testnodes.Capture{}, &testnodes.Capture{}
	cat := nodes.New()
	testnodes.Register(cat, "test.out", cOut)
	testnodes.Register(cat, "test.errors", cErr)
	doc, err := graph.Parse(fmt.Appendf(nil, `{"version":1,"id":"d","name":"d","nodes":[%s,{"id":"out","type":"test.out"},{"id":"errs","type":"test.errors"}],"edges":[%s]}`, nodesJSON, edgesJSON))
	if err != nil {
		t.Fatal(err)
	}
	r, err := engine.Build(doc, engine.Options{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	testnodes.RunToEnd(t, r, 60*time.Second)
	return cOut.Rows(), cErr.Rows(), r.Metrics()
}

func errEdge(from, to string) string {
	return fmt.Sprintf(`{"from":{"node":%q,"port":"errors"},"to":{"node":%q,"port":"in"}}`, from, to)
}

func str(r rows.Row, name string) string {
	v, _ := r.Get(name)
	s, _ := v.AsString()
	return s
}

func num(r rows.Row, name string) float64 {
	v, _ := r.Get(name)
	f, _ := v.AsFloat()
	return f
}

// A folder of recordings in several formats, with a corrupt file in the middle and a file that
// is not a WAV, streams file after file in name order: every row names its file, offsets restart
// at each file, timestamped names give wall-clock times, the corrupt file is one error row naming
// it, and progress reaches 1 over all files.
func TestWAVDirStreamsFilesInOrder(t *testing.T) {
	dir := t.TempDir()
	type file struct {
		name              string
		tag               uint16
		bits, chans, n    int
		corrupt           bool
		start             string // wall-clock start the name gives, RFC 3339; "" for none
		want              []float32
		gotN              int
		gotFirst, gotLast float64
	}
	files := []*file{
		{name: "A1_20240601_050000.wav", tag: 1, bits: 16, chans: 1, n: 10000, start: "2024-06-01T05:00:00Z"},
		{name: "B_broken.wav", corrupt: true},
		{name: "C2_20240601_060000$.wav", tag: 3, bits: 32, chans: 2, n: 7000, start: "2024-06-01T06:00:00Z"},
		{name: "D_take.wav", tag: 1, bits: 24, chans: 1, n: 5000},
		{name: "E_20240601_070000_0+1.wav", tag: 1, bits: 16, chans: 2, n: 3000, start: "2024-06-01T07:00:00Z"},
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if f.corrupt {
			if err := os.WriteFile(path, []byte("RIFF\x10\x00\x00\x00WAVEfmt \xff\xff\xff\x7fjunk"), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		f.want = writeTestWAV(t, path, f.tag, f.bits, f.chans, false, f.n)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not audio"), 0o644); err != nil {
		t.Fatal(err)
	}

	out, errs, m := runGraph(t, fmt.Sprintf(`{"id":"dir","type":"source.wav_dir","config":{"path":%q,"frame":1500}}`, dir),
		edge("dir", "out")+","+errEdge("dir", "errs"))

	byName := map[string]*file{}
	for _, f := range files {
		byName[filepath.Join(dir, f.name)] = f
	}
	var order []string
	for _, r := range out {
		path := str(r, FieldFile)
		f := byName[path]
		if f == nil || f.corrupt {
			t.Fatalf("row from %q", path)
		}
		if len(order) == 0 || order[len(order)-1] != path {
			order = append(order, path)
		}
		s, rate, err := readAudio(r)
		if err != nil || rate != 8000 {
			t.Fatalf("%s: rate %d, %v", f.name, rate, err)
		}
		st := num(r, FieldStart)
		if want := float64(f.gotN) / 8000; math.Abs(st-want) > 1e-9 {
			t.Fatalf("%s: row at t_start %v, want %v (the offset within the file)", f.name, st, want)
		}
		for i, x := range s {
			if math.Abs(float64(x-f.want[f.gotN+i])) > 1.0/(1<<14) {
				t.Fatalf("%s: sample %d is %v, want %v", f.name, f.gotN+i, x, f.want[f.gotN+i])
			}
		}
		f.gotN += len(s)
		tv, timed := r.Get(FieldTime)
		if timed != (f.start != "") {
			t.Fatalf("%s: row has time %v, want one: %v", f.name, tv, f.start != "")
		}
		if timed {
			ns, _ := tv.AsTimestamp()
			want, _ := time.Parse(time.RFC3339, f.start)
			if got := time.Unix(0, ns).UTC(); !got.Equal(want.Add(time.Duration(st * 1e9))) {
				t.Fatalf("%s: row at %v s has time %v, want %v", f.name, st, got, want.Add(time.Duration(st*1e9)))
			}
		}
	}
	for _, f := range files {
		if !f.corrupt && f.gotN != f.n {
			t.Errorf("%s: %d samples, want %d", f.name, f.gotN, f.n)
		}
	}
	wantOrder := []string{files[0].name, files[2].name, files[3].name, files[4].name}
	if len(order) != len(wantOrder) {
		t.Fatalf("files in order %v, want %v", order, wantOrder)
	}
	for i := range order {
		if filepath.Base(order[i]) != wantOrder[i] {
			t.Fatalf("files in order %v, want %v", order, wantOrder)
		}
	}
	if len(errs) != 1 {
		t.Fatalf("%d error rows, want 1 (the broken file): %v", len(errs), errs)
	}
	if f, e := str(errs[0], FieldFile), str(errs[0], engine.ErrorField); !strings.HasSuffix(f, "B_broken.wav") || !strings.Contains(e, "B_broken.wav") || !strings.Contains(e, "byte") {
		t.Fatalf("error row %v does not name the broken file and byte", errs[0])
	}
	g := m["dir"].Gauges
	if g["progress"] != 1 || g["file"] != 5 || g["files"] != 5 || g["rtf"] <= 0 {
		t.Fatalf("gauges %v: want progress 1, file 5 of 5, an rtf", g)
	}
}

// A glob picks its files (any case of extension), sorted by name; a folder with no WAV is an error
// at validation, as is an unknown time zone.
func TestWAVDirGlobAndRefusals(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"20240601_000010.WAV", "20240601_000000.WAV", "other.wav"} {
		writeTestWAV(t, filepath.Join(dir, name), 1, 16, 1, false, 800)
	}
	out, _, _ := runGraph(t, fmt.Sprintf(`{"id":"dir","type":"source.wav_dir","config":{"path":%q,"timezone":"Europe/Paris"}}`, filepath.Join(dir, "2024*.WAV")), edge("dir", "out")+","+errEdge("dir", "errs"))
	if len(out) != 2 || !strings.HasSuffix(str(out[0], FieldFile), "20240601_000000.WAV") || !strings.HasSuffix(str(out[1], FieldFile), "20240601_000010.WAV") {
		t.Fatalf("glob gave %v", out)
	}
	ns, _ := func() (int64, bool) { v, _ := out[0].Get(FieldTime); return v.AsTimestamp() }()
	if got := time.Unix(0, ns).UTC().Format(time.RFC3339); got != "2024-05-31T22:00:00Z" {
		t.Fatalf("00:00:00 in Paris on 1 June 2024 read as %s, want 2024-05-31T22:00:00Z", got)
	}

	for _, tc := range []struct{ name, config, want string }{
		{"empty folder", fmt.Sprintf(`{"path":%q}`, t.TempDir()), "no WAV files"},
		{"no match", fmt.Sprintf(`{"path":%q}`, filepath.Join(dir, "*.flac")), "no WAV files"},
		{"missing", fmt.Sprintf(`{"path":%q}`, filepath.Join(dir, "nope")), "no such file"},
		{"time zone", fmt.Sprintf(`{"path":%q,"timezone":"Mars/Olympus"}`, dir), "timezone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := graph.Parse(fmt.Appendf(nil, `{"version":1,"id":"d","name":"d","nodes":[{"id":"dir","type":"source.wav_dir","config":%s}],"edges":[]}`, tc.config))
			if err != nil {
				t.Fatal(err)
			}
			_, err = engine.Build(doc, engine.Options{Catalog: nodes.Default})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("build: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestRecorderTime(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"20240601_053000.WAV", "2024-06-01T05:30:00Z"},                 // AudioMoth
		{"WALDEN_20240601_140505.wav", "2024-06-01T14:05:05Z"},          // Song Meter Mini
		{"SM4A_20240601_140505$.wav", "2024-06-01T14:05:05Z"},           // Song Meter, $ variant
		{"S4A01234_20231231_235959_0+1.wav", "2023-12-31T23:59:59Z"},    // suffix after the time
		{"MIC-3_20240601_140505_250000.wav", "2024-06-01T14:05:05.25Z"}, // microseconds
		{"my_site_2_20240229_120000.wav", "2024-02-29T12:00:00Z"},       // prefix with underscores
		{"20240230_120000.wav", ""},                                     // no 30 February
		{"20240601_1405.wav", ""},                                       // short time
		{"recording.wav", ""},
		{"20240601_053000.flac", ""},
	} {
		got, ok := RecorderTime(tc.name, time.UTC)
		if s := got.Format(time.RFC3339Nano); ok != (tc.want != "") || (ok && s != tc.want) {
			t.Errorf("%s: %v %v, want %q", tc.name, s, ok, tc.want)
		}
	}
}

// Audio from a folder keeps its file through resampling and framing, and no window spans two
// recordings: each file is framed on its own, with its own padded tail.
func TestFolderFramesPerFile(t *testing.T) {
	dir := t.TempDir()
	writeTestWAV(t, filepath.Join(dir, "a_20240601_050000.wav"), 1, 16, 1, false, 8000*3/2) // 1.5 s
	writeTestWAV(t, filepath.Join(dir, "b_20240601_060000.wav"), 1, 16, 1, false, 8000*2)   // 2 s
	out, errs, m := runGraph(t, fmt.Sprintf(`{"id":"dir","type":"source.wav_dir","config":{"path":%q,"frame":1000}},
		{"id":"rs","type":"transform.resample","config":{"to_rate":16000}},
		{"id":"fr","type":"transform.frame","config":{"size":16000,"hop":8000}}`, dir),
		edge("dir", "rs")+","+edge("rs", "fr")+","+edge("fr", "out")+","+errEdge("fr", "errs"))
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	// 1.5 s at 16 kHz = 24000 samples: windows at 0 and 0.5 s (the second reaches the end);
	// 2 s = 32000: windows at 0, 0.5 and 1 s.
	want := []struct {
		file  string
		start float64
	}{{"a", 0}, {"a", 0.5}, {"b", 0}, {"b", 0.5}, {"b", 1}}
	if len(out) != len(want) {
		t.Fatalf("%d windows, want %d", len(out), len(want))
	}
	for i, r := range out {
		f, st := filepath.Base(str(r, FieldFile)), num(r, FieldStart)
		if !strings.HasPrefix(f, want[i].file) || st != want[i].start {
			t.Errorf("window %d: %s at %v, want %s… at %v", i, f, st, want[i].file, want[i].start)
		}
		if _, ok := r.Get(FieldTime); !ok {
			t.Errorf("window %d lost its time", i)
		}
	}
	for _, id := range []string{"rs", "fr"} {
		if m[id].RTF == nil || *m[id].RTF <= 0 || m[id].Batches < 1 {
			t.Errorf("%s shows no real-time factor or batch count: %+v", id, m[id])
		}
	}
}
