// Package studio holds node types that only work inside the studio: they show rows on the
// canvas rather than send them anywhere, so the exporter and the headless runner refuse them.
package studio

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

var previewSpec = engine.Spec{
	ID:       "sink.preview",
	Category: "sink",
	Summary:  "Shows the latest rows in the studio.",
	Docs: "Keeps the last `keep` rows that reach it and shows them live in the studio's preview " +
		"panel while the graph runs. It runs only in the studio: a graph that uses it cannot be " +
		"exported or run headless (replace it with a real sink, or `sink.discard`).",
	Headless: false,
	Inputs:   []engine.Port{{Name: "in", Type: "any", Required: true, Doc: "rows to show"}},
	Fields: []engine.Field{
		{Name: "keep", Type: "integer", Doc: "how many of the latest rows to keep", Default: 100, Min: engine.Num(1), Max: engine.Num(10000)},
	},
	Examples: []engine.Example{
		{Name: "default", Config: json.RawMessage(`{}`)},
		{Name: "last ten", Config: json.RawMessage(`{"keep":10}`)},
	},
	Defaults: previewDefaults,
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, previewDefaults)
		if err != nil {
			return nil, err
		}
		p := &Preview{keep: max(cfg.Keep, 1)}
		if b, ok := bc.Services[BuffersService].(*Buffers); ok {
			b.put(bc.NodeID, p)
		}
		return p, nil
	},
}

type previewConfig struct {
	Keep int `json:"keep"`
}

var previewDefaults = previewConfig{Keep: 100}

func init() { nodes.Register(previewSpec) }

// BuffersService is the engine.Options.Services key under which the studio passes a *Buffers,
// so that it can read every preview sink's rows.
const BuffersService = "studio.previews"

// Buffers maps node ids of a run to their preview sinks.
type Buffers struct {
	mu sync.Mutex
	m  map[string]*Preview
}

// NewBuffers returns an empty set of preview buffers for one run.
func NewBuffers() *Buffers { return &Buffers{m: map[string]*Preview{}} }

func (b *Buffers) put(id string, p *Preview) {
	b.mu.Lock()
	b.m[id] = p
	b.mu.Unlock()
}

// Get returns the preview sink built for node id (the latest one, after a restart).
func (b *Buffers) Get(id string) (*Preview, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.m[id]
	return p, ok
}

// Preview is a sink.preview node: a ring of the latest rows it received.
type Preview struct {
	keep  int
	mu    sync.Mutex
	ring  []rows.Row
	next  int   // where the next row goes once the ring is full
	total int64 // rows received
}

// Process keeps copies of the batch's last rows.
func (p *Preview) Process(_ context.Context, _ string, b *rows.Batch, _ engine.Output) error {
	in := b.Rows
	if len(in) > p.keep {
		in = in[len(in)-p.keep:]
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total += int64(len(b.Rows))
	for _, r := range in {
		r = r.Clone()
		if len(p.ring) < p.keep {
			p.ring = append(p.ring, r)
			continue
		}
		p.ring[p.next] = r
		p.next = (p.next + 1) % p.keep
	}
	return nil
}

// Rows returns the kept rows, oldest first, and how many rows the sink has received in all.
func (p *Preview) Rows() ([]rows.Row, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]rows.Row, 0, len(p.ring))
	out = append(out, p.ring[p.next:]...)
	out = append(out, p.ring[:p.next]...)
	return out, p.total
}

var _ engine.Processor = (*Preview)(nil)
