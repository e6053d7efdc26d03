package rows

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// The JSON view of a row is an object whose keys keep the row's order. Ints and floats are
// numbers (a float that is integral keeps a ".0" so it reads back as a float; NaN and ±Inf are the
// strings "NaN", "+Inf", "-Inf"), bytes are base64 strings, timestamps RFC 3339 strings with
// nanoseconds, lists and float32 arrays are arrays. Reading JSON back, nested objects become
// their compact JSON text in a string value: rows are flat.

// MarshalJSON returns the JSON view of the row.
func (r Row) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil), nil }

// AppendJSON appends the JSON view of the row to dst.
func (r Row) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	for i, f := range r {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendQuote(dst, f.Name)
		dst = append(dst, ':')
		dst = f.Value.AppendJSON(dst)
	}
	return append(dst, '}')
}

// AppendJSON appends the JSON view of the value to dst.
func (v Value) AppendJSON(dst []byte) []byte {
	switch v.kind {
	case KindNull:
		return append(dst, "null"...)
	case KindBool:
		return strconv.AppendBool(dst, v.num != 0)
	case KindInt:
		return strconv.AppendInt(dst, int64(v.num), 10)
	case KindFloat:
		return appendFloat(dst, math.Float64frombits(v.num), 64)
	case KindString:
		s, _ := v.AsString()
		b, _ := json.Marshal(s)
		return append(dst, b...)
	case KindBytes:
		b, _ := v.AsBytes()
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, b)
		return append(dst, '"')
	case KindTimestamp:
		dst = append(dst, '"')
		dst = time.Unix(0, int64(v.num)).UTC().AppendFormat(dst, time.RFC3339Nano)
		return append(dst, '"')
	case KindList:
		l, _ := v.AsList()
		dst = append(dst, '[')
		for i, e := range l {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = e.AppendJSON(dst)
		}
		return append(dst, ']')
	case KindFloat32s:
		f, _ := v.AsFloat32s()
		dst = append(dst, '[')
		for i, x := range f {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendFloat(dst, float64(x), 32)
		}
		return append(dst, ']')
	}
	return append(dst, "null"...)
}

func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"+Inf"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Inf"`...)
	}
	n := len(dst)
	dst = strconv.AppendFloat(dst, f, 'g', -1, bits)
	if bytes.IndexAny(dst[n:], ".eE") < 0 {
		dst = append(dst, ".0"...)
	}
	return dst
}

// ParseJSON reads one JSON object into a row, keeping key order. Integral numbers without a
// fraction or exponent become ints, other numbers floats.
func ParseJSON(data []byte) (Row, error) {
	p := jsonParser{data: data}
	r, err := p.object(0)
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.off != len(data) {
		return nil, fmt.Errorf("json: trailing data at byte %d", p.off)
	}
	return r, nil
}

// NumberValue parses a JSON or CSV number: an int when it has no fraction or exponent and fits
// in int64, a float otherwise.
func NumberValue(s string) (Value, error) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return Int(i), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return Value{}, fmt.Errorf("bad number %q", s)
	}
	return Float(f), nil
}
