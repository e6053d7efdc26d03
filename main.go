// Command atoll is the Atoll studio: with no arguments it opens the desktop window (in a build
// with the desktop tag; otherwise it serves the studio to the browser), `atoll serve` serves it
// over HTTP, `atoll run graph.json` runs a graph headless and `atoll validate graph.json` checks
// one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/atoll-studio/atoll/app"
	"github.com/atoll-studio/atoll/app/web"
	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/flowtest"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/examples"
	"github.com/atoll-studio/atoll/nodes"
	_ "github.com/atoll-studio/atoll/nodes/all"
	"github.com/atoll-studio/atoll/nodes/core"
	"github.com/atoll-studio/atoll/nodes/studio"
	"github.com/atoll-studio/atoll/storage"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

const usage = `usage:
  atoll                          open the studio window (desktop build), else serve it
  atoll serve [--addr 127.0.0.1:7300] [--db FILE] [--token T]
                                 serve the studio at http://ADDR/ (open the #token= address it prints:
                                 the API needs the per-start token, loopback included)
  atoll run [--timeout D] [--drain D] [--quiet] [--guest-memory-mb N] graph.json
                                 run a graph headless and print its metrics (exit 0 finished or
                                 stopped, 1 failed or not drained, 2 invalid graph, 3 finished
                                 but rows failed into an errors port with no edge)
  atoll validate graph.json      print the graph's problems, one per line (exit 1 when any)
  atoll ` + flowtest.CommandUsage + `
  atoll export GRAPH.json|--graph ID [--version N] -o FILE.atoll [flags]
                                 write a signed bundle for atoll-runner (atoll export -h)
  atoll key public|export|import the studio's bundle signing key (atoll key)
  atoll version                  print the version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return desktop(nil, stdout, stderr)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(rest, stdout, stderr)
	case "run":
		return runGraph(rest, stdout, stderr)
	case "validate":
		return validate(rest, stdout, stderr)
	case "test":
		return testGraphs(rest, stdout, stderr)
	case "export":
		return exportCmd(rest, stdout, stderr)
	case "key":
		return keyCmd(rest, stdout, stderr)
	case "desktop":
		return desktop(rest, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "atoll %s (%s, %s/%s, desktop window: %v)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH, app.DesktopAvailable)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "atoll: unknown command %q\n%s", cmd, usage)
	return 2
}

// parseFlags parses flags given before or after the positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func catalog() *engine.Catalog { return nodes.New() }

// openService opens the studio on db. The example graphs are seeded into a fresh database, and
// the examples (graphs and data) are copied once into workspace/ beside the database: relative
// paths in the studio's graphs resolve against workspace/graphs, so the seeded examples run as
// they are and write their output under workspace/graphs/out. Each start links the checkout's
// example functions and shared test data into the workspace (examples.Link).
func openService(db string) (*app.Service, error) {
	if db == "" {
		var err error
		if db, err = storage.DefaultPath(); err != nil {
			return nil, err
		}
	}
	graphs, err := fs.Sub(examples.FS, "graphs")
	if err != nil {
		return nil, err
	}
	ws := filepath.Join(filepath.Dir(db), "workspace")
	if _, err := os.Stat(ws); os.IsNotExist(err) {
		if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
			return nil, err
		}
		if err := os.CopyFS(ws, examples.FS); err != nil {
			return nil, fmt.Errorf("copy the examples to %s: %w", ws, err)
		}
	}
	// The example functions and the shared models and recordings are not embedded: link them
	// from the checkout the studio runs from, so the seeded examples that use them run too.
	if co := examples.Checkout(); co != "" {
		missing, err := examples.Link(ws, co)
		if err != nil {
			return nil, err
		}
		for _, m := range missing {
			fmt.Fprintf(os.Stderr, "atoll: %s not found: the examples that need it will not run\n", m)
		}
	}
	base := filepath.Join(ws, "graphs")
	// Exports may include the runner binaries `make runner` puts in the checkout's dist/.
	runners := os.Getenv("ATOLL_RUNNERS")
	if co := examples.Checkout(); runners == "" && co != "" {
		runners = filepath.Join(filepath.Dir(co), "dist")
	}
	return app.Open(app.Options{DB: db, Catalog: catalog(), Examples: graphs, BaseDir: base, Workspace: ws,
		Services: map[string]any{core.BaseDirService: base, engine.GuestMemoryBudgetService: *guestMemoryBudget}, ReadyFile: os.Getenv("ATOLL_READY_FILE"),
		RunnerDir: runners, Version: version})
}

func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", "", "database file (default $ATOLL_DB or the user data directory)")
}

func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("atoll serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", app.DefaultAddr, "address to listen on (port 0 picks a free one)")
	token := fs.String("token", os.Getenv("ATOLL_TOKEN"), "token clients must send (random per start when empty)")
	db := dbFlag(fs)
	guestMemoryFlag(fs)
	if pos, err := parseFlags(fs, args); err != nil || len(pos) > 0 {
		return usageError(stderr, err, pos)
	}
	return serveWith(*addr, *token, *db, stdout, stderr)
}

func serveWith(addr, token, db string, stdout, stderr io.Writer) int {
	svc, err := openService(db)
	if err != nil {
		fmt.Fprintf(stderr, "atoll: %v\n", err)
		return 1
	}
	defer svc.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Serve(ctx, svc, app.ServeOptions{Addr: addr, Token: token, Web: web.FS(), Out: stdout}); err != nil {
		fmt.Fprintf(stderr, "atoll: %v\n", err)
		return 1
	}
	return 0
}

func desktop(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("atoll", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := dbFlag(fs)
	guestMemoryFlag(fs)
	if pos, err := parseFlags(fs, args); err != nil || len(pos) > 0 {
		return usageError(stderr, err, pos)
	}
	if !app.DesktopAvailable {
		fmt.Fprintln(stderr, "atoll: this build has no desktop window (build tag desktop); serving the studio to the browser instead")
		return serveWith(app.DefaultAddr, os.Getenv("ATOLL_TOKEN"), *db, stdout, stderr)
	}
	svc, err := openService(*db)
	if err != nil {
		fmt.Fprintf(stderr, "atoll: %v\n", err)
		return 1
	}
	defer svc.Close()
	if err := app.RunDesktop(svc, web.FS()); err != nil {
		fmt.Fprintf(stderr, "atoll: %v\n", err)
		return 1
	}
	return 0
}

func usageError(stderr io.Writer, err error, extra []string) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil {
		fmt.Fprintf(stderr, "atoll: unexpected arguments %q\n", extra)
	}
	fmt.Fprint(stderr, usage)
	return 2
}

// graphArg parses the one graph-file argument of run and validate.
func graphArg(fs *flag.FlagSet, args []string, stderr io.Writer) (string, *graph.Document, int) {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return "", nil, usageError(stderr, err, nil)
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "atoll %s: want one graph file\n%s", fs.Name(), usage)
		return "", nil, 2
	}
	doc, err := graph.ReadFile(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return pos[0], nil, 1
	}
	return pos[0], doc, 0
}

// build validates and builds a graph read from file; problems are printed one per line.
func build(file string, doc *graph.Document, log func(engine.LogEntry), out io.Writer) (*engine.Run, *studio.Buffers, bool) {
	buffers := studio.NewBuffers()
	// Relative paths in the graph resolve against its file's directory, as in atoll-runner.
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		fmt.Fprintf(out, "%s: %v\n", file, err)
		return nil, nil, false
	}
	r, err := engine.Build(doc, engine.Options{Catalog: catalog(), Assets: &fileAssets{dir: dir}, Log: log,
		Services: map[string]any{studio.BuffersService: buffers, core.BaseDirService: dir, engine.GuestMemoryBudgetService: *guestMemoryBudget}})
	if err != nil {
		var ig *engine.InvalidGraphError
		if errors.As(err, &ig) {
			for _, p := range ig.Problems {
				fmt.Fprintln(out, p.String())
			}
		} else {
			fmt.Fprintf(out, "%s: %v\n", file, err)
		}
		return nil, nil, false
	}
	return r, buffers, true
}

func validate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	guestMemoryFlag(fs)
	file, doc, code := graphArg(fs, args, stderr)
	if doc == nil {
		return code
	}
	r, _, ok := build(file, doc, nil, stdout)
	if !ok {
		return 1
	}
	r.Cancel()
	return 0
}

func runGraph(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 0, "stop the run (draining it) after this long; 0 = until it ends or Ctrl-C")
	drain := fs.Duration("drain", 5*time.Second, "how long a stop may drain before the run is cancelled")
	quiet := fs.Bool("quiet", false, "do not print node logs")
	guestMemoryFlag(fs)
	file, doc, code := graphArg(fs, args, stderr)
	if doc == nil {
		return code
	}
	logf := func(e engine.LogEntry) {
		if !*quiet {
			fmt.Fprintf(stderr, "%s %-5s %s: %s\n", e.Time.Format("15:04:05.000"), e.Level, e.Node, e.Msg)
		}
	}
	r, buffers, ok := build(file, doc, logf, stderr)
	if !ok {
		return 2 // as atoll-runner: nothing started
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	r.Start(context.Background())
	var timer <-chan time.Time
	if *timeout > 0 {
		timer = time.After(*timeout)
	}
	stopped := ""
	select {
	case <-r.Done():
	case <-ctx.Done():
		stopped = "interrupted"
	case <-timer:
		stopped = "timeout " + timeout.String()
	}
	drained := true
	if stopped != "" {
		stop() // a second Ctrl-C ends the process at once
		dctx, cancel := context.WithTimeout(context.Background(), *drain)
		r.Stop(dctx)
		drained = dctx.Err() == nil
		cancel()
	}
	err := r.Wait()
	elapsed := time.Since(start)
	status := "finished"
	switch {
	case stopped != "":
		status = "stopped (" + stopped + ")"
	case err != nil:
		status = "failed"
	}
	if !drained {
		status += ", cancelled: the drain took longer than " + drain.String()
	}
	unwired := r.UnwiredErrors()
	if unwired != nil {
		status += fmt.Sprintf(" but %d rows failed with no edge from their errors port,", unwired.Rows())
	}
	printSummary(stdout, file, status, elapsed, r, buffers)
	if err != nil && !errors.Is(err, engine.ErrStopped) {
		fmt.Fprintf(stderr, "atoll run: %s: %v\n", file, err)
		return 1
	}
	if !drained {
		fmt.Fprintf(stderr, "atoll run: %s: the drain did not finish within %v; rows in flight were abandoned\n", file, *drain)
		return 1
	}
	if unwired != nil {
		fmt.Fprintf(stderr, "atoll run: %s: %v\n", file, unwired)
		return exitUnwiredErrors
	}
	return 0
}

func printSummary(w io.Writer, file, status string, elapsed time.Duration, r *engine.Run, buffers *studio.Buffers) {
	m := r.Metrics()
	fmt.Fprintf(w, "run %s: %s in %s\n", file, status, elapsed.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "node\tstate\trows in\trows out\terrors\trows/s\tlatency ms\t")
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	secs := max(elapsed.Seconds(), 1e-9)
	for _, id := range ids {
		n := m[id]
		rate := float64(max(n.RowsOut, n.RowsIn)) / secs
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.0f\t%.3f\t\n", id, n.State, n.RowsIn, n.RowsOut, n.Errors, rate, n.LatencyMS)
	}
	tw.Flush()
	for _, id := range ids {
		p, ok := buffers.Get(id)
		if !ok {
			continue
		}
		kept, total := p.Rows()
		fmt.Fprintf(w, "preview %s: %d rows, the last %d:\n", id, total, min(len(kept), 5))
		for _, row := range kept[max(len(kept)-5, 0):] {
			b, _ := row.MarshalJSON()
			fmt.Fprintf(w, "  %s\n", b)
		}
	}
}

// fileAssets resolves a node's asset reference for the command line: a file path (relative to
// the graph file's directory, else to the working directory) or a SHA-256 in the studio's asset
// store (the database is opened only when a graph needs it).
type fileAssets struct {
	dir   string
	store *storage.Store
}

func (a *fileAssets) Asset(ref string) ([]byte, error) {
	if !filepath.IsAbs(ref) {
		if data, err := os.ReadFile(filepath.Join(a.dir, ref)); err == nil {
			return data, nil
		}
	}
	if data, err := os.ReadFile(ref); err == nil {
		return data, nil
	}
	if len(ref) == 64 && strings.Trim(strings.ToLower(ref), "0123456789abcdef") == "" {
		if a.store == nil {
			p, err := storage.DefaultPath()
			if err != nil {
				return nil, err
			}
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("asset %s: no studio database at %s (set ATOLL_DB)", ref, p)
			}
			if a.store, err = storage.Open(p); err != nil {
				return nil, err
			}
		}
		_, rc, err := a.store.GetAsset(context.Background(), ref)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	return nil, fmt.Errorf("asset %q: no such file (looked in . and %s)", ref, a.dir)
}
