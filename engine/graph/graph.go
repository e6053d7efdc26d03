// Package graph holds the graph document: the one JSON form of a pipeline that storage saves,
// the studio edits, bundles carry and the runner runs.
package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// FormatVersion is the version of the graph document this build writes and reads.
const FormatVersion = 1

// Document is a pipeline graph.
type Document struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
	Name    string `json:"name"`
	Nodes   []Node `json:"nodes"`
	Edges   []Edge `json:"edges"`
	// Parameters are the values the graph takes from where it runs; config strings refer to them
	// as ${param:NAME} (see Substitute).
	Parameters []Parameter `json:"parameters,omitempty"`
}

// Node is one node of a graph: its id, type (a catalog spec id), config and canvas position.
type Node struct {
	ID     string          `json:"id"`
	Type   string          `json:"type"`
	Config json.RawMessage `json:"config,omitempty"`
	UI     *UI             `json:"ui,omitempty"`
	// Supervision says what the engine does when the node panics or fails; nil = defaults.
	Supervision *Supervision `json:"supervision,omitempty"`
}

// Supervision is a node's failure policy.
type Supervision struct {
	// Policy is "restart" (rebuild the node after a backoff; the default), "skip" (keep the node
	// and go on with the next batch) or "stop" (fail the run).
	Policy string `json:"policy,omitempty"`
	// MaxRestarts bounds restarts in one run (default 5); past it the run fails.
	MaxRestarts int `json:"max_restarts,omitempty"`
	// BackoffMS is the first restart delay, doubled each time up to 5 s (default 100).
	BackoffMS int `json:"backoff_ms,omitempty"`
}

// UI is a node's position on the canvas.
type UI struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Endpoint names a port of a node.
type Endpoint struct {
	Node string `json:"node"`
	Port string `json:"port"`
}

// String formats the endpoint as node.port.
func (e Endpoint) String() string { return e.Node + "." + e.Port }

// Edge connects an output port to an input port.
type Edge struct {
	From Endpoint `json:"from"`
	To   Endpoint `json:"to"`
}

// String formats the edge as from -> to.
func (e Edge) String() string { return e.From.String() + " -> " + e.To.String() }

// Parse reads a graph document strictly: unknown fields and a newer format version are errors.
func Parse(data []byte) (*Document, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var d Document
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("graph: %w", Locate(data, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("graph: trailing data at byte %d", dec.InputOffset())
	}
	if d.Version == 0 {
		return nil, fmt.Errorf("graph: missing \"version\" (this build writes %d)", FormatVersion)
	}
	if d.Version > FormatVersion {
		return nil, fmt.Errorf("graph: format version %d is newer than this build's %d", d.Version, FormatVersion)
	}
	return &d, nil
}

// ReadFile parses the graph document in a file; errors name the file.
func ReadFile(path string) (*Document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// Locate adds line and column to a JSON decoding error of data: syntax and type errors by their
// offset, unknown fields (which carry none) at the first key of that name.
func Locate(data []byte, err error) error {
	var off int64 = -1
	switch e := err.(type) {
	case *json.SyntaxError:
		off = e.Offset
	case *json.UnmarshalTypeError:
		off = e.Offset
	}
	if off < 0 {
		// Unknown fields carry no offset: point at the first key of that name.
		const prefix = "json: unknown field "
		msg := err.Error()
		if !strings.HasPrefix(msg, prefix) {
			return err
		}
		key := []byte(strings.TrimPrefix(msg, prefix)) // quoted, as it appears as a key
		for i := bytes.Index(data, key); i >= 0; {
			rest := bytes.TrimLeft(data[i+len(key):], " \t\r\n")
			if len(rest) > 0 && rest[0] == ':' {
				off = int64(i)
				break
			}
			j := bytes.Index(data[i+1:], key)
			if j < 0 {
				break
			}
			i += 1 + j
		}
		if off < 0 {
			return err
		}
	}
	line, col := 1, 1
	for _, c := range data[:min(int(off), len(data))] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return fmt.Errorf("line %d, column %d: %w", line, col, err)
}

// Marshal writes the document pretty-printed with stable key order: struct fields in declaration
// order and every config object's keys sorted, so two versions diff cleanly.
func (d *Document) Marshal() ([]byte, error) {
	c := *d
	if c.Nodes == nil {
		c.Nodes = []Node{}
	}
	if c.Edges == nil {
		c.Edges = []Edge{}
	}
	c.Nodes = make([]Node, len(d.Nodes))
	for i, n := range d.Nodes {
		c.Nodes[i] = n
		if len(n.Config) > 0 {
			canon, err := canonicalJSON(n.Config)
			if err != nil {
				return nil, fmt.Errorf("node %q: config: %w", n.ID, err)
			}
			c.Nodes[i].Config = canon
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // expressions such as "a < b" stay readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(&c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// canonicalJSON rewrites a JSON value with every object's keys sorted. Numbers keep their
// literal text (no float64 round trip, so large integers survive) and HTML characters are not
// escaped.
func canonicalJSON(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // maps encode with sorted keys
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// Node returns the node with the given id.
func (d *Document) Node(id string) (*Node, bool) {
	for i := range d.Nodes {
		if d.Nodes[i].ID == id {
			return &d.Nodes[i], true
		}
	}
	return nil, false
}

// NodeIDs returns the node ids in sorted order.
func (d *Document) NodeIDs() []string {
	ids := make([]string, len(d.Nodes))
	for i, n := range d.Nodes {
		ids[i] = n.ID
	}
	sort.Strings(ids)
	return ids
}
