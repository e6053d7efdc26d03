package flowtest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/atoll-studio/atoll/engine/rows"
)

// dayRows is a day at one-second steps as the moment example's sink receives it.
func dayRows() ([]json.RawMessage, []rows.Row) {
	want := make([]json.RawMessage, 86400)
	got := make([]rows.Row, 86400)
	for i := range got {
		m := []string{"night", "day"}[i/3600%2]
		got[i] = rows.Row{{Name: "n", Value: rows.Int(int64(i))}, {Name: "creation_timestamp", Value: rows.Int(1699920000 + int64(i))},
			{Name: "moment", Value: rows.String(m)}}
		want[i] = json.RawMessage(fmt.Sprintf(`{"n":%d,"creation_timestamp":%d,"moment":%q}`, i, 1699920000+i, m))
	}
	return want, got
}

// BenchmarkCompare compares a day of rows (86,400, three fields) in order, as a multiset (the
// actual rows reversed) and by tally; `make bench` prints rows per second.
func BenchmarkCompare(b *testing.B) {
	want, got := dayRows()
	rev := make([]rows.Row, len(got))
	for i := range got {
		rev[i] = got[len(got)-1-i]
	}
	tally := map[string]map[string]int64{"moment": {"night": 43200, "day": 43200}}
	for _, c := range []struct {
		name string
		e    *Expect
		want []json.RawMessage
		got  []rows.Row
	}{
		{"ordered", &Expect{}, want, got},
		{"any", &Expect{Order: "any"}, want, rev},
		{"tally", &Expect{Tally: tally}, nil, got},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				diffs, err := Compare("sink", c.e, c.want, c.got)
				if err != nil || len(diffs) != 0 {
					b.Fatalf("%v %v", diffs, err)
				}
			}
			b.ReportMetric(float64(b.N*len(c.got))/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
