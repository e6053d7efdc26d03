package tflite

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/atoll-studio/atoll/internal/testdata"
)

// readInt16CSV reads one line of comma-separated int16 values (a trailing comma is allowed).
func readInt16CSV(t testing.TB, rel string) []int16 {
	t.Helper()
	b, err := os.ReadFile(testdata.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	var out []int16
	for i, f := range strings.Split(strings.TrimSpace(string(b)), ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.ParseInt(f, 10, 16)
		if err != nil {
			t.Fatalf("%s: value %d: %v", rel, i, err)
		}
		out = append(out, int16(v))
	}
	return out
}

// TestSeanetInt16x8 runs tflite-micro's seanet integration models (single CONV_2D, ADD and PAD
// operators on int16 activations with int8 weights and int64 bias) and compares every output
// value with the golden CSV exactly.
func TestSeanetInt16x8(t *testing.T) {
	cases := []struct {
		dir    string
		n      int
		inputs int
	}{{"conv", 10, 1}, {"add", 9, 2}, {"pad", 8, 1}}
	for _, tc := range cases {
		for i := range tc.n {
			name := fmt.Sprintf("%s%d", tc.dir, i)
			t.Run(name, func(t *testing.T) {
				base := "tflite/seanet/" + tc.dir + "/" + name
				m := loadModelFile(t, base+".tflite", Options{Threads: 2})
				it, err := m.NewInterpreter()
				if err != nil {
					t.Fatal(err)
				}
				defer it.Close()
				for j := range tc.inputs {
					in := readInt16CSV(t, fmt.Sprintf("%s_input%d_int16.csv", base, j))
					dst := it.Input(j)
					if dst.Type != Int16 || len(dst.Int16()) != len(in) {
						t.Fatalf("input %d: %s%v, CSV has %d values", j, dst.Type, dst.Shape, len(in))
					}
					copy(dst.Int16(), in)
				}
				if err := it.Invoke(); err != nil {
					t.Fatal(err)
				}
				want := readInt16CSV(t, base+"_golden_int16.csv")
				got := it.Output(0).Int16()
				if len(got) != len(want) {
					t.Fatalf("output has %d values, golden %d", len(got), len(want))
				}
				bad := 0
				for k := range want {
					if got[k] != want[k] {
						if bad < 5 {
							t.Errorf("output[%d] = %d, want %d", k, got[k], want[k])
						}
						bad++
					}
				}
				if bad > 0 {
					t.Errorf("%d of %d values differ", bad, len(want))
				}
			})
		}
	}
}
