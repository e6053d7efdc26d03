package audio

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"github.com/atoll-studio/atoll/internal/testnodes"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/internal/testdata"
	"github.com/atoll-studio/atoll/nodes"
)

func runAudioGraph(t *testing.T, nodesJSON, edgesJSON string) []rows.Row {
	t.Helper()
	c := &testnodes.Capture{}
	cat := nodes.New()
	testnodes.Register(cat, "test.capture", c)
	doc, err := graph.Parse([]byte(fmt.Sprintf(`{"version":1,"id":"a","name":"a","nodes":[%s],"edges":[%s]}`, nodesJSON, edgesJSON)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := engine.Build(doc, engine.Options{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	testnodes.RunToEnd(t, r, 60*time.Second)
	return c.Rows()
}

func edge(from, to string) string {
	return fmt.Sprintf(`{"from":{"node":%q,"port":"out"},"to":{"node":%q,"port":"in"}}`, from, to)
}

// The reference YAMNet inputs were made from birdnet_sample.wav by a Kaiser-windowed sinc
// resampler (β = 12, cutoff 7750 Hz) and 15600/8000 framing; ours must give the same frames.
func TestResampleAndFrameMatchReferenceFrames(t *testing.T) {
	wavPath := testdata.Path(t, "audio/birds/birdnet_sample.wav")
	refPath := testdata.Path(t, "models/yamnet/reference/birdnet_sample_frames.f32")
	ref, err := os.ReadFile(refPath)
	if err != nil {
		t.Fatal(err)
	}
	got := runAudioGraph(t, fmt.Sprintf(`{"id":"wav","type":"source.wav","config":{"path":%q,"frame":3000}},
		{"id":"rs","type":"transform.resample","config":{"to_rate":16000}},
		{"id":"fr","type":"transform.frame","config":{"size":15600,"hop":8000}},
		{"id":"cap","type":"test.capture"}`, wavPath), edge("wav", "rs")+","+edge("rs", "fr")+","+edge("fr", "cap"))
	const frame = 15600
	nref := len(ref) / 4 / frame
	if len(got) != nref {
		t.Fatalf("got %d frames, reference has %d", len(got), nref)
	}
	var worst float64
	for i, row := range got {
		s, rate, err := readAudio(row)
		if err != nil || rate != 16000 || len(s) != frame {
			t.Fatalf("frame %d: rate %d, %d samples, %v", i, rate, len(s), err)
		}
		if st, _ := row.Get(FieldStart); !st.Equal(rows.Float(float64(i) * 0.5)) {
			t.Errorf("frame %d starts at %v, want %v", i, st, float64(i)*0.5)
		}
		for j, x := range s {
			r := math.Float32frombits(binary.LittleEndian.Uint32(ref[(i*frame+j)*4:]))
			worst = max(worst, math.Abs(float64(x-r)))
		}
	}
	t.Logf("max |ours - reference| over %d frames: %.2e", len(got), worst)
	if worst > 1e-4 {
		t.Fatalf("resampled frames differ from the reference by up to %.2e (> 1e-4)", worst)
	}
}

func TestWAVFormats(t *testing.T) {
	owl := testdata.Path(t, "audio/birds/tawnyowl.wav") // 48 kHz, 32-bit PCM, WAVE_FORMAT_EXTENSIBLE
	got := runAudioGraph(t, fmt.Sprintf(`{"id":"wav","type":"source.wav","config":{"path":%q,"frame":48000}},{"id":"cap","type":"test.capture"}`, owl), edge("wav", "cap"))
	var n int
	var peak float32
	for _, r := range got {
		s, rate, err := readAudio(r)
		if err != nil || rate != 48000 {
			t.Fatalf("row: rate %d, %v", rate, err)
		}
		n += len(s)
		for _, x := range s {
			peak = max(peak, float32(math.Abs(float64(x))))
		}
	}
	if n != 15*48000 {
		t.Errorf("tawnyowl.wav gave %d samples, want %d (15 s at 48 kHz)", n, 15*48000)
	}
	if peak < 0.01 || peak > 1 {
		t.Errorf("peak %v: samples not scaled to [-1, 1]", peak)
	}
	// Synthesised files in every other format decode to the same ramp.
	for _, tc := range []struct {
		name  string
		tag   uint16
		bits  int
		chans int
		ext   bool
	}{{"pcm8", 1, 8, 1, false}, {"pcm16 stereo", 1, 16, 2, false}, {"pcm24", 1, 24, 1, false}, {"float32", 3, 32, 1, false},
		{"float64", 3, 64, 1, false}, {"extensible float32", 3, 32, 2, true}} {
		t.Run(tc.name, func(t *testing.T) {
			path := t.TempDir() + "/x.wav"
			want := writeTestWAV(t, path, tc.tag, tc.bits, tc.chans, tc.ext, 1000)
			got := runAudioGraph(t, fmt.Sprintf(`{"id":"wav","type":"source.wav","config":{"path":%q,"frame":333}},{"id":"cap","type":"test.capture"}`, path), edge("wav", "cap"))
			var all []float32
			for _, r := range got {
				s, _, _ := readAudio(r)
				all = append(all, s...)
			}
			if len(all) != len(want) {
				t.Fatalf("%d samples, want %d", len(all), len(want))
			}
			tol := 1.0 / float64(int(1)<<(min(tc.bits, 24)-2))
			for i := range all {
				if math.Abs(float64(all[i]-want[i])) > tol {
					t.Fatalf("sample %d: %v, want %v", i, all[i], want[i])
				}
			}
		})
	}
}

// writeTestWAV writes a ramp in [-0.9, 0.9] (the same on every channel) and returns it.
func writeTestWAV(t *testing.T, path string, tag uint16, bits, chans int, ext bool, n int) []float32 {
	t.Helper()
	want := make([]float32, n)
	var data []byte
	for i := range want {
		x := -0.9 + 1.8*float64(i)/float64(n-1)
		want[i] = float32(x)
		for c := 0; c < chans; c++ {
			switch {
			case tag == 3 && bits == 32:
				data = binary.LittleEndian.AppendUint32(data, math.Float32bits(float32(x)))
			case tag == 3:
				data = binary.LittleEndian.AppendUint64(data, math.Float64bits(x))
			case bits == 8:
				data = append(data, byte(int(math.Round(x*127))+128))
			case bits == 16:
				data = binary.LittleEndian.AppendUint16(data, uint16(int16(math.Round(x*32767))))
			case bits == 24:
				v := int32(math.Round(x * 8388607))
				data = append(data, byte(v), byte(v>>8), byte(v>>16))
			}
		}
	}
	fmtChunk := binary.LittleEndian.AppendUint16(nil, tag)
	if ext {
		fmtChunk = binary.LittleEndian.AppendUint16(nil, 0xFFFE)
	}
	fmtChunk = binary.LittleEndian.AppendUint16(fmtChunk, uint16(chans))
	fmtChunk = binary.LittleEndian.AppendUint32(fmtChunk, 8000)
	fmtChunk = binary.LittleEndian.AppendUint32(fmtChunk, uint32(8000*chans*bits/8))
	fmtChunk = binary.LittleEndian.AppendUint16(fmtChunk, uint16(chans*bits/8))
	fmtChunk = binary.LittleEndian.AppendUint16(fmtChunk, uint16(bits))
	if ext {
		fmtChunk = binary.LittleEndian.AppendUint16(fmtChunk, 22)
		fmtChunk = binary.LittleEndian.AppendUint16(fmtChunk, uint16(bits))
		fmtChunk = binary.LittleEndian.AppendUint32(fmtChunk, 3)
		guid := []byte{0, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71}
		binary.LittleEndian.PutUint16(guid, tag)
		fmtChunk = append(fmtChunk, guid...)
	}
	var f []byte
	f = append(f, "RIFF"...)
	f = binary.LittleEndian.AppendUint32(f, uint32(4+8+len(fmtChunk)+8+len(data)))
	f = append(f, "WAVEfmt "...)
	f = binary.LittleEndian.AppendUint32(f, uint32(len(fmtChunk)))
	f = append(f, fmtChunk...)
	f = append(f, "data"...)
	f = binary.LittleEndian.AppendUint32(f, uint32(len(data)))
	f = append(f, data...)
	if err := os.WriteFile(path, f, 0o644); err != nil {
		t.Fatal(err)
	}
	return want
}

func TestBadWAVIsLocated(t *testing.T) {
	path := t.TempDir() + "/bad.wav"
	os.WriteFile(path, []byte("RIFF\x00\x00\x00\x00WAVEjunk"), 0o644)
	doc, _ := graph.Parse([]byte(fmt.Sprintf(`{"version":1,"id":"a","name":"a","nodes":[{"id":"mic","type":"source.wav","config":{"path":%q}}],"edges":[]}`, path)))
	_, err := engine.Build(doc, engine.Options{Catalog: nodes.Default})
	if err == nil {
		t.Fatal("build succeeded on a broken WAV")
	}
	t.Log(err)
	if msg := err.Error(); !strings.Contains(msg, `node "mic"`) || !strings.Contains(msg, "bad.wav") || !strings.Contains(msg, "byte") {
		t.Fatalf("error %q does not name the node, file and byte", msg)
	}
}

func TestDetectMergesWindows(t *testing.T) {
	det, err := detectSpec.New(engine.BuildContext{NodeID: "det"}, json.RawMessage(`{"threshold":0.5,"indices":["106-116"],"max_gap":0.1}`))
	if err != nil {
		t.Fatal(err)
	}
	win := func(label string, idx int64, score, start float64) rows.Row {
		return rows.Row{{Name: "label", Value: rows.String(label)}, {Name: "index", Value: rows.Int(idx)},
			{Name: "score", Value: rows.Float(score)}, {Name: "t_start", Value: rows.Float(start)}, {Name: "t_end", Value: rows.Float(start + 0.975)}}
	}
	in := &rows.Batch{Rows: []rows.Row{
		win("Owl", 114, 0.9, 0), win("Speech", 0, 0.99, 0),
		win("Owl", 114, 0.7, 0.5), win("Bird", 106, 0.4, 0.5),
		win("Owl", 114, 0.6, 1.0),
		win("Owl", 114, 0.1, 3.0), // below threshold: ends the first owl event
		win("Owl", 114, 0.8, 5.0),
	}}
	out := &testOutput{}
	if err := det.(engine.Processor).Process(t.Context(), "in", in, out); err != nil {
		t.Fatal(err)
	}
	if err := det.(engine.Flusher).Flush(t.Context(), out); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"label":"Owl","index":114,"t_start":0.0,"t_end":1.975,"confidence":0.9,"mean_score":0.7333333333333334,"windows":3}`,
		`{"label":"Owl","index":114,"t_start":5.0,"t_end":5.975,"confidence":0.8,"mean_score":0.8,"windows":1}`,
	}
	if len(out.rows) != len(want) {
		t.Fatalf("got %d events: %v", len(out.rows), out.rows)
	}
	for i, r := range out.rows {
		if got := string(r.AppendJSON(nil)); got != want[i] {
			t.Errorf("event %d:\n got %s\nwant %s", i, got, want[i])
		}
	}
}

type testOutput struct{ rows []rows.Row }

func (o *testOutput) Emit(port string, b *rows.Batch) error {
	o.rows = append(o.rows, b.Rows...)
	return nil
}
func (o *testOutput) EmitAcked(port string, b *rows.Batch, ack func()) error {
	return o.Emit(port, b)
}
func (o *testOutput) Reject(r rows.Row, err error) { panic(err) }
func (o *testOutput) Log(level, msg string)        {}
func (o *testOutput) Gauge(name string, v float64) {}
