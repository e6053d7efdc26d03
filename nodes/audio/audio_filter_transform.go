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

var filterSpec = engine.Spec{
	ID:       "transform.audio_filter",
	Category: "dsp",
	Summary:  "High-pass, low-pass or band-pass Butterworth filter (a cascade of biquads).",
	Docs: "Filters audio rows with a Butterworth filter of `order` 1 to 8, built as a cascade of " +
		"second-order sections (RBJ cookbook biquads with the Butterworth Qs, plus one first-order " +
		"section for an odd order), designed by the bilinear transform so that the response is " +
		"exactly −3 dB at the cutoff. `highpass` keeps what is above `cutoff` Hz (a recorder's wind " +
		"and traffic rumble below 200–500 Hz is what a bird model least needs), `lowpass` what is " +
		"below it, and `bandpass` what lies between `low` and `high` Hz (a high-pass at `low` " +
		"followed by a low-pass at `high`, each of `order`, so the band should span well over an " +
		"octave). The state carries across rows and restarts with each new `file`; a cutoff at or " +
		"above the Nyquist frequency of a row's rate sends that row to `errors`. The node shows its " +
		"real-time factor.",
	Headless: true,
	Inputs:   []engine.Port{{Name: "in", Type: PortType, Required: true}},
	Outputs:  []engine.Port{{Name: "out", Type: PortType}},
	Fields: []engine.Field{
		{Name: "mode", Type: "string", Doc: "highpass, lowpass or bandpass", Default: "highpass", Enum: []any{"highpass", "lowpass", "bandpass"}},
		{Name: "order", Type: "integer", Doc: "filter order (each 2 add a biquad; 12 dB/octave)", Default: 4, Min: engine.Num(1), Max: engine.Num(8)},
		{Name: "cutoff", Type: "number", Doc: "cutoff in Hz (highpass and lowpass)", Default: 300.0, Min: engine.Num(1)},
		{Name: "low", Type: "number", Doc: "lower edge in Hz (bandpass)", Default: 1000.0, Min: engine.Num(1)},
		{Name: "high", Type: "number", Doc: "upper edge in Hz (bandpass)", Default: 8000.0, Min: engine.Num(1)},
	},
	Examples: []engine.Example{
		{Name: "bird high-pass", Config: json.RawMessage(`{"mode":"highpass","cutoff":300,"order":4}`)},
		{Name: "song band", Config: json.RawMessage(`{"mode":"bandpass","low":1500,"high":9000,"order":4}`)},
	},
	Defaults: filterDefaults,
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, filterDefaults)
		if err != nil {
			return nil, err
		}
		switch {
		case cfg.Order < 1 || cfg.Order > 8:
			return nil, fmt.Errorf("config: order %d (1 to 8)", cfg.Order)
		case cfg.Mode == "bandpass" && cfg.Low >= cfg.High:
			return nil, fmt.Errorf("config: band %g–%g Hz: low must be below high", cfg.Low, cfg.High)
		case cfg.Mode != "highpass" && cfg.Mode != "lowpass" && cfg.Mode != "bandpass":
			return nil, fmt.Errorf("config: mode %q (highpass, lowpass or bandpass)", cfg.Mode)
		}
		return &filterNode{cfg: cfg}, nil
	},
}

type filterConfig struct {
	Mode   string  `json:"mode"`
	Order  int     `json:"order"`
	Cutoff float64 `json:"cutoff"`
	Low    float64 `json:"low"`
	High   float64 `json:"high"`
}

var filterDefaults = filterConfig{Mode: "highpass", Order: 4, Cutoff: 300, Low: 1000, High: 8000}

func init() { nodes.Register(filterSpec) }

type filterNode struct {
	cfg   filterConfig
	rate  int
	chain []biquad
	rec   recording
	rtf   rtfMeter
}

func (n *filterNode) Process(ctx context.Context, port string, b *rows.Batch, out engine.Output) error {
	return mapAudio(b, out, &n.rtf, func(row rows.Row, samples []float32, rate int) ([]float32, error) {
		if rec := recordingOf(row); rec.file != n.rec.file || rate != n.rate || n.chain == nil {
			chain, err := n.design(rate)
			if err != nil {
				return nil, err
			}
			n.chain, n.rate, n.rec = chain, rate, rec
		}
		y := make([]float32, len(samples))
		copy(y, samples)
		for i := range n.chain {
			n.chain[i].run(y)
		}
		return y, nil
	})
}

// design returns the filter's sections for audio at rate Hz, with zero state.
func (n *filterNode) design(rate int) ([]biquad, error) {
	nyq := float64(rate) / 2
	check := func(f float64) error {
		if f >= nyq {
			return fmt.Errorf("cutoff %g Hz is at or above the Nyquist frequency (%g Hz at %d Hz)", f, nyq, rate)
		}
		return nil
	}
	switch n.cfg.Mode {
	case "bandpass":
		if err := check(n.cfg.High); err != nil {
			return nil, err
		}
		return append(butterworth(true, n.cfg.Order, n.cfg.Low, float64(rate)), butterworth(false, n.cfg.Order, n.cfg.High, float64(rate))...), nil
	default:
		if err := check(n.cfg.Cutoff); err != nil {
			return nil, err
		}
		return butterworth(n.cfg.Mode == "highpass", n.cfg.Order, n.cfg.Cutoff, float64(rate)), nil
	}
}

// biquad is one second-order section in transposed direct form II (a1 = a2 = b2 = 0 for a
// first-order one), normalised so that a0 = 1.
type biquad struct {
	b0, b1, b2, a1, a2 float64
	z1, z2             float64
}

func (q *biquad) run(x []float32) {
	b0, b1, b2, a1, a2, z1, z2 := q.b0, q.b1, q.b2, q.a1, q.a2, q.z1, q.z2
	for i, v := range x {
		in := float64(v)
		y := b0*in + z1
		z1 = b1*in - a1*y + z2
		z2 = b2*in - a2*y
		x[i] = float32(y)
	}
	q.z1, q.z2 = z1, z2
}

// butterworth designs a high- or low-pass Butterworth filter of the given order at fc Hz for a
// rate of fs Hz as a cascade of sections: pole pair k has Q = 1 / (2 sin((2k+1)π / 2N)), and an
// odd order adds a first-order section.
func butterworth(high bool, order int, fc, fs float64) []biquad {
	w0 := 2 * math.Pi * fc / fs
	cw, sw := math.Cos(w0), math.Sin(w0)
	var out []biquad
	for k := 0; k < order/2; k++ {
		q := 1 / (2 * math.Sin(float64(2*k+1)*math.Pi/float64(2*order)))
		alpha := sw / (2 * q)
		a0 := 1 + alpha
		s := biquad{a1: -2 * cw / a0, a2: (1 - alpha) / a0}
		if high {
			s.b0, s.b1, s.b2 = (1+cw)/2/a0, -(1+cw)/a0, (1+cw)/2/a0
		} else {
			s.b0, s.b1, s.b2 = (1-cw)/2/a0, (1-cw)/a0, (1-cw)/2/a0
		}
		out = append(out, s)
	}
	if order%2 == 1 {
		// First order by the bilinear transform with prewarping: K = tan(w0/2).
		k := math.Tan(w0 / 2)
		s := biquad{a1: (k - 1) / (k + 1)}
		if high {
			s.b0, s.b1 = 1/(k+1), -1/(k+1)
		} else {
			s.b0, s.b1 = k/(k+1), k/(k+1)
		}
		out = append(out, s)
	}
	return out
}

var _ engine.Processor = (*filterNode)(nil)
