package audio

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
)

// sine returns n samples of amplitude a at f Hz and rate Hz.
func sine(f, a float64, rate, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(a * math.Sin(2*math.Pi*f*float64(i)/float64(rate)))
	}
	return s
}

// process feeds samples through a node in rows of 1000 and returns every row it emits.
func process(t *testing.T, spec engine.Spec, config string, samples []float32, rate int) []rows.Row {
	t.Helper()
	node, err := spec.New(engine.BuildContext{NodeID: "n"}, json.RawMessage(config))
	if err != nil {
		t.Fatal(err)
	}
	out := &testOutput{}
	for at := 0; at < len(samples); at += 1000 {
		b := &rows.Batch{Rows: []rows.Row{audioRow(samples[at:min(at+1000, len(samples))], rate, float64(at)/float64(rate))}}
		if err := node.(engine.Processor).Process(t.Context(), "in", b, out); err != nil {
			t.Fatal(err)
		}
	}
	if f, ok := node.(engine.Flusher); ok {
		if err := f.Flush(t.Context(), out); err != nil {
			t.Fatal(err)
		}
	}
	return out.rows
}

func rms(s []float32) float64 {
	var sum float64
	for _, x := range s {
		sum += float64(x) * float64(x)
	}
	return math.Sqrt(sum / float64(len(s)))
}

// butterworthDB is the gain in dB of a digital Butterworth high- or low-pass of order n at f
// Hz, designed by the bilinear transform with the cutoff prewarped.
func butterworthDB(high bool, n int, fc, f, rate float64) float64 {
	r := math.Tan(math.Pi*f/rate) / math.Tan(math.Pi*fc/rate)
	if high {
		r = 1 / r
	}
	return -10 * math.Log10(1+math.Pow(r, float64(2*n)))
}

// Each filter's gain, measured with sines at three frequencies (below, at and above its edges)
// once the transient has passed, matches the Butterworth response within 0.2 dB.
func TestFilterResponseWithSines(t *testing.T) {
	const rate = 16000
	for _, tc := range []struct {
		name, config string
		freqs        []float64
		want         func(f float64) float64
	}{
		{"highpass 4th order at 1 kHz", `{"mode":"highpass","order":4,"cutoff":1000}`, []float64{250, 1000, 4000},
			func(f float64) float64 { return butterworthDB(true, 4, 1000, f, rate) }},
		{"highpass 3rd order at 500 Hz", `{"mode":"highpass","order":3,"cutoff":500}`, []float64{200, 500, 2000},
			func(f float64) float64 { return butterworthDB(true, 3, 500, f, rate) }},
		{"lowpass 2nd order at 2 kHz", `{"mode":"lowpass","order":2,"cutoff":2000}`, []float64{500, 2000, 6000},
			func(f float64) float64 { return butterworthDB(false, 2, 2000, f, rate) }},
		{"bandpass 4th order 1–4 kHz", `{"mode":"bandpass","order":4,"low":1000,"high":4000}`, []float64{300, 2000, 7000},
			func(f float64) float64 {
				return butterworthDB(true, 4, 1000, f, rate) + butterworthDB(false, 4, 4000, f, rate)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range tc.freqs {
				in := sine(f, 0.5, rate, rate) // 1 s
				var y []float32
				for _, r := range process(t, filterSpec, tc.config, in, rate) {
					s, _, _ := readAudio(r)
					y = append(y, s...)
				}
				if len(y) != len(in) {
					t.Fatalf("%d samples out of %d", len(y), len(in))
				}
				got := 20 * math.Log10(rms(y[rate/2:])/rms(in[rate/2:]))
				want := tc.want(f)
				t.Logf("%5.0f Hz: %7.2f dB (Butterworth %7.2f dB)", f, got, want)
				if math.Abs(got-want) > 0.2 {
					t.Errorf("%g Hz: gain %.2f dB, want %.2f dB", f, got, want)
				}
			}
		})
	}
	for _, bad := range []string{`{"order":9}`, `{"mode":"notch"}`, `{"mode":"bandpass","low":5000,"high":1000}`} {
		if _, err := filterSpec.New(engine.BuildContext{}, json.RawMessage(bad)); err == nil {
			t.Errorf("%s built", bad)
		}
	}
}

func TestGainModes(t *testing.T) {
	in := sine(440, 0.1, 8000, 4000)
	for _, tc := range []struct {
		config    string
		peak, rms float64
	}{
		{`{"gain":6.0206}`, 0.2, 0.2 / math.Sqrt2},
		{`{"mode":"peak","target":-6.0206}`, 0.5, 0.5 / math.Sqrt2},
		{`{"mode":"rms","target":-20}`, 0.1 * math.Sqrt2, 0.1},
		{`{"mode":"peak","target":0,"max_gain":6.0206}`, 0.2, 0.2 / math.Sqrt2}, // capped
		{`{"gain":20}`, 1, 0}, // clipped
	} {
		var y []float32
		for _, r := range process(t, gainSpec, tc.config, in, 8000) {
			s, _, _ := readAudio(r)
			y = append(y, s...)
		}
		var peak float64
		for _, x := range y {
			peak = max(peak, math.Abs(float64(x)))
		}
		if math.Abs(peak-tc.peak) > 1e-3 || (tc.rms > 0 && math.Abs(rms(y)-tc.rms) > 1e-3) {
			t.Errorf("%s: peak %.4f rms %.4f, want %.4f and %.4f", tc.config, peak, rms(y), tc.peak, tc.rms)
		}
	}
}

func spectrogramFrames(t *testing.T, rs []rows.Row) (frames [][]float32, bins int) {
	t.Helper()
	for _, r := range rs {
		v, _ := r.Get("spectrogram")
		s, ok := v.AsFloat32s()
		nf, _ := r.Get("frames")
		nb, _ := r.Get("bins")
		f, _ := nf.AsInt()
		b, _ := nb.AsInt()
		if !ok || int(f*b) != len(s) {
			t.Fatalf("row with %d frames of %d bins holds %d values", f, b, len(s))
		}
		for i := 0; i < int(f); i++ {
			frames = append(frames, s[i*int(b):(i+1)*int(b)])
		}
		bins = int(b)
	}
	return frames, bins
}

func argmax(s []float32) int {
	k := 0
	for i, v := range s {
		if v > s[k] {
			k = i
		}
	}
	return k
}

// The spectrogram of a pure sine peaks in the sine's bin in every frame; its frames are as many
// as fit and the rows' times tile the stream.
func TestSpectrogramOfSinePeaksInItsBin(t *testing.T) {
	const rate, n = 16000, 16000
	for _, tc := range []struct {
		f    float64
		kind string
	}{{1000, "magnitude"}, {2345, "magnitude"}, {5000, "db"}} {
		rs := process(t, spectrogramSpec, `{"kind":"`+tc.kind+`","fft_size":512,"hop":256,"frames_per_row":10}`, sine(tc.f, 0.5, rate, n), rate)
		frames, bins := spectrogramFrames(t, rs)
		if bins != 257 {
			t.Fatalf("%d bins, want 257", bins)
		}
		if want := 1 + (n-512)/256; len(frames) != want {
			t.Fatalf("%d frames, want %d", len(frames), want)
		}
		wantBin := int(math.Round(tc.f * 512 / rate))
		for i, fr := range frames {
			if k := argmax(fr); k != wantBin {
				t.Fatalf("%s, %g Hz: frame %d peaks in bin %d, want %d", tc.kind, tc.f, i, k, wantBin)
			}
		}
		if tc.kind == "magnitude" && tc.f == 1000 {
			// A Hann-windowed sine of amplitude a in its exact bin has |X| = a·N/4.
			if got := frames[0][wantBin]; math.Abs(float64(got)-0.5*512/4) > 0.5 {
				t.Errorf("peak magnitude %v, want %v", got, 0.5*512/4)
			}
		}
		for i, r := range rs {
			if st := num(r, FieldStart); math.Abs(st-float64(i*10*256)/rate) > 1e-9 {
				t.Errorf("row %d starts at %v, want %v", i, st, float64(i*10*256)/rate)
			}
		}
	}
}

// The mel bank has its bands in order between f_min and f_max, each a triangle with
// non-negative weights peaking next to its centre; together they cover every bin in the range;
// a sine's log-mel peaks in the band whose centre is nearest.
func TestMelBankSanity(t *testing.T) {
	const rate, fft = 16000, 512
	mb := newMelBank(64, fft, rate, 125, 7500)
	covered := make([]bool, fft/2+1)
	prev := 0.0
	for i, b := range mb.bands {
		if b.centre <= prev || b.centre < 125 || b.centre > 7500 {
			t.Fatalf("band %d centred at %g Hz after %g", i, b.centre, prev)
		}
		prev = b.centre
		peak := 0
		for j, w := range b.w {
			if w < 0 || w > 1 {
				t.Fatalf("band %d weight %g", i, w)
			}
			if w > b.w[peak] {
				peak = j
			}
			covered[b.from+j] = true
		}
		if len(b.w) > 0 {
			if f := float64(b.from+peak) * rate / fft; math.Abs(f-b.centre) > rate/fft {
				t.Errorf("band %d peaks at %g Hz, centre %g Hz", i, f, b.centre)
			}
		}
	}
	for k := range covered {
		f := float64(k) * rate / fft
		if f > 140 && f < 7400 && !covered[k] {
			t.Errorf("bin %d (%g Hz) is in no band", k, f)
		}
	}
	if math.Abs(hzToMel(melToHz(1234))-1234) > 1e-9 || math.Abs(hzToMel(1000)-1000) > 0.1 {
		t.Errorf("mel scale: 1000 Hz is %g mel", hzToMel(1000))
	}
	for _, f := range []float64{300, 1000, 3000, 6000} {
		rs := process(t, spectrogramSpec, `{"kind":"log_mel","fft_size":512,"window_length":400,"hop":160,"mel_bands":64,"f_min":125,"f_max":7500}`, sine(f, 0.5, rate, 8000), rate)
		frames, bins := spectrogramFrames(t, rs)
		if bins != 64 || len(frames) != 1+(8000-400)/160 {
			t.Fatalf("%d frames of %d bands", len(frames), bins)
		}
		nearest := 0
		for i, b := range mb.bands {
			if math.Abs(b.centre-f) < math.Abs(mb.bands[nearest].centre-f) {
				nearest = i
			}
		}
		// Neighbouring bands overlap, so the peak may sit one band off the nearest centre.
		if k := argmax(frames[len(frames)/2]); k < nearest-1 || k > nearest+1 {
			t.Errorf("%g Hz peaks in band %d (%g Hz), nearest centre is band %d (%g Hz)", f, k, mb.bands[k].centre, nearest, mb.bands[nearest].centre)
		}
	}
}
