package core

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

var generatorSpec = engine.Spec{
	ID:       "source.generator",
	Category: "source",
	Summary:  "Generates rows: a counter, a timer or a sine wave.",
	Docs: `Emits rows with a field ` + "`n`" + ` (0, 1, 2, ...) and, by mode:

- **counter**: only ` + "`n`" + `.
- **timer**: ` + "`n`" + ` and ` + "`t`" + `, the emission time.
- **sine**: ` + "`n`" + `, ` + "`t`" + ` (n / rate seconds after start, as a timestamp) and ` + "`value`" + ` = amplitude · sin(2π · frequency · n / rate).

With ` + "`rate`" + ` > 0 rows are paced to that many per second; 0 emits as fast as the
pipeline takes them. ` + "`count`" + ` 0 runs until stopped.`,
	Headless: true,
	Outputs:  []engine.Port{{Name: "out", Type: "rows"}},
	Fields: []engine.Field{
		{Name: "mode", Type: "string", Doc: "counter, timer or sine", Default: "counter", Enum: []any{"counter", "timer", "sine"}},
		{Name: "count", Type: "integer", Doc: "rows to emit; 0 = until stopped", Default: 100, Min: engine.Num(0)},
		{Name: "rate", Type: "number", Doc: "rows per second; 0 = as fast as possible", Default: 10.0, Min: engine.Num(0)},
		{Name: "batch_size", Type: "integer", Doc: "rows per batch", Default: 64, Min: engine.Num(1), Max: engine.Num(65536)},
		{Name: "frequency", Type: "number", Doc: "sine frequency in Hz", Default: 1.0},
		{Name: "amplitude", Type: "number", Doc: "sine amplitude", Default: 1.0},
		{Name: "start", Type: "integer", Doc: "first value of n", Default: 0},
	},
	Examples: []engine.Example{
		{Name: "ten rows a second", Config: json.RawMessage(`{"mode":"counter","count":100,"rate":10}`)},
		{Name: "flat out", Config: json.RawMessage(`{"count":1000000,"rate":0,"batch_size":256}`)},
		{Name: "sine", Config: json.RawMessage(`{"mode":"sine","rate":100,"frequency":2,"count":0}`)},
	},
	Defaults: generatorDefaults,
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, generatorDefaults)
		if err != nil {
			return nil, err
		}
		return &generator{cfg: cfg}, nil
	},
}

type generatorConfig struct {
	Mode      string  `json:"mode"`
	Count     int64   `json:"count"`
	Rate      float64 `json:"rate"`
	BatchSize int     `json:"batch_size"`
	Frequency float64 `json:"frequency"`
	Amplitude float64 `json:"amplitude"`
	Start     int64   `json:"start"`
}

var generatorDefaults = generatorConfig{Mode: "counter", Count: 100, Rate: 10, BatchSize: 64, Frequency: 1, Amplitude: 1}

func init() { nodes.Register(generatorSpec) }

type generator struct {
	cfg generatorConfig
}

func (g *generator) Validate() error {
	switch g.cfg.Mode {
	case "counter", "timer", "sine":
	default:
		return fmt.Errorf("config: mode %q is not counter, timer or sine", g.cfg.Mode)
	}
	if g.cfg.BatchSize < 1 {
		return fmt.Errorf("config: batch_size must be >= 1")
	}
	return nil
}

func (g *generator) Run(ctx context.Context, out engine.Output) error {
	cfg := g.cfg
	start := time.Now()
	n := cfg.Start
	emitted := int64(0)
	for cfg.Count == 0 || emitted < cfg.Count {
		size := int64(cfg.BatchSize)
		if cfg.Rate > 0 {
			// Pace: never run ahead of the rate; small batches at low rates.
			if per := int64(cfg.Rate / 20); per < size {
				size = max(per, 1)
			}
			due := start.Add(time.Duration(float64(emitted) / cfg.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C:
				}
			}
		} else if ctx.Err() != nil {
			return nil
		}
		if cfg.Count > 0 && emitted+size > cfg.Count {
			size = cfg.Count - emitted
		}
		b := &rows.Batch{Rows: make([]rows.Row, size)}
		width := 1
		if cfg.Mode != "counter" {
			width = 3
		}
		// One allocation for all fields, with room in each row for two more (a map node's new
		// fields then need no allocation of their own).
		stride := width + 2
		fields := make([]rows.Field, int(size)*stride)
		now := time.Now()
		for i := range b.Rows {
			f := fields[i*stride : i*stride : (i+1)*stride]
			f = append(f, rows.Field{Name: "n", Value: rows.Int(n)})
			switch cfg.Mode {
			case "timer":
				f = append(f, rows.Field{Name: "t", Value: rows.Timestamp(now)})
			case "sine":
				sec := float64(n-cfg.Start) / max(cfg.Rate, 1)
				f = append(f,
					rows.Field{Name: "t", Value: rows.TimestampNanos(start.UnixNano() + int64(sec*1e9))},
					rows.Field{Name: "value", Value: rows.Float(cfg.Amplitude * math.Sin(2*math.Pi*cfg.Frequency*sec))})
			}
			b.Rows[i] = f
			n++
		}
		if err := out.Emit("out", b); err != nil {
			return nil // cancelled
		}
		emitted += size
		if cfg.Count > 0 {
			out.Gauge("progress", float64(emitted)/float64(cfg.Count))
		}
	}
	return nil
}

var (
	_ engine.Source    = (*generator)(nil)
	_ engine.Validator = (*generator)(nil)
)
