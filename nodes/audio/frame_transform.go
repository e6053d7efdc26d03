package audio

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

var frameSpec = engine.Spec{
	ID:       "transform.frame",
	Category: "dsp",
	Summary:  "Cuts audio into fixed-size, overlapping windows.",
	Docs: "Collects samples across rows and emits one row per window of `size` samples, a new window " +
		"every `hop` samples (YAMNet: 15600 and 8000 at 16 kHz, 0.975 s windows every 0.5 s). At the end " +
		"of the stream, with `pad_last` set, the windows that run past the last sample are zero-padded: " +
		"with `tail: cover` (the default, the usual framing) up to the first window that reaches the " +
		"end, so n samples give 1 + ⌈(n − size) / hop⌉ windows (39 on 19.6 s at 16 kHz) and at least " +
		"one; with `tail: every_start` every window that starts before the last sample (⌈n / hop⌉: " +
		"40 on 19.6 s, the framing before this option existed). Without `pad_last` only whole " +
		"windows are emitted (⌊(n − size) / hop⌋ + 1). Each window keeps its exact `t_start` and " +
		"`t_end` (a padded window's `t_end` is the end of the audio, not of the zeros, so detections " +
		"stay within the recording), and a new `file` (a folder of recordings) starts a new stream: no window spans two " +
		"recordings.",
	Headless: true,
	Inputs:   []engine.Port{{Name: "in", Type: PortType, Required: true}},
	Outputs:  []engine.Port{{Name: "out", Type: PortType}},
	Fields: []engine.Field{
		{Name: "size", Type: "integer", Doc: "window length in samples", Default: 15600, Min: engine.Num(1)},
		{Name: "hop", Type: "integer", Doc: "samples between window starts", Default: 8000, Min: engine.Num(1)},
		{Name: "pad_last", Type: "boolean", Doc: "zero-pad windows that run past the end", Default: true},
		{Name: "tail", Type: "string", Doc: "padded windows at the end: up to the first that covers the last sample, or every one that starts before it", Default: "cover", Enum: []any{"cover", "every_start"}},
	},
	Examples: []engine.Example{{Name: "YAMNet", Config: json.RawMessage(`{"size":15600,"hop":8000}`)}},
	Defaults: frameDefaults,
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, frameDefaults)
		if err != nil {
			return nil, err
		}
		if cfg.Size < 1 || cfg.Hop < 1 {
			return nil, fmt.Errorf("config: size and hop must be >= 1")
		}
		if cfg.Tail != "cover" && cfg.Tail != "every_start" {
			return nil, fmt.Errorf("config: tail %q (cover or every_start)", cfg.Tail)
		}
		return &frameNode{cfg: cfg}, nil
	},
}

type frameConfig struct {
	Size    int    `json:"size"`
	Hop     int    `json:"hop"`
	PadLast bool   `json:"pad_last"`
	Tail    string `json:"tail"`
}

var frameDefaults = frameConfig{Size: 15600, Hop: 8000, PadLast: true, Tail: "cover"}

func init() { nodes.Register(frameSpec) }

type frameNode struct {
	cfg    frameConfig
	buf    []float32 // samples from absolute index bufAt
	bufAt  int64
	next   int64 // start of the next window
	total  int64 // samples received
	rate   int
	t0     float64 // t_start of the stream's first sample
	seeded bool
	rec    recording
	rtf    rtfMeter
}

func (n *frameNode) Process(ctx context.Context, port string, b *rows.Batch, out engine.Output) error {
	stop := n.rtf.time(out)
	var outRows []rows.Row
	for _, row := range b.Rows {
		samples, rate, err := readAudio(row)
		if err != nil {
			out.Reject(row, err)
			continue
		}
		n.rtf.audio(len(samples), rate)
		rec := recordingOf(row)
		if n.seeded && rec.file != n.rec.file {
			// A new recording: the last one's tail is framed and the next starts afresh.
			outRows = n.windows(outRows, true)
			*n = frameNode{cfg: n.cfg, buf: n.buf[:0], rtf: n.rtf}
		}
		if !n.seeded {
			n.seeded, n.rate, n.rec = true, rate, rec
			if v, ok := row.Get(FieldStart); ok {
				n.t0, _ = v.AsFloat()
			}
		} else if rate != n.rate {
			out.Reject(row, fmt.Errorf("rate changed from %d to %d Hz mid-stream; resample first", n.rate, rate))
			continue
		}
		n.buf = append(n.buf, samples...)
		n.total += int64(len(samples))
		outRows = n.windows(outRows, false)
	}
	stop()
	if len(outRows) == 0 {
		return nil
	}
	return out.Emit("out", &rows.Batch{Rows: outRows})
}

// windows appends every window that is complete (or, at the end, every padded one).
func (n *frameNode) windows(dst []rows.Row, end bool) []rows.Row {
	size, hop := int64(n.cfg.Size), int64(n.cfg.Hop)
	for {
		if n.next+size > n.total && !(end && n.padded()) {
			break
		}
		w := make([]float32, size)
		copy(w, n.buf[n.next-n.bufAt:min(n.next+size, n.total)-n.bufAt])
		start := n.t0 + float64(n.next)/float64(n.rate)
		row := audioRow(w, n.rate, start)
		if n.next+size > n.total {
			// A padded window's audio ends with the recording: t_end says so, not the zeros.
			row.Set(FieldEnd, rows.Float(n.t0+float64(n.total)/float64(n.rate)))
		}
		dst = append(dst, n.rec.stamp(row, start))
		n.next += hop
	}
	if drop := min(n.next, n.total) - n.bufAt; drop > 0 {
		k := copy(n.buf, n.buf[drop:])
		n.buf = n.buf[:k]
		n.bufAt += drop
	}
	return dst
}

// padded reports whether, at the end of the stream, the window at n.next is emitted zero-padded.
func (n *frameNode) padded() bool {
	if !n.cfg.PadLast || n.next >= n.total {
		return false
	}
	if n.cfg.Tail == "every_start" || n.next == 0 {
		return true
	}
	// cover: only while the window before did not reach the last sample.
	return n.next-int64(n.cfg.Hop)+int64(n.cfg.Size) < n.total
}

func (n *frameNode) Flush(ctx context.Context, out engine.Output) error {
	if !n.seeded {
		return nil
	}
	rs := n.windows(nil, true)
	if len(rs) == 0 {
		return nil
	}
	return out.Emit("out", &rows.Batch{Rows: rs})
}

var (
	_ engine.Processor = (*frameNode)(nil)
	_ engine.Flusher   = (*frameNode)(nil)
)
