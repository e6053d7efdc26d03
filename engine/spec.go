package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
)

// Spec describes a node type. It is data: it serialises to JSON (the studio's palette, forms and
// help come only from it) and its config fields produce the JSON Schema that graph validation
// checks configs against.
type Spec struct {
	// ID is "<kind>.<name>", e.g. "source.generator".
	ID       string `json:"id"`
	Category string `json:"category"`
	Summary  string `json:"summary"`
	// Docs is markdown.
	Docs string `json:"docs"`
	// Headless is false for nodes that only work inside the studio (the live preview sink).
	Headless bool `json:"headless"`
	// Inputs and Outputs list the ports; every node also has the output port "errors".
	Inputs  []Port `json:"inputs"`
	Outputs []Port `json:"outputs"`
	// Fields describe the config object.
	Fields []Field `json:"-"`
	// Examples are configs shown in the docs; every one must validate.
	Examples []Example `json:"examples"`
	// Defaults is the config struct holding the default values; a test checks that Fields match
	// its json tags and defaults.
	Defaults any `json:"-"`
	// New builds a node (a Source or a Processor) from its config.
	New func(bc BuildContext, config json.RawMessage) (Node, error) `json:"-"`
	// GuestMemory, when set, says which config fields cap the guest memory a node may claim.
	GuestMemory *GuestMemory `json:"guest_memory,omitempty"`
}

// GuestMemory declares how a node's config caps the guest (WebAssembly) memory it may claim:
// config[Pages] × PageBytes × config[Instances] bytes (× 1 without Instances), each field
// taking its default when the config leaves it out. Validation adds the caps of a graph's nodes
// up against the run's budget; the studio shows each node's cap on the canvas from the same
// declaration.
type GuestMemory struct {
	Pages     string `json:"pages"`
	Instances string `json:"instances,omitempty"`
	PageBytes int64  `json:"page_bytes"`
}

// GuestMemoryCap returns the most guest memory a node of this type with config may claim, in
// bytes, and how the figure comes about; ok is false when the type caps no guest memory or
// the fields are not integers (the config's own validation reports that).
func (s *Spec) GuestMemoryCap(config json.RawMessage) (bytes int64, how string, ok bool) {
	g := s.GuestMemory
	if g == nil {
		return 0, "", false
	}
	var cfg map[string]json.RawMessage
	if len(config) > 0 && json.Unmarshal(config, &cfg) != nil {
		return 0, "", false
	}
	value := func(name string) (int64, bool) {
		if raw, ok := cfg[name]; ok {
			var v int64
			if json.Unmarshal(raw, &v) != nil || v < 0 {
				return 0, false
			}
			return v, true
		}
		for _, f := range s.Fields {
			if f.Name == name {
				switch d := f.Default.(type) {
				case int:
					return int64(d), true
				case int64:
					return d, true
				case float64:
					return int64(d), true
				}
			}
		}
		return 0, false
	}
	pages, ok := value(g.Pages)
	if !ok {
		return 0, "", false
	}
	n := int64(1)
	how = fmt.Sprintf("%s %d × %d KiB", g.Pages, pages, g.PageBytes>>10)
	if g.Instances != "" {
		if n, ok = value(g.Instances); !ok {
			return 0, "", false
		}
		how += fmt.Sprintf(" × %s %d", g.Instances, n)
	}
	return pages * g.PageBytes * n, how, true
}

// Port is a typed port. Type "any" connects to everything; "rows" carries ordinary rows; other
// names ("audio", "detections", "spectrogram") say which fields the rows carry.
type Port struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Required bool   `json:"required,omitempty"`
	Doc      string `json:"doc,omitempty"`
}

// Field is one config field. Its JSON Schema is derived from it.
type Field struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"` // string, integer, number, boolean, object, array
	Doc      string   `json:"doc,omitempty"`
	Default  any      `json:"default,omitempty"`
	Enum     []any    `json:"enum,omitempty"`
	Min      *float64 `json:"minimum,omitempty"`
	Max      *float64 `json:"maximum,omitempty"`
	Required bool     `json:"required,omitempty"`
	// Format "asset" makes the studio show an asset picker (value: SHA-256 or a path);
	// AssetKind narrows it (wasm, tflite, labels, wav).
	Format    string `json:"format,omitempty"`
	AssetKind string `json:"asset_kind,omitempty"`
	// Items is the JSON Schema type of array items.
	Items string `json:"items,omitempty"`
	// Path marks a field whose value names a host file or directory: a string, or the string
	// values of an object or array (an asset field's SHA-256 or path included). A host that
	// confines file access (the studio) checks every such value at validation
	// (ValidateOptions.Paths); its schema carries "x-path": true.
	Path bool `json:"path,omitempty"`
	// Schema, when set, replaces the derived schema of this field (objects with properties).
	Schema map[string]any `json:"schema,omitempty"`
}

// Example is a named example config.
type Example struct {
	Name   string          `json:"name"`
	Config json.RawMessage `json:"config"`
}

// Num returns a pointer to f, for Field.Min and Field.Max.
func Num(f float64) *float64 { return &f }

// HasOutput reports whether the spec has an output port named name ("errors" always exists).
func (s *Spec) Output(name string) (Port, bool) {
	if name == ErrorsPort {
		return Port{Name: ErrorsPort, Type: "rows"}, true
	}
	for _, p := range s.Outputs {
		if p.Name == name {
			return p, true
		}
	}
	return Port{}, false
}

// Input returns the input port named name.
func (s *Spec) Input(name string) (Port, bool) {
	for _, p := range s.Inputs {
		if p.Name == name {
			return p, true
		}
	}
	return Port{}, false
}

// ConfigSchema returns the JSON Schema (draft 2020-12) of the spec's config object.
func (s *Spec) ConfigSchema() map[string]any {
	props := map[string]any{}
	var required []string
	order := make([]string, 0, len(s.Fields))
	for _, f := range s.Fields {
		order = append(order, f.Name)
		var p map[string]any
		if f.Schema != nil {
			p = map[string]any{}
			for k, v := range f.Schema {
				p[k] = v
			}
		} else {
			p = map[string]any{"type": f.Type}
		}
		if f.Doc != "" {
			p["description"] = f.Doc
		}
		if f.Default != nil {
			p["default"] = f.Default
		}
		if len(f.Enum) > 0 {
			p["enum"] = f.Enum
		}
		if f.Min != nil {
			p["minimum"] = *f.Min
		}
		if f.Max != nil {
			p["maximum"] = *f.Max
		}
		if f.Format != "" {
			p["format"] = f.Format
		}
		if f.AssetKind != "" {
			p["x-asset-kind"] = f.AssetKind
		}
		if f.Items != "" {
			p["items"] = map[string]any{"type": f.Items}
		}
		if f.Path {
			p["x-path"] = true
		}
		props[f.Name] = p
		if f.Required {
			required = append(required, f.Name)
		}
	}
	schema := map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"title":                s.ID,
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
		// JSON objects have no order; forms show fields in the spec's order.
		"x-order": order,
	}
	if len(required) > 0 {
		schema["required"] = required
	}
	return schema
}

// MarshalJSON adds the derived config schema to the spec's JSON form.
func (s Spec) MarshalJSON() ([]byte, error) {
	type plain Spec
	inputs, outputs := s.Inputs, s.Outputs
	if inputs == nil {
		inputs = []Port{}
	}
	if outputs == nil {
		outputs = []Port{}
	}
	examples := s.Examples
	if examples == nil {
		examples = []Example{}
	}
	p := plain(s)
	p.Inputs, p.Outputs, p.Examples = inputs, outputs, examples
	return json.Marshal(struct {
		plain
		ConfigSchema map[string]any `json:"config_schema"`
	}{p, s.ConfigSchema()})
}

// DecodeConfig strictly decodes raw (unknown fields rejected) over defaults and returns the
// result. A null or empty raw config gives the defaults.
func DecodeConfig[T any](raw json.RawMessage, defaults T) (T, error) {
	cfg := defaults
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return cfg, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// Catalog is a set of node specs. The default catalog lives in package nodes; tests build their own.
type Catalog struct {
	mu    sync.RWMutex
	specs map[string]*Spec
}

// NewCatalog returns an empty catalog.
func NewCatalog() *Catalog { return &Catalog{specs: map[string]*Spec{}} }

// Register adds a spec; registering an id twice panics (it is a programming error).
func (c *Catalog) Register(s Spec) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.specs[s.ID]; dup {
		panic(fmt.Sprintf("catalog: node type %q registered twice", s.ID))
	}
	if s.New == nil {
		panic(fmt.Sprintf("catalog: node type %q has no constructor", s.ID))
	}
	c.specs[s.ID] = &s
}

// Lookup returns the spec for a node type.
func (c *Catalog) Lookup(id string) (*Spec, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.specs[id]
	return s, ok
}

// Specs returns every spec sorted by id.
func (c *Catalog) Specs() []*Spec {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*Spec, 0, len(c.specs))
	for _, s := range c.specs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// IDs returns the sorted node type ids.
func (c *Catalog) IDs() []string {
	specs := c.Specs()
	ids := make([]string, len(specs))
	for i, s := range specs {
		ids[i] = s.ID
	}
	return ids
}

// Clone returns a copy of the catalog that can be extended without changing c.
func (c *Catalog) Clone() *Catalog {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := NewCatalog()
	for k, v := range c.specs {
		n.specs[k] = v
	}
	return n
}
