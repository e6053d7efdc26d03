// Package momentfn is REEF's "moment of the day" business function in plain Go: the Wasm
// guest in the parent directory wraps it, and the host's tests and benchmarks run it natively.
package momentfn

import (
	"fmt"

	"github.com/atoll-studio/atoll/engine/rows"
)

// Moment names the moment of the day of a Unix time in seconds, in UTC: hour 0 is "midnight",
// hour 12 is "midday", hours 6 to 17 are "day" and the other hours "night".
func Moment(unixSeconds int64) string {
	sec := unixSeconds % 86400
	if sec < 0 {
		sec += 86400
	}
	switch h := sec / 3600; {
	case h == 0:
		return "midnight"
	case h == 12:
		return "midday"
	case h >= 6 && h < 18:
		return "day"
	default:
		return "night"
	}
}

// Apply reads the int field creation_timestamp of r and appends the string field moment.
func Apply(r rows.Row) (rows.Row, error) {
	v, ok := r.Get("creation_timestamp")
	if !ok {
		return nil, fmt.Errorf("creation_timestamp: missing")
	}
	ts, ok := v.AsInt()
	if !ok {
		return nil, fmt.Errorf("creation_timestamp: want int, got %s", v.Kind())
	}
	r.Set("moment", rows.String(Moment(ts)))
	return r, nil
}
