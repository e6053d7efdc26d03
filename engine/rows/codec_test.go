package rows

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func sampleBatch() *Batch {
	frames := make([]float32, 1001)
	for i := range frames {
		frames[i] = float32(math.Sin(float64(i)))
	}
	return &Batch{Rows: []Row{
		{{"id", Int(1)}, {"name", String("owl")}, {"ok", Bool(true)}, {"score", Float(0.25)},
			{"at", TimestampNanos(1_700_000_000_123_456_789)}, {"raw", Bytes([]byte{0, 1, 255})}},
		{{"id", Int(-2)}, {"name", String("")}, {"ok", Bool(false)}, {"score", Float(math.NaN())},
			{"at", TimestampNanos(0)}, {"raw", Bytes(nil)}},
		{{"frames", Float32s(frames)}, {"tags", List([]Value{String("a"), Int(3), List([]Value{Null()})})}, {"none", Null()}},
		{},
		{{"odd", String("x")}, {"frames", Float32s(frames[:3])}},
	}}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    *Batch
	}{
		{"empty", &Batch{}},
		{"sample", sampleBatch()},
		{"one row", &Batch{Rows: []Row{{{"x", Float(math.Inf(-1))}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e Encoder
			enc := e.Encode(tc.b)
			got, err := Decode(enc)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if len(got.Rows) != len(tc.b.Rows) {
				t.Fatalf("rows: got %d, want %d", len(got.Rows), len(tc.b.Rows))
			}
			for i := range got.Rows {
				if !got.Rows[i].Equal(tc.b.Rows[i]) {
					t.Errorf("row %d: got %v, want %v", i, got.Rows[i], tc.b.Rows[i])
				}
			}
			// Re-encoding gives the same bytes: the encoding is canonical.
			var e2 Encoder
			if again := e2.Encode(got); !bytes.Equal(again, enc) {
				t.Errorf("re-encoding differs")
			}
			// AppendBatch after a prefix that breaks alignment still round-trips.
			prefixed := AppendBatch([]byte{1, 2, 3}, tc.b)
			if _, err := Decode(prefixed[3:]); err != nil {
				t.Errorf("decode after unaligned prefix: %v", err)
			}
		})
	}
}

func TestCodecHeader(t *testing.T) {
	enc := AppendBatch(nil, &Batch{Rows: []Row{{{"a", Int(7)}}}})
	want := []byte{'A', 'T', 'R', 'B', 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 'a', 1, 0, 0, 0, 0, 0, 0, 0, byte(KindInt), 7, 0, 0, 0, 0, 0, 0, 0}
	if !bytes.Equal(enc, want) {
		t.Fatalf("encoding:\n got %v\nwant %v", enc, want)
	}
}

func TestCodecMalformed(t *testing.T) {
	good := AppendBatch(nil, sampleBatch())
	cases := map[string][]byte{
		"empty":        nil,
		"bad magic":    append([]byte("XXXX"), good[4:]...),
		"version":      append(append([]byte{}, good[:4]...), append([]byte{9, 0}, good[6:]...)...),
		"truncated":    good[:len(good)-1],
		"trailing":     append(append([]byte{}, good...), 0),
		"huge rows":    append(append([]byte{}, good[:8]...), append([]byte{255, 255, 255, 255}, good[12:]...)...),
		"unknown kind": {'A', 'T', 'R', 'B', 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 'a', 1, 0, 0, 0, 0, 0, 0, 0, 99},
		"bad bool":     {'A', 'T', 'R', 'B', 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 'a', 1, 0, 0, 0, 0, 0, 0, 0, 1, 7},
		"name index":   {'A', 'T', 'R', 'B', 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 'a', 1, 0, 0, 0, 5, 0, 0, 0, 0},
		"huge f32":     {'A', 'T', 'R', 'B', 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 'a', 1, 0, 0, 0, 0, 0, 0, 0, 8, 255, 255, 255, 255},
		"huge string":  {'A', 'T', 'R', 'B', 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 'a', 1, 0, 0, 0, 0, 0, 0, 0, 4, 255, 255, 255, 127},
		"short header": []byte("ATRB"),
		"deep nesting": append(append([]byte{'A', 'T', 'R', 'B', 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 'a', 1, 0, 0, 0, 0, 0, 0, 0}, bytes.Repeat([]byte{7, 1, 0, 0, 0}, 40)...), 0),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(data)
			if err == nil {
				t.Fatal("decode succeeded")
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if name != "version" && !strings.Contains(err.Error(), "byte ") {
				t.Errorf("error %q does not name the byte offset", err)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(AppendBatch(nil, sampleBatch()))
	f.Add(AppendBatch(nil, &Batch{}))
	f.Add(AppendBatch(nil, &Batch{Rows: []Row{{{"a", List([]Value{Int(1), List(nil)})}}}}))
	var dec Decoder
	f.Fuzz(func(t *testing.T, data []byte) {
		dec.Spare = len(data) % 3
		checkDecoder(t, &dec, data) // the reusing decoder agrees with the reference
		b, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		// Whatever decodes re-encodes (in place or by appending, alike) and decodes to the same rows.
		enc := AppendBatch(nil, b)
		var ref Encoder
		if !bytes.Equal(ref.encodeAppend(b), enc) {
			t.Fatalf("encoders differ")
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		for i := range b.Rows {
			if !again.Rows[i].Equal(b.Rows[i]) {
				t.Fatalf("row %d changed on round trip", i)
			}
		}
	})
}

func TestJSONView(t *testing.T) {
	r := Row{{"id", Int(3)}, {"f", Float(2)}, {"s", String("a\"b")}, {"b", Bytes([]byte("hi"))},
		{"t", TimestampNanos(time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano())},
		{"l", List([]Value{Bool(true), Null()})}, {"x", Float32s([]float32{0.5, 1})}, {"nan", Float(math.NaN())}}
	got := string(r.AppendJSON(nil))
	want := `{"id":3,"f":2.0,"s":"a\"b","b":"aGk=","t":"2024-01-02T03:04:05.000000006Z","l":[true,null],"x":[0.5,1.0],"nan":"NaN"}`
	if got != want {
		t.Fatalf("json view:\n got %s\nwant %s", got, want)
	}
	back, err := ParseJSON([]byte(`{"id":3,"f":2.0,"s":"a\"b","l":[true,null],"obj":{"k": [1, 2]}}`))
	if err != nil {
		t.Fatal(err)
	}
	wantRow := Row{{"id", Int(3)}, {"f", Float(2)}, {"s", String("a\"b")}, {"l", List([]Value{Bool(true), Null()})}, {"obj", String(`{"k":[1,2]}`)}}
	if !back.Equal(wantRow) {
		t.Fatalf("parse: got %v, want %v", back, wantRow)
	}
	for _, bad := range []string{``, `[1]`, `{"a":}`, `{"a":1} x`, `{"a":1`} {
		if _, err := ParseJSON([]byte(bad)); err == nil {
			t.Errorf("ParseJSON(%q) succeeded", bad)
		}
	}
}

func TestRowSetDelete(t *testing.T) {
	var r Row
	r.Set("a", Int(1))
	r.Set("b", Int(2))
	r.Set("a", Int(3))
	r.Delete("zz")
	if v, _ := r.Get("a"); !v.Equal(Int(3)) || len(r) != 2 {
		t.Fatalf("set: %v", r)
	}
	r.Delete("a")
	if _, ok := r.Get("a"); ok || len(r) != 1 {
		t.Fatalf("delete: %v", r)
	}
}
