// Command enrich joins each row with a lookup table given as JSON in the function config:
// {"key": "device", "table": {"d1": {"site": "reef-north", "depth_m": 12}}}. The fields of the
// matching entry are added to the row; a row whose key is not in the table goes to errors,
// unless config "keep_unknown" is true. It also parses a JSON string field "payload", when
// present, flattening its top-level keys into "payload.<key>" fields.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o enrich.wasm .
package main

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/sdk/go/atoll"
)

type config struct {
	Key         string                    `json:"key"`
	Table       map[string]map[string]any `json:"table"`
	KeepUnknown bool                      `json:"keep_unknown"`
}

var (
	cfg    = config{Key: "device"}
	lookup = map[string]rows.Row{}
)

func init() {
	atoll.Init(func(raw []byte) error {
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &cfg); err != nil {
				return fmt.Errorf("enrich config: %w", err)
			}
		}
		for k, entry := range cfg.Table {
			names := make([]string, 0, len(entry))
			for n := range entry {
				names = append(names, n)
			}
			sort.Strings(names)
			var add rows.Row
			for _, n := range names {
				v, err := rows.FromAny(jsonNumber(entry[n]))
				if err != nil {
					return fmt.Errorf("enrich config: table %q field %q: %w", k, n, err)
				}
				add = append(add, rows.Field{Name: n, Value: v})
			}
			lookup[k] = add
		}
		return nil
	})
	atoll.Map(enrich)
}

// jsonNumber turns integral JSON numbers into ints.
func jsonNumber(x any) any {
	if f, ok := x.(float64); ok && f == float64(int64(f)) {
		return int64(f)
	}
	if m, ok := x.(map[string]any); ok {
		b, _ := json.Marshal(m)
		return string(b)
	}
	return x
}

func enrich(r rows.Row) (rows.Row, error) {
	kv, ok := r.Get(cfg.Key)
	if !ok {
		return nil, fmt.Errorf("%s: missing", cfg.Key)
	}
	key, ok := kv.AsString()
	if !ok {
		return nil, fmt.Errorf("%s: want string, got %s", cfg.Key, kv.Kind())
	}
	add, found := lookup[key]
	if !found && !cfg.KeepUnknown {
		return nil, fmt.Errorf("%s %q: not in the lookup table", cfg.Key, key)
	}
	for _, f := range add {
		r.Set(f.Name, f.Value)
	}
	if pv, ok := r.Get("payload"); ok {
		if s, ok := pv.AsString(); ok {
			var obj map[string]any
			if err := json.Unmarshal([]byte(s), &obj); err != nil {
				return nil, fmt.Errorf("payload: %w", err)
			}
			names := make([]string, 0, len(obj))
			for n := range obj {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				v, err := rows.FromAny(jsonNumber(obj[n]))
				if err != nil {
					return nil, fmt.Errorf("payload.%s: %w", n, err)
				}
				r.Set("payload."+n, v)
			}
		}
	}
	return r, nil
}

func main() {}
