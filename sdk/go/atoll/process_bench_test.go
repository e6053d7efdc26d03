package atoll

import (
	"testing"

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/examples/functions/go/moment/momentfn"
)

func BenchmarkProcessMoment(b *testing.B) {
	handler = nil
	Map(momentfn.Apply)
	b0 := &rows.Batch{}
	for i := 0; i < 1024; i++ {
		b0.Rows = append(b0.Rows, rows.Row{
			{Name: "id", Value: rows.Int(int64(i))},
			{Name: "creation_timestamp", Value: rows.Int(1_700_000_000 + int64(i)*977)},
			{Name: "site", Value: rows.String("reef")},
			{Name: "temp_c", Value: rows.Float(20.5)},
		})
	}
	in := rows.AppendBatch(nil, b0)
	for b.Loop() {
		Process(in)
	}
}
