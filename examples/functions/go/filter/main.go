// Command filter keeps the rows whose numeric field (config "field", default "value") is at
// least config "min" (default 0). Rows without the field, or with a non-numeric one, go to
// errors.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o filter.wasm .
package main

import (
	"encoding/json"
	"fmt"

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/sdk/go/atoll"
)

var cfg = struct {
	Field string  `json:"field"`
	Min   float64 `json:"min"`
}{Field: "value"}

func init() {
	atoll.Init(func(config []byte) error {
		if len(config) == 0 {
			return nil
		}
		if err := json.Unmarshal(config, &cfg); err != nil {
			return fmt.Errorf("filter config: %w", err)
		}
		atoll.Logf(atoll.Info, "filter: keep %s >= %g", cfg.Field, cfg.Min)
		return nil
	})
	atoll.Filter(func(r rows.Row) (bool, error) {
		v, ok := r.Get(cfg.Field)
		if !ok {
			return false, fmt.Errorf("%s: missing", cfg.Field)
		}
		f, ok := v.AsFloat()
		if !ok {
			return false, fmt.Errorf("%s: want a number, got %s", cfg.Field, v.Kind())
		}
		return f >= cfg.Min, nil
	})
}

func main() {}
