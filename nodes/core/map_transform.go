package core

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

var mapSpec = engine.Spec{
	ID:       "transform.map",
	Category: "transform",
	Summary:  "Sets fields from expressions over each row.",
	Docs: "Each entry of `set` names a field and an [expr](https://expr-lang.org) expression over the " +
		"row's fields, e.g. `\"double\": \"n * 2\"` or `\"label\": \"score > 0.5 ? 'bird' : 'noise'\"`. " +
		"Entries apply in name order and each sees the fields set before it. `drop` removes fields. " +
		"A row whose expression fails goes to `errors` with the reason; the rest go on.",
	Headless: true,
	Inputs:   []engine.Port{{Name: "in", Type: "any", Required: true}},
	Outputs:  []engine.Port{{Name: "out", Type: "rows"}},
	Fields: []engine.Field{
		{Name: "set", Type: "object", Doc: "field name → expression", Default: map[string]any{},
			Schema: map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string", "minLength": 1}}},
		{Name: "drop", Type: "array", Items: "string", Doc: "fields to remove", Default: []any{}},
	},
	Examples: []engine.Example{
		{Name: "double", Config: json.RawMessage(`{"set":{"double":"n * 2"}}`)},
		{Name: "label and drop", Config: json.RawMessage(`{"set":{"even":"n % 2 == 0"},"drop":["t"]}`)},
	},
	Defaults: mapConfig{Set: map[string]string{}, Drop: []string{}},
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, mapConfig{})
		if err != nil {
			return nil, err
		}
		m := &mapNode{drop: cfg.Drop, env: newExprEnv()}
		names := make([]string, 0, len(cfg.Set))
		for k := range cfg.Set {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, name := range names {
			x, err := compileRowExpr(cfg.Set[name])
			if err != nil {
				return nil, fmt.Errorf("config: set.%s: %w", name, err)
			}
			m.names = append(m.names, name)
			m.exprs = append(m.exprs, x)
		}
		return m, nil
	},
}

type mapConfig struct {
	Set  map[string]string `json:"set"`
	Drop []string          `json:"drop"`
}

func init() { nodes.Register(mapSpec) }

type mapNode struct {
	names []string
	exprs []*rowExpr
	drop  []string
	env   *exprEnv
}

func (m *mapNode) Process(ctx context.Context, port string, b *rows.Batch, out engine.Output) error {
	kept := b.Rows[:0]
	for _, r := range b.Rows {
		ok := true
		for i, x := range m.exprs {
			if x.fast != nil {
				if v, ok := x.fast(r); ok {
					setField(&r, m.names[i], v)
					continue
				}
			}
			res, err := m.env.eval(x, r)
			if err == nil {
				var v rows.Value
				if v, err = rows.FromAny(res); err == nil {
					r.Set(m.names[i], v)
					continue
				}
				err = fmt.Errorf("set.%s: %w", m.names[i], err)
			}
			out.Reject(r, err)
			ok = false
			break
		}
		if !ok {
			continue
		}
		for _, d := range m.drop {
			r.Delete(d)
		}
		kept = append(kept, r)
	}
	b.Rows = kept
	if len(kept) == 0 {
		return nil
	}
	return out.Emit("out", b)
}

// setField is rows.Row.Set written for the hot path: an appended field is stored member by
// member into the row's spare capacity, which avoids a bulk write-barrier copy of the struct
// while the GC runs.
func setField(r *rows.Row, name string, v rows.Value) {
	row := *r
	for i := range row {
		if sameName(row[i].Name, name) {
			row[i].Value = v
			return
		}
	}
	if n := len(row); n < cap(row) {
		row = row[:n+1]
		row[n].Name = name
		row[n].Value = v
		*r = row
		return
	}
	*r = append(row, rows.Field{Name: name, Value: v})
}

var _ engine.Processor = (*mapNode)(nil)
