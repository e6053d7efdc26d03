package core

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

// TestFileStreams is the stream conformance table for the file source and sink: what sink.file
// writes, source.file reads back, for each format, batch size and row count, in order, with
// nothing lost or repeated.
func TestFileStreams(t *testing.T) {
	for _, format := range []string{"jsonl", "csv"} {
		for _, count := range []int{0, 1, 1000} {
			for _, batch := range []int{1, 7, 256} {
				t.Run(fmt.Sprintf("%s/%d_rows/batch_%d", format, count, batch), func(t *testing.T) {
					dir := t.TempDir()
					file := "stream." + format
					write := fmt.Sprintf(`{"version":1,"id":"w","name":"w","nodes":[
						{"id":"gen","type":"source.generator","config":{"count":%d,"rate":0,"batch_size":%d}},
						{"id":"m","type":"transform.map","config":{"set":{"x":"n * 0.5","s":"'v' + string(n)"}}},
						{"id":"sink","type":"sink.file","config":{"path":%q,"mode":"truncate"}}],
						"edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"m","port":"in"}},
						{"from":{"node":"m","port":"out"},"to":{"node":"sink","port":"in"}}]}`, count, batch, file)
					if count == 0 {
						// The generator's 0 means "until stopped": read an empty file instead.
						writeFile(t, filepath.Join(dir, file), "")
					} else if err := startGraph(t, write, nodes.New(), dir).Wait(); err != nil {
						t.Fatal(err)
					}
					c := newFileCaptures()
					r := startGraph(t, sourceGraph(t, fmt.Sprintf(`{"path":%q,"batch_size":%d}`, file, batch)), c.cat, dir)
					if err := r.Wait(); err != nil {
						t.Fatal(err)
					}
					got := c.rows.Rows()
					if len(got) != count {
						t.Fatalf("read %d rows, wrote %d", len(got), count)
					}
					for i, row := range got {
						want := rows.Row{
							{Name: "n", Value: rows.Int(int64(i))},
							{Name: "s", Value: rows.String(fmt.Sprintf("v%d", i))},
							{Name: "x", Value: rows.Float(float64(i) * 0.5)},
						}
						if !row.Equal(want) {
							t.Fatalf("row %d: %s, want %s", i, row.AppendJSON(nil), want.AppendJSON(nil))
						}
					}
					if errs := c.errs.Rows(); len(errs) > 0 {
						t.Fatalf("errors: %v", errs)
					}
					m := r.Metrics()["src"]
					if got := m.Gauges["acked_offset"]; count > 0 && got == 0 {
						t.Errorf("acked_offset not reported")
					}
				})
			}
		}
	}
}
