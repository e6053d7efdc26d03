// Command loop is a misbehaving guest: it spins forever on every batch.
package main

import (
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/sdk/go/atoll"
)

var sink int

func init() {
	atoll.Batch(func(in *rows.Batch, e *atoll.Emitter) error {
		for i := 0; ; i++ {
			sink += i
		}
	})
}

func main() {}
