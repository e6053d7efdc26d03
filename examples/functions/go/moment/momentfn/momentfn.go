// Package momentfn is REEF's "moment of the day" business function in plain Go: the Wasm
// guest in the parent directory wraps it, and the host's tests and benchmarks run it natively.
package momentfn

import (
	"fmt"

	"github.com/atoll-studio/atoll/engine/rows"
)

// Moment names the moment of the day of a Unix time in seconds by REEF's rule, on the UTC hour
// h and minute m: (0, 0) is "midnight", (12, 0) is "midday", h <= 8 or h >= 20 is "night",
// and the rest is "day". Over the 86,400 seconds of a day: midnight 60, midday 60, night 46,740,
// day 39,540.
func Moment(unixSeconds int64) string {
	sec := unixSeconds % 86400
	if sec < 0 {
		sec += 86400
	}
	h, m := sec/3600, sec/60%60
	switch {
	case h == 0 && m == 0:
		return "midnight"
	case h == 12 && m == 0:
		return "midday"
	case h <= 8 || h >= 20:
		return "night"
	default:
		return "day"
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
