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

var gainSpec = engine.Spec{
	ID:       "transform.gain",
	Category: "dsp",
	Summary:  "Amplifies audio by a fixed gain, or normalises each row to a peak or RMS level.",
	Docs: "`mode: gain` multiplies every sample by `gain` decibels. `peak` scales each row so " +
		"that its largest sample sits at `target` dBFS, and `rms` so that its RMS level does " +
		"(feed it the classifier's windows from `transform.frame` to normalise each window, as some " +
		"bird models expect). A normalising gain never exceeds `max_gain`, so near-silence is not " +
		"blown up into noise, and an all-zero row passes unchanged. With `clip` set, samples are " +
		"limited to [-1, 1] afterwards. The node shows its real-time factor.",
	Headless: true,
	Inputs:   []engine.Port{{Name: "in", Type: PortType, Required: true}},
	Outputs:  []engine.Port{{Name: "out", Type: PortType}},
	Fields: []engine.Field{
		{Name: "mode", Type: "string", Doc: "gain, peak or rms", Default: "gain", Enum: []any{"gain", "peak", "rms"}},
		{Name: "gain", Type: "number", Doc: "gain in dB (mode gain)", Default: 0.0, Min: engine.Num(-120), Max: engine.Num(60)},
		{Name: "target", Type: "number", Doc: "level in dBFS each row is normalised to (peak, rms)", Default: -1.0, Max: engine.Num(0)},
		{Name: "max_gain", Type: "number", Doc: "largest gain a normalisation applies, in dB", Default: 30.0, Min: engine.Num(0)},
		{Name: "clip", Type: "boolean", Doc: "limit samples to [-1, 1]", Default: true},
	},
	Examples: []engine.Example{
		{Name: "+6 dB", Config: json.RawMessage(`{"mode":"gain","gain":6}`)},
		{Name: "peak normalise", Config: json.RawMessage(`{"mode":"peak","target":-1}`)},
	},
	Defaults: gainDefaults,
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, gainDefaults)
		if err != nil {
			return nil, err
		}
		if cfg.Mode != "gain" && cfg.Mode != "peak" && cfg.Mode != "rms" {
			return nil, fmt.Errorf("config: mode %q (gain, peak or rms)", cfg.Mode)
		}
		return &gainNode{cfg: cfg}, nil
	},
}

type gainConfig struct {
	Mode      string  `json:"mode"`
	GainDB    float64 `json:"gain"`
	TargetDB  float64 `json:"target"`
	MaxGainDB float64 `json:"max_gain"`
	Clip      bool    `json:"clip"`
}

var gainDefaults = gainConfig{Mode: "gain", TargetDB: -1, MaxGainDB: 30, Clip: true}

func init() { nodes.Register(gainSpec) }

type gainNode struct {
	cfg gainConfig
	rtf rtfMeter
}

func dbToGain(db float64) float64 { return math.Pow(10, db/20) }

// gain returns the factor for one row of samples.
func (n *gainNode) gain(s []float32) float64 {
	if n.cfg.Mode == "gain" {
		return dbToGain(n.cfg.GainDB)
	}
	var level float64
	if n.cfg.Mode == "peak" {
		for _, x := range s {
			level = max(level, math.Abs(float64(x)))
		}
	} else {
		var sum float64
		for _, x := range s {
			sum += float64(x) * float64(x)
		}
		if len(s) > 0 {
			level = math.Sqrt(sum / float64(len(s)))
		}
	}
	if level == 0 {
		return 1
	}
	return min(dbToGain(n.cfg.TargetDB)/level, dbToGain(n.cfg.MaxGainDB))
}

func (n *gainNode) Process(ctx context.Context, port string, b *rows.Batch, out engine.Output) error {
	return mapAudio(b, out, &n.rtf, func(_ rows.Row, samples []float32, _ int) ([]float32, error) {
		g := float32(n.gain(samples))
		y := make([]float32, len(samples))
		for i, x := range samples {
			v := x * g
			if n.cfg.Clip {
				v = max(-1, min(1, v))
			}
			y[i] = v
		}
		return y, nil
	})
}

var _ engine.Processor = (*gainNode)(nil)
