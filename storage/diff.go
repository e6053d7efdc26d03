package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
)

// GraphNode is a node as a graph document holds it.
type GraphNode struct {
	ID     string          `json:"id"`
	Type   string          `json:"type"`
	Config json.RawMessage `json:"config"`
	UI     *NodeUI         `json:"ui,omitempty"`
}

// NodeUI is a node's position on the canvas.
type NodeUI struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Endpoint is one end of an edge: a node and one of its ports.
type Endpoint struct {
	Node string `json:"node"`
	Port string `json:"port"`
}

// GraphEdge connects an output port to an input port.
type GraphEdge struct {
	From Endpoint `json:"from"`
	To   Endpoint `json:"to"`
}

// GraphDiff is what changed between two versions of a graph, node by node. Nodes are matched by
// ID; edges by their two endpoints.
type GraphDiff struct {
	From         int          `json:"from"`
	To           int          `json:"to"`
	NodesAdded   []GraphNode  `json:"nodes_added"`
	NodesRemoved []GraphNode  `json:"nodes_removed"`
	NodesChanged []NodeChange `json:"nodes_changed"`
	EdgesAdded   []GraphEdge  `json:"edges_added"`
	EdgesRemoved []GraphEdge  `json:"edges_removed"`
}

// NodeChange is how one node present in both versions changed.
type NodeChange struct {
	ID          string        `json:"id"`
	TypeChanged *[2]string    `json:"type_changed,omitempty"` // before, after
	Moved       bool          `json:"moved,omitempty"`
	Fields      []FieldChange `json:"fields"`
}

// FieldChange is one changed value in a node's config. Path is relative to the config, dotted
// with bracketed indices (threshold, filters[0].label, labels["a.b"]); the empty path is the
// whole config. Before or after is null when the field was added or removed.
type FieldChange struct {
	Path   string          `json:"path"`
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

// DiffVersions compares version a of the graph with version b.
func (s *Store) DiffVersions(ctx context.Context, id string, a, b int) (GraphDiff, error) {
	_, docA, err := s.LoadVersion(ctx, id, a)
	if err != nil {
		return GraphDiff{}, fmt.Errorf("diff: %w", err)
	}
	_, docB, err := s.LoadVersion(ctx, id, b)
	if err != nil {
		return GraphDiff{}, fmt.Errorf("diff: %w", err)
	}
	d, err := diffDocs(docA, docB)
	if err != nil {
		return GraphDiff{}, fmt.Errorf("graph %q: diff %d..%d: %w", id, a, b, err)
	}
	d.From, d.To = a, b
	return d, nil
}

// diffDoc is the part of a graph document the diff reads.
type diffDoc struct {
	Nodes []GraphNode `json:"nodes"`
	Edges []GraphEdge `json:"edges"`
}

func diffDocs(a, b []byte) (GraphDiff, error) {
	var da, db diffDoc
	if err := json.Unmarshal(a, &da); err != nil {
		return GraphDiff{}, fmt.Errorf("from document: %w", err)
	}
	if err := json.Unmarshal(b, &db); err != nil {
		return GraphDiff{}, fmt.Errorf("to document: %w", err)
	}
	d := GraphDiff{NodesAdded: []GraphNode{}, NodesRemoved: []GraphNode{}, NodesChanged: []NodeChange{},
		EdgesAdded: []GraphEdge{}, EdgesRemoved: []GraphEdge{}}

	before := map[string]GraphNode{}
	for _, n := range da.Nodes {
		before[n.ID] = n
	}
	after := map[string]bool{}
	for _, n := range db.Nodes {
		after[n.ID] = true
		old, ok := before[n.ID]
		if !ok {
			d.NodesAdded = append(d.NodesAdded, withConfig(n))
			continue
		}
		c := NodeChange{ID: n.ID, Fields: []FieldChange{}}
		if old.Type != n.Type {
			c.TypeChanged = &[2]string{old.Type, n.Type}
		}
		c.Moved = !samePosition(old.UI, n.UI)
		if err := diffConfig(&c.Fields, old.Config, n.Config); err != nil {
			return GraphDiff{}, fmt.Errorf("node %q: %w", n.ID, err)
		}
		if c.TypeChanged != nil || c.Moved || len(c.Fields) > 0 {
			d.NodesChanged = append(d.NodesChanged, c)
		}
	}
	for _, n := range da.Nodes {
		if !after[n.ID] {
			d.NodesRemoved = append(d.NodesRemoved, withConfig(n))
		}
	}

	inA, inB := map[GraphEdge]bool{}, map[GraphEdge]bool{}
	for _, e := range da.Edges {
		inA[e] = true
	}
	for _, e := range db.Edges {
		if !inA[e] && !inB[e] {
			d.EdgesAdded = append(d.EdgesAdded, e)
		}
		inB[e] = true
	}
	seen := map[GraphEdge]bool{}
	for _, e := range da.Edges {
		if !inB[e] && !seen[e] {
			d.EdgesRemoved = append(d.EdgesRemoved, e)
		}
		seen[e] = true
	}
	return d, nil
}

// withConfig gives a node without config an empty object, as the API promises an object.
func withConfig(n GraphNode) GraphNode {
	if len(n.Config) == 0 || string(n.Config) == "null" {
		n.Config = json.RawMessage("{}")
	}
	return n
}

func samePosition(a, b *NodeUI) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func diffConfig(out *[]FieldChange, a, b json.RawMessage) error {
	if bytes.Equal(a, b) { // most nodes are untouched between two versions
		return nil
	}
	va, err := decodeValue(a)
	if err != nil {
		return fmt.Errorf("config before: %w", err)
	}
	vb, err := decodeValue(b)
	if err != nil {
		return fmt.Errorf("config after: %w", err)
	}
	diffValue(out, "", va, vb)
	return nil
}

// decodeValue decodes JSON keeping numbers exact; absent config counts as an empty object.
func decodeValue(raw json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if v == nil {
		return map[string]any{}, nil
	}
	return v, nil
}

// diffValue records where a and b differ. Objects are compared member by member (in key order);
// arrays of equal length element by element; anything else, including arrays whose length
// changed, as one value.
func diffValue(out *[]FieldChange, path string, a, b any) {
	switch x := a.(type) {
	case map[string]any:
		if y, ok := b.(map[string]any); ok {
			keys := make([]string, 0, len(x)+len(y))
			for k := range x {
				keys = append(keys, k)
			}
			for k := range y {
				if _, ok := x[k]; !ok {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			for _, k := range keys {
				va, inA := x[k]
				vb, inB := y[k]
				p := memberPath(path, k)
				switch {
				case !inA:
					*out = append(*out, FieldChange{Path: p, After: encodeValue(vb)})
				case !inB:
					*out = append(*out, FieldChange{Path: p, Before: encodeValue(va)})
				default:
					diffValue(out, p, va, vb)
				}
			}
			return
		}
	case []any:
		if y, ok := b.([]any); ok && len(x) == len(y) {
			for i := range x {
				diffValue(out, path+"["+strconv.Itoa(i)+"]", x[i], y[i])
			}
			return
		}
	}
	if !equalValue(a, b) {
		*out = append(*out, FieldChange{Path: path, Before: encodeValue(a), After: encodeValue(b)})
	}
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func memberPath(path, key string) string {
	if !identifier.MatchString(key) {
		return path + "[" + string(quote(key)) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// equalValue compares decoded JSON; numbers compare by value (1, 1.0 and 1e0 are equal).
func equalValue(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		rx, okx := new(big.Rat).SetString(string(x))
		ry, oky := new(big.Rat).SetString(string(y))
		return okx && oky && rx.Cmp(ry) == 0
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equalValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValue(x[i], y[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

func encodeValue(v any) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
