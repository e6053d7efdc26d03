package core

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

var logSinkSpec = engine.Spec{
	ID:       "sink.log",
	Category: "sink",
	Summary:  "Writes rows to the node log, sampled to a rate.",
	Docs: "Writes each row's JSON view as one line of the node's log at `level` (the studio's log " +
		"panel; JSON lines on stderr in the runner). At most `max_rows_per_s` rows are written each " +
		"second (0: all of them); the rows over the limit are counted and the count is logged once " +
		"the second is over, so a fast pipeline never floods the log.",
	Headless: true,
	Inputs:   []engine.Port{{Name: "in", Type: "any", Required: true}},
	Fields: []engine.Field{
		{Name: "level", Type: "string", Doc: "log level", Default: "info", Enum: []any{"debug", "info", "warn", "error"}},
		{Name: "max_rows_per_s", Type: "number", Doc: "rows logged per second at most; 0 = every row", Default: 10.0, Min: engine.Num(0)},
	},
	Examples: []engine.Example{
		{Name: "default", Config: json.RawMessage(`{}`)},
		{Name: "every row, debug", Config: json.RawMessage(`{"level":"debug","max_rows_per_s":0}`)},
	},
	Defaults: logSinkDefaults,
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, logSinkDefaults)
		if err != nil {
			return nil, err
		}
		return &logSink{cfg: cfg, now: time.Now}, nil
	},
}

type logSinkConfig struct {
	Level       string  `json:"level"`
	MaxRowsPerS float64 `json:"max_rows_per_s"`
}

var logSinkDefaults = logSinkConfig{Level: "info", MaxRowsPerS: 10}

func init() { nodes.Register(logSinkSpec) }

type logSink struct {
	cfg     logSinkConfig
	now     func() time.Time
	window  time.Time // start of the current one-second window
	logged  float64
	skipped int64
	buf     []byte
}

func (l *logSink) Validate() error {
	switch l.cfg.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: level %q is not debug, info, warn or error", l.cfg.Level)
	}
	if l.cfg.MaxRowsPerS < 0 {
		return fmt.Errorf("config: max_rows_per_s must be >= 0")
	}
	return nil
}

func (l *logSink) Process(ctx context.Context, port string, b *rows.Batch, out engine.Output) error {
	for _, r := range b.Rows {
		if l.cfg.MaxRowsPerS > 0 {
			if now := l.now(); now.Sub(l.window) >= time.Second {
				l.reportSkipped(out)
				l.window, l.logged = now, 0
			}
			if l.logged >= l.cfg.MaxRowsPerS {
				l.skipped++
				continue
			}
			l.logged++
		}
		l.buf = r.AppendJSON(l.buf[:0])
		out.Log(l.cfg.Level, string(l.buf))
	}
	return nil
}

func (l *logSink) reportSkipped(out engine.Output) {
	if l.skipped > 0 {
		out.Log(l.cfg.Level, fmt.Sprintf("%d rows not logged (over max_rows_per_s %g)", l.skipped, l.cfg.MaxRowsPerS))
		l.skipped = 0
	}
}

// Flush reports the rows sampled away in the last window.
func (l *logSink) Flush(ctx context.Context, out engine.Output) error {
	l.reportSkipped(out)
	return nil
}

var (
	_ engine.Processor = (*logSink)(nil)
	_ engine.Flusher   = (*logSink)(nil)
	_ engine.Validator = (*logSink)(nil)
)
