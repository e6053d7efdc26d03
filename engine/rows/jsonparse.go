package rows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonParser reads one JSON object into a row in a single pass over the bytes: the reading side
// of the JSON view, on the hot path of JSON-lines files and message payloads.
type jsonParser struct {
	data []byte
	off  int
}

func (p *jsonParser) fail(format string, args ...any) error {
	return fmt.Errorf("json: byte %d: %s", p.off, fmt.Sprintf(format, args...))
}

func (p *jsonParser) ws() {
	for p.off < len(p.data) {
		switch p.data[p.off] {
		case ' ', '\t', '\n', '\r':
			p.off++
		default:
			return
		}
	}
}

func (p *jsonParser) object(depth int) (Row, error) {
	p.ws()
	if p.off >= len(p.data) {
		return nil, p.fail("unexpected end of input, expected an object")
	}
	if p.data[p.off] != '{' {
		return nil, p.fail("expected an object, found %q", p.data[p.off])
	}
	p.off++
	var r Row
	p.ws()
	if p.off < len(p.data) && p.data[p.off] == '}' {
		p.off++
		return Row{}, nil
	}
	for {
		p.ws()
		if p.off >= len(p.data) || p.data[p.off] != '"' {
			return nil, p.fail("expected a field name")
		}
		name, err := p.str()
		if err != nil {
			return nil, err
		}
		p.ws()
		if p.off >= len(p.data) || p.data[p.off] != ':' {
			return nil, p.fail("expected ':' after field %q", name)
		}
		p.off++
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", name, err)
		}
		r.Set(name, v)
		p.ws()
		if p.off >= len(p.data) {
			return nil, p.fail("unexpected end of input in object")
		}
		switch p.data[p.off] {
		case ',':
			p.off++
		case '}':
			p.off++
			return r, nil
		default:
			return nil, p.fail("expected ',' or '}', found %q", p.data[p.off])
		}
	}
}

func (p *jsonParser) value(depth int) (Value, error) {
	if depth > maxListDepth {
		return Value{}, p.fail("nested deeper than %d", maxListDepth)
	}
	p.ws()
	if p.off >= len(p.data) {
		return Value{}, p.fail("unexpected end of input, expected a value")
	}
	switch c := p.data[p.off]; {
	case c == '"':
		s, err := p.str()
		if err != nil {
			return Value{}, err
		}
		return String(s), nil
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.off
		if err := p.number(); err != nil {
			return Value{}, err
		}
		return NumberValue(string(p.data[start:p.off]))
	case c == '[':
		p.off++
		var l []Value
		p.ws()
		if p.off < len(p.data) && p.data[p.off] == ']' {
			p.off++
			return List(l), nil
		}
		for {
			v, err := p.value(depth + 1)
			if err != nil {
				return Value{}, fmt.Errorf("item %d: %w", len(l), err)
			}
			l = append(l, v)
			p.ws()
			if p.off >= len(p.data) {
				return Value{}, p.fail("unexpected end of input in array")
			}
			if p.data[p.off] == ',' {
				p.off++
				continue
			}
			if p.data[p.off] == ']' {
				p.off++
				return List(l), nil
			}
			return Value{}, p.fail("expected ',' or ']', found %q", p.data[p.off])
		}
	case c == '{':
		// Nested objects become their compact JSON text: rows are flat.
		start := p.off
		if _, err := p.object(depth); err != nil {
			return Value{}, err
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, p.data[start:p.off]); err != nil {
			return Value{}, p.fail("%v", err)
		}
		return String(buf.String()), nil
	case p.lit("true"):
		return Bool(true), nil
	case p.lit("false"):
		return Bool(false), nil
	case p.lit("null"):
		return Null(), nil
	}
	return Value{}, p.fail("unexpected %q", p.data[p.off])
}

func (p *jsonParser) lit(s string) bool {
	if bytes.HasPrefix(p.data[p.off:], []byte(s)) {
		p.off += len(s)
		return true
	}
	return false
}

// number checks the JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *jsonParser) number() error {
	d := p.data
	i := p.off
	if i < len(d) && d[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case digits() == 0:
		p.off = i
		return p.fail("bad number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			p.off = i
			return p.fail("bad number: no digits after '.'")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.off = i
			return p.fail("bad number: no digits in exponent")
		}
	}
	p.off = i
	return nil
}

// str reads a string starting at the opening quote.
func (p *jsonParser) str() (string, error) {
	p.off++ // opening quote
	start := p.off
	d := p.data
	// Fast path: no escapes, valid UTF-8.
	for i := start; i < len(d); i++ {
		c := d[i]
		if c == '"' {
			s := d[start:i]
			if utf8.Valid(s) {
				p.off = i + 1
				return string(s), nil
			}
			break
		}
		if c == '\\' || c < 0x20 {
			break
		}
	}
	var out []byte
	i := start
	for {
		if i >= len(d) {
			p.off = i
			return "", p.fail("unterminated string")
		}
		c := d[i]
		switch {
		case c == '"':
			p.off = i + 1
			return string(out), nil
		case c < 0x20:
			p.off = i
			return "", p.fail("control character %#x in string", c)
		case c == '\\':
			if i+1 >= len(d) {
				p.off = i
				return "", p.fail("unterminated escape")
			}
			e := d[i+1]
			i += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(d, i)
				if !ok {
					p.off = i
					return "", p.fail("bad \\u escape")
				}
				i += 4
				if utf16.IsSurrogate(r) {
					if r2, ok := hex4(d, i+2); ok && i+1 < len(d) && d[i] == '\\' && d[i+1] == 'u' {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							r = dec
							i += 6
						} else {
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				p.off = i - 1
				return "", p.fail("bad escape \\%c", e)
			}
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError) // as encoding/json does
			} else {
				out = append(out, d[i:i+size]...)
			}
			i += size
		}
	}
}

func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}
