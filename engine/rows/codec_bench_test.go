package rows

import "testing"

func sixColumnBatch(n int) *Batch {
	b := &Batch{Rows: make([]Row, n)}
	for i := range b.Rows {
		b.Rows[i] = Row{{"id", Int(int64(i))}, {"sensor", String("line-3/temperature")}, {"value", Float(21.5 + float64(i))},
			{"ok", Bool(i%2 == 0)}, {"at", TimestampNanos(1_700_000_000_000_000_000 + int64(i))}, {"unit", String("C")}}
	}
	return b
}

func audioBatch(n int) *Batch {
	b := &Batch{Rows: make([]Row, n)}
	for i := range b.Rows {
		b.Rows[i] = Row{{"frame", Float32s(make([]float32, 15600))}}
	}
	return b
}

// BenchmarkCodec reports ns per row for encoding and decoding a 6-column row and a row holding
// 15,600 float32 samples (one YAMNet frame).
func BenchmarkCodec(b *testing.B) {
	for _, tc := range []struct {
		name  string
		batch *Batch
	}{{"6col", sixColumnBatch(256)}, {"f32x15600", audioBatch(16)}} {
		n := len(tc.batch.Rows)
		b.Run("encode/"+tc.name, func(b *testing.B) {
			var e Encoder
			b.SetBytes(int64(len(e.Encode(tc.batch))))
			b.ReportAllocs()
			for b.Loop() {
				e.Encode(tc.batch)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
		})
		b.Run("decode/"+tc.name, func(b *testing.B) {
			enc := AppendBatch(nil, tc.batch)
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(enc); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
		})
	}
}
