package bundle

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
)

// bundleTest makes a flow test file (engine/flowtest) self-contained in the bundle: its "graph"
// names ../graph.json, and the files it uses — source and expectation files, asset-valued
// fields of its config patches — become assets/ entries, rewritten to their paths in the bundle
// (source and expectation files relative to tests/, config assets as the graph's are). Relative
// paths resolve against base, the test file's directory. A file that is not a test file is
// returned as it is; one that is not JSON is a problem naming the entry, line and column (the
// runner could not load it).
func bundleTest(entry string, data []byte, base string, doc *graph.Document, cat *engine.Catalog,
	add func(path, src, sum, node, field string, size int64)) ([]byte, []engine.Problem) {
	v, err := decodeJSON(data)
	if err != nil {
		return data, []engine.Problem{{Message: fmt.Sprintf("test file %q: %v", entry, graph.Locate(data, err))}}
	}
	m, ok := v.(map[string]any)
	tests, _ := m["tests"].([]any)
	if !ok || tests == nil {
		return data, nil
	}
	var probs []engine.Problem
	asset := func(test, node, field, ref, prefix string) (string, bool) {
		p := ref
		if !filepath.IsAbs(p) {
			p = filepath.Join(base, p)
		}
		sum, size, err := hashFile(p)
		if err != nil {
			if os.IsNotExist(err) {
				err = fmt.Errorf("no such file %s", p)
			}
			probs = append(probs, engine.Problem{Node: node, Field: field, Message: fmt.Sprintf("test %q: file %q: %v", test, ref, err)})
			return "", false
		}
		ext := strings.ToLower(filepath.Ext(p))
		if !extRE.MatchString(ext) {
			ext = ""
		}
		path := AssetsDir + sum + ext
		add(path, p, sum, node, field, size)
		return prefix + path, true
	}
	for _, t := range tests {
		tm, ok := t.(map[string]any)
		if !ok {
			continue
		}
		name, _ := tm["name"].(string)
		for _, section := range []string{"sources", "expect"} {
			sm, _ := tm[section].(map[string]any)
			for _, target := range sortedKeys(sm) {
				entry, _ := sm[target].(map[string]any)
				if f, ok := entry["file"].(string); ok && f != "" {
					if p, ok := asset(name, target, section+".file", f, "../"); ok {
						entry["file"] = p
					}
				}
			}
		}
		cfg, _ := tm["config"].(map[string]any)
		for _, node := range sortedKeys(cfg) {
			patch, _ := cfg[node].(map[string]any)
			n, ok := doc.Node(node)
			if !ok || patch == nil {
				continue
			}
			spec, ok := cat.Lookup(n.Type)
			if !ok {
				continue
			}
			for _, ref := range assetRefs(spec, patch) {
				val := ref.get()
				if val == "" || IsDigest(val) || strings.Contains(val, "${") {
					continue
				}
				if p, ok := asset(name, node, "config."+ref.field, val, ""); ok {
					ref.set(p)
				}
			}
		}
	}
	m["graph"] = "../" + GraphPath
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return data, []engine.Problem{{Message: fmt.Sprintf("test file: %v", err)}}
	}
	return append(out, '\n'), probs
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// StoredTestsPath is the entry holding the tests the studio saved with a graph.
const StoredTestsPath = TestsDir + "studio.test.json"

// StoredTests wraps tests saved one by one (each a JSON test object, as the studio stores them)
// into one flow test file entry; relative paths in them resolve against Options.BaseDir.
// It returns nil when there are none.
func StoredTests(tests []json.RawMessage) []File {
	if len(tests) == 0 {
		return nil
	}
	data, err := json.MarshalIndent(map[string]any{"version": 1, "tests": tests}, "", "  ")
	if err != nil {
		return nil
	}
	return []File{{Path: StoredTestsPath, Data: append(data, '\n'), Kind: KindTest}}
}
