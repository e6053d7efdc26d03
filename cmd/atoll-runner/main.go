// Command atoll-runner runs Atoll graphs headless on an edge device. It imports only the engine
// and the node packages, so it builds with CGO_ENABLED=0 for every target.
//
//	atoll-runner run [flags] BUNDLE.atoll   (verify, unpack into --state, run; live updates)
//	atoll-runner run [--timeout D] [--drain D] [--http ADDR] [--metrics-every D] [--log-level L] graph.json
//	atoll-runner verify|inspect [--trust K] BUNDLE.atoll
//	atoll-runner validate [--json] graph.json
//	atoll-runner version
//
// Logs are JSON lines on stderr. SIGINT or SIGTERM stops the sources and drains what is in
// flight; a second signal abandons it. Exit status: 0 when the run finished or was stopped
// cleanly, 1 when it failed (or the drain was cut short), 2 for a bad command line or an invalid
// graph, 3 when it finished but rows failed into an errors port with no edge. Relative file paths in the graph resolve against the graph file's directory.
//
// Bundles (deploy.go, BUNDLE.md in package bundle): verified before anything runs, unpacked into
// the state directory, parameters from flags, an env file or params.json, checkpoints, and live
// updates from a watched directory, a polled URL or a retained MQTT message (update_mqtt.go). A
// refused bundle exits 2.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/internal/runflags"
	"github.com/atoll-studio/atoll/nodes"
	_ "github.com/atoll-studio/atoll/nodes/all"
	"github.com/atoll-studio/atoll/nodes/core"
	// The studio-only node types are known so that a graph using one is refused by name.
	_ "github.com/atoll-studio/atoll/nodes/studio"
)

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

// guestMemoryBudget is the runs' guest memory budget in bytes (--guest-memory-mb).
var guestMemoryBudget = new(int64)

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1
	exitInvalid = 2
)

func main() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr, sigs))
}

const usage = `usage:
  atoll-runner run [flags] BUNDLE.atoll   verify a signed bundle, then run it (and take live updates)
  atoll-runner run [flags] graph.json     run a graph until it ends, a signal or --timeout
  atoll-runner verify [--trust K] BUNDLE  check a bundle without running it (exit 2 when refused)
  atoll-runner inspect [--trust K] [--json] BUNDLE
                                          print a verified bundle's manifest, parameters and signer
  atoll-runner help                       every flag of every command
  atoll-runner validate [--json] graph.json
  atoll-runner test [--json] [--update] [--run REGEX] graph.json|TESTFILE|DIR
  atoll-runner test [--trust K] [--run REGEX] [--param N=V] BUNDLE
                                          run the flow tests a verified bundle carries
  atoll-runner version
`

// runMain is the whole command; signals delivers stop requests.
func runMain(args []string, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitInvalid
	}
	switch args[0] {
	case "run":
		if isBundleArg(args[1:]) {
			return cmdRunBundle(args[1:], stdout, stderr, signals)
		}
		return cmdRun(args[1:], stdout, stderr, signals)
	case "verify":
		return cmdVerify(args[1:], stdout, stderr)
	case "inspect":
		return cmdInspect(args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "test":
		if bundleArg(args[1:]) {
			return cmdTestBundle(args[1:], stdout, stderr)
		}
		return cmdTest(args[1:], stdout, stderr, signals)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, helpText())
		return exitOK
	}
	fmt.Fprintf(stderr, "atoll-runner: unknown command %q\n%s", args[0], usage)
	return exitInvalid
}

func versionString() string {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("atoll-runner %s%s %s %s/%s", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// parseArgs parses flags placed before or after the one positional argument, the graph file.
func parseArgs(fs *flag.FlagSet, args []string) (string, error) {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return "", errors.New("missing the graph file")
	}
	path := rest[0]
	if err := fs.Parse(rest[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return path, nil
}

// fileAssets resolves asset references as file paths relative to the graph's directory.
type fileAssets string

func (d fileAssets) Asset(ref string) ([]byte, error) {
	if isDigest(ref) {
		return nil, fmt.Errorf("asset %s: content-addressed assets need a bundle (atoll export the graph, then run the .atoll file)", ref)
	}
	if !filepath.IsAbs(ref) {
		ref = filepath.Join(string(d), ref)
	}
	return os.ReadFile(ref)
}

func isDigest(s string) bool {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// build reads and builds a graph the way a run does: headless, paths relative to its file.
func build(path string, log func(engine.LogEntry)) (*engine.Run, *graph.Document, error) {
	doc, err := graph.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Dir(abs)
	run, err := engine.Build(doc, engine.Options{
		Catalog:  nodes.Default,
		Headless: true,
		Assets:   fileAssets(dir),
		Services: map[string]any{core.BaseDirService: dir, engine.GuestMemoryBudgetService: *guestMemoryBudget},
		Log:      log,
	})
	return run, doc, err
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the problems as a JSON array")
	guestMemoryBudget = runflags.GuestMemory(fs)
	path, err := parseArgs(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "atoll-runner validate: %v\n%s", err, usage)
		return exitInvalid
	}
	run, doc, err := build(path, nil)
	var probs []engine.Problem
	var invalid *engine.InvalidGraphError
	switch {
	case errors.As(err, &invalid):
		probs = invalid.Problems
	case err != nil:
		probs = []engine.Problem{{Message: err.Error()}}
	default:
		run.Cancel() // closes the built nodes
	}
	if *asJSON {
		if probs == nil {
			probs = []engine.Problem{}
		}
		b, _ := json.MarshalIndent(probs, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else if len(probs) == 0 {
		fmt.Fprintf(stdout, "%s: ok (%d nodes, %d edges)\n", path, len(doc.Nodes), len(doc.Edges))
	} else {
		for _, p := range probs {
			fmt.Fprintf(stdout, "%s: %s\n", path, p)
		}
	}
	if len(probs) > 0 {
		return exitInvalid
	}
	return exitOK
}

func cmdRun(args []string, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 0, "stop the run gracefully after this long (0: no limit)")
	drain := fs.Duration("drain", 10*time.Second, "how long a graceful stop may drain before the run is cancelled")
	httpAddr := fs.String("http", "", "serve /healthz and Prometheus /metrics on this address (e.g. 127.0.0.1:9464)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	every := fs.Duration("metrics-every", 0, "also log each node's metrics this often (0: only at the end)")
	guestMemoryBudget = runflags.GuestMemory(fs)
	path, err := parseArgs(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "atoll-runner run: %v\n%s", err, usage)
		return exitInvalid
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "atoll-runner run: --log-level %q is not debug, info, warn or error\n", *level)
		return exitInvalid
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lv}))
	nodeLog := func(e engine.LogEntry) {
		var l slog.Level
		_ = l.UnmarshalText([]byte(e.Level))
		logger.Log(context.Background(), l, e.Msg, "node", e.Node)
	}

	run, doc, err := build(path, nodeLog)
	if err != nil {
		var invalid *engine.InvalidGraphError
		if errors.As(err, &invalid) {
			for _, p := range invalid.Problems {
				logger.Error(p.Message, problemAttrs(path, p)...)
			}
			logger.Error("invalid graph: not started", "graph", path, "problems", len(invalid.Problems))
		} else {
			logger.Error(err.Error(), "graph", path)
		}
		return exitInvalid
	}

	st := &status{run: run, doc: doc, started: time.Now()}
	st.set("running")
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			logger.Error(fmt.Sprintf("http: %v", err), "addr", *httpAddr)
			run.Cancel()
			return exitInvalid
		}
		srv := &http.Server{Handler: st.handler(), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		logger.Info("http listening", "addr", ln.Addr().String())
	}

	logger.Info("run started", "graph", path, "id", doc.ID, "nodes", len(doc.Nodes), "version", version)
	run.Start(context.Background())

	var tick <-chan time.Time
	if *every > 0 {
		t := time.NewTicker(*every)
		defer t.Stop()
		tick = t.C
	}
	var timer <-chan time.Time
	if *timeout > 0 {
		t := time.NewTimer(*timeout)
		defer t.Stop()
		timer = t.C
	}
	stopping, cancelled := false, false
	drainCut := make(chan struct{})
	stop := func(why string) {
		if stopping {
			return
		}
		stopping = true
		st.set("stopping")
		logger.Info("stopping: draining in-flight rows", "reason", why, "drain", drain.String())
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), *drain)
			defer cancel()
			_ = run.Stop(ctx)
			if ctx.Err() != nil {
				close(drainCut)
			}
		}()
	}
loop:
	for {
		select {
		case <-run.Done():
			break loop
		case s := <-signals:
			if stopping {
				logger.Warn("second signal: cancelling; rows in flight are abandoned", "signal", s.String())
				cancelled = true
				run.Cancel()
				break loop
			}
			stop("signal " + s.String())
		case <-timer:
			stop("timeout " + timeout.String())
		case <-tick:
			logMetrics(logger, run, "node metrics")
		}
	}
	<-run.Done()

	logMetrics(logger, run, "node summary")
	select {
	case <-drainCut:
		cancelled = true
		logger.Error(fmt.Sprintf("drain did not finish within %v: run cancelled, rows in flight abandoned", *drain))
	default:
	}
	if err := run.Err(); err != nil {
		st.set("failed")
		logger.Error("run failed: "+err.Error(), errAttrs(err)...)
		return exitFailed
	}
	if cancelled {
		st.set("failed")
		return exitFailed
	}
	if u := run.UnwiredErrors(); u != nil {
		st.set("finished, rows lost")
		logger.Error("run finished, but "+u.Error(), "graph", path, "rows", u.Rows())
		return runflags.ExitUnwiredErrors
	}
	st.set("finished")
	logger.Info("run finished", "graph", path, "seconds", time.Since(st.started).Seconds())
	return exitOK
}

// logMetrics logs one line per node with its counters and gauges.
func logMetrics(logger *slog.Logger, run *engine.Run, msg string) {
	ms := run.Metrics()
	for _, id := range run.NodeIDs() {
		m := ms[id]
		attrs := []any{"node", id, "state", m.State, "rows_in", m.RowsIn, "rows_out", m.RowsOut,
			"errors", m.Errors, "restarts", m.Restarts, "queue_depth", m.QueueDepth,
			"rows_per_s", m.RowsPerS, "latency_ms", m.LatencyMS}
		if len(m.Gauges) > 0 {
			attrs = append(attrs, "gauges", m.Gauges)
		}
		logger.Info(msg, attrs...)
	}
}

func problemAttrs(path string, p engine.Problem) []any {
	attrs := []any{"graph", path}
	if p.Node != "" {
		attrs = append(attrs, "node", p.Node)
	}
	if p.Port != "" {
		attrs = append(attrs, "port", p.Port)
	}
	if p.Field != "" {
		attrs = append(attrs, "field", p.Field)
	}
	return attrs
}

func errAttrs(err error) []any {
	var ne *engine.NodeError
	if errors.As(err, &ne) {
		return []any{"node", ne.Node}
	}
	return nil
}
