package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/atoll-studio/atoll/engine/graph"
)

// Problem is one validation finding, addressed to a node (and port or config field) when it has
// one.
type Problem struct {
	Node    string `json:"node,omitempty"`
	Port    string `json:"port,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Node != "" {
		fmt.Fprintf(&b, "node %q", p.Node)
		if p.Port != "" {
			fmt.Fprintf(&b, " port %q", p.Port)
		}
		if p.Field != "" {
			fmt.Fprintf(&b, " config %s", p.Field)
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// InvalidGraphError is returned by Build when a graph does not validate.
type InvalidGraphError struct {
	Problems []Problem
}

func (e *InvalidGraphError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "invalid graph: " + strings.Join(lines, "; ")
}

// ValidateOptions tune validation.
type ValidateOptions struct {
	// Headless refuses node types that only work inside the studio.
	Headless bool
	// Paths, when set, is asked about every value of every path field (Field.Path) of a
	// config that matches its schema; an error becomes a problem on that field. Nil accepts
	// every path (`atoll run` and the runner, on the user's own graph).
	Paths PathPolicy
	// GuestMemoryBudget bounds the guest memory all of a graph's nodes may claim together, in
	// bytes (their caps, Spec.GuestMemory): 0 means DefaultGuestMemoryBudget, < 0 no bound.
	GuestMemoryBudget int64
}

// PathPolicy decides whether a node may use a host path named in its config (value as
// written: relative values are the policy's to resolve). The error says why not.
type PathPolicy func(value string) error

// DefaultGuestMemoryBudget is the guest memory a run's nodes may claim together unless the
// host says otherwise (`--guest-memory-mb`): sixteen instances at function.wasm's default cap.
const DefaultGuestMemoryBudget = 1 << 30

// GuestMemoryBudgetService is the Options.Services key of a run's guest memory budget (an
// int64 of bytes, as ValidateOptions.GuestMemoryBudget), so that a host that hands its services
// to every run (the studio) sets it in one place.
const GuestMemoryBudgetService = "guest_memory_budget"

// checkGuestMemory refuses a graph whose nodes' guest memory caps add up to more than the
// budget, with one problem on each node that claims some.
func checkGuestMemory(doc *graph.Document, specs map[string]*Spec, budget int64) []Problem {
	if budget == 0 {
		budget = DefaultGuestMemoryBudget
	}
	if budget < 0 {
		return nil
	}
	type claim struct {
		node, how string
		bytes     int64
	}
	var claims []claim
	var total int64
	for _, n := range doc.Nodes {
		s := specs[n.ID]
		if s == nil {
			continue
		}
		if b, how, ok := s.GuestMemoryCap(n.Config); ok && b > 0 {
			claims = append(claims, claim{n.ID, how, b})
			total += b
		}
	}
	if total <= budget {
		return nil
	}
	probs := make([]Problem, len(claims))
	for i, c := range claims {
		probs[i] = Problem{Node: c.node, Field: specs[c.node].GuestMemory.Pages, Message: fmt.Sprintf(
			"guest memory: this node may claim %s (%s); the graph's %d guest nodes may claim %s together, over the run's budget of %s (--guest-memory-mb)",
			mib(c.bytes), c.how, len(claims), mib(total), mib(budget))}
	}
	return probs
}

func mib(b int64) string { return fmt.Sprintf("%d MiB", (b+(1<<20)-1)>>20) }

// PortsCompatible reports whether an output of type out may feed an input of type in.
func PortsCompatible(out, in string) bool {
	return out == in || out == "any" || in == "any"
}

var schemaCache sync.Map // *Spec -> *jsonschema.Schema or error

func (s *Spec) compiledSchema() (*jsonschema.Schema, error) {
	if v, ok := schemaCache.Load(s); ok {
		if err, isErr := v.(error); isErr {
			return nil, err
		}
		return v.(*jsonschema.Schema), nil
	}
	raw, err := json.Marshal(s.ConfigSchema())
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	url := "atoll:" + s.ID + ".json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	sch, err := c.Compile(url)
	if err != nil {
		schemaCache.Store(s, fmt.Errorf("node type %q: config schema: %w", s.ID, err))
		return nil, err
	}
	schemaCache.Store(s, sch)
	return sch, nil
}

var printer = message.NewPrinter(language.English)

// ValidateConfig checks a config against the spec's JSON Schema and returns one problem per
// failing leaf, addressed by JSON pointer.
func (s *Spec) ValidateConfig(nodeID string, config json.RawMessage) []Problem {
	sch, err := s.compiledSchema()
	if err != nil {
		return []Problem{{Node: nodeID, Message: err.Error()}}
	}
	raw := bytes.TrimSpace(config)
	if len(raw) == 0 || string(raw) == "null" {
		raw = []byte("{}")
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return []Problem{{Node: nodeID, Message: "config is not valid JSON: " + err.Error()}}
	}
	err = sch.Validate(inst)
	if err == nil {
		return nil
	}
	verr, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return []Problem{{Node: nodeID, Message: "config: " + err.Error()}}
	}
	var out []Problem
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			field := "/" + strings.Join(e.InstanceLocation, "/")
			prefix := strings.TrimSuffix(field, "/") + "/"
			// Address unknown and missing properties to the field itself, so a form can mark it.
			switch k := e.ErrorKind.(type) {
			case *kind.AdditionalProperties:
				for _, name := range k.Properties {
					out = append(out, Problem{Node: nodeID, Field: prefix + name, Message: "unknown field"})
				}
				return
			case *kind.Required:
				for _, name := range k.Missing {
					out = append(out, Problem{Node: nodeID, Field: prefix + name, Message: "required field is missing"})
				}
				return
			}
			out = append(out, Problem{Node: nodeID, Field: field, Message: e.ErrorKind.LocalizedString(printer)})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(verr)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Field != out[j].Field {
			return out[i].Field < out[j].Field
		}
		return out[i].Message < out[j].Message
	})
	return out
}

// Validate checks a graph against a catalog: node types, configs, edges, ports and their types,
// required inputs and cycles. It returns every problem found, in a stable order.
func Validate(doc *graph.Document, cat *Catalog, opts ValidateOptions) []Problem {
	var probs []Problem
	add := func(p Problem) { probs = append(probs, p) }
	if doc.Version != graph.FormatVersion {
		add(Problem{Message: fmt.Sprintf("format version %d is not %d", doc.Version, graph.FormatVersion)})
	}
	specs := map[string]*Spec{}
	seen := map[string]bool{}
	for i, n := range doc.Nodes {
		if n.ID == "" {
			add(Problem{Message: fmt.Sprintf("node %d has no id", i)})
			continue
		}
		if seen[n.ID] {
			add(Problem{Node: n.ID, Message: "duplicate node id"})
			continue
		}
		seen[n.ID] = true
		s, ok := cat.Lookup(n.Type)
		if !ok {
			what := fmt.Sprintf("unknown node type %q", n.Type)
			if n.Type == "" {
				what = "missing node type"
			}
			add(Problem{Node: n.ID, Message: fmt.Sprintf("%s (valid: %s)", what, strings.Join(cat.IDs(), ", "))})
			continue
		}
		specs[n.ID] = s
		if opts.Headless && !s.Headless {
			add(Problem{Node: n.ID, Message: fmt.Sprintf("node type %q runs only in the studio, not headless", n.Type)})
		}
		cprobs := s.ValidateConfig(n.ID, n.Config)
		probs = append(probs, cprobs...)
		if opts.Paths != nil && len(cprobs) == 0 {
			probs = append(probs, s.checkPaths(n.ID, n.Config, opts.Paths)...)
		}
		if sv := n.Supervision; sv != nil {
			switch sv.Policy {
			case "", "restart", "skip", "stop":
			default:
				add(Problem{Node: n.ID, Message: fmt.Sprintf("supervision policy %q is not restart, skip or stop", sv.Policy)})
			}
			if sv.MaxRestarts < 0 || sv.BackoffMS < 0 {
				add(Problem{Node: n.ID, Message: "supervision max_restarts and backoff_ms must be >= 0"})
			}
		}
	}
	connected := map[graph.Endpoint]bool{}
	edgeSeen := map[graph.Edge]bool{}
	var valid []graph.Edge // edges whose both ends exist, for the cycle search
	for _, e := range doc.Edges {
		if edgeSeen[e] {
			add(Problem{Node: e.To.Node, Port: e.To.Port, Message: fmt.Sprintf("duplicate edge %s", e)})
			continue
		}
		edgeSeen[e] = true
		var outType, inType string
		ok, toOK := true, false
		if !seen[e.From.Node] {
			add(Problem{Node: e.To.Node, Port: e.To.Port, Message: fmt.Sprintf("edge %s comes from a missing node %q", e, e.From.Node)})
			ok = false
		} else if s := specs[e.From.Node]; s != nil {
			if p, has := s.Output(e.From.Port); has {
				outType = p.Type
			} else {
				add(Problem{Node: e.From.Node, Port: e.From.Port, Message: fmt.Sprintf("edge %s: no output port %q (outputs: %s)", e, e.From.Port, portNames(append(s.Outputs, Port{Name: ErrorsPort})))})
				ok = false
			}
		} else {
			ok = false
		}
		if !seen[e.To.Node] {
			add(Problem{Node: e.From.Node, Port: e.From.Port, Message: fmt.Sprintf("edge %s goes to a missing node %q", e, e.To.Node)})
			ok = false
		} else if s := specs[e.To.Node]; s != nil {
			if p, has := s.Input(e.To.Port); has {
				inType = p.Type
				toOK = true
			} else {
				add(Problem{Node: e.To.Node, Port: e.To.Port, Message: fmt.Sprintf("edge %s: no input port %q (inputs: %s)", e, e.To.Port, portNames(s.Inputs))})
				ok = false
			}
		} else {
			ok = false
		}
		if toOK && seen[e.From.Node] {
			// Connected even when the producer's type is unknown: that is reported once, on it.
			connected[e.To] = true
		}
		if ok {
			valid = append(valid, e)
			if !PortsCompatible(outType, inType) {
				add(Problem{Node: e.To.Node, Port: e.To.Port, Message: fmt.Sprintf("edge %s: output type %q does not fit input type %q", e, outType, inType)})
			}
		}
	}
	for _, n := range doc.Nodes {
		s := specs[n.ID]
		if s == nil {
			continue
		}
		for _, p := range s.Inputs {
			if p.Required && !connected[graph.Endpoint{Node: n.ID, Port: p.Name}] {
				add(Problem{Node: n.ID, Port: p.Name, Message: "required input is not connected"})
			}
		}
	}
	for _, cyc := range findCycles(doc, valid) {
		add(Problem{Node: cyc[0], Message: "cycle: " + strings.Join(append(cyc, cyc[0]), " -> ")})
	}
	probs = append(probs, checkGuestMemory(doc, specs, opts.GuestMemoryBudget)...)
	return probs
}

// checkPaths asks policy about every value of the spec's path fields in config (which matches
// the schema): one problem per refused value, addressed to the field ("/models/birds" for an
// object's entry, "/dirs/0" for an array's).
func (s *Spec) checkPaths(nodeID string, config json.RawMessage, policy PathPolicy) []Problem {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(config, &fields); err != nil || fields == nil {
		return nil
	}
	var out []Problem
	check := func(ptr, value string) {
		if value == "" {
			return
		}
		if err := policy(value); err != nil {
			out = append(out, Problem{Node: nodeID, Field: ptr, Message: err.Error()})
		}
	}
	for _, f := range s.Fields {
		raw, ok := fields[f.Name]
		if !f.Path || !ok {
			continue
		}
		var one string
		var byName map[string]string
		var list []string
		switch {
		case json.Unmarshal(raw, &one) == nil:
			check("/"+f.Name, one)
		case json.Unmarshal(raw, &byName) == nil:
			keys := make([]string, 0, len(byName))
			for k := range byName {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				check("/"+f.Name+"/"+k, byName[k])
			}
		case json.Unmarshal(raw, &list) == nil:
			for i, v := range list {
				check(fmt.Sprintf("/%s/%d", f.Name, i), v)
			}
		}
	}
	return out
}

func portNames(ps []Port) string {
	if len(ps) == 0 {
		return "none"
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// findCycles returns each cycle found by a depth-first search over edges, rotated to start at
// its smallest node id; deterministic for a given document.
func findCycles(doc *graph.Document, edges []graph.Edge) [][]string {
	adj := map[string][]string{}
	for _, e := range edges {
		adj[e.From.Node] = append(adj[e.From.Node], e.To.Node)
	}
	for k := range adj {
		sort.Strings(adj[k])
	}
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var cycles [][]string
	found := map[string]bool{}
	var visit func(n string)
	visit = func(n string) {
		color[n] = grey
		stack = append(stack, n)
		for _, m := range adj[n] {
			switch color[m] {
			case white:
				visit(m)
			case grey:
				i := len(stack) - 1
				for stack[i] != m {
					i--
				}
				cyc := append([]string(nil), stack[i:]...)
				minAt := 0
				for j := range cyc {
					if cyc[j] < cyc[minAt] {
						minAt = j
					}
				}
				cyc = append(cyc[minAt:], cyc[:minAt]...)
				key := strings.Join(cyc, "\x00")
				if !found[key] {
					found[key] = true
					cycles = append(cycles, cyc)
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
	}
	for _, id := range doc.NodeIDs() {
		if color[id] == white {
			visit(id)
		}
	}
	return cycles
}
