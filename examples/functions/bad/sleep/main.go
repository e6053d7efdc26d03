// Command sleep is a misbehaving guest: it sleeps for an hour on every batch (WASI poll_oneoff),
// which the host's deadline must cut short. Config {"ms": N} makes it sleep N ms instead and
// pass the batch on: a guest that waits but uses little CPU time.
package main

import (
	"encoding/json"
	"time"

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/sdk/go/atoll"
)

var nap = time.Hour

func init() {
	atoll.Init(func(config []byte) error {
		var cfg struct {
			MS int `json:"ms"`
		}
		if len(config) > 0 {
			if err := json.Unmarshal(config, &cfg); err != nil {
				return err
			}
		}
		if cfg.MS > 0 {
			nap = time.Duration(cfg.MS) * time.Millisecond
		}
		return nil
	})
	atoll.Batch(func(in *rows.Batch, e *atoll.Emitter) error {
		time.Sleep(nap)
		for _, r := range in.Rows {
			e.Emit(r)
		}
		return nil
	})
}

func main() {}
