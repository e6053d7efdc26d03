package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Parameter is a named value a graph takes from where it runs (a device's input directory, broker
// URL, name or threshold), so that one signed graph serves many devices. Config values refer to it
// as ${param:NAME}; see Substitute.
type Parameter struct {
	Name string `json:"name"`
	// Type is string, integer, number or boolean.
	Type string `json:"type"`
	// Default is used when the place the graph runs gives no value; absent means required.
	Default any    `json:"default,omitempty"`
	Doc     string `json:"doc,omitempty"`
}

// ParamTypes are the parameter types.
var ParamTypes = []string{"string", "integer", "number", "boolean"}

var paramName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,63}$`)

// paramRef matches one reference. "$${" escapes a literal "${".
var paramRef = regexp.MustCompile(`\$?\$\{([^}]*)\}`)

// ParamError names the parameter (and the node and config field, when known) a substitution
// failed on.
type ParamError struct {
	Param string
	Node  string
	Field string // config path such as "path" or "models.yamnet"
	Msg   string
}

func (e *ParamError) Error() string {
	switch {
	case e.Node != "" && e.Field != "":
		return fmt.Sprintf("node %q config %s: parameter %q: %s", e.Node, e.Field, e.Param, e.Msg)
	case e.Node != "":
		return fmt.Sprintf("node %q: parameter %q: %s", e.Node, e.Param, e.Msg)
	}
	return fmt.Sprintf("parameter %q: %s", e.Param, e.Msg)
}

// CheckParameters checks the declarations: valid unique names, known types, defaults of their type.
func (d *Document) CheckParameters() error {
	seen := map[string]bool{}
	for i, p := range d.Parameters {
		if !paramName.MatchString(p.Name) {
			return &ParamError{Param: p.Name, Msg: fmt.Sprintf("parameters[%d]: name must match %s", i, paramName)}
		}
		if seen[p.Name] {
			return &ParamError{Param: p.Name, Msg: "declared twice"}
		}
		seen[p.Name] = true
		if !validType(p.Type) {
			return &ParamError{Param: p.Name, Msg: fmt.Sprintf("type %q is not one of %s", p.Type, strings.Join(ParamTypes, ", "))}
		}
		if p.Default != nil {
			if _, err := coerce(p, p.Default); err != nil {
				return &ParamError{Param: p.Name, Msg: "default: " + err.Error()}
			}
		}
	}
	return nil
}

func validType(t string) bool {
	for _, v := range ParamTypes {
		if t == v {
			return true
		}
	}
	return false
}

// Param returns the declared parameter named name.
func (d *Document) Param(name string) (Parameter, bool) {
	for _, p := range d.Parameters {
		if p.Name == name {
			return p, true
		}
	}
	return Parameter{}, false
}

// ParseParamValue reads a parameter value given as text (a command-line flag, an env file line)
// by the parameter's type.
func ParseParamValue(p Parameter, s string) (any, error) {
	switch p.Type {
	case "string":
		return s, nil
	case "integer":
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, &ParamError{Param: p.Name, Msg: fmt.Sprintf("%q is not an integer", s)}
		}
		return i, nil
	case "number":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, &ParamError{Param: p.Name, Msg: fmt.Sprintf("%q is not a number", s)}
		}
		return f, nil
	case "boolean":
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, &ParamError{Param: p.Name, Msg: fmt.Sprintf("%q is not a boolean (true or false)", s)}
		}
		return b, nil
	}
	return nil, &ParamError{Param: p.Name, Msg: fmt.Sprintf("unknown type %q", p.Type)}
}

// coerce checks that v (as decoded from JSON, or a Go value) has the parameter's type and returns
// it in canonical Go form: string, int64, float64 or bool.
func coerce(p Parameter, v any) (any, error) {
	switch p.Type {
	case "string":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case "integer":
		switch n := v.(type) {
		case int:
			return int64(n), nil
		case int64:
			return n, nil
		case float64:
			if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
				return int64(n), nil
			}
		case json.Number:
			if i, err := n.Int64(); err == nil {
				return i, nil
			}
		}
	case "number":
		switch n := v.(type) {
		case int:
			return float64(n), nil
		case int64:
			return float64(n), nil
		case float64:
			return n, nil
		case json.Number:
			if f, err := n.Float64(); err == nil {
				return f, nil
			}
		}
	default:
		return nil, fmt.Errorf("unknown type %q", p.Type)
	}
	return nil, fmt.Errorf("%s is not of type %s", describe(v), p.Type)
}

func describe(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return fmt.Sprintf("%T %s", v, b)
}

// Resolve returns the value of every declared parameter: values[name] when given (checked
// against the type), else the default. A missing required parameter, a mistyped value or a value
// for an undeclared parameter is an error naming it.
func (d *Document) Resolve(values map[string]any) (map[string]any, error) {
	if err := d.CheckParameters(); err != nil {
		return nil, err
	}
	out := map[string]any{}
	var missing []string
	for _, p := range d.Parameters {
		v, ok := values[p.Name]
		if !ok || v == nil {
			if p.Default == nil {
				missing = append(missing, p.Name)
				continue
			}
			v = p.Default
		}
		c, err := coerce(p, v)
		if err != nil {
			return nil, &ParamError{Param: p.Name, Msg: err.Error()}
		}
		out[p.Name] = c
	}
	if len(missing) > 0 {
		return nil, &ParamError{Param: missing[0], Msg: fmt.Sprintf("no value given and no default (required parameters without a value: %s)", strings.Join(missing, ", "))}
	}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if _, ok := d.Param(k); !ok {
			return nil, &ParamError{Param: k, Msg: fmt.Sprintf("not declared by graph %q (declared: %s)", d.ID, strings.Join(d.paramNames(), ", "))}
		}
	}
	return out, nil
}

func (d *Document) paramNames() []string {
	if len(d.Parameters) == 0 {
		return []string{"none"}
	}
	n := make([]string, len(d.Parameters))
	for i, p := range d.Parameters {
		n[i] = p.Name
	}
	return n
}

// Substitute returns a copy of the document with every ${param:NAME} reference in the node
// configs replaced. A string value that is exactly one reference takes the parameter's typed
// value (so an integer parameter can fill an integer field); a reference inside a longer string
// is replaced by the value's text. "$${" stands for a literal "${". values are checked and
// completed by Resolve. The copy declares the same parameters.
func (d *Document) Substitute(values map[string]any) (*Document, error) {
	vals, err := d.Resolve(values)
	if err != nil {
		return nil, err
	}
	c := *d
	c.Nodes = make([]Node, len(d.Nodes))
	for i, n := range d.Nodes {
		c.Nodes[i] = n
		if len(n.Config) == 0 || !bytes.Contains(n.Config, []byte("${")) {
			continue
		}
		v, err := decodeConfig(n.Config)
		if err != nil {
			return nil, fmt.Errorf("node %q: config: %w", n.ID, err)
		}
		v, err = substValue(d, vals, n.ID, "", v)
		if err != nil {
			return nil, err
		}
		raw, err := encodeCompact(v)
		if err != nil {
			return nil, fmt.Errorf("node %q: config: %w", n.ID, err)
		}
		c.Nodes[i].Config = raw
	}
	return &c, nil
}

// ParamRefs lists the parameters each node's config refers to: node id → sorted names.
func (d *Document) ParamRefs() map[string][]string {
	out := map[string][]string{}
	for _, n := range d.Nodes {
		seen := map[string]bool{}
		for _, m := range paramRef.FindAllSubmatch(n.Config, -1) {
			if bytes.HasPrefix(m[0], []byte("$$")) {
				continue
			}
			if name, ok := strings.CutPrefix(string(m[1]), "param:"); ok && !seen[name] {
				seen[name] = true
				out[n.ID] = append(out[n.ID], name)
			}
		}
		sort.Strings(out[n.ID])
	}
	return out
}

func decodeConfig(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func encodeCompact(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func substValue(d *Document, vals map[string]any, node, path string, v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			r, err := substValue(d, vals, node, join(path, k), e)
			if err != nil {
				return nil, err
			}
			x[k] = r
		}
		return x, nil
	case []any:
		for i, e := range x {
			r, err := substValue(d, vals, node, fmt.Sprintf("%s[%d]", path, i), e)
			if err != nil {
				return nil, err
			}
			x[i] = r
		}
		return x, nil
	case string:
		return substString(d, vals, node, path, x)
	}
	return v, nil
}

func substString(d *Document, vals map[string]any, node, path, s string) (any, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	locs := paramRef.FindAllStringSubmatchIndex(s, -1)
	lookup := func(inner string) (any, error) {
		name, ok := strings.CutPrefix(inner, "param:")
		if !ok {
			return nil, &ParamError{Param: inner, Node: node, Field: path, Msg: "unknown reference ${" + inner + "} (the syntax is ${param:NAME}; write $${ for a literal ${)"}
		}
		if _, ok := d.Param(name); !ok {
			return nil, &ParamError{Param: name, Node: node, Field: path, Msg: fmt.Sprintf("not declared (declared: %s)", strings.Join(d.paramNames(), ", "))}
		}
		return vals[name], nil
	}
	// A whole-string reference keeps the value's type.
	if len(locs) == 1 && locs[0][0] == 0 && locs[0][1] == len(s) && !strings.HasPrefix(s, "$$") {
		return lookup(s[locs[0][2]:locs[0][3]])
	}
	var b strings.Builder
	last := 0
	for _, l := range locs {
		b.WriteString(s[last:l[0]])
		last = l[1]
		m := s[l[0]:l[1]]
		if strings.HasPrefix(m, "$$") {
			b.WriteString(m[1:])
			continue
		}
		v, err := lookup(s[l[2]:l[3]])
		if err != nil {
			return nil, err
		}
		switch x := v.(type) {
		case string:
			b.WriteString(x)
		case float64:
			b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
		default:
			fmt.Fprint(&b, x)
		}
	}
	b.WriteString(s[last:])
	return b.String(), nil
}
