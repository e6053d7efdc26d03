package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/atoll-studio/atoll/bundle"
)

func verifyFlagSet(name string, t *trustFlags, asJSON *bool) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	t.register(fs)
	if asJSON != nil {
		fs.BoolVar(asJSON, "json", false, "print the manifest and signer as JSON")
	}
	return fs
}

// cmdVerify checks a bundle completely without unpacking it: exit 0 when it would run, 2 when
// refused (the reason names the entry).
func cmdVerify(args []string, stdout, stderr io.Writer) int {
	var t trustFlags
	fs := verifyFlagSet("verify", &t, nil)
	file, err := parseArgs(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "atoll-runner verify: %v\n%s", err, usage)
		return exitInvalid
	}
	opts, err := t.options()
	if err != nil {
		fmt.Fprintf(stderr, "atoll-runner verify: %v\n", err)
		return exitInvalid
	}
	b, err := bundle.VerifyFile(file, opts)
	if err != nil {
		fmt.Fprintf(stderr, "atoll-runner verify: %s: refused: %v\n", file, err)
		return exitInvalid
	}
	status := "ok, signed by trusted key " + b.SignerID()
	if !b.Trusted {
		status = "INSECURE (--insecure-skip-verify): " + b.Problem + "; entries match the manifest"
	}
	m := b.Manifest
	fmt.Fprintf(stdout, "%s: %s: graph %s version %d, %d entries, %d bytes, sha256 %s\n", file, status, m.GraphID, m.GraphVersion, len(m.Entries), m.TotalSize(), b.SHA256)
	return exitOK
}

// cmdInspect prints a bundle's manifest, parameters and signer after verifying it.
func cmdInspect(args []string, stdout, stderr io.Writer) int {
	var t trustFlags
	var asJSON bool
	fs := verifyFlagSet("inspect", &t, &asJSON)
	file, err := parseArgs(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "atoll-runner inspect: %v\n%s", err, usage)
		return exitInvalid
	}
	opts, err := t.options()
	if err != nil {
		fmt.Fprintf(stderr, "atoll-runner inspect: %v\n", err)
		return exitInvalid
	}
	b, err := bundle.VerifyFile(file, opts)
	if err != nil {
		fmt.Fprintf(stderr, "atoll-runner inspect: %s: refused: %v\n", file, err)
		return exitInvalid
	}
	m := b.Manifest
	if asJSON {
		out, _ := json.MarshalIndent(map[string]any{"manifest": m, "signer": signerOf(b.Signer), "key_id": b.SignerID(),
			"trusted": b.Trusted, "problem": b.Problem, "sha256": b.SHA256}, "", "  ")
		fmt.Fprintf(stdout, "%s\n", out)
		return exitOK
	}
	fmt.Fprintf(stdout, "bundle      %s (sha256 %s)\n", file, b.SHA256)
	fmt.Fprintf(stdout, "graph       %s %q version %d\n", m.GraphID, m.GraphName, m.GraphVersion)
	fmt.Fprintf(stdout, "created     %s by atoll %s\n", m.Created.Format("2006-01-02T15:04:05Z07:00"), m.AtollVersion)
	trust := "trusted"
	if !b.Trusted {
		trust = "NOT TRUSTED: " + b.Problem
	}
	fmt.Fprintf(stdout, "signer      %s (%s)\n", signerOf(b.Signer), trust)
	fmt.Fprintf(stdout, "node types  %s\n", strings.Join(m.NodeTypes, ", "))
	fmt.Fprintf(stdout, "platforms   %s\n", strings.Join(m.Platforms, ", "))
	fmt.Fprintf(stdout, "parameters  %d\n", len(m.Parameters))
	for _, p := range m.Parameters {
		def := "required"
		if p.Default != nil {
			d, _ := json.Marshal(p.Default)
			def = "default " + string(d)
		}
		fmt.Fprintf(stdout, "  %-20s %-8s %s  %s\n", p.Name, p.Type, def, p.Doc)
	}
	fmt.Fprintf(stdout, "entries     %d, %d bytes\n", len(m.Entries), m.TotalSize())
	for _, e := range m.Entries {
		where := ""
		if e.Node != "" {
			where = fmt.Sprintf("  (node %s, %s)", e.Node, e.Field)
		}
		fmt.Fprintf(stdout, "  %10d  %s  %-6s  %s%s\n", e.Size, e.SHA256[:12], e.Kind, e.Path, where)
	}
	return exitOK
}

// helpText lists every command with every flag and its meaning.
func helpText() string {
	var b strings.Builder
	b.WriteString(usage)
	section := func(title string, fs *flag.FlagSet) {
		fmt.Fprintf(&b, "\n%s flags:\n", title)
		fs.SetOutput(&b)
		fs.PrintDefaults()
	}
	var rf runFlags
	section("run BUNDLE", runFlagSet(&rf))
	b.WriteString("\nrun graph.json flags: --timeout, --drain, --http, --log-level and --metrics-every, as above\n")
	var t trustFlags
	var j bool
	section("verify", verifyFlagSet("verify", &t, nil))
	section("inspect", verifyFlagSet("inspect", &t, &j))
	b.WriteString(`
Exit status: 0 finished or stopped cleanly; 1 the run failed or its drain was cut short;
2 bad command line, invalid graph, or a bundle refused by verification (nothing started).
`)
	return b.String()
}
