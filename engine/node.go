// Package engine is Atoll's streaming engine: node specs and catalogs, graph validation, and the
// scheduler that runs a graph as goroutines joined by bounded channels of row batches, with
// backpressure, supervision, acknowledgements, metrics and taps.
package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/atoll-studio/atoll/engine/rows"
)

// ErrorsPort is the output port every node has: rows that failed, each with the reason.
const ErrorsPort = "errors"

// Error field names added to a row sent to an errors port.
const (
	ErrorField     = "_error"
	ErrorNodeField = "_node"
)

// Node is what a Spec's constructor returns: a Source or a Processor. It may also implement
// io.Closer (called once when the run ends or the node is rebuilt), Workers, and Validator.
type Node any

// Source produces batches until it is done (return nil), ctx is cancelled (a stop: return
// nil or ctx.Err()) or it fails.
type Source interface {
	Run(ctx context.Context, out Output) error
}

// Processor handles one batch that arrived on an input port. Sinks are processors without
// outputs. A returned error fails the batch: its rows go to the errors port with the error.
// Process is called by one goroutine at a time unless the node implements Workers.
type Processor interface {
	Process(ctx context.Context, port string, b *rows.Batch, out Output) error
}

// Workers is implemented by processors that can take several batches at once (a Wasm function
// with several instances): the engine runs that many goroutines calling Process concurrently.
type Workers interface {
	Workers() int
}

// Flusher is implemented by processors that hold rows across batches (framing, windows): Flush
// is called once after the last input batch, before outputs close, to emit what is left.
type Flusher interface {
	Flush(ctx context.Context, out Output) error
}

// Validator is implemented by nodes that can check more than the config schema before a run
// (a Wasm module's exports, a model's operators). Build calls it.
type Validator interface {
	Validate() error
}

// Output is how a node emits. Emit blocks while downstream is full (backpressure) and fails only
// when the run is cancelled. The batch belongs to the engine after Emit.
type Output interface {
	Emit(port string, b *rows.Batch) error
	// EmitAcked is Emit for sources that can acknowledge: ack is called once every row of b
	// (and everything derived from it) has been handled by every sink, or sent to errors. It is
	// called exactly once, from an engine goroutine, and must not block; it is never called for
	// a batch abandoned by Cancel (see RATIONALE.md for nodes that buffer across batches).
	EmitAcked(port string, b *rows.Batch, ack func()) error
	// Reject sends one row to the errors port with the reason; the rest of the batch goes on.
	Reject(row rows.Row, reason error)
	// Log writes to the node's log ("debug", "info", "warn", "error").
	Log(level, msg string)
	// Gauge sets a node metric shown on the canvas: "progress" (0..1), "fuel", "rtf", ...
	Gauge(name string, value float64)
}

// StatusOutput is implemented by the engine's Output: Status sets a short text about the node
// (a connector's "connection": "reconnecting", its "last_error") that the studio shows on the
// node and the runner exports in /metrics; "" removes it. Unlike Emit, it may be called from
// any goroutine of the node, between batches too.
type StatusOutput interface {
	Status(name, value string)
}

// BuildContext is what a constructor gets besides its config.
type BuildContext struct {
	// NodeID is the node's id in the graph.
	NodeID string
	// Assets opens assets referenced by config (a SHA-256 from the studio's store, or a path).
	Assets AssetResolver
	// Log writes to the node's log during the build.
	Log func(level, msg string)
	// Services carries optional engine-wide services (the Wasm runtime, say) keyed by name.
	Services map[string]any
}

// AssetResolver opens assets by reference: a SHA-256 hex digest or a file path.
type AssetResolver interface {
	Asset(ref string) ([]byte, error)
}

// NodeError locates an error on a node (and a port), so the studio can put it on the node.
type NodeError struct {
	Node string
	Port string
	Err  error
}

func (e *NodeError) Error() string {
	if e.Port != "" {
		return fmt.Sprintf("node %q port %q: %v", e.Node, e.Port, e.Err)
	}
	return fmt.Sprintf("node %q: %v", e.Node, e.Err)
}

func (e *NodeError) Unwrap() error { return e.Err }

// ErrStopped is the cause of a run's cancellation by Stop.
var ErrStopped = errors.New("stopped")
