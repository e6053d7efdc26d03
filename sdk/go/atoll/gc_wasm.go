//go:build wasip1

package atoll

import "runtime/debug"

// A function's live heap is small (its buffers) while each batch allocates its decoded rows:
// with the default GOGC the guest collects every few batches and the collector, which runs
// inside the calls on the guest's single thread, costs up to 40% of a batch's work. A higher
// GOGC trades a few MiB of guest memory (bounded by the node's memory_pages) for that.
func init() { debug.SetGCPercent(400) }
