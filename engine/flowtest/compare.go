package flowtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/atoll-studio/atoll/engine/rows"
)

// Diff is one difference between what a target received and what the test expects. Row is
// 1-based (0 when the difference is not about one row); Want and Got are JSON.
type Diff struct {
	Target  string          `json:"target"`
	Row     int             `json:"row,omitempty"`
	GotRow  int             `json:"got_row,omitempty"` // order "any": the nearest actual row
	Field   string          `json:"field,omitempty"`
	Want    json.RawMessage `json:"want,omitempty"`
	Got     json.RawMessage `json:"got,omitempty"`
	Message string          `json:"message"`
}

// maxDiffs bounds the differences kept per target.
const maxDiffs = 20

// field is one field of an expected row, in document order.
type field struct {
	name string
	raw  json.RawMessage
}

// parseRow reads an expected row (a JSON object), keeping the key order. It checks the whole
// row with json.Valid, then splits the members itself: a decoder per row cost most of the time
// of comparing a day of rows.
func parseRow(raw json.RawMessage) ([]field, error) {
	if !json.Valid(raw) {
		return nil, fmt.Errorf("not JSON: %s", short(raw))
	}
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, fmt.Errorf("a row must be a JSON object, not %s", short(raw))
	}
	var out []field
	i = skipWS(raw, i+1)
	for i < len(raw) && raw[i] != '}' {
		end := valueEnd(raw, i) // the key, a string
		var name string
		if err := json.Unmarshal(raw[i:end], &name); err != nil {
			return nil, err
		}
		i = skipWS(raw, end)
		i = skipWS(raw, i+1) // ':'
		end = valueEnd(raw, i)
		out = append(out, field{name: name, raw: raw[i:end]})
		i = skipWS(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipWS(raw, i+1)
		}
	}
	return out, nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the end of the (valid) JSON value starting at i.
func valueEnd(b []byte, i int) int {
	depth, inStr := 0, false
	for j := i; j < len(b); j++ {
		c := b[j]
		switch {
		case inStr:
			if c == '\\' {
				j++
			} else if c == '"' {
				inStr = false
				if depth == 0 {
					return j + 1
				}
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth == 0 {
				return j
			}
			depth--
			if depth == 0 {
				return j + 1
			}
		case depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return j
		}
	}
	return len(b)
}

// compiled is an Expect ready to compare with: parsed rows and compiled rules.
type compiled struct {
	label string
	e     *Expect
	want  [][]field
	re    map[string]*regexp.Regexp
	// present lists the fields whose rule is "present", sorted: every row must have them.
	present []string
}

func compile(label string, e *Expect, want []json.RawMessage) (*compiled, error) {
	c := &compiled{label: label, e: e, re: map[string]*regexp.Regexp{}}
	for i, raw := range want {
		r, err := parseRow(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: expected row %d: %w", label, i+1, err)
		}
		c.want = append(c.want, r)
	}
	for name, rule := range e.Fields {
		if rule.Kind == "present" {
			c.present = append(c.present, name)
		}
		if rule.Kind == "regex" {
			re, err := regexp.Compile(rule.Regex)
			if err != nil {
				return nil, fmt.Errorf("%s: field %q: %w", label, name, err)
			}
			c.re[name] = re
		}
	}
	sort.Strings(c.present)
	return c, nil
}

func (c *compiled) rule(name string) Rule {
	if r, ok := c.e.Fields[name]; ok {
		return r
	}
	return Rule{Kind: "exact"}
}

// Compare checks got against the expectation e; label names the target in messages (sink
// "file", edge "map.out", errors "fn"). It returns at most maxDiffs differences, the first
// one first.
func Compare(label string, e *Expect, want []json.RawMessage, got []rows.Row) ([]Diff, error) {
	c, err := compile(label, e, want)
	if err != nil {
		return nil, err
	}
	var diffs []Diff
	add := func(d Diff) bool {
		d.Target = label
		diffs = append(diffs, d)
		return len(diffs) < maxDiffs
	}
	if want != nil {
		if e.Order == "any" {
			c.multiset(got, add)
		} else {
			c.ordered(got, add)
		}
	}
	if e.Count != nil && int64(len(got)) != *e.Count && len(diffs) < maxDiffs {
		add(Diff{Message: fmt.Sprintf("%s: %d rows, want %d", label, len(got), *e.Count)})
	}
	if len(e.Tally) > 0 && len(diffs) < maxDiffs {
		c.tally(got, add)
	}
	return diffs, nil
}

// ordered compares row i with row i.
func (c *compiled) ordered(got []rows.Row, add func(Diff) bool) {
	for i := 0; i < max(len(got), len(c.want)); i++ {
		switch {
		case i >= len(got):
			w := rowJSON(c.want[i])
			if !add(Diff{Row: i + 1, Want: w, Message: fmt.Sprintf("%s row %d: missing, want %s", c.label, i+1, short(w))}) {
				return
			}
		case i >= len(c.want):
			g := json.RawMessage(got[i].AppendJSON(nil))
			if !add(Diff{Row: i + 1, Got: g, Message: fmt.Sprintf("%s row %d: not expected, got %s", c.label, i+1, short(g))}) {
				return
			}
		default:
			if d, ok := c.row(i+1, c.want[i], got[i]); !ok {
				if !add(d) {
					return
				}
			}
		}
	}
}

// multiset matches every expected row with a distinct actual row, greedily: rows are bucketed
// by their exactly compared fields, and the first unused actual row in the bucket that matches
// is taken.
func (c *compiled) multiset(got []rows.Row, add func(Diff) bool) {
	used := make([]bool, len(got))
	buckets := map[string][]int{}
	for j, r := range got {
		k := c.gotKey(r)
		buckets[k] = append(buckets[k], j)
	}
	for i, w := range c.want {
		matched := false
		for _, j := range buckets[c.wantKey(w)] {
			if !used[j] {
				if _, same := c.row(i+1, w, got[j]); same {
					used[j], matched = true, true
					break
				}
			}
		}
		if matched {
			continue
		}
		// Report against the nearest unused actual row: the one with the fewest differing fields.
		best, bestN := -1, math.MaxInt
		for j := range got {
			if used[j] {
				continue
			}
			if n := c.countDiffs(w, got[j]); n < bestN {
				best, bestN = j, n
			}
		}
		wj := rowJSON(w)
		if best < 0 {
			if !add(Diff{Row: i + 1, Want: wj, Message: fmt.Sprintf("%s row %d: no actual row left to match %s", c.label, i+1, short(wj))}) {
				return
			}
			continue
		}
		d, _ := c.row(i+1, w, got[best])
		d.GotRow = best + 1
		d.Message = strings.Replace(d.Message, fmt.Sprintf("row %d", i+1), fmt.Sprintf("row %d (nearest actual row %d)", i+1, best+1), 1)
		if !add(d) {
			return
		}
	}
	for j, u := range used {
		if !u && len(got) > len(c.want) {
			g := json.RawMessage(got[j].AppendJSON(nil))
			if !add(Diff{GotRow: j + 1, Got: g, Message: fmt.Sprintf("%s actual row %d: matches no expected row, got %s", c.label, j+1, short(g))}) {
				return
			}
		}
	}
}

// gotKey and wantKey join the JSON of the exactly compared fields (sorted by name), so that
// rows that may match share a bucket. Numbers are canonicalised.
func (c *compiled) gotKey(r rows.Row) string {
	var parts []string
	for _, f := range r {
		if c.rule(f.Name).Kind == "exact" {
			parts = append(parts, f.Name+"="+canon(f.Value.AppendJSON(nil)))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "\x00")
}

func (c *compiled) wantKey(w []field) string {
	var parts []string
	for _, f := range w {
		if c.rule(f.name).Kind == "exact" {
			parts = append(parts, f.name+"="+canon(f.raw))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "\x00")
}

// canon rewrites a JSON value so that equal values (by jsonEqual) have equal text.
func canon(raw []byte) string {
	if len(raw) > 0 {
		switch c := raw[0]; {
		case c == '"' && bytes.IndexByte(raw, '\\') >= 0:
			// Escapes spelled differently ("\u0041", "A") are equal: key the decoded text.
			var s string
			if json.Unmarshal(raw, &s) == nil {
				return `"` + s + `"`
			}
			return string(raw)
		case c == '"' || c == 't' || c == 'f' || c == 'n':
			return string(raw)
		case c == '-' || (c >= '0' && c <= '9'):
			if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
				return strconv.FormatFloat(f, 'g', -1, 64)
			}
		}
	}
	v, err := decodeNumber(raw)
	if err != nil {
		return string(raw)
	}
	b, _ := json.Marshal(canonValue(v))
	return string(b)
}

func canonValue(v any) any {
	switch t := v.(type) {
	case json.Number:
		f, err := t.Float64()
		if err != nil {
			return string(t)
		}
		return f
	case []any:
		for i := range t {
			t[i] = canonValue(t[i])
		}
	case map[string]any:
		for k := range t {
			t[k] = canonValue(t[k])
		}
	}
	return v
}

func decodeNumber(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// row compares one expected row with one actual row and returns the first difference.
func (c *compiled) row(n int, want []field, got rows.Row) (Diff, bool) {
	for _, w := range want {
		rule := c.rule(w.name)
		if rule.Kind == "ignore" {
			continue
		}
		v, ok := got.Get(w.name)
		if !ok {
			return Diff{Row: n, Field: w.name, Want: w.raw,
				Message: fmt.Sprintf("%s row %d field %q: missing, want %s", c.label, n, w.name, short(w.raw))}, false
		}
		g := json.RawMessage(v.AppendJSON(nil))
		if !c.match(w.name, rule, w.raw, v, g) {
			return Diff{Row: n, Field: w.name, Want: w.raw, Got: g,
				Message: fmt.Sprintf("%s row %d field %q: want %s, got %s", c.label, n, w.name, short([]byte(c.describe(rule, w.raw))), short(g))}, false
		}
	}
	for _, f := range got {
		if k := c.rule(f.Name).Kind; has(want, f.Name) || k == "ignore" || k == "present" {
			continue
		}
		g := json.RawMessage(f.Value.AppendJSON(nil))
		return Diff{Row: n, Field: f.Name, Got: g,
			Message: fmt.Sprintf("%s row %d field %q: not expected, got %s", c.label, n, f.Name, short(g))}, false
	}
	for _, name := range c.present {
		if _, ok := got.Get(name); !ok && !has(want, name) {
			return Diff{Row: n, Field: name, Message: fmt.Sprintf("%s row %d field %q: missing, want it present", c.label, n, name)}, false
		}
	}
	return Diff{}, true
}

// has reports whether an expected row has the field (rows are short: a scan beats a map).
func has(want []field, name string) bool {
	for _, w := range want {
		if w.name == name {
			return true
		}
	}
	return false
}

func (c *compiled) countDiffs(want []field, got rows.Row) int {
	n := 0
	for _, w := range want {
		rule := c.rule(w.name)
		if rule.Kind == "ignore" {
			continue
		}
		v, ok := got.Get(w.name)
		if !ok || !c.match(w.name, rule, w.raw, v, v.AppendJSON(nil)) {
			n++
		}
	}
	for _, f := range got {
		if k := c.rule(f.Name).Kind; !has(want, f.Name) && k != "ignore" && k != "present" {
			n++
		}
	}
	return n
}

func (c *compiled) describe(r Rule, want json.RawMessage) string {
	switch r.Kind {
	case "tolerance":
		return fmt.Sprintf("%s ± %v", want, r.Tolerance)
	case "regex":
		return fmt.Sprintf("a match of /%s/", r.Regex)
	}
	return string(want)
}

func (c *compiled) match(name string, r Rule, want json.RawMessage, v rows.Value, got []byte) bool {
	switch r.Kind {
	case "ignore", "present":
		return true
	case "regex":
		s, ok := v.AsString()
		if !ok {
			s = string(got)
		}
		return c.re[name].MatchString(s)
	case "tolerance":
		return jsonClose(want, got, r.Tolerance)
	}
	return jsonClose(want, got, 0)
}

// jsonClose reports whether two JSON values are equal, numbers within tol of each other
// (element by element in arrays). Numbers compare by value: 1 equals 1.0.
func jsonClose(a, b []byte, tol float64) bool {
	if scalar(a) && scalar(b) { // the common case, without a decoder
		if ia, err := strconv.ParseInt(string(a), 10, 64); err == nil {
			if ib, err := strconv.ParseInt(string(b), 10, 64); err == nil && tol == 0 {
				return ia == ib
			}
		}
		fa, ea := strconv.ParseFloat(string(a), 64)
		fb, eb := strconv.ParseFloat(string(b), 64)
		if ea == nil && eb == nil && isNumber(a) && isNumber(b) {
			return math.Abs(fa-fb) <= tol
		}
		if a[0] != '"' || b[0] != '"' || bytes.IndexByte(a, '\\') >= 0 || bytes.IndexByte(b, '\\') >= 0 {
			if isNumber(a) != isNumber(b) {
				return false
			}
		} else {
			return bytes.Equal(a, b)
		}
	}
	va, err := decodeNumber(a)
	if err != nil {
		return false
	}
	vb, err := decodeNumber(b)
	if err != nil {
		return false
	}
	return valueClose(va, vb, tol)
}

func scalar(raw []byte) bool { return len(raw) > 0 && raw[0] != '[' && raw[0] != '{' }

func isNumber(raw []byte) bool {
	return len(raw) > 0 && (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'))
}

func valueClose(a, b any, tol float64) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if ix, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			if iy, err := strconv.ParseInt(string(y), 10, 64); err == nil && tol == 0 {
				return ix == iy
			}
		}
		fx, e1 := x.Float64()
		fy, e2 := y.Float64()
		return e1 == nil && e2 == nil && math.Abs(fx-fy) <= tol
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !valueClose(x[i], y[i], tol) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !valueClose(v, w, tol) {
				return false
			}
		}
		return true
	}
	return a == b
}

// shortLen bounds a value quoted in a message; Diff.Want and Diff.Got keep it whole.
const shortLen = 120

func short(b []byte) string {
	if len(b) <= shortLen {
		return string(b)
	}
	return string(b[:shortLen]) + "…"
}

func rowJSON(fs []field) json.RawMessage {
	b := []byte{'{'}
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, f.name)
		b = append(b, ':')
		b = append(b, f.raw...)
	}
	return append(b, '}')
}

// tallyKey is how a value is counted: a string as itself, anything else as its JSON text.
func tallyKey(v rows.Value) string {
	if s, ok := v.AsString(); ok {
		return s
	}
	return string(v.AppendJSON(nil))
}

// countValues counts the rows by their value of field name (tallyKey); rows without it are not
// counted.
func countValues(got []rows.Row, name string) map[string]int64 {
	counts := map[string]int64{}
	for _, r := range got {
		if v, ok := r.Get(name); ok {
			counts[tallyKey(v)]++
		}
	}
	return counts
}

func (c *compiled) tally(got []rows.Row, add func(Diff) bool) {
	names := make([]string, 0, len(c.e.Tally))
	for n := range c.e.Tally {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		counts := countValues(got, name)
		want := c.e.Tally[name]
		keys := make([]string, 0, len(want)+len(counts))
		for k := range want {
			keys = append(keys, k)
		}
		for k := range counts {
			if _, ok := want[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			if counts[k] != want[k] {
				wj, _ := json.Marshal(want[k])
				gj, _ := json.Marshal(counts[k])
				if !add(Diff{Field: name, Want: wj, Got: gj,
					Message: fmt.Sprintf("%s field %q: %d rows with %q, want %d", c.label, name, counts[k], k, want[k])}) {
					return
				}
			}
		}
	}
}
