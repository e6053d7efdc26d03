package wasmhost_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/engine/wasmhost"
)

// TestSandboxSymlinks: a guest granted a directory reads what is inside it, also through links
// that stay inside, and nothing outside it: not through a link to a file or a directory outside,
// not through a relative link that climbs out, not through ".." after a link, and not through a
// link made while the instance is running. The guest (bad-snoop) reads the path in each row's
// "open" field.
func TestSandboxSymlinks(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "granted")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(dir, "sub"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "hello.txt"), "hello")
	write(filepath.Join(dir, "sub", "inner.txt"), "inner")
	write(filepath.Join(outside, "secret.txt"), "secret")
	link := func(target, name string) {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	link(filepath.Join(outside, "secret.txt"), "abs-file") // absolute, to a file outside
	link(outside, "abs-dir")                               // absolute, to a directory outside
	link("../outside/secret.txt", "rel-up")                // relative, climbing out
	link("sub/../../outside", "rel-dotdot")                // ".." inside the link's target
	link("sub", "in-dir")                                  // inside: allowed
	link("sub/inner.txt", "in-file")                       // inside: allowed
	link(filepath.Join(dir, "hello.txt"), "abs-in")        // absolute but inside: allowed

	f := newFunction(t, "bad-snoop", wasmhost.Limits{}, wasmhost.FunctionConfig{InstanceConfig: wasmhost.InstanceConfig{AllowDir: dir}})
	open := func(path string) (string, string) {
		t.Helper()
		in := &rows.Batch{Rows: []rows.Row{{{Name: "open", Value: rows.String(path)}}}}
		res, err := f.Process(t.Context(), in)
		if err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		if len(res.Out.Rows) != 1 {
			t.Fatalf("open %s: %d rows out, failed %v", path, len(res.Out.Rows), res.Failed)
		}
		get := func(name string) string {
			v, ok := res.Out.Rows[0].Get(name)
			if !ok {
				t.Fatalf("open %s: no %q in %v", path, name, res.Out.Rows[0])
			}
			s, _ := v.AsString()
			return s
		}
		return get("opened"), get("open_error")
	}
	allowed := map[string]string{
		"/hello.txt":                 "hello",
		"/sub/inner.txt":             "inner",
		"/in-file":                   "inner",
		"/in-dir/inner.txt":          "inner",
		"/in-dir/../hello.txt":       "hello",
		"/sub/../in-dir/./inner.txt": "inner",
	}
	for p, want := range allowed {
		got, errText := open(p)
		if got != want || errText != "" {
			t.Errorf("%s: read %q (error %q), want %q", p, got, errText, want)
		}
	}
	refused := []string{
		"/abs-file",
		"/abs-dir/secret.txt",
		"/rel-up",
		"/rel-dotdot/secret.txt",
		"/in-dir/../../outside/secret.txt",
		"/in-dir/../abs-dir/secret.txt",
		"/../outside/secret.txt",
		"/abs-in", // an absolute link is a host path: refused even when it points inside
	}
	check := func(p string) {
		t.Helper()
		got, errText := open(p)
		if got != "" || errText == "" {
			t.Errorf("%s: the guest read %q outside the granted directory (error %q)", p, got, errText)
		}
	}
	for _, p := range refused {
		check(p)
	}
	// Links made while the instance runs: to a file outside, and a directory that was inside
	// replaced by a link to one outside.
	link(filepath.Join(outside, "secret.txt"), "late")
	check("/late")
	if err := os.RemoveAll(filepath.Join(dir, "sub")); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(outside, "inner.txt"), "outside inner")
	link(outside, "sub")
	check("/sub/inner.txt")
	check("/in-file")
}
