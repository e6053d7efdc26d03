// Command moment is the "moment of the day" Atoll function as a Go WebAssembly guest:
// int creation_timestamp (Unix seconds) -> string moment (midnight, midday, day, night; REEF's
// rule on the UTC hour and minute, see momentfn).
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o moment.wasm .
package main

import (
	"github.com/atoll-studio/atoll/examples/functions/go/moment/momentfn"
	"github.com/atoll-studio/atoll/sdk/go/atoll"
)

func init() { atoll.Map(momentfn.Apply) }

func main() {}
