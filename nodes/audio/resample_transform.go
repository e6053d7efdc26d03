package audio

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

var resampleSpec = engine.Spec{
	ID:       "transform.resample",
	Category: "dsp",
	Summary:  "Changes the sample rate of audio rows (Kaiser-windowed sinc).",
	Docs: "A streaming polyphase resampler for any rational ratio (48 kHz → 16 kHz for YAMNet, say). " +
		"The low-pass cutoff defaults to 96.875 % of the lower Nyquist frequency (7750 Hz for 16 kHz " +
		"output) and the filter to a Kaiser window with β = 12, the same design the reference inputs " +
		"of the YAMNet conformance data used. State carries across rows, so frame boundaries leave no " +
		"seams; `t_start` stays exact. Rows at `to_rate` already pass through unchanged.",
	Headless: true,
	Inputs:   []engine.Port{{Name: "in", Type: PortType, Required: true}},
	Outputs:  []engine.Port{{Name: "out", Type: PortType}},
	Fields: []engine.Field{
		{Name: "to_rate", Type: "integer", Doc: "output sample rate in Hz", Default: 16000, Min: engine.Num(1)},
		{Name: "cutoff", Type: "number", Doc: "cutoff as a fraction of the lower Nyquist frequency", Default: 0.96875, Min: engine.Num(0.1), Max: engine.Num(1)},
		{Name: "half_taps", Type: "integer", Doc: "filter half length in input samples at a 1:1 ratio (scaled by the decimation factor)", Default: 200, Min: engine.Num(4), Max: engine.Num(4096)},
		{Name: "beta", Type: "number", Doc: "Kaiser window β", Default: 12.0, Min: engine.Num(0)},
	},
	Examples: []engine.Example{{Name: "to 16 kHz", Config: json.RawMessage(`{"to_rate":16000}`)}},
	Defaults: resampleDefaults,
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, resampleDefaults)
		if err != nil {
			return nil, err
		}
		if cfg.ToRate <= 0 {
			return nil, fmt.Errorf("config: to_rate must be > 0")
		}
		return &resampleNode{cfg: cfg}, nil
	},
}

type resampleConfig struct {
	ToRate   int     `json:"to_rate"`
	Cutoff   float64 `json:"cutoff"`
	HalfTaps int     `json:"half_taps"`
	Beta     float64 `json:"beta"`
}

var resampleDefaults = resampleConfig{ToRate: 16000, Cutoff: 0.96875, HalfTaps: 200, Beta: 12}

func init() { nodes.Register(resampleSpec) }

type resampleNode struct {
	cfg resampleConfig
	r   *Resampler
	rec recording // the recording being resampled
	rtf rtfMeter
}

func (n *resampleNode) Process(ctx context.Context, port string, b *rows.Batch, out engine.Output) error {
	stop := n.rtf.time(out)
	outRows := make([]rows.Row, 0, len(b.Rows))
	for _, row := range b.Rows {
		samples, rate, err := readAudio(row)
		if err != nil {
			out.Reject(row, err)
			continue
		}
		n.rtf.audio(len(samples), rate)
		if rec := recordingOf(row); rec.file != n.rec.file {
			// A new recording: the last one's tail is flushed and the filter starts afresh (its
			// design, which a 44.1 kHz rate makes large, is kept).
			outRows = n.drain(outRows)
			if n.r != nil {
				n.r.reset()
			}
			n.rec = rec
		}
		if rate == n.cfg.ToRate {
			outRows = append(outRows, row)
			continue
		}
		if n.r == nil || n.r.from != rate {
			outRows = n.drain(outRows)
			n.r = NewResampler(rate, n.cfg.ToRate, n.cfg.Cutoff, n.cfg.HalfTaps, n.cfg.Beta)
		}
		start := n.r.NextTime()
		y := n.r.Process(samples, nil)
		if len(y) > 0 {
			outRows = append(outRows, n.rec.stamp(audioRow(y, n.cfg.ToRate, start), start))
		}
	}
	stop() // the time blocked downstream is not this node's
	if len(outRows) == 0 {
		return nil
	}
	return out.Emit("out", &rows.Batch{Rows: outRows})
}

// drain appends the filter's tail, if a stream is being resampled.
func (n *resampleNode) drain(dst []rows.Row) []rows.Row {
	if n.r == nil {
		return dst
	}
	start := n.r.NextTime()
	if y := n.r.Drain(); len(y) > 0 {
		dst = append(dst, n.rec.stamp(audioRow(y, n.cfg.ToRate, start), start))
	}
	return dst
}

func (n *resampleNode) Flush(ctx context.Context, out engine.Output) error {
	rs := n.drain(nil)
	n.r = nil
	if len(rs) == 0 {
		return nil
	}
	return out.Emit("out", &rows.Batch{Rows: rs})
}

// Resampler converts a stream from one rate to another by a rational factor L/M with a
// polyphase Kaiser-windowed sinc filter. Output sample k sits at input time k·M/L.
type Resampler struct {
	from, to int
	l, m     int64       // to/from reduced
	half     int         // taps on each side of the centre, in input samples
	phases   [][]float32 // phases[p][j]: weight of input base-half+1+j for output phase p
	hist     []float32   // input samples from absolute index histStart
	histAt   int64
	nextOut  int64 // index of the next output sample
	consumed int64 // input samples received
}

// NewResampler designs the filter for from → to Hz.
func NewResampler(from, to int, cutoff float64, halfTaps int, beta float64) *Resampler {
	g := gcd(int64(from), int64(to))
	l, m := int64(to)/g, int64(from)/g
	// Cutoff in cycles per input sample.
	fc := 0.5 * cutoff * math.Min(1, float64(l)/float64(m))
	half := int(math.Ceil(float64(halfTaps) * math.Max(1, float64(m)/float64(l))))
	r := &Resampler{from: from, to: to, l: l, m: m, half: half}
	r.phases = make([][]float32, l)
	i0b := besselI0(beta)
	for p := int64(0); p < l; p++ {
		taps := make([]float32, 2*half)
		frac := float64(p) / float64(l)
		var sum float64
		for j := range taps {
			// input index n = base - half + 1 + j; t - n = frac + half - 1 - j
			d := frac + float64(half-1-j)
			x := d / float64(half)
			var w float64
			if x > -1 && x < 1 {
				w = besselI0(beta*math.Sqrt(1-x*x)) / i0b
			}
			v := 2 * fc * sinc(2*fc*d) * w
			taps[j] = float32(v)
			sum += v
		}
		// Unity gain at DC for every phase.
		for j := range taps {
			taps[j] = float32(float64(taps[j]) / sum)
		}
		r.phases[p] = taps
	}
	r.reset()
	return r
}

// reset starts a new stream with the same filter.
func (r *Resampler) reset() {
	// Pretend half-1 zeros came before the stream so output 0 is centred on input 0.
	r.hist = append(r.hist[:0], make([]float32, r.half-1)...)
	r.histAt = -int64(r.half - 1)
	r.nextOut, r.consumed = 0, 0
}

// NextTime returns the time in seconds of the next output sample.
func (r *Resampler) NextTime() float64 { return float64(r.nextOut) / float64(r.to) }

// Process consumes input samples and appends the output samples it can now compute to dst.
func (r *Resampler) Process(x []float32, dst []float32) []float32 {
	r.hist = append(r.hist, x...)
	r.consumed += int64(len(x))
	return r.produce(dst, r.consumed)
}

// Drain flushes the filter's tail (zeros after the end) and returns the last outputs.
func (r *Resampler) Drain() []float32 {
	end := r.consumed
	r.hist = append(r.hist, make([]float32, r.half)...)
	return r.produce(nil, end)
}

// produce computes outputs whose centre lies before limit and whose taps are all available.
func (r *Resampler) produce(dst []float32, limit int64) []float32 {
	have := r.histAt + int64(len(r.hist)) // one past the last input index held
	for {
		num := r.nextOut * r.m
		base := num / r.l
		if base >= limit || base+int64(r.half) > have {
			break
		}
		taps := r.phases[num%r.l]
		lo := base - int64(r.half) + 1 - r.histAt
		dst = append(dst, dot(taps, r.hist[lo:lo+int64(len(taps))]))
		r.nextOut++
	}
	// Drop history no future output needs.
	keepFrom := (r.nextOut*r.m)/r.l - int64(r.half) + 1
	if drop := keepFrom - r.histAt; drop > 0 && drop <= int64(len(r.hist)) {
		n := copy(r.hist, r.hist[drop:])
		r.hist = r.hist[:n]
		r.histAt += drop
	}
	return dst
}

// dot returns Σ a[i]·b[i] over len(a) (b at least as long), with four accumulators so that the
// additions do not wait on each other: the resampler spends nearly all its time here.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		a4, b4 := a[i:i+4:i+4], b[i:i+4:i+4]
		s0 += a4[0] * b4[0]
		s1 += a4[1] * b4[1]
		s2 += a4[2] * b4[2]
		s3 += a4[3] * b4[3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the modified Bessel function of the first kind, order 0 (power series).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 200; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < 1e-17*sum {
			break
		}
	}
	return sum
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

var (
	_ engine.Processor = (*resampleNode)(nil)
	_ engine.Flusher   = (*resampleNode)(nil)
)
