// Command birdbench times the whole bird graph (recordings → high-pass → resample → frame →
// YAMNet through the classifier guest → detect, with a spectrogram branch) on recordings it
// makes from the shared test data, and prints `make bench` rows: wall time, the real-time factor
// end to end and per node, the DSP nodes' share of the time, and the process's peak RSS.
//
//	birdbench -scenario long   one 10-minute 48 kHz 16-bit WAV (the shared recordings, repeated)
//	birdbench -scenario folder 100 ten-second files named like a recorder's (source.wav_dir)
//
// Run one scenario per process, so that the peak RSS is that scenario's. The recordings are
// written to a temporary directory and removed afterwards (never committed).
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"syscall"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/internal/testnodes"
	"github.com/atoll-studio/atoll/nodes"
	_ "github.com/atoll-studio/atoll/nodes/all"
)

const rate = 48000

func main() {
	scenario := flag.String("scenario", "long", "long (one 10-minute WAV) or folder (100 ten-second files)")
	testdata := flag.String("testdata", "../shared/testdata", "the shared test data")
	module := flag.String("classifier", "examples/functions/build/classifier.wasm", "the classifier guest")
	instances := flag.Int("instances", 1, "classifier instances (one per core)")
	flag.Parse()
	if err := run(*scenario, *testdata, *module, *instances); err != nil {
		fmt.Fprintln(os.Stderr, "birdbench:", err)
		os.Exit(1)
	}
}

func run(scenario, testdata, module string, instances int) error {
	for _, p := range []string{testdata, module} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w (build the guest with `make classifier-wasm`; the shared test data sits beside the checkout)", err)
		}
	}
	loop, err := loadLoop(testdata)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "birdbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var source string
	var what string
	seconds := 600.0
	switch scenario {
	case "long":
		path := filepath.Join(dir, "long.wav")
		if err := writeWAV(path, loop, 0, int(seconds*rate)); err != nil {
			return err
		}
		source = fmt.Sprintf(`{"id":"recordings","type":"source.wav","config":{"path":%q,"frame":4800}}`, path)
		what = "10-min 48 kHz WAV"
	case "folder":
		start := time.Date(2024, 6, 1, 5, 0, 0, 0, time.UTC)
		for k := 0; k < 100; k++ {
			name := fmt.Sprintf("BENCH_%s.wav", start.Add(time.Duration(k)*10*time.Second).Format("20060102_150405"))
			if err := writeWAV(filepath.Join(dir, name), loop, k*10*rate, 10*rate); err != nil {
				return err
			}
		}
		source = fmt.Sprintf(`{"id":"recordings","type":"source.wav_dir","config":{"path":%q,"frame":4800}}`, dir)
		what = "100 × 10 s 48 kHz WAVs"
		seconds = 1000
	default:
		return fmt.Errorf("scenario %q (long or folder)", scenario)
	}
	loop = nil
	runtime.GC()

	models, _ := filepath.Abs(filepath.Join(testdata, "models", "yamnet"))
	mod, _ := filepath.Abs(module)
	doc := fmt.Sprintf(`{"version":1,"id":"bench","name":"bench","nodes":[%s,
	 {"id":"highpass","type":"transform.audio_filter","config":{"mode":"highpass","cutoff":200,"order":4}},
	 {"id":"resample","type":"transform.resample","config":{"to_rate":16000}},
	 {"id":"frame","type":"transform.frame","config":{"size":15600,"hop":8000}},
	 {"id":"yamnet","type":"function.wasm","config":{"module":%q,"instances":%d,"max_call_ms":60000,
	   "models":{"yamnet":%q},"files":{"yamnet_class_map.csv":%q},
	   "config":{"model":"yamnet","labels":"/yamnet_class_map.csv","rate":16000,"window":15600,"top_k":5}}},
	 {"id":"detect","type":"transform.detect","config":{"indices":["106-116"],"threshold":0.05,"max_gap":0.5}},
	 {"id":"detections","type":"test.capture"},
	 {"id":"spectrogram","type":"transform.spectrogram","config":{"kind":"db","fft_size":512,"hop":256}},
	 {"id":"view","type":"sink.discard","config":{}}],
	 "edges":[%s,%s,%s,%s,%s,%s,%s,%s]}`, source, mod, instances,
		filepath.Join(models, "yamnet.tflite"), filepath.Join(models, "yamnet_class_map.csv"),
		edge("recordings", "highpass"), edge("highpass", "resample"), edge("resample", "frame"), edge("frame", "yamnet"),
		edge("yamnet", "detect"), edge("detect", "detections"), edge("resample", "spectrogram"), edge("spectrogram", "view"))
	g, err := graph.Parse([]byte(doc))
	if err != nil {
		return err
	}
	cat := nodes.New()
	detections := &testnodes.Capture{}
	testnodes.Register(cat, "test.capture", detections)
	r, err := engine.Build(g, engine.Options{Catalog: cat, Headless: true, Assets: fileAssets{}})
	if err != nil {
		return err
	}
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	r.Start(ctx)
	if err := r.Wait(); err != nil {
		return err
	}
	wall := time.Since(t0).Seconds()
	m := r.Metrics()
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)

	cores := fmt.Sprintf("GOMAXPROCS %d, %d classifier instance(s)", runtime.GOMAXPROCS(0), instances)
	row := func(bench string, v float64, unit, note string) {
		fmt.Printf("| birds | %s, %s | %.3g | %s | %s |\n", what, bench, v, unit, note)
	}
	row("wall time", wall, "s", cores)
	row("real-time factor end to end", seconds/wall, "x", cores+"; target >= 80x on 1 core, >= 120x on 2")
	// Time in each node: the DSP nodes measure their own (rtf gauge: audio seconds per second
	// of work); the others from the engine's batch timings.
	busy := map[string]float64{}
	for _, id := range []string{"highpass", "resample", "frame", "spectrogram"} {
		if g := m[id].RTF; g != nil && *g > 0 {
			busy[id] = seconds / *g
		}
	}
	for _, id := range []string{"yamnet", "detect"} {
		busy[id] = m[id].LatencyMS * float64(m[id].Batches) / 1000
	}
	ids := make([]string, 0, len(busy))
	var total, dsp float64
	for id, b := range busy {
		ids = append(ids, id)
		total += b
		if id != "yamnet" && id != "detect" {
			dsp += b
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		if busy[id] > 0 {
			row("real-time factor of "+id, seconds/busy[id], "x", fmt.Sprintf("%.2f s of work", busy[id]))
		}
	}
	row("DSP nodes' share of node time", 100*dsp/total, "%", "high-pass, resample, frame, spectrogram; target <= 10 %")
	row("peak RSS", float64(ru.Maxrss)/1024, "MB", "whole process, recordings made in it first; target <= 150 MB")
	row("detections", float64(detections.Len()), "events", "bird family, threshold 0.05")
	return nil
}

// fileAssets opens the (absolute) paths the graph names.
type fileAssets struct{}

func (fileAssets) Asset(ref string) ([]byte, error) { return os.ReadFile(ref) }

func edge(from, to string) string {
	return fmt.Sprintf(`{"from":{"node":%q,"port":"out"},"to":{"node":%q,"port":"in"}}`, from, to)
}

// loadLoop reads the shared bird recordings (48 kHz) one after the other, with the graph's own
// WAV source.
func loadLoop(testdata string) ([]float32, error) {
	var loop []float32
	for _, name := range []string{"tawnyowl.wav", "birdnet_sample.wav"} {
		path := filepath.Join(testdata, "audio", "birds", name)
		c := &testnodes.Capture{}
		cat := nodes.New()
		testnodes.Register(cat, "test.capture", c)
		g, err := graph.Parse(fmt.Appendf(nil, `{"version":1,"id":"l","name":"l","nodes":[{"id":"wav","type":"source.wav","config":{"path":%q,"frame":48000}},{"id":"cap","type":"test.capture"}],"edges":[%s]}`, path, edge("wav", "cap")))
		if err != nil {
			return nil, err
		}
		r, err := engine.Build(g, engine.Options{Catalog: cat})
		if err != nil {
			return nil, err
		}
		r.Start(context.Background())
		if err := r.Wait(); err != nil {
			return nil, err
		}
		for _, row := range c.Rows() {
			v, _ := row.Get("samples")
			s, _ := v.AsFloat32s()
			rv, _ := row.Get("rate")
			if rr, _ := rv.AsInt(); rr != rate {
				return nil, fmt.Errorf("%s: %d Hz, want %d", path, rr, rate)
			}
			loop = append(loop, s...)
		}
	}
	return loop, nil
}

// writeWAV writes n samples of the loop, starting at sample from, as a 16-bit mono WAV.
func writeWAV(path string, loop []float32, from, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	le := binary.LittleEndian
	var h []byte
	h = append(h, "RIFF"...)
	h = le.AppendUint32(h, uint32(36+2*n))
	h = append(h, "WAVEfmt "...)
	h = le.AppendUint32(h, 16)
	h = le.AppendUint16(h, 1)
	h = le.AppendUint16(h, 1)
	h = le.AppendUint32(h, rate)
	h = le.AppendUint32(h, 2*rate)
	h = le.AppendUint16(h, 2)
	h = le.AppendUint16(h, 16)
	h = append(h, "data"...)
	h = le.AppendUint32(h, uint32(2*n))
	w.Write(h)
	var b [2]byte
	for i := 0; i < n; i++ {
		x := loop[(from+i)%len(loop)]
		le.PutUint16(b[:], uint16(int16(math.Round(float64(max(-1, min(1, x)))*32767))))
		w.Write(b[:])
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
