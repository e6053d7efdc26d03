package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/atoll-studio/atoll/bundle"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/storage"
)

const exportUsage = `usage:
  atoll export GRAPH.json -o FILE.atoll [flags]
  atoll export --graph ID [--version N] -o FILE.atoll [flags]

Writes a signed bundle of the graph: its assets, the graph with asset references rewritten,
tests beside it (NAME.test.json), optionally runner binaries and a systemd unit. The same graph
version gives the same bytes. Refuses graphs with studio-only nodes, missing assets or problems.

flags:
`

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func exportCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("atoll export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, exportUsage); fs.PrintDefaults() }
	out := fs.String("o", "", "bundle file to write (required)")
	graphID := fs.String("graph", "", "export this graph from the studio's database instead of a file")
	ver := fs.Int("version", 0, "with --graph: the version to export (default the latest)")
	db := dbFlag(fs)
	keyFile := fs.String("key", "", "sign with this key pair file (atoll-ed25519-private ...); default: the studio's key, created on first use")
	unsigned := fs.Bool("unsigned", false, "write an unsigned bundle (runners refuse it without --insecure-skip-verify)")
	systemd := fs.Bool("systemd", false, "include a systemd unit")
	var platforms, runners, params listFlag
	fs.Var(&platforms, "platform", "target platform (repeatable): "+strings.Join(bundle.Platforms, ", "))
	fs.Var(&runners, "runner", "include a runner binary, PLATFORM=PATH (repeatable)")
	fs.Var(&params, "param", "a parameter's default in the bundle, NAME=VALUE (repeatable)")
	quiet := fs.Bool("quiet", false, "do not print the manifest summary")
	pos, err := parseFlags(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *out == "" || (len(pos) == 1) == (*graphID != "") || len(pos) > 1 {
		fmt.Fprintln(stderr, "atoll export: give one graph file or --graph ID, and -o FILE")
		fs.Usage()
		return 2
	}
	ctx := context.Background()
	opts := bundle.Options{AtollVersion: version, Platforms: platforms, SystemdUnit: *systemd, Catalog: catalog()}
	var store *storage.Store
	var dbPath string
	openStore := func() (*storage.Store, error) {
		if store != nil {
			return store, nil
		}
		p := *db
		if p == "" {
			var err error
			if p, err = storage.DefaultPath(); err != nil {
				return nil, err
			}
		}
		dbPath = p
		s, err := storage.Open(p)
		if err != nil {
			return nil, err
		}
		store = s
		return s, nil
	}
	defer func() {
		if store != nil {
			store.Close()
		}
	}()
	fail := func(err error) int {
		fmt.Fprintf(stderr, "atoll export: %v\n", err)
		return 1
	}

	if *graphID != "" {
		s, err := openStore()
		if err != nil {
			return fail(err)
		}
		v := *ver
		if v == 0 {
			g, _, err := s.LoadGraph(ctx, *graphID)
			if err != nil {
				return fail(err)
			}
			v = g.Version
		}
		vi, doc, err := s.LoadVersion(ctx, *graphID, v)
		if err != nil {
			return fail(err)
		}
		opts.GraphJSON, opts.GraphVersion, opts.Created = doc, v, vi.CreatedAt
		// Relative paths in stored graphs resolve against the studio's workspace (see openService).
		opts.BaseDir = filepath.Join(filepath.Dir(dbPath), "workspace", "graphs")
		opts.ResolveAsset = func(sha string) (string, error) { return s.AssetPath(ctx, sha) }
		// The tests saved with the graph travel with it.
		_, tests, err := s.ListTests(ctx, *graphID)
		if err != nil {
			return fail(err)
		}
		opts.Files = bundle.StoredTests(tests)
	} else {
		file := pos[0]
		data, err := os.ReadFile(file)
		if err != nil {
			return fail(err)
		}
		dir, err := filepath.Abs(filepath.Dir(file))
		if err != nil {
			return fail(err)
		}
		opts.GraphJSON, opts.BaseDir = data, dir
		opts.Files = bundle.TestFilesBeside(file)
		if sde := os.Getenv("SOURCE_DATE_EPOCH"); sde != "" {
			sec, err := strconv.ParseInt(sde, 10, 64)
			if err != nil {
				return fail(fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", sde, err))
			}
			opts.Created = time.Unix(sec, 0).UTC()
		}
		// A graph that uses the studio's stored assets needs the database.
		opts.ResolveAsset = func(sha string) (string, error) {
			s, err := openStore()
			if err != nil {
				return "", err
			}
			return s.AssetPath(ctx, sha)
		}
	}

	if len(params) > 0 {
		doc, err := graph.Parse(opts.GraphJSON)
		if err != nil {
			return fail(err)
		}
		opts.ParamDefaults = map[string]any{}
		for _, kv := range params {
			name, val, ok := strings.Cut(kv, "=")
			p, declared := doc.Param(name)
			if !ok || !declared {
				return fail(fmt.Errorf("--param %q: want NAME=VALUE with a parameter the graph declares", kv))
			}
			v, err := graph.ParseParamValue(p, val)
			if err != nil {
				return fail(err)
			}
			opts.ParamDefaults[name] = v
		}
	}
	if len(runners) > 0 {
		opts.RunnerBinaries = map[string]string{}
		for _, kv := range runners {
			pl, path, ok := strings.Cut(kv, "=")
			if !ok {
				return fail(fmt.Errorf("--runner %q: want PLATFORM=PATH", kv))
			}
			opts.RunnerBinaries[pl] = path
		}
	}
	switch {
	case *unsigned:
	case *keyFile != "":
		text, err := os.ReadFile(*keyFile)
		if err != nil {
			return fail(err)
		}
		if opts.Key, err = bundle.ParsePrivateKey(string(text)); err != nil {
			return fail(fmt.Errorf("%s: %w", *keyFile, err))
		}
	default:
		s, err := openStore()
		if err != nil {
			return fail(err)
		}
		k, err := s.SigningKey(ctx)
		if err != nil {
			return fail(err)
		}
		opts.Key = k.Private
	}

	// Write plans (hashing every asset and runner) and refuses before any byte; the bundle is
	// built in memory, so a refused export leaves no file behind.
	var buf bytes.Buffer
	m, err := bundle.Write(&buf, opts)
	if err != nil {
		var pe *bundle.PlanError
		if errors.As(err, &pe) {
			for _, p := range pe.Problems {
				fmt.Fprintf(stderr, "atoll export: %s\n", p)
			}
			return 2
		}
		return fail(err)
	}
	tmp := *out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, *out); err != nil {
		os.Remove(tmp)
		return fail(err)
	}
	if !*quiet {
		signer := "unsigned"
		if opts.Key != nil {
			signer = "signed by " + bundle.KeyID(opts.Key.Public().(ed25519.PublicKey))
		}
		fmt.Fprintf(stdout, "%s: graph %s version %d, %d entries, %d bytes (%d compressed), %s\n",
			*out, m.GraphID, m.GraphVersion, len(m.Entries), m.TotalSize(), buf.Len(), signer)
		for _, e := range m.Entries {
			fmt.Fprintf(stdout, "  %10d  %s  %s\n", e.Size, e.SHA256[:12], e.Path)
		}
	}
	return 0
}

const keyUsage = `usage:
  atoll key public [--db FILE]             print the studio's public signing key (creating the key)
  atoll key export [--db FILE] -o FILE     write the key pair for a team (keep it secret)
  atoll key import [--db FILE] FILE        make the key pair in FILE the studio's signing key
`

func keyCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, keyUsage)
		return 2
	}
	fs := flag.NewFlagSet("atoll key "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := dbFlag(fs)
	out := fs.String("o", "", "file to write (export)")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return 2
	}
	p := *db
	if p == "" {
		if p, err = storage.DefaultPath(); err != nil {
			fmt.Fprintf(stderr, "atoll key: %v\n", err)
			return 1
		}
	}
	s, err := storage.Open(p)
	if err != nil {
		fmt.Fprintf(stderr, "atoll key: %v\n", err)
		return 1
	}
	defer s.Close()
	ctx := context.Background()
	switch {
	case args[0] == "public" && len(pos) == 0:
		k, err := s.SigningKey(ctx)
		if err != nil {
			break
		}
		fmt.Fprintln(stdout, bundle.FormatPublicKey(k.Public()))
		return 0
	case args[0] == "export" && len(pos) == 0 && *out != "":
		k, err := s.SigningKey(ctx)
		if err == nil {
			err = os.WriteFile(*out, []byte(bundle.FormatPrivateKey(k.Private)), 0o600)
		}
		if err != nil {
			fmt.Fprintf(stderr, "atoll key: %v\n", err)
			return 1
		}
		return 0
	case args[0] == "import" && len(pos) == 1:
		text, err := os.ReadFile(pos[0])
		if err != nil {
			fmt.Fprintf(stderr, "atoll key: %v\n", err)
			return 1
		}
		k, err := bundle.ParsePrivateKey(string(text))
		if err == nil {
			err = s.ImportKey(ctx, k)
		}
		if err != nil {
			fmt.Fprintf(stderr, "atoll key: %s: %v\n", pos[0], err)
			return 1
		}
		fmt.Fprintln(stdout, bundle.FormatPublicKey(k.Public().(ed25519.PublicKey)))
		return 0
	default:
		fmt.Fprint(stderr, keyUsage)
		return 2
	}
	fmt.Fprintf(stderr, "atoll key: %v\n", err)
	return 1
}
