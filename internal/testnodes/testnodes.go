// Package testnodes holds node types that tests wire into graphs: a sink that captures rows.
package testnodes

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
)

// Capture is a sink that keeps a copy of every row it gets.
type Capture struct {
	mu   sync.Mutex
	rows []rows.Row
}

// Process implements engine.Processor.
func (c *Capture) Process(_ context.Context, _ string, b *rows.Batch, _ engine.Output) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range b.Rows {
		c.rows = append(c.rows, r.Clone())
	}
	return nil
}

// Rows returns the rows captured so far.
func (c *Capture) Rows() []rows.Row {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]rows.Row(nil), c.rows...)
}

// Len returns how many rows were captured so far.
func (c *Capture) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.rows)
}

// Register adds a sink node type id (one input "in" of any type) writing into c.
func Register(cat *engine.Catalog, id string, c *Capture) {
	cat.Register(engine.Spec{ID: id, Category: "sink", Headless: true,
		Inputs: []engine.Port{{Name: "in", Type: "any", Required: true}},
		New:    func(engine.BuildContext, json.RawMessage) (engine.Node, error) { return c, nil }})
}

var _ engine.Processor = (*Capture)(nil)

// RunToEnd starts a built run and waits for it, failing the test if it fails or does not end
// within timeout.
func RunToEnd(t testing.TB, r *engine.Run, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r.Start(ctx)
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
}
