package all_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/nodes"
	_ "github.com/atoll-studio/atoll/nodes/sqlite" // not in nodes/all yet: its path field is checked too
	_ "github.com/atoll-studio/atoll/nodes/studio"
)

// pathLike matches config field names that name a host file or directory.
var pathLike = regexp.MustCompile(`^(path|file|files|dir|dirs|module|model|models|allow_dir|db|database)$|_(path|paths|file|files|dir|dirs|db)$`)

// notHostPath lists fields whose names look like paths but name no host file: a URL path an
// HTTP listener serves, a dot path into a JSON response.
var notHostPath = map[string]bool{
	"source.http_listen/path":    true,
	"source.http_poll/rows_path": true,
}

// TestPathFieldsMarked: every config field that names a host file or directory carries the
// spec's path marker (engine.Field.Path), so the studio confines it without a list of node
// types: asset fields (a SHA-256 or a path) and fields named like a path. A new node with a
// path field that forgets the marker fails here.
func TestPathFieldsMarked(t *testing.T) {
	marked := 0
	for _, s := range nodes.Default.Specs() {
		for _, f := range s.Fields {
			assetValues := false
			if ap, ok := f.Schema["additionalProperties"].(map[string]any); ok && ap["format"] == "asset" {
				assetValues = true
			}
			should := f.Format == "asset" || assetValues || (pathLike.MatchString(f.Name) && !notHostPath[s.ID+"/"+f.Name])
			if should && !f.Path {
				t.Errorf("%s: config field %q names a host path but is not marked Path: true (engine.Field.Path)", s.ID, f.Name)
			}
			if f.Path {
				marked++
				if f.Type != "string" && f.Type != "object" && f.Type != "array" {
					t.Errorf("%s: path field %q has type %q: want a string, or an object or array of strings", s.ID, f.Name, f.Type)
				}
				if s.ConfigSchema()["properties"].(map[string]any)[f.Name].(map[string]any)["x-path"] != true {
					t.Errorf("%s: path field %q: its schema lacks \"x-path\": true", s.ID, f.Name)
				}
			}
		}
	}
	if marked < 7 {
		t.Errorf("%d path fields marked, want at least the 7 of source.file, sink.file, source.wav and function.wasm", marked)
	}
}

// TestPathPolicyAsksEveryPathValue: validation with a path policy asks it about each value of
// each marked field — strings and the entries of objects — and puts a refusal on that field.
func TestPathPolicyAsksEveryPathValue(t *testing.T) {
	doc, err := graph.Parse([]byte(`{"version":1,"id":"g","name":"paths","nodes":[
	  {"id":"src","type":"source.file","config":{"path":"/etc/passwd"}},
	  {"id":"fn","type":"function.wasm","config":{"module":"in/ok.wasm","allow_dir":"/","models":{"birds":"/m/b.tflite","ok":"in/m.tflite"},"files":{"labels":"/l.txt"}}},
	  {"id":"out","type":"sink.file","config":{"path":"../../../../tmp/x"}}],
	  "edges":[{"from":{"node":"src","port":"out"},"to":{"node":"fn","port":"in"}},
	  {"from":{"node":"fn","port":"out"},"to":{"node":"out","port":"in"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	policy := func(v string) error {
		asked = append(asked, v)
		if strings.HasPrefix(v, "in/") {
			return nil
		}
		return errors.New("refused " + v)
	}
	probs := engine.Validate(doc, nodes.Default, engine.ValidateOptions{Paths: policy})
	var got []string
	for _, p := range probs {
		got = append(got, p.Node+" "+p.Field+": "+p.Message)
	}
	want := []string{
		"src /path: refused /etc/passwd",
		"fn /allow_dir: refused /",
		"fn /models/birds: refused /m/b.tflite",
		"fn /files/labels: refused /l.txt",
		"out /path: refused ../../../../tmp/x",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(asked) != 7 {
		t.Errorf("the policy was asked about %q, want the 7 path values", asked)
	}
	// Without a policy (atoll run, the runner) the same graph has no path problems.
	for _, p := range engine.Validate(doc, nodes.Default, engine.ValidateOptions{}) {
		t.Errorf("without a policy: %s", p)
	}
	js, _ := json.Marshal(probs)
	t.Logf("%s", js)
}
