package momentfn

import "testing"

// TestMomentREEFRule checks REEF's rule at its edges and over a whole day at one-second steps.
func TestMomentREEFRule(t *testing.T) {
	const day = 19675 * 86400 // 2023-11-14T00:00:00Z
	for _, c := range []struct {
		hms  [3]int64
		want string
	}{
		{[3]int64{0, 0, 0}, "midnight"}, {[3]int64{0, 0, 59}, "midnight"}, {[3]int64{0, 1, 0}, "night"},
		{[3]int64{8, 59, 59}, "night"}, {[3]int64{9, 0, 0}, "day"}, {[3]int64{11, 59, 59}, "day"},
		{[3]int64{12, 0, 0}, "midday"}, {[3]int64{12, 0, 59}, "midday"}, {[3]int64{12, 1, 0}, "day"},
		{[3]int64{19, 59, 59}, "day"}, {[3]int64{20, 0, 0}, "night"}, {[3]int64{23, 59, 59}, "night"},
	} {
		ts := day + c.hms[0]*3600 + c.hms[1]*60 + c.hms[2]
		if got := Moment(ts); got != c.want {
			t.Errorf("%02d:%02d:%02d: got %q, want %q", c.hms[0], c.hms[1], c.hms[2], got, c.want)
		}
		if got := Moment(ts - 86400*30000); got != c.want { // before 1970
			t.Errorf("%02d:%02d:%02d, negative time: got %q, want %q", c.hms[0], c.hms[1], c.hms[2], got, c.want)
		}
	}
	counts := map[string]int{}
	for s := int64(0); s < 86400; s++ {
		counts[Moment(day+s)]++
	}
	want := map[string]int{"midnight": 60, "midday": 60, "night": 46740, "day": 39540}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("%s: %d seconds of the day, want %d", k, counts[k], v)
		}
	}
	if len(counts) != 4 {
		t.Errorf("moments %v", counts)
	}
}
