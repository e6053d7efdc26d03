package rows

import (
	"bytes"
	"fmt"
	"testing"
)

// checkDecoder decodes data with d and with the reference decoder and fails unless both give the
// same rows or the same error, the decoder's rows with d.Spare fields of room each.
func checkDecoder(t *testing.T, d *Decoder, data []byte) *Batch {
	t.Helper()
	ref := decoder{buf: bytes.Clone(data)}
	want, wantErr := ref.batch()
	got, err := d.DecodeShared(data)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("error %v, want %v", err, wantErr)
	}
	if err != nil {
		return nil
	}
	if len(got.Rows) != len(want.Rows) {
		t.Fatalf("%d rows, want %d", len(got.Rows), len(want.Rows))
	}
	for i := range got.Rows {
		if !got.Rows[i].Equal(want.Rows[i]) {
			t.Fatalf("row %d: %v, want %v", i, got.Rows[i], want.Rows[i])
		}
		if c := cap(got.Rows[i]) - len(got.Rows[i]); c != d.Spare {
			t.Fatalf("row %d has room for %d fields, want %d", i, c, d.Spare)
		}
	}
	return got
}

func TestDecoderReuse(t *testing.T) {
	wide := sixColumnBatch(300)
	batches := []*Batch{
		sampleBatch(), wide, {}, sixColumnBatch(3), sampleBatch(), wide,
		{Rows: []Row{{{"only", String("one")}}}}, sixColumnBatch(1000), sampleBatch(),
	}
	d := Decoder{Spare: 2}
	for k, b := range batches {
		enc := AppendBatch(nil, b)
		got := checkDecoder(t, &d, enc)
		// Use the room the way a Map function does; no row may see another's (or an earlier
		// batch's) fields.
		for i := range got.Rows {
			got.Rows[i] = append(got.Rows[i], Field{"added", Int(int64(k))}, Field{"more", Int(int64(i))})
		}
		for i := range got.Rows {
			r := got.Rows[i]
			if n := len(b.Rows[i]); len(r) != n+2 || !r[:n].Equal(b.Rows[i]) {
				t.Fatalf("batch %d row %d after appending: %v", k, i, r)
			}
			if v, _ := r[len(r)-1].Value.AsInt(); v != int64(i) {
				t.Fatalf("batch %d row %d: appended field overwritten: %v", k, i, r)
			}
		}
		// The next decode overwrites the storage: nothing of this batch (rows, appended fields,
		// names) shows through; checkDecoder compares with a fresh decode.
	}
}

func TestDecoderMalformed(t *testing.T) {
	good := AppendBatch(nil, sampleBatch())
	d := Decoder{Spare: 1}
	for n := range good {
		checkDecoder(t, &d, good[:n]) // every truncation fails with the reference error
		checkDecoder(t, &d, good)     // and the decoder recovers
	}
	for k := 16; k < len(good); k++ {
		bad := bytes.Clone(good)
		bad[k] ^= 0xA5
		checkDecoder(t, &d, bad)
	}
}

func TestEncoderMatchesAppend(t *testing.T) {
	var e, ref Encoder
	names := make(Row, 40) // more names than the linear scan handles
	for i := range names {
		names[i] = Field{fmt.Sprintf("f%d", i), Int(int64(i))}
	}
	for _, b := range []*Batch{sampleBatch(), sixColumnBatch(50), {}, {Rows: []Row{names, names[3:], names[:7]}}, sampleBatch()} {
		if got, want := e.Encode(b), ref.encodeAppend(b); !bytes.Equal(got, want) {
			t.Fatalf("encoding differs from the append encoder:\n got %v\nwant %v", got, want)
		}
		ref.buf = ref.buf[:0]
	}
}

func BenchmarkDecoder(b *testing.B) {
	enc := AppendBatch(nil, sixColumnBatch(1024))
	d := Decoder{Spare: 2}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.DecodeShared(enc); err != nil {
			b.Fatal(err)
		}
	}
}
