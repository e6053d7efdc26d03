package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/atoll-studio/atoll/bundle"
	"github.com/atoll-studio/atoll/engine/flowtest"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/wasmhost"
	"github.com/atoll-studio/atoll/nodes"
	"github.com/atoll-studio/atoll/nodes/core"
)

// bundleArg reports whether args name a bundle file among their positional arguments.
func bundleArg(args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			continue
		}
		if ok, _ := bundle.IsBundleFile(a); ok {
			return true
		}
	}
	return false
}

// testResult is one flow test of a bundle.
type testResult struct {
	file string
	res  *flowtest.Result
}

// runBundleTests runs every test file the bundle carries (tests/*.test.json, made self-contained
// by the exporter) against doc, the bundle's graph with its parameters substituted.
func runBundleTests(ctx context.Context, b *bundle.Bundle, doc *graph.Document, wasm *wasmhost.Runtime, filter *regexp.Regexp) ([]testResult, error) {
	var out []testResult
	for _, e := range b.Manifest.Entries {
		if e.Kind != bundle.KindTest {
			continue
		}
		path := filepath.Join(b.Dir, filepath.FromSlash(e.Path))
		f, err := flowtest.Load(path)
		if err != nil {
			return out, err
		}
		dir := filepath.Dir(path)
		services := map[string]any{core.BaseDirService: dir}
		if wasm != nil {
			services[wasmhost.ServiceName] = wasm
		}
		env := flowtest.Env{Catalog: nodes.Default, Headless: true, Assets: bundle.Assets{Dir: b.Dir, Base: dir}, Services: services, Dir: dir}
		for i := range f.Tests {
			if filter != nil && !filter.MatchString(f.Tests[i].Name) {
				continue
			}
			res, err := flowtest.Run(ctx, doc, &f.Tests[i], env)
			if err != nil {
				return out, err
			}
			out = append(out, testResult{file: e.Path, res: res})
		}
	}
	return out, nil
}

// failedTests summarises the failures, "" when every test passed.
func failedTests(rs []testResult) string {
	var msgs []string
	for _, r := range rs {
		if !r.res.Passed {
			msgs = append(msgs, fmt.Sprintf("%s: test %q: %s", r.file, r.res.Name, r.res.First()))
		}
	}
	return strings.Join(msgs, "; ")
}

// cmdTestBundle runs `atoll-runner test [flags] BUNDLE`: verify the bundle, unpack it into a
// temporary directory under --state, run the flow tests it carries. Exit 0 all passed, 1 a test
// failed, 2 the bundle was refused or carries no tests.
func cmdTestBundle(args []string, stdout, stderr io.Writer) int {
	var t trustFlags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	t.register(fs)
	state := fs.String("state", os.TempDir(), "directory the bundle is unpacked into (removed afterwards)")
	run := fs.String("run", "", "run only the tests whose name matches this regular expression")
	var params listFlag
	fs.Var(&params, "param", "a parameter value NAME=VALUE (repeatable)")
	file, err := parseArgs(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "atoll-runner test: %v\n%s", err, usage)
		return exitInvalid
	}
	var filter *regexp.Regexp
	if *run != "" {
		if filter, err = regexp.Compile(*run); err != nil {
			fmt.Fprintf(stderr, "atoll-runner test: --run: %v\n", err)
			return exitInvalid
		}
	}
	opts, err := t.options()
	if err != nil {
		fmt.Fprintf(stderr, "atoll-runner test: %v\n", err)
		return exitInvalid
	}
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintf(stderr, "atoll-runner test: %v\n", err)
		return exitInvalid
	}
	defer f.Close()
	var rnd [6]byte
	rand.Read(rnd[:])
	dir := filepath.Join(*state, ".atoll-test-"+hex.EncodeToString(rnd[:]))
	b, err := bundle.Unpack(f, dir, opts)
	if err != nil {
		fmt.Fprintf(stderr, "atoll-runner test: %s: refused: %v\n", file, err)
		return exitInvalid
	}
	defer os.RemoveAll(dir)
	s := &supervisor{f: &runFlags{params: params, workdir: "."}}
	doc, err := b.Graph()
	if err == nil {
		var vals map[string]any
		if vals, err = s.paramValues(file, doc); err == nil {
			doc, err = doc.Substitute(vals)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "atoll-runner test: %s: %v\n", file, err)
		return exitInvalid
	}
	rs, err := runBundleTests(context.Background(), b, doc, nil, filter)
	if err != nil {
		fmt.Fprintf(stderr, "atoll-runner test: %s: %v\n", file, err)
		return exitInvalid
	}
	if len(rs) == 0 {
		fmt.Fprintf(stderr, "atoll-runner test: %s carries no tests\n", file)
		return exitInvalid
	}
	failed := 0
	for _, r := range rs {
		if r.res.Passed {
			fmt.Fprintf(stdout, "ok    %s: %s (%.0f ms)\n", r.file, r.res.Name, r.res.ElapsedMS)
		} else {
			failed++
			fmt.Fprintf(stdout, "FAIL  %s: %s: %s\n", r.file, r.res.Name, r.res.First())
		}
	}
	fmt.Fprintf(stdout, "%d tests, %d passed, %d failed\n", len(rs), len(rs)-failed, failed)
	if failed > 0 {
		return exitFailed
	}
	return exitOK
}
