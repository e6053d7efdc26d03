package core

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

var filterSpec = engine.Spec{
	ID:       "transform.filter",
	Category: "transform",
	Summary:  "Keeps the rows for which an expression is true.",
	Docs: "`condition` is an [expr](https://expr-lang.org) expression over the row's fields that must give " +
		"a boolean, e.g. `n % 2 == 0` or `label == 'owl' && score > 0.6`. Rows for which it is false are " +
		"dropped; rows for which it fails or is not a boolean go to `errors`.",
	Headless: true,
	Inputs:   []engine.Port{{Name: "in", Type: "any", Required: true}},
	Outputs:  []engine.Port{{Name: "out", Type: "rows"}},
	Fields: []engine.Field{
		{Name: "condition", Type: "string", Doc: "boolean expression", Required: true},
	},
	Examples: []engine.Example{
		{Name: "even", Config: json.RawMessage(`{"condition":"n % 2 == 0"}`)},
	},
	Defaults: filterConfig{},
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, filterConfig{})
		if err != nil {
			return nil, err
		}
		x, err := compileRowExpr(cfg.Condition)
		if err != nil {
			return nil, fmt.Errorf("config: condition: %w", err)
		}
		return &filterNode{cond: x, env: newExprEnv()}, nil
	},
}

type filterConfig struct {
	Condition string `json:"condition"`
}

func init() { nodes.Register(filterSpec) }

type filterNode struct {
	cond *rowExpr
	env  *exprEnv
}

func (f *filterNode) Process(ctx context.Context, port string, b *rows.Batch, out engine.Output) error {
	kept := b.Rows[:0]
	for _, r := range b.Rows {
		if f.cond.fast != nil {
			if v, ok := f.cond.fast(r); ok {
				if keep, isBool := v.AsBool(); isBool {
					if keep {
						kept = append(kept, r)
					}
					continue
				}
			}
		}
		res, err := f.env.eval(f.cond, r)
		if err != nil {
			out.Reject(r, err)
			continue
		}
		keep, isBool := res.(bool)
		if !isBool {
			out.Reject(r, fmt.Errorf("condition %q gave %T, not a boolean", f.cond.src, res))
			continue
		}
		if keep {
			kept = append(kept, r)
		}
	}
	b.Rows = kept
	if len(kept) == 0 {
		return nil
	}
	return out.Emit("out", b)
}

var _ engine.Processor = (*filterNode)(nil)
