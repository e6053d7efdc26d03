// Command hog is a misbehaving guest: it allocates memory until it runs out.
package main

import (
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/sdk/go/atoll"
)

var keep [][]byte

func init() {
	atoll.Batch(func(in *rows.Batch, e *atoll.Emitter) error {
		for {
			b := make([]byte, 1<<20)
			b[0] = 1
			keep = append(keep, b)
		}
	})
}

func main() {}
