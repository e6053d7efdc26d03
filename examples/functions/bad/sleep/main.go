// Command sleep is a misbehaving guest: it sleeps for an hour on every batch (WASI poll_oneoff),
// which the host's deadline must cut short.
package main

import (
	"time"

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/sdk/go/atoll"
)

func init() {
	atoll.Batch(func(in *rows.Batch, e *atoll.Emitter) error {
		time.Sleep(time.Hour)
		return nil
	})
}

func main() {}
