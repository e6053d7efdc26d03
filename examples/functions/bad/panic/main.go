// Command panic is a misbehaving guest: a goroutine panics (the SDK recovers panics in the
// handler, not in other goroutines), so the Go runtime prints the panic and exits.
package main

import (
	"runtime"

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/sdk/go/atoll"
)

func init() {
	atoll.Batch(func(in *rows.Batch, e *atoll.Emitter) error {
		done := make(chan struct{})
		go func() {
			defer close(done)
			panic("boom: the guest lost its mind")
		}()
		runtime.Gosched()
		<-done
		return nil
	})
}

func main() {}
