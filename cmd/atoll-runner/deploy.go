package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/atoll-studio/atoll/bundle"
	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/wasmhost"
	"github.com/atoll-studio/atoll/nodes"
	"github.com/atoll-studio/atoll/nodes/core"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// trustFlags are the flags of every command that reads a bundle.
type trustFlags struct {
	trust    listFlag
	insecure bool
	maxEntry int64
	maxTotal int64
}

func (t *trustFlags) register(fs *flag.FlagSet) {
	fs.Var(&t.trust, "trust", "trust the public keys in FILE (one 'atoll-ed25519 ...' line each) or in every DIR/*.pub (repeatable)")
	fs.BoolVar(&t.insecure, "insecure-skip-verify", false, "run unsigned or untrusted bundles (entries are still checked); logged loudly")
	fs.Int64Var(&t.maxEntry, "max-entry-size", bundle.DefaultLimits.MaxEntrySize, "refuse a bundle with an entry larger than this many bytes")
	fs.Int64Var(&t.maxTotal, "max-total-size", bundle.DefaultLimits.MaxTotalSize, "refuse a bundle whose entries add up to more than this many bytes")
}

func (t *trustFlags) options() (bundle.VerifyOptions, error) {
	opts := bundle.VerifyOptions{InsecureSkipVerify: t.insecure,
		Limits: bundle.Limits{MaxEntrySize: t.maxEntry, MaxTotalSize: t.maxTotal},
		HasNodeType: func(typ string) bool {
			s, ok := nodes.Default.Lookup(typ)
			return ok && s.Headless
		}}
	for _, p := range t.trust {
		keys, err := bundle.LoadTrust(p)
		if err != nil {
			return opts, err
		}
		opts.Trusted = append(opts.Trusted, keys...)
	}
	return opts, nil
}

// runFlags are the flags of `run` for a bundle.
type runFlags struct {
	trustFlags
	state, workdir, httpAddr, level  string
	paramsFile, envFile              string
	params                           listFlag
	watchDirs, watchURLs             listFlag
	watchMQTT                        mqttWatchFlag
	timeout, drain, every            time.Duration
	poll, urlPoll, probation, cpSave time.Duration
	force                            bool
}

func runFlagSet(f *runFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	f.trustFlags.register(fs)
	fs.StringVar(&f.state, "state", "atoll-state", "directory the runner owns: unpacked bundles, checkpoints, downloads (bundles only)")
	fs.StringVar(&f.workdir, "workdir", ".", "directory relative device paths in a bundle's graph resolve against (bundles only)")
	fs.Var(&f.params, "param", "a parameter value NAME=VALUE (repeatable; overrides --env-file and --params)")
	fs.StringVar(&f.paramsFile, "params", "", "JSON object of parameter values (default: params.json beside the bundle, when present)")
	fs.StringVar(&f.envFile, "env-file", "", "file of NAME=VALUE lines giving parameter values (overrides --params)")
	fs.Var(&f.watchDirs, "watch-dir", "take newer signed bundles of the same graph dropped into this directory (repeatable)")
	fs.Var(&f.watchURLs, "watch-url", "poll this HTTP(S) URL for a newer bundle with If-None-Match (repeatable)")
	fs.Var(&f.watchMQTT, "watch-mqtt", "take the bundle retained on an MQTT topic (or its {url, sha256}): scheme://[user:pass@]host:port/topic[?ca=FILE] (repeatable)")
	fs.DurationVar(&f.poll, "watch-every", time.Second, "how often --watch-dir looks for new files")
	fs.DurationVar(&f.urlPoll, "poll-every", 30*time.Second, "how often --watch-url asks the server")
	fs.DurationVar(&f.probation, "probation", 3*time.Second, "after a swap, a new run that fails within this long is rolled back to the old bundle")
	fs.BoolVar(&f.force, "force", false, "accept an update with an older or equal version or another graph id")
	fs.DurationVar(&f.cpSave, "checkpoint-every", 200*time.Millisecond, "how often acknowledged source positions are written to the state directory")
	fs.DurationVar(&f.timeout, "timeout", 0, "stop the run gracefully after this long (0: no limit)")
	fs.DurationVar(&f.drain, "drain", 10*time.Second, "how long a graceful stop (or a swap) may drain before the run is cancelled")
	fs.StringVar(&f.httpAddr, "http", "", "serve /healthz and Prometheus /metrics on this address (e.g. 127.0.0.1:9464)")
	fs.StringVar(&f.level, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&f.every, "metrics-every", 0, "also log each node's metrics this often (0: only at the end)")
	return fs
}

// isBundleArg reports whether the run command names a bundle rather than a graph file.
func isBundleArg(args []string) bool {
	var f runFlags
	fs := runFlagSet(&f)
	path, err := parseArgs(fs, args)
	if err != nil {
		return false
	}
	ok, _ := bundle.IsBundleFile(path)
	return ok
}

// deployment is one bundle, built into a run.
type deployment struct {
	file    string
	b       *bundle.Bundle
	doc     *graph.Document // parameters substituted
	run     *engine.Run
	started time.Time
}

// updateStatus is the last update attempt, as /healthz shows it.
type updateStatus struct {
	At      time.Time `json:"at"`
	Channel string    `json:"channel"`
	File    string    `json:"file"`
	Result  string    `json:"result"` // swapped, refused, rolled back, unchanged
	Reason  string    `json:"reason,omitempty"`
	Version int       `json:"version,omitempty"`
	SHA256  string    `json:"sha256,omitempty"`
}

// supervisor runs a bundle and swaps to newer ones.
type supervisor struct {
	f       *runFlags
	vopts   bundle.VerifyOptions
	logger  *slog.Logger
	stdout  io.Writer
	cps     *checkpointStore
	wasm    *wasmhost.Runtime // one runtime for every build: its cache lives in the state directory
	started time.Time

	mu      sync.Mutex
	cur     *deployment
	swapCP  map[string]json.RawMessage    // the positions at the last swap, for a rollback
	base    map[string]engine.NodeMetrics // counters of runs swapped away
	last    *updateStatus
	state   string
	updates int
}

func cmdRunBundle(args []string, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	var f runFlags
	fs := runFlagSet(&f)
	file, err := parseArgs(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "atoll-runner run: %v\n%s", err, usage)
		return exitInvalid
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(f.level)); err != nil {
		fmt.Fprintf(stderr, "atoll-runner run: --log-level %q is not debug, info, warn or error\n", f.level)
		return exitInvalid
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lv}))
	vopts, err := f.options()
	if err != nil {
		logger.Error(err.Error())
		return exitInvalid
	}
	if f.insecure {
		logger.Warn("INSECURE: --insecure-skip-verify: unsigned and untrusted bundles will run; anyone who can write a bundle here can run code on this device")
	}
	if err := os.MkdirAll(filepath.Join(f.state, "bundles"), 0o700); err != nil {
		logger.Error(fmt.Sprintf("state: %v", err))
		return exitInvalid
	}
	s := &supervisor{f: &f, vopts: vopts, logger: logger, stdout: stdout, base: map[string]engine.NodeMetrics{}, started: time.Now()}
	b, err := s.unpack(file)
	if err != nil {
		logger.Error("bundle refused: "+err.Error(), "bundle", file)
		return exitInvalid
	}
	if b.Problem != "" {
		logger.Warn("INSECURE: running a bundle that did not pass verification: "+b.Problem, "bundle", file)
	}
	// Compiled Wasm is cached in the state directory, so a restart or an update with the same
	// modules starts without compiling them again.
	if s.wasm, err = wasmhost.NewRuntime(context.Background(), wasmhost.Config{CacheDir: filepath.Join(f.state, "wasm-cache")}); err != nil {
		logger.Error(fmt.Sprintf("wasm runtime: %v", err))
		return exitInvalid
	}
	if s.cps, err = openCheckpoints(f.state, b.Manifest.GraphID); err != nil {
		logger.Error(err.Error())
		return exitInvalid
	}
	d, err := s.build(file, b)
	if err != nil {
		logger.Error("bundle not started: "+err.Error(), "bundle", file)
		return exitInvalid
	}
	s.cur = d
	s.state = "running"

	listen := "no http"
	if f.httpAddr != "" {
		ln, err := net.Listen("tcp", f.httpAddr)
		if err != nil {
			logger.Error(fmt.Sprintf("http: %v", err), "addr", f.httpAddr)
			d.run.Cancel()
			return exitInvalid
		}
		srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		listen = "http://" + ln.Addr().String()
		logger.Info("http listening", "addr", ln.Addr().String())
	}
	m := b.Manifest
	signer := b.SignerID()
	if b.Trusted {
		signer += " (trusted)"
	} else {
		signer += " (NOT VERIFIED)"
	}
	fmt.Fprintf(stdout, "atoll-runner %s: running bundle %s: graph %s version %d (sha256 %s), signed by %s, %d nodes, %s, state %s\n",
		version, file, m.GraphID, m.GraphVersion, b.SHA256[:12], signer, len(d.doc.Nodes), listen, f.state)
	logger.Info("run started", "bundle", file, "graph", m.GraphID, "graph_version", m.GraphVersion, "sha256", b.SHA256,
		"signer", b.SignerID(), "nodes", len(d.doc.Nodes), "version", version)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	found := make(chan candidate)
	incoming := filepath.Join(f.state, "incoming")
	var channels []updateChannel
	for _, dir := range f.watchDirs {
		channels = append(channels, &dirChannel{dir: dir, poll: f.poll})
	}
	for _, u := range f.watchURLs {
		channels = append(channels, &urlChannel{url: u, poll: f.urlPoll, maxSize: f.maxTotal, client: &http.Client{Timeout: time.Minute},
			logf: func(msg string, args ...any) { logger.Warn(msg, args...) }})
	}
	for _, c := range f.watchMQTT {
		c.maxSize, c.client = f.maxTotal, &http.Client{Timeout: time.Minute}
		c.logf = func(msg string, args ...any) { logger.Warn(msg, args...) }
		channels = append(channels, c)
	}
	for _, c := range channels {
		logger.Info("watching for updates", "channel", c.String())
		go c.Watch(ctx, incoming, found)
	}
	go func() { // checkpoints to disk
		t := time.NewTicker(f.cpSave)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.cps.flush(); err != nil {
					logger.Error(err.Error())
				}
			}
		}
	}()

	d.run.Start(context.Background())
	d.started = time.Now()
	return s.loop(found, signals)
}

// unpack verifies a bundle file into STATE/bundles/<sha256>.
func (s *supervisor) unpack(file string) (*bundle.Bundle, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(s.f.state, "bundles", ".unpack-"+hex.EncodeToString(rnd[:]))
	b, err := bundle.Unpack(f, tmp, s.vopts)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.f.state, "bundles", b.SHA256)
	if cur := s.current(); cur != nil && cur.b.Dir == dir {
		// The running bundle offered again (a URL without an ETag downloads it on every poll):
		// its directory is in use, so keep it rather than delete and replace it under the run.
		os.RemoveAll(tmp)
		b.Dir = dir
		return b, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	b.Dir = dir
	return b, nil
}

// paramValues gathers the parameter values: params.json (or --params), --env-file, --param.
func (s *supervisor) paramValues(file string, doc *graph.Document) (map[string]any, error) {
	vals := map[string]any{}
	pf := s.f.paramsFile
	if pf == "" {
		if p := filepath.Join(filepath.Dir(file), "params.json"); fileExists(p) {
			pf = p
		}
	}
	if pf != "" {
		data, err := os.ReadFile(pf)
		if err != nil {
			return nil, fmt.Errorf("params: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&vals); err != nil {
			return nil, fmt.Errorf("params: %s: %w", pf, graph.Locate(data, err))
		}
	}
	set := func(src, name, val string) error {
		p, ok := doc.Param(name)
		if !ok {
			return fmt.Errorf("%s: parameter %q is not declared by graph %q", src, name, doc.ID)
		}
		v, err := graph.ParseParamValue(p, val)
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		vals[name] = v
		return nil
	}
	if s.f.envFile != "" {
		data, err := os.ReadFile(s.f.envFile)
		if err != nil {
			return nil, fmt.Errorf("env file: %w", err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			name, val, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
			if !ok {
				return nil, fmt.Errorf("env file %s line %d: want NAME=VALUE", s.f.envFile, i+1)
			}
			val = strings.Trim(strings.TrimSpace(val), `"'`)
			if err := set(fmt.Sprintf("env file %s line %d", s.f.envFile, i+1), strings.TrimSpace(name), val); err != nil {
				return nil, err
			}
		}
	}
	for _, kv := range s.f.params {
		name, val, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--param %q: want NAME=VALUE", kv)
		}
		if err := set("--param", name, val); err != nil {
			return nil, err
		}
	}
	return vals, nil
}

func fileExists(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.Mode().IsRegular()
}

// build substitutes the parameters and builds the bundle's graph completely (modules compiled,
// models loaded, instances started), without starting it.
func (s *supervisor) build(file string, b *bundle.Bundle) (*deployment, error) {
	doc, err := b.Graph()
	if err != nil {
		return nil, err
	}
	vals, err := s.paramValues(file, doc)
	if err != nil {
		return nil, err
	}
	sub, err := doc.Substitute(vals)
	if err != nil {
		return nil, err
	}
	workdir, err := filepath.Abs(s.f.workdir)
	if err != nil {
		return nil, err
	}
	run, err := engine.Build(sub, engine.Options{
		Catalog:  nodes.Default,
		Headless: true,
		Assets:   bundle.Assets{Dir: b.Dir, Base: workdir},
		Services: map[string]any{core.BaseDirService: workdir, core.CheckpointService: s.cps, wasmhost.ServiceName: s.wasm},
		Log:      s.nodeLog,
	})
	if err != nil {
		var invalid *engine.InvalidGraphError
		if errors.As(err, &invalid) {
			msgs := make([]string, len(invalid.Problems))
			for i, p := range invalid.Problems {
				msgs[i] = p.String()
			}
			return nil, fmt.Errorf("invalid graph: %s", strings.Join(msgs, "; "))
		}
		return nil, err
	}
	return &deployment{file: file, b: b, doc: sub, run: run}, nil
}

func (s *supervisor) nodeLog(e engine.LogEntry) {
	var l slog.Level
	_ = l.UnmarshalText([]byte(e.Level))
	s.logger.Log(context.Background(), l, e.Msg, "node", e.Node)
}

func (s *supervisor) current() *deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

func (s *supervisor) setState(st string) {
	s.mu.Lock()
	s.state = st
	s.mu.Unlock()
}

// loop waits for the end, signals, the timeout and update candidates.
func (s *supervisor) loop(found <-chan candidate, signals <-chan os.Signal) int {
	f := s.f
	var tick, timer <-chan time.Time
	if f.every > 0 {
		t := time.NewTicker(f.every)
		defer t.Stop()
		tick = t.C
	}
	if f.timeout > 0 {
		t := time.NewTimer(f.timeout)
		defer t.Stop()
		timer = t.C
	}
	stopping, cancelled := false, false
	drainCut := make(chan struct{}, 1)
	var prev *deployment // the bundle to roll back to during probation
	var swappedAt time.Time
	stop := func(why string) {
		if stopping {
			return
		}
		stopping = true
		s.setState("stopping")
		s.logger.Info("stopping: draining in-flight rows", "reason", why, "drain", f.drain.String())
		run := s.current().run
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), f.drain)
			defer cancel()
			_ = run.Stop(ctx)
			if ctx.Err() != nil {
				drainCut <- struct{}{}
			}
		}()
	}
	for {
		d := s.current()
		select {
		case <-d.run.Done():
			if err := d.run.Err(); err != nil && prev != nil && time.Since(swappedAt) < f.probation && !stopping {
				s.rollback(d, prev, err)
				prev = nil
				continue
			}
			return s.finish(d, stopping, cancelled, drainCut)
		case sig := <-signals:
			if stopping {
				s.logger.Warn("second signal: cancelling; rows in flight are abandoned", "signal", sig.String())
				cancelled = true
				d.run.Cancel()
				continue
			}
			stop("signal " + sig.String())
		case <-timer:
			stop("timeout " + f.timeout.String())
		case <-tick:
			logMetrics(s.logger, d.run, "node metrics")
		case c := <-found:
			if stopping {
				continue
			}
			if old := s.update(c); old != nil {
				prev, swappedAt = old, time.Now()
			}
		}
	}
}

// update verifies, builds and swaps to a candidate. It returns the replaced deployment when it
// swapped.
func (s *supervisor) update(c candidate) *deployment {
	st := &updateStatus{At: time.Now().UTC(), Channel: c.Channel, File: c.Path}
	defer func() {
		s.mu.Lock()
		s.last = st
		s.updates++
		s.mu.Unlock()
	}()
	refuse := func(err error) *deployment {
		st.Result, st.Reason = "refused", err.Error()
		s.logger.Error("update refused: "+err.Error(), "channel", c.Channel, "file", c.Path)
		return nil
	}
	cur := s.current()
	b, err := s.unpack(c.Path)
	if err != nil {
		return refuse(err)
	}
	m, cm := b.Manifest, cur.b.Manifest
	st.Version, st.SHA256 = m.GraphVersion, b.SHA256
	if b.SHA256 == cur.b.SHA256 {
		st.Result = "unchanged"
		return nil
	}
	if b.Problem != "" {
		s.logger.Warn("INSECURE: update did not pass verification: "+b.Problem, "file", c.Path)
	}
	if !s.f.force {
		if m.GraphID != cm.GraphID {
			os.RemoveAll(b.Dir)
			return refuse(fmt.Errorf("bundle is graph %q, this runner runs %q (--force to switch)", m.GraphID, cm.GraphID))
		}
		if m.GraphVersion <= cm.GraphVersion {
			os.RemoveAll(b.Dir)
			return refuse(fmt.Errorf("bundle is version %d, not newer than the running version %d (--force to install it)", m.GraphVersion, cm.GraphVersion))
		}
	}
	next, err := s.build(c.Path, b)
	if err != nil {
		os.RemoveAll(b.Dir)
		return refuse(fmt.Errorf("build: %w", err))
	}
	// The flow tests the bundle carries must pass before it replaces the running one.
	if rs, err := runBundleTests(context.Background(), b, next.doc, s.wasm, nil); err != nil || failedTests(rs) != "" {
		next.run.Cancel()
		os.RemoveAll(b.Dir)
		if err == nil {
			err = errors.New(failedTests(rs))
		}
		return refuse(fmt.Errorf("tests: %w", err))
	} else if len(rs) > 0 {
		s.logger.Info("update: tests passed", "tests", len(rs), "file", c.Path)
	}
	// Switch: stop the sources, drain and acknowledge what is in flight, save the positions,
	// start the new run from them.
	t0 := time.Now()
	s.setState("swapping")
	ctx, cancel := context.WithTimeout(context.Background(), s.f.drain)
	_ = cur.run.Stop(ctx)
	cancel()
	if err := s.cps.flush(); err != nil {
		s.logger.Error(err.Error())
	}
	snap := s.cps.snapshot()
	s.mu.Lock()
	s.swapCP = snap
	s.addBase(cur.run)
	s.cur = next
	s.state = "running"
	s.mu.Unlock()
	next.run.Start(context.Background())
	next.started = time.Now()
	st.Result = "swapped"
	s.logger.Info("update: swapped", "channel", c.Channel, "from_version", cm.GraphVersion, "to_version", m.GraphVersion,
		"sha256", b.SHA256, "signer", b.SignerID(), "switch_ms", float64(time.Since(t0).Microseconds())/1000)
	fmt.Fprintf(s.stdout, "atoll-runner: update from %s: graph %s version %d -> %d (sha256 %s), signed by %s\n",
		c.Channel, m.GraphID, cm.GraphVersion, m.GraphVersion, b.SHA256[:12], b.SignerID())
	return cur
}

// rollback restores the previous bundle after the new run failed during its probation.
func (s *supervisor) rollback(failed, prev *deployment, cause error) {
	s.logger.Error("update failed after the swap: rolling back", "error", cause.Error(),
		"failed_version", failed.b.Manifest.GraphVersion, "back_to", prev.b.Manifest.GraphVersion)
	// Back to the positions of the swap: what the failed run consumed (and may have sent to
	// errors) is read again by the restored one, so no row is lost to the failed version.
	s.mu.Lock()
	snap := s.swapCP
	s.mu.Unlock()
	if snap != nil {
		s.cps.restore(snap)
	}
	if err := s.cps.flush(); err != nil {
		s.logger.Error(err.Error())
	}
	d, err := s.build(prev.file, prev.b)
	s.mu.Lock()
	s.addBase(failed.run)
	if s.last != nil {
		s.last.Result, s.last.Reason = "rolled back", "the new run failed: "+cause.Error()
	}
	s.mu.Unlock()
	if err != nil {
		s.logger.Error("rollback failed: " + err.Error())
		return // the loop then ends with the failed run
	}
	s.mu.Lock()
	s.cur = d
	s.state = "running"
	s.mu.Unlock()
	d.run.Start(context.Background())
	d.started = time.Now()
}

// addBase keeps a finished run's counters so that /metrics stays monotonic across swaps.
// Callers hold s.mu.
func (s *supervisor) addBase(r *engine.Run) {
	for id, m := range r.Metrics() {
		b := s.base[id]
		b.RowsIn += m.RowsIn
		b.RowsOut += m.RowsOut
		b.Errors += m.Errors
		b.Restarts += m.Restarts
		s.base[id] = b
	}
}

// totals returns every node's counters over all runs so far, current included.
func (s *supervisor) totals() (map[string]engine.NodeMetrics, *deployment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]engine.NodeMetrics{}
	for id, m := range s.cur.run.Metrics() {
		b := s.base[id]
		m.RowsIn += b.RowsIn
		m.RowsOut += b.RowsOut
		m.Errors += b.Errors
		m.Restarts += b.Restarts
		out[id] = m
	}
	for id, b := range s.base {
		if _, ok := out[id]; !ok {
			b.State = "removed"
			out[id] = b
		}
	}
	return out, s.cur
}

func (s *supervisor) finish(d *deployment, stopping, cancelled bool, drainCut chan struct{}) int {
	if err := s.cps.flush(); err != nil {
		s.logger.Error(err.Error())
	}
	logMetrics(s.logger, d.run, "node summary")
	s.printSummary(d)
	select {
	case <-drainCut:
		cancelled = true
		s.logger.Error(fmt.Sprintf("drain did not finish within %v: run cancelled, rows in flight abandoned", s.f.drain))
	default:
	}
	if err := d.run.Err(); err != nil {
		s.setState("failed")
		s.logger.Error("run failed: "+err.Error(), errAttrs(err)...)
		return exitFailed
	}
	if cancelled {
		s.setState("failed")
		return exitFailed
	}
	s.setState("finished")
	s.logger.Info("run finished", "bundle", d.file, "seconds", time.Since(s.started).Seconds())
	return exitOK
}

// printSummary writes one line per node: counters over the whole process life and real rates
// (rows over the seconds the runner ran).
func (s *supervisor) printSummary(d *deployment) {
	ms, _ := s.totals()
	secs := max(time.Since(s.started).Seconds(), 1e-9)
	fmt.Fprintf(s.stdout, "atoll-runner: graph %s version %d ran %.3f s\n", d.b.Manifest.GraphID, d.b.Manifest.GraphVersion, secs)
	tw := tabwriter.NewWriter(s.stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "node\tstate\trows in\trows out\terrors\trows/s\tlatency ms\t")
	ids := make([]string, 0, len(ms))
	for id := range ms {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		n := ms[id]
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.0f\t%.3f\t\n", id, n.State, n.RowsIn, n.RowsOut, n.Errors,
			float64(max(n.RowsIn, n.RowsOut))/secs, n.LatencyMS)
	}
	tw.Flush()
}

// signerOf returns a readable signer for a key.
func signerOf(pub ed25519.PublicKey) string {
	if pub == nil {
		return "unsigned"
	}
	return bundle.FormatPublicKey(pub)
}
