package audio

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/cmplx"

	"gonum.org/v1/gonum/dsp/fourier"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

var spectrogramSpec = engine.Spec{
	ID:       "transform.spectrogram",
	Category: "dsp",
	Summary:  "Short-time Fourier transform of audio: magnitude, dB or log-mel rows.",
	Docs: "Cuts contiguous audio (from a source, filter or resampler — not overlapping windows from " +
		"`transform.frame`) into frames of `window_length` samples every `hop` samples, applies a " +
		"`window` (periodic Hann, Hamming or rectangular), zero-pads each to `fft_size` and takes " +
		"its real FFT (gonum's `dsp/fourier`). `kind` says what a frame becomes:\n\n" +
		"- `magnitude`: |X| of the `fft_size`/2 + 1 bins (bin k is k·rate/fft_size Hz);\n" +
		"- `db`: 20·log10(|X|), floored at −200 dB;\n" +
		"- `log_mel`: ln(Σ w·|X| + `log_offset`) over `mel_bands` triangular filters spaced evenly " +
		"on the HTK mel scale (2595·log10(1 + f/700)) from `f_min` to `f_max` Hz (0: the Nyquist " +
		"frequency) — YAMNet's features with its settings (window 400, hop 160, FFT 512, 64 bands, " +
		"125–7500 Hz).\n\n" +
		"Each output row packs up to `frames_per_row` consecutive frames: `spectrogram` (float32s, " +
		"frames × bins, one frame after another), `frames`, `bins`, `kind`, `rate`, `fft_size`, " +
		"`hop_s` (seconds between frames), `f_min` and `f_max` (the frequency axis), `t_start` (the " +
		"first frame's start) and `t_end` (`t_start` + frames × `hop_s`), and `file`/`time` when the " +
		"audio has them. A new `file`, a rate change or a gap in `t_start` starts a new stream; a " +
		"frame that would run past the end of a stream is not emitted. The node shows its real-time " +
		"factor.",
	Headless: true,
	Inputs:   []engine.Port{{Name: "in", Type: PortType, Required: true}},
	Outputs:  []engine.Port{{Name: "out", Type: "spectrogram"}},
	Fields: []engine.Field{
		{Name: "kind", Type: "string", Doc: "magnitude, db or log_mel", Default: "log_mel", Enum: []any{"magnitude", "db", "log_mel"}},
		{Name: "fft_size", Type: "integer", Doc: "FFT length in samples", Default: 512, Min: engine.Num(8), Max: engine.Num(1 << 16)},
		{Name: "window_length", Type: "integer", Doc: "samples per frame (0: fft_size; at most fft_size)", Default: 0, Min: engine.Num(0), Max: engine.Num(1 << 16)},
		{Name: "hop", Type: "integer", Doc: "samples between frame starts", Default: 160, Min: engine.Num(1)},
		{Name: "window", Type: "string", Doc: "window function", Default: "hann", Enum: []any{"hann", "hamming", "rect"}},
		{Name: "mel_bands", Type: "integer", Doc: "mel bands (log_mel)", Default: 64, Min: engine.Num(1), Max: engine.Num(1024)},
		{Name: "f_min", Type: "number", Doc: "lowest mel frequency in Hz (log_mel)", Default: 125.0, Min: engine.Num(0)},
		{Name: "f_max", Type: "number", Doc: "highest mel frequency in Hz, 0 for the Nyquist frequency (log_mel)", Default: 0.0, Min: engine.Num(0)},
		{Name: "log_offset", Type: "number", Doc: "added before the logarithm (log_mel)", Default: 0.001, Min: engine.Num(0)},
		{Name: "frames_per_row", Type: "integer", Doc: "frames packed into one output row", Default: 32, Min: engine.Num(1), Max: engine.Num(4096)},
	},
	Examples: []engine.Example{
		{Name: "YAMNet log-mel", Config: json.RawMessage(`{"kind":"log_mel","fft_size":512,"window_length":400,"hop":160,"mel_bands":64,"f_min":125,"f_max":7500}`)},
		{Name: "view in dB", Config: json.RawMessage(`{"kind":"db","fft_size":1024,"hop":512}`)},
	},
	Defaults: spectrogramDefaults,
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, spectrogramDefaults)
		if err != nil {
			return nil, err
		}
		if cfg.WindowLength == 0 {
			cfg.WindowLength = cfg.FFTSize
		}
		switch {
		case cfg.WindowLength > cfg.FFTSize:
			return nil, fmt.Errorf("config: window_length %d is longer than fft_size %d", cfg.WindowLength, cfg.FFTSize)
		case cfg.Kind != "magnitude" && cfg.Kind != "db" && cfg.Kind != "log_mel":
			return nil, fmt.Errorf("config: kind %q (magnitude, db or log_mel)", cfg.Kind)
		case cfg.Window != "hann" && cfg.Window != "hamming" && cfg.Window != "rect":
			return nil, fmt.Errorf("config: window %q (hann, hamming or rect)", cfg.Window)
		case cfg.Hop < 1:
			return nil, fmt.Errorf("config: hop must be >= 1")
		case cfg.FMax != 0 && cfg.FMax <= cfg.FMin:
			return nil, fmt.Errorf("config: f_max %g Hz is not above f_min %g Hz", cfg.FMax, cfg.FMin)
		}
		n := &spectrogramNode{cfg: cfg, fft: fourier.NewFFT(cfg.FFTSize)}
		n.win = windowFunc(cfg.Window, cfg.WindowLength)
		n.seq = make([]float64, cfg.FFTSize)
		return n, nil
	},
}

type spectrogramConfig struct {
	Kind         string  `json:"kind"`
	FFTSize      int     `json:"fft_size"`
	WindowLength int     `json:"window_length"`
	Hop          int     `json:"hop"`
	Window       string  `json:"window"`
	MelBands     int     `json:"mel_bands"`
	FMin         float64 `json:"f_min"`
	FMax         float64 `json:"f_max"`
	LogOffset    float64 `json:"log_offset"`
	FramesPerRow int     `json:"frames_per_row"`
}

var spectrogramDefaults = spectrogramConfig{Kind: "log_mel", FFTSize: 512, Hop: 160, Window: "hann", MelBands: 64, FMin: 125, LogOffset: 0.001, FramesPerRow: 32}

func init() { nodes.Register(spectrogramSpec) }

type spectrogramNode struct {
	cfg   spectrogramConfig
	fft   *fourier.FFT
	win   []float64
	seq   []float64
	coef  []complex128
	mag   []float64
	mel   *melBank // for log_mel, designed for rate
	fmax  float64
	rate  int
	rec   recording
	rtf   rtfMeter
	live  bool      // a stream is in progress
	buf   []float32 // samples from absolute index bufAt
	bufAt int64
	total int64   // samples received in this stream
	next  int64   // start of the next frame
	t0    float64 // t_start of the stream's first sample
	// the row being filled
	pending  []float32
	frames   int
	rowStart float64
}

func windowFunc(kind string, n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		switch kind {
		case "hann": // periodic, as STFTs use
			w[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n))
		case "hamming":
			w[i] = 0.54 - 0.46*math.Cos(2*math.Pi*float64(i)/float64(n))
		default:
			w[i] = 1
		}
	}
	return w
}

func (n *spectrogramNode) bins() int {
	if n.cfg.Kind == "log_mel" {
		return n.cfg.MelBands
	}
	return n.cfg.FFTSize/2 + 1
}

// start begins a stream at rate Hz whose first sample is at t0 seconds.
func (n *spectrogramNode) start(rate int, t0 float64, rec recording) error {
	if n.cfg.Kind == "log_mel" && (n.mel == nil || rate != n.rate) {
		fmax := n.cfg.FMax
		if fmax == 0 {
			fmax = float64(rate) / 2
		}
		if fmax > float64(rate)/2 || n.cfg.FMin >= fmax {
			return fmt.Errorf("mel bands %g–%g Hz do not fit audio at %d Hz", n.cfg.FMin, fmax, rate)
		}
		n.mel, n.fmax = newMelBank(n.cfg.MelBands, n.cfg.FFTSize, float64(rate), n.cfg.FMin, fmax), fmax
	}
	if n.cfg.Kind != "log_mel" {
		n.fmax = float64(rate) / 2
	}
	n.live, n.rate, n.t0, n.rec = true, rate, t0, rec
	n.buf, n.bufAt, n.total, n.next = n.buf[:0], 0, 0, 0
	return nil
}

func (n *spectrogramNode) Process(ctx context.Context, port string, b *rows.Batch, out engine.Output) error {
	stop := n.rtf.time(out)
	var outRows []rows.Row
	for _, row := range b.Rows {
		samples, rate, err := readAudio(row)
		if err != nil {
			out.Reject(row, err)
			continue
		}
		var t float64
		if v, ok := row.Get(FieldStart); ok {
			t, _ = v.AsFloat()
		}
		rec := recordingOf(row)
		expected := n.t0 + float64(n.total)/float64(max(n.rate, 1))
		if !n.live || rec.file != n.rec.file || rate != n.rate || math.Abs(t-expected) > 0.5/float64(rate) {
			outRows = n.endRow(outRows)
			if err := n.start(rate, t, rec); err != nil {
				n.live = false
				out.Reject(row, err)
				continue
			}
		}
		n.rtf.audio(len(samples), rate)
		n.buf = append(n.buf, samples...)
		n.total += int64(len(samples))
		outRows = n.frameAll(outRows)
	}
	stop()
	if len(outRows) == 0 {
		return nil
	}
	return out.Emit("out", &rows.Batch{Rows: outRows})
}

// frameAll transforms every frame the buffer holds in full.
func (n *spectrogramNode) frameAll(dst []rows.Row) []rows.Row {
	wl := int64(n.cfg.WindowLength)
	for n.next+wl <= n.total {
		if n.frames == 0 {
			n.rowStart = n.t0 + float64(n.next)/float64(n.rate)
		}
		n.pending = n.transform(n.pending, n.buf[n.next-n.bufAt:n.next-n.bufAt+wl])
		n.frames++
		n.next += int64(n.cfg.Hop)
		if n.frames == n.cfg.FramesPerRow {
			dst = n.endRow(dst)
		}
	}
	if drop := min(n.next, n.total) - n.bufAt; drop > 0 {
		k := copy(n.buf, n.buf[drop:])
		n.buf = n.buf[:k]
		n.bufAt += drop
	}
	return dst
}

// transform appends one frame's bins to dst.
func (n *spectrogramNode) transform(dst []float32, x []float32) []float32 {
	clear(n.seq[len(x):]) // the zero padding (Coefficients leaves seq as it is)
	for i, v := range x {
		n.seq[i] = float64(v) * n.win[i]
	}
	n.coef = n.fft.Coefficients(n.coef, n.seq)
	if cap(n.mag) < len(n.coef) {
		n.mag = make([]float64, len(n.coef))
	}
	mag := n.mag[:len(n.coef)]
	for i, c := range n.coef {
		mag[i] = cmplx.Abs(c)
	}
	switch n.cfg.Kind {
	case "magnitude":
		for _, m := range mag {
			dst = append(dst, float32(m))
		}
	case "db":
		for _, m := range mag {
			dst = append(dst, float32(max(-200, 20*math.Log10(m))))
		}
	default:
		for _, band := range n.mel.bands {
			var s float64
			for j, w := range band.w {
				s += w * mag[band.from+j]
			}
			dst = append(dst, float32(math.Log(s+n.cfg.LogOffset)))
		}
	}
	return dst
}

// endRow appends the frames gathered so far as one row.
func (n *spectrogramNode) endRow(dst []rows.Row) []rows.Row {
	if n.frames == 0 {
		return dst
	}
	hop := float64(n.cfg.Hop) / float64(n.rate)
	fmin := 0.0
	if n.cfg.Kind == "log_mel" {
		fmin = n.cfg.FMin
	}
	r := rows.Row{
		{Name: "spectrogram", Value: rows.Float32s(n.pending)},
		{Name: "frames", Value: rows.Int(int64(n.frames))},
		{Name: "bins", Value: rows.Int(int64(n.bins()))},
		{Name: "kind", Value: rows.String(n.cfg.Kind)},
		{Name: FieldRate, Value: rows.Int(int64(n.rate))},
		{Name: "fft_size", Value: rows.Int(int64(n.cfg.FFTSize))},
		{Name: "hop_s", Value: rows.Float(hop)},
		{Name: "f_min", Value: rows.Float(fmin)},
		{Name: "f_max", Value: rows.Float(n.fmax)},
		{Name: FieldStart, Value: rows.Float(n.rowStart)},
		{Name: FieldEnd, Value: rows.Float(n.rowStart + float64(n.frames)*hop)},
	}
	dst = append(dst, n.rec.stamp(r, n.rowStart))
	n.pending, n.frames = make([]float32, 0, n.cfg.FramesPerRow*n.bins()), 0
	return dst
}

func (n *spectrogramNode) Flush(ctx context.Context, out engine.Output) error {
	rs := n.endRow(nil)
	if len(rs) == 0 {
		return nil
	}
	return out.Emit("out", &rows.Batch{Rows: rs})
}

// melBank is a set of triangular filters over the bins of a real FFT.
type melBank struct {
	bands []melBand
}

// melBand weights bins from, from+1, … by w; centre is its peak frequency in Hz.
type melBand struct {
	from   int
	w      []float64
	centre float64
}

func hzToMel(f float64) float64 { return 2595 * math.Log10(1+f/700) }
func melToHz(m float64) float64 { return 700 * (math.Pow(10, m/2595) - 1) }

// newMelBank designs n triangular bands evenly spaced in mel from fmin to fmax Hz over the
// fft/2+1 bins of an FFT of length fft at rate Hz: band i rises from edge i to its centre at edge
// i+1 and falls to edge i+2.
func newMelBank(n, fft int, rate, fmin, fmax float64) *melBank {
	edges := make([]float64, n+2)
	lo, hi := hzToMel(fmin), hzToMel(fmax)
	for i := range edges {
		edges[i] = melToHz(lo + (hi-lo)*float64(i)/float64(n+1))
	}
	nb := fft/2 + 1
	b := &melBank{bands: make([]melBand, n)}
	for i := range b.bands {
		l, c, r := edges[i], edges[i+1], edges[i+2]
		band := melBand{from: -1, centre: c}
		for k := 0; k < nb; k++ {
			f := float64(k) * rate / float64(fft)
			var w float64
			switch {
			case f > l && f <= c:
				w = (f - l) / (c - l)
			case f > c && f < r:
				w = (r - f) / (r - c)
			}
			if w <= 0 {
				if band.from >= 0 {
					break
				}
				continue
			}
			if band.from < 0 {
				band.from = k
			}
			band.w = append(band.w, w)
		}
		if band.from < 0 {
			band.from = 0
		}
		b.bands[i] = band
	}
	return b
}

var (
	_ engine.Processor = (*spectrogramNode)(nil)
	_ engine.Flusher   = (*spectrogramNode)(nil)
)
