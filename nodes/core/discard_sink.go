package core

import (
	"context"
	"encoding/json"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

var discardSpec = engine.Spec{
	ID:       "sink.discard",
	Category: "sink",
	Summary:  "Accepts rows and drops them.",
	Docs:     "Useful to measure a pipeline's throughput or to terminate a branch. Counts the rows it drops.",
	Headless: true,
	Inputs:   []engine.Port{{Name: "in", Type: "any", Required: true}},
	Examples: []engine.Example{{Name: "default", Config: json.RawMessage(`{}`)}},
	Defaults: discardConfig{},
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		if _, err := engine.DecodeConfig(raw, discardConfig{}); err != nil {
			return nil, err
		}
		return discard{}, nil
	},
}

type discardConfig struct{}

func init() { nodes.Register(discardSpec) }

type discard struct{}

func (discard) Process(context.Context, string, *rows.Batch, engine.Output) error { return nil }

var _ engine.Processor = discard{}
