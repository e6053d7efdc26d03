// Package bench holds what the Go benchmarks and `make bench-wasm` share: the rows and the
// native implementation of the moment function they are compared with.
package bench

import (
	"fmt"

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/examples/functions/go/moment/momentfn"
)

// BatchSizes are the batch sizes measured.
var BatchSizes = []int{1, 64, 1024}

// MomentBatch returns n rows like a REEF sensor feed: an id, a timestamp, a site and a reading.
// The timestamps start at midnight UTC and step 61 s, so a batch of 1024 meets the midnight
// minute, the night, the day and the midday minute: every branch of the rule is timed.
func MomentBatch(n int) *rows.Batch {
	b := &rows.Batch{Rows: make([]rows.Row, n)}
	for i := range b.Rows {
		b.Rows[i] = rows.Row{
			{Name: "id", Value: rows.Int(int64(i))},
			{Name: "creation_timestamp", Value: rows.Int(1_699_920_000 + int64(i)*61)},
			{Name: "site", Value: rows.String(fmt.Sprintf("reef-%d", i%7))},
			{Name: "temp_c", Value: rows.Float(20 + float64(i%50)/10)},
		}
	}
	return b
}

// NativeMoment is the node-level native equivalent of a Wasm call: every row copied with its
// moment added, failures collected.
func NativeMoment(in *rows.Batch) (*rows.Batch, []error) {
	out := &rows.Batch{Rows: make([]rows.Row, 0, len(in.Rows))}
	var failed []error
	for _, r := range in.Rows {
		o, err := momentfn.Apply(r.Clone())
		if err != nil {
			failed = append(failed, err)
			continue
		}
		out.Rows = append(out.Rows, o)
	}
	return out, failed
}

// SameAsNative reports whether out (a guest's output for in) holds the rows NativeMoment
// computes for in, in order, field by field: a benchmark compares like with like only when
// both compute REEF's rule.
func SameAsNative(in, out *rows.Batch) error {
	want, _ := NativeMoment(in)
	if len(out.Rows) != len(want.Rows) {
		return fmt.Errorf("guest gave %d rows, native %d", len(out.Rows), len(want.Rows))
	}
	for i, w := range want.Rows {
		if g, n := out.Rows[i].AppendJSON(nil), w.AppendJSON(nil); string(g) != string(n) {
			return fmt.Errorf("row %d: guest %s, native %s", i, g, n)
		}
	}
	return nil
}
