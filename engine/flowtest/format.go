// Package flowtest runs flow tests: a graph run headless with its sources replaced by recorded
// rows and its sinks (and chosen edges) captured, the captured rows compared field by field with
// the expected ones. The format is documented in TESTS.md. The package is pure Go and imports no
// storage and no node package: the caller passes the catalog, so the studio, `atoll test` and
// atoll-runner share it.
package flowtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/atoll-studio/atoll/engine/graph"
)

// FormatVersion is the version of the test file format this build reads and writes.
const FormatVersion = 1

// Suffix ends the name of a test file: the tests of NAME.json are in NAME.test.json.
const Suffix = ".test.json"

// File is one test file: the tests of one graph.
type File struct {
	Version int `json:"version"`
	// Graph is the graph file, relative to the test file; empty means NAME.json beside
	// NAME.test.json.
	Graph string `json:"graph,omitempty"`
	Tests []Test `json:"tests"`
}

// Test is one flow test.
type Test struct {
	Name string `json:"name"`
	// Config merges (RFC 7396 JSON merge patch) into the config of the nodes it names, so that
	// one graph can be tested with another module, a smaller window or a longer count.
	Config map[string]json.RawMessage `json:"config,omitempty"`
	// Sources gives, for every source node of the graph, what it emits instead.
	Sources map[string]Source `json:"sources"`
	// Expect maps a target to its expected rows. A target is a sink node id (the rows the sink
	// received), "node.port" (the rows that node emitted on that port; "node.errors" is its
	// errors port).
	Expect map[string]*Expect `json:"expect,omitempty"`
	// Metrics maps a node id to the counters it must end with.
	Metrics map[string]Counters `json:"metrics,omitempty"`
	// TimeoutMS bounds the run (default 60000); a run still going then fails the test.
	TimeoutMS int `json:"timeout_ms,omitempty"`
}

// Source is what a source node emits in a test. Exactly one of Rows, File, Sequence and Keep.
type Source struct {
	// Rows are the rows, in their JSON view.
	Rows []json.RawMessage `json:"rows,omitempty"`
	// File is a JSON-lines (.jsonl, .ndjson), CSV (.csv) or WAV (.wav) file, relative to the
	// test file. A CSV file is read by source.file (Columns types it), a WAV file by source.wav
	// (with the replaced node's config when it is a source.wav node).
	File    string            `json:"file,omitempty"`
	Columns map[string]string `json:"columns,omitempty"`
	// Sequence emits Count rows {Field: From + i*Step}.
	Sequence *Sequence `json:"sequence,omitempty"`
	// Keep runs the real source (deterministic ones only: a counter, a file in the repository).
	Keep bool `json:"keep,omitempty"`
	// Types converts fields of Rows and JSON-lines rows: "timestamp" (RFC 3339 or Unix ns),
	// "bytes" (base64), "float32s" (an array of numbers), "float" (a number).
	Types map[string]string `json:"types,omitempty"`
	// Port is the output port the rows go to (default: the node's first output port).
	Port string `json:"port,omitempty"`
	// BatchSize is the rows per batch (default 64).
	BatchSize int `json:"batch_size,omitempty"`
}

// Sequence describes generated rows.
type Sequence struct {
	Field string `json:"field"`
	From  int64  `json:"from"`
	Count int64  `json:"count"`
	Step  int64  `json:"step,omitempty"` // default 1
}

// Expect is what a target must receive.
type Expect struct {
	// Rows are the expected rows in their JSON view (or File, a JSON-lines file relative to the
	// test file). Absent: the rows are not compared, only Count and Tally.
	Rows []json.RawMessage `json:"rows,omitempty"`
	File string            `json:"file,omitempty"`
	// Order is "ordered" (the default: row i against row i) or "any" (a multiset).
	Order string `json:"order,omitempty"`
	// Fields maps a field name to its rule; fields not listed are compared exactly.
	Fields map[string]Rule `json:"fields,omitempty"`
	// Count is the number of rows, when set.
	Count *int64 `json:"count,omitempty"`
	// Tally maps a field to the number of rows having each value (the value's JSON text, or
	// the string itself for strings).
	Tally map[string]map[string]int64 `json:"tally,omitempty"`
}

// MarshalJSON keeps an empty Rows ("rows": [], no rows expected) apart from an absent one.
func (e Expect) MarshalJSON() ([]byte, error) {
	type plain Expect
	return json.Marshal(struct {
		Rows *[]json.RawMessage `json:"rows,omitempty"`
		plain
	}{rowsPtr(e.Rows), plain(e)})
}

// MarshalJSON keeps an empty Rows apart from an absent one.
func (s Source) MarshalJSON() ([]byte, error) {
	type plain Source
	return json.Marshal(struct {
		Rows *[]json.RawMessage `json:"rows,omitempty"`
		plain
	}{rowsPtr(s.Rows), plain(s)})
}

func rowsPtr(r []json.RawMessage) *[]json.RawMessage {
	if r == nil {
		return nil
	}
	return &r
}

// Counters are node metrics a test can require.
type Counters struct {
	RowsIn  *int64 `json:"rows_in,omitempty"`
	RowsOut *int64 `json:"rows_out,omitempty"`
	Errors  *int64 `json:"errors,omitempty"`
}

// Rule says how one field is compared. In JSON it is a string ("exact", "ignore", "present")
// or an object ({"tolerance": 0.001} or {"regex": "^[a-z]+$"}).
type Rule struct {
	Kind      string  // exact, ignore, present, tolerance, regex
	Tolerance float64 // tolerance: the largest absolute difference allowed
	Regex     string  // regex: matched against the string (or the JSON text of other values)
}

// MarshalJSON writes the rule's short form.
func (r Rule) MarshalJSON() ([]byte, error) {
	switch r.Kind {
	case "tolerance":
		return json.Marshal(map[string]float64{"tolerance": r.Tolerance})
	case "regex":
		return json.Marshal(map[string]string{"regex": r.Regex})
	case "":
		return []byte(`"exact"`), nil
	}
	return json.Marshal(r.Kind)
}

// UnmarshalJSON reads a rule.
func (r *Rule) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		switch s {
		case "exact", "ignore", "present":
			*r = Rule{Kind: s}
			return nil
		}
		return fmt.Errorf("rule %q: want exact, ignore, present, {\"tolerance\": x} or {\"regex\": \"...\"}", s)
	}
	var o struct {
		Tolerance *float64 `json:"tolerance"`
		Regex     *string  `json:"regex"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return fmt.Errorf("rule: %w", err)
	}
	switch {
	case o.Tolerance != nil && o.Regex == nil:
		if *o.Tolerance < 0 {
			return fmt.Errorf("rule: tolerance %v must be >= 0", *o.Tolerance)
		}
		*r = Rule{Kind: "tolerance", Tolerance: *o.Tolerance}
	case o.Regex != nil && o.Tolerance == nil:
		// Checked here so a bad pattern fails the load, not the compare after the graph ran.
		if _, err := regexp.Compile(*o.Regex); err != nil {
			return fmt.Errorf("rule: %w", err)
		}
		*r = Rule{Kind: "regex", Regex: *o.Regex}
	default:
		return fmt.Errorf("rule %s: want one of tolerance or regex", b)
	}
	return nil
}

// Parse reads a test file strictly: unknown fields, a newer version and malformed tests are
// errors.
func Parse(data []byte) (*File, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, graph.Locate(data, err)
	}
	if f.Version == 0 {
		return nil, fmt.Errorf("missing \"version\" (this build writes %d)", FormatVersion)
	}
	if f.Version > FormatVersion {
		return nil, fmt.Errorf("format version %d is newer than this build's %d", f.Version, FormatVersion)
	}
	seen := map[string]bool{}
	for i, t := range f.Tests {
		if err := t.check(); err != nil {
			return nil, fmt.Errorf("test %d (%q): %w", i+1, t.Name, err)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("test %d: name %q used twice", i+1, t.Name)
		}
		seen[t.Name] = true
	}
	return &f, nil
}

// ParseTest reads one test (the form the studio stores).
func ParseTest(data []byte) (*Test, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var t Test
	if err := dec.Decode(&t); err != nil {
		return nil, graph.Locate(data, err)
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	return &t, nil
}

func (t *Test) check() error {
	if strings.TrimSpace(t.Name) == "" {
		return fmt.Errorf("a test needs a name")
	}
	for id, s := range t.Sources {
		n := 0
		for _, set := range []bool{s.Rows != nil, s.File != "", s.Sequence != nil, s.Keep} {
			if set {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("source %q: give exactly one of rows, file, sequence or keep", id)
		}
		if s.Sequence != nil && (s.Sequence.Field == "" || s.Sequence.Count < 0) {
			return fmt.Errorf("source %q: sequence needs a field and a count >= 0", id)
		}
		for f, ty := range s.Types {
			switch ty {
			case "timestamp", "bytes", "float32s", "float":
			default:
				return fmt.Errorf("source %q: field %q: unknown type %q (timestamp, bytes, float32s, float)", id, f, ty)
			}
		}
	}
	for target, e := range t.Expect {
		if e == nil {
			return fmt.Errorf("expect %q: null", target)
		}
		if e.Rows != nil && e.File != "" {
			return fmt.Errorf("expect %q: give rows or file, not both", target)
		}
		switch e.Order {
		case "", "ordered", "any":
		default:
			return fmt.Errorf("expect %q: order %q: want ordered or any", target, e.Order)
		}
	}
	return nil
}

// Load reads a test file and names it in errors.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// GraphPath returns the graph file that the test file at path tests.
func (f *File) GraphPath(path string) string {
	if f.Graph != "" {
		return filepath.Join(filepath.Dir(path), f.Graph)
	}
	return strings.TrimSuffix(path, Suffix) + ".json"
}

// Marshal writes the file pretty, with stable key order (maps are sorted), ending in a newline.
func (f *File) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Find returns the test files for each argument: a test file itself, the test file beside a
// graph file (NAME.json → NAME.test.json, which must exist), or every *.test.json under a
// directory, sorted.
func Find(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		switch {
		case st.IsDir():
			var found []string
			err := filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if !d.IsDir() && strings.HasSuffix(p, Suffix) {
					found = append(found, p)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			if len(found) == 0 {
				return nil, fmt.Errorf("%s: no %s files", a, "*"+Suffix)
			}
			sort.Strings(found)
			out = append(out, found...)
		case strings.HasSuffix(a, Suffix):
			out = append(out, a)
		default:
			p := strings.TrimSuffix(a, ".json") + Suffix
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("%s: no tests beside it (%s)", a, p)
			}
			out = append(out, p)
		}
	}
	return out, nil
}
