package all_test

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/nodes"
	_ "github.com/atoll-studio/atoll/nodes/all"
	"github.com/atoll-studio/atoll/nodes/core"
	_ "github.com/atoll-studio/atoll/nodes/studio"
)

// The spec test: every node type of the default catalog (every headless package through
// nodes/all, plus the studio-only ones) keeps its spec, config struct, examples and file in step.
//
// File naming rule: the spec with id "<kind>.<name>" is declared in nodes/<package>/<name>_<kind>.go
// (dots and dashes in <name> become underscores), e.g. source.file → nodes/core/file_source.go.

// kinds are the allowed first parts of a node type id.
var kinds = map[string]bool{"source": true, "transform": true, "sink": true, "function": true}

// portTypes are the port types the studio knows how to draw and connect.
var portTypes = map[string]bool{"any": true, "rows": true, "audio": true, "detections": true, "spectrogram": true}

var idPattern = regexp.MustCompile(`^([a-z]+)\.([a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*)$`)

func specs(t *testing.T) []*engine.Spec {
	t.Helper()
	s := nodes.Default.Specs()
	if len(s) == 0 {
		t.Fatal("the default catalog is empty")
	}
	return s
}

func TestSpecIDsAndPorts(t *testing.T) {
	for _, s := range specs(t) {
		m := idPattern.FindStringSubmatch(s.ID)
		if m == nil {
			t.Errorf("node type %q: id is not <kind>.<name> in lower case", s.ID)
			continue
		}
		if !kinds[m[1]] {
			t.Errorf("node type %q: kind %q is not one of %s", s.ID, m[1], keys(kinds))
		}
		if s.Category == "" || s.Summary == "" || s.Docs == "" {
			t.Errorf("node type %q: category, summary and docs must all be set", s.ID)
		}
		if m[1] == "source" && len(s.Inputs) > 0 {
			t.Errorf("node type %q: a source has no inputs", s.ID)
		}
		if m[1] == "sink" && len(s.Outputs) > 0 {
			t.Errorf("node type %q: a sink has no outputs (besides errors)", s.ID)
		}
		seen := map[string]bool{}
		for _, p := range append(append([]engine.Port{}, s.Inputs...), s.Outputs...) {
			if p.Name == "" || seen[p.Name] || p.Name == engine.ErrorsPort {
				t.Errorf("node type %q: port name %q is empty, repeated or the reserved %q", s.ID, p.Name, engine.ErrorsPort)
			}
			seen[p.Name] = true
			if !portTypes[p.Type] {
				t.Errorf("node type %q port %q: unknown port type %q (known: %s)", s.ID, p.Name, p.Type, keys(portTypes))
			}
		}
		if _, err := json.Marshal(s); err != nil {
			t.Errorf("node type %q: spec does not marshal: %v", s.ID, err)
		}
	}
}

// TestSpecFieldsMatchDefaults checks that each spec's fields are its config struct's json tags,
// with the same defaults after a JSON round trip and compatible types.
func TestSpecFieldsMatchDefaults(t *testing.T) {
	for _, s := range specs(t) {
		if s.Defaults == nil {
			if len(s.Fields) > 0 {
				t.Errorf("node type %q: has fields but no Defaults config struct", s.ID)
			}
			continue
		}
		typ := reflect.TypeOf(s.Defaults)
		if typ.Kind() != reflect.Struct {
			t.Errorf("node type %q: Defaults is a %v, not a config struct", s.ID, typ)
			continue
		}
		tags := map[string]reflect.Type{}
		var order []string
		// VisibleFields includes the fields of embedded structs, which encoding/json promotes.
		for _, f := range reflect.VisibleFields(typ) {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous || name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				t.Errorf("node type %q: config field %s has no json tag", s.ID, f.Name)
				continue
			}
			tags[name] = f.Type
			order = append(order, name)
		}
		raw, err := json.Marshal(s.Defaults)
		if err != nil {
			t.Errorf("node type %q: Defaults do not marshal: %v", s.ID, err)
			continue
		}
		var defaults map[string]any
		if err := json.Unmarshal(raw, &defaults); err != nil {
			t.Fatal(err)
		}
		fields := map[string]bool{}
		for _, f := range s.Fields {
			fields[f.Name] = true
			goType, ok := tags[f.Name]
			if !ok {
				t.Errorf("node type %q: field %q is not a json tag of %T (tags: %s)", s.ID, f.Name, s.Defaults, strings.Join(order, ", "))
				continue
			}
			if !typeFits(f.Type, goType) {
				t.Errorf("node type %q: field %q has schema type %q but Go type %v", s.ID, f.Name, f.Type, goType)
			}
			got := defaults[f.Name]
			if f.Default == nil {
				if !isZero(got) {
					t.Errorf("node type %q: field %q has no Default but %T holds %#v", s.ID, f.Name, s.Defaults, got)
				}
				continue
			}
			want := roundTrip(t, f.Default)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("node type %q: field %q: Default %#v, but %T holds %#v", s.ID, f.Name, want, s.Defaults, got)
			}
		}
		for _, name := range order {
			if !fields[name] {
				t.Errorf("node type %q: config json tag %q has no Field in the spec", s.ID, name)
			}
		}
	}
}

// TestSpecExamples checks that every example config validates against the spec's JSON Schema
// and builds with its constructor (and passes the node's own Validate).
func TestSpecExamples(t *testing.T) {
	root := repoRoot(t)
	for _, s := range specs(t) {
		if len(s.Examples) == 0 {
			t.Errorf("node type %q: has no example config", s.ID)
		}
		for _, ex := range s.Examples {
			name := fmt.Sprintf("node type %q example %q", s.ID, ex.Name)
			if probs := s.ValidateConfig("example", ex.Config); len(probs) > 0 {
				t.Errorf("%s: does not validate: %v", name, probs)
				continue
			}
			bc := engine.BuildContext{
				NodeID:   "example",
				Assets:   dirAssets(root),
				Log:      func(string, string) {},
				Services: map[string]any{core.BaseDirService: root},
			}
			n, err := s.New(bc, ex.Config)
			if err != nil {
				t.Errorf("%s: does not build: %v", name, err)
				continue
			}
			if v, ok := n.(engine.Validator); ok {
				if err := v.Validate(); err != nil {
					t.Errorf("%s: does not validate: %v", name, err)
				}
			}
			_, isSrc := n.(engine.Source)
			_, isProc := n.(engine.Processor)
			if !isSrc && !isProc {
				t.Errorf("%s: built a %T, neither a source nor a processor", name, n)
			}
			if c, ok := n.(io.Closer); ok {
				c.Close()
			}
		}
	}
}

// TestSpecFileNames checks the file naming rule: each spec is declared in exactly one file,
// named <name>_<kind>.go after its id.
func TestSpecFileNames(t *testing.T) {
	root := repoRoot(t)
	declared := map[string][]string{} // id -> files
	fset := token.NewFileSet()
	err := filepath.WalkDir(filepath.Join(root, "nodes"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			cl, ok := n.(*ast.CompositeLit)
			if !ok || !isSpecType(cl.Type) {
				return true
			}
			for _, e := range cl.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "ID" {
					if lit, ok := kv.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						id, _ := strconv.Unquote(lit.Value)
						rel, _ := filepath.Rel(root, path)
						declared[id] = append(declared[id], filepath.ToSlash(rel))
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs(t) {
		files := declared[s.ID]
		want := specFileName(s.ID)
		switch {
		case len(files) == 0:
			t.Errorf("node type %q: no file under nodes/ declares it with a literal engine.Spec{ID: %q}", s.ID, s.ID)
		case len(files) > 1:
			t.Errorf("node type %q: declared in several files: %s", s.ID, strings.Join(files, ", "))
		case filepath.Base(files[0]) != want:
			t.Errorf("node type %q: declared in %s; the file should be named %s (<name>_<kind>.go)", s.ID, files[0], want)
		}
	}
}

// specFileName returns the file name the naming rule gives a node type id.
func specFileName(id string) string {
	kind, name, _ := strings.Cut(id, ".")
	name = strings.NewReplacer(".", "_", "-", "_").Replace(name)
	return name + "_" + kind + ".go"
}

func TestSpecFileName(t *testing.T) {
	for id, want := range map[string]string{
		"source.file":         "file_source.go",
		"transform.map":       "map_transform.go",
		"function.wasm":       "wasm_function.go",
		"sink.mqtt-v5.shared": "mqtt_v5_shared_sink.go",
	} {
		if got := specFileName(id); got != want {
			t.Errorf("specFileName(%q) = %q, want %q", id, got, want)
		}
	}
}

func isSpecType(e ast.Expr) bool {
	switch t := e.(type) {
	case *ast.SelectorExpr:
		return t.Sel.Name == "Spec"
	case *ast.Ident:
		return t.Name == "Spec"
	}
	return false
}

func typeFits(schemaType string, t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch schemaType {
	case "string":
		return t.Kind() == reflect.String
	case "integer":
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			return true
		}
	case "number":
		return t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64
	case "boolean":
		return t.Kind() == reflect.Bool
	case "object":
		return t.Kind() == reflect.Map || t.Kind() == reflect.Struct || t.Kind() == reflect.Interface || t == reflect.TypeOf(json.RawMessage{})
	case "array":
		return t.Kind() == reflect.Slice || t.Kind() == reflect.Array
	}
	return false
}

func roundTrip(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case float64:
		return x == 0
	case bool:
		return !x
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func keys(m map[string]bool) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// repoRoot returns the module root (this package is nodes/all).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root %s: %v", root, err)
	}
	return root
}

// dirAssets resolves asset references as file paths relative to a directory.
type dirAssets string

func (d dirAssets) Asset(ref string) ([]byte, error) {
	if !filepath.IsAbs(ref) {
		ref = filepath.Join(string(d), ref)
	}
	return os.ReadFile(ref)
}
