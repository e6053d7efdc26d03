package rows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// referenceParseJSON is the earlier ParseJSON built on encoding/json's tokenizer; the fuzz test
// checks the single-pass parser against it.
func referenceParseJSON(data []byte) (Row, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("json: expected an object, found %v", tok)
	}
	var r Row
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("json: byte %d: %w", dec.InputOffset(), err)
		}
		name := tok.(string)
		v, err := referenceJSONValue(dec, 0)
		if err != nil {
			return nil, fmt.Errorf("json: field %q: %w", name, err)
		}
		r.Set(name, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("json: byte %d: %w", dec.InputOffset(), err)
	}
	if dec.More() {
		return nil, fmt.Errorf("json: trailing data at byte %d", dec.InputOffset())
	}
	return r, nil
}

func referenceJSONValue(dec *json.Decoder, depth int) (Value, error) {
	if depth > maxListDepth {
		return Value{}, fmt.Errorf("nested deeper than %d", maxListDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return Value{}, fmt.Errorf("byte %d: %w", dec.InputOffset(), err)
	}
	switch t := tok.(type) {
	case nil:
		return Null(), nil
	case bool:
		return Bool(t), nil
	case string:
		return String(t), nil
	case json.Number:
		return NumberValue(string(t))
	case json.Delim:
		switch t {
		case '[':
			var l []Value
			for dec.More() {
				v, err := referenceJSONValue(dec, depth+1)
				if err != nil {
					return Value{}, fmt.Errorf("item %d: %w", len(l), err)
				}
				l = append(l, v)
			}
			if _, err := dec.Token(); err != nil {
				return Value{}, err
			}
			return List(l), nil
		case '{':
			// Re-encode the nested object compactly as a string value.
			var buf bytes.Buffer
			buf.WriteByte('{')
			first := true
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return Value{}, err
				}
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return Value{}, err
				}
				if !first {
					buf.WriteByte(',')
				}
				first = false
				kb, _ := json.Marshal(k)
				buf.Write(kb)
				buf.WriteByte(':')
				_ = json.Compact(&buf, raw)
			}
			if _, err := dec.Token(); err != nil {
				return Value{}, err
			}
			buf.WriteByte('}')
			return String(buf.String()), nil
		}
	}
	return Value{}, fmt.Errorf("unexpected token %v", tok)
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"b":-2.5e3,"c":"x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00","d":[true,false,null,[1]],"e":{"k":[1, 2]}}`,
		`{"a":1}  `, `{"a":01}`, `{"a":"\ud800"}`, `{"a":1,"a":2}`, `{"a":"` + "\xff" + `"}`, `[1]`, `{"a":1.}`, `{"a":-}`, ` {"n":12345678901234567890}`, `{"&":{"&":"<>"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseJSON(data)
		want, werr := referenceParseJSON(data)
		if werr == nil && !json.Valid(data) {
			// The tokenizer-based reference let some invalid documents through ("{}}").
			if err == nil {
				t.Fatalf("ParseJSON(%q) accepted invalid JSON", data)
			}
			return
		}
		if (err == nil) != (werr == nil) {
			t.Fatalf("ParseJSON(%q): err %v, reference err %v", data, err, werr)
		}
		if err == nil && !sameDecodedRow(got, want) {
			t.Fatalf("ParseJSON(%q) = %v, reference %v", data, got, want)
		}
	})
}

// sameDecodedRow compares two parsed rows by value. A nested object is kept as a compact JSON
// string whose bytes may legitimately differ between the parsers (`"&"` against json.Marshal's
// `"\u0026"`): such strings are compared by what they decode to, not byte by byte.
func sameDecodedRow(a, b Row) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !sameDecodedValue(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

func sameDecodedValue(a, b Value) bool {
	if a.Equal(b) {
		return true
	}
	if la, ok := a.AsList(); ok {
		lb, ok := b.AsList()
		if !ok || len(la) != len(lb) {
			return false
		}
		for i := range la {
			if !sameDecodedValue(la[i], lb[i]) {
				return false
			}
		}
		return true
	}
	sa, oka := a.AsString()
	sb, okb := b.AsString()
	if !oka || !okb || !strings.HasPrefix(sa, "{") || !strings.HasPrefix(sb, "{") {
		return false
	}
	var da, db any
	if json.Unmarshal([]byte(sa), &da) != nil || json.Unmarshal([]byte(sb), &db) != nil {
		return false
	}
	return reflect.DeepEqual(da, db)
}

// TestSameDecodedRow pins the comparison the fuzz target relies on: escapes that decode alike
// are equal, different values are not.
func TestSameDecodedRow(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{`{"x":{"&":1}}`, `{"x":{"\u0026":1}}`, true},
		{`{"x":{"a":[1,{"<":2}]}}`, `{"x":{"a":[1,{"\u003c":2}]}}`, true},
		{`{"x":{"&":1}}`, `{"x":{"&":2}}`, false},
		{`{"x":"{\"a\":1}"}`, `{"x":"{\"a\": 2}"}`, false},
		{`{"x":1}`, `{"x":1.0}`, false},
	} {
		a, err := ParseJSON([]byte(tc.a))
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseJSON([]byte(tc.b))
		if err != nil {
			t.Fatal(err)
		}
		if got := sameDecodedRow(a, b); got != tc.same {
			t.Errorf("sameDecodedRow(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}

func BenchmarkParseJSON(b *testing.B) {
	line := []byte(`{"id":42,"sensor":"line-3/temperature","value":21.5,"ok":true,"at":"2024-01-02T03:04:05Z","tags":["a","b"]}`)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseJSON(line); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseJSONReference(b *testing.B) {
	line := []byte(`{"id":42,"sensor":"line-3/temperature","value":21.5,"ok":true,"at":"2024-01-02T03:04:05Z","tags":["a","b"]}`)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := referenceParseJSON(line); err != nil {
			b.Fatal(err)
		}
	}
}
