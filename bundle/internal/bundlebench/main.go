// Command bundlebench prints the bundle and runner rows of `make bench`: runner binary size per
// platform, verify time of the bird bundle, start to first output row with a warm compilation
// cache, RSS of the moment bundle at 10,000 rows/s and of the bird bundle, and the longest time
// between two output rows across a live update. Run from the repository root after the example
// modules are built (mk/bundle.mk does both).
package main

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/atoll-studio/atoll/bundle"
	"github.com/atoll-studio/atoll/nodes"
	_ "github.com/atoll-studio/atoll/nodes/all"
	_ "github.com/atoll-studio/atoll/nodes/studio"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bundlebench: %v\n", err)
		os.Exit(1)
	}
}

func row(bench, figure, unit, note string) {
	fmt.Printf("| bundle | %s | %s | %s | %s |\n", bench, figure, unit, note)
}

var key = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func run() error {
	tmp, err := os.MkdirTemp("", "bundlebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	root, _ := os.Getwd()

	// Runner size per platform, as `make runner` builds it.
	var runner string
	for _, p := range []struct{ goos, goarch, goarm, name string }{
		{"linux", "amd64", "", "linux/amd64"}, {"linux", "arm64", "", "linux/arm64"},
		{"linux", "arm", "7", "linux/armv7"}, {"linux", "riscv64", "", "linux/riscv64"},
	} {
		out := filepath.Join(tmp, "atoll-runner-"+strings.ReplaceAll(p.name, "/", "-"))
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/atoll-runner")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.goos, "GOARCH="+p.goarch, "GOARM="+p.goarm)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", p.name, err, b)
		}
		info, _ := os.Stat(out)
		row("runner binary size "+p.name, fmt.Sprintf("%.1f", float64(info.Size())/1e6), "MB", "CGO_ENABLED=0, -trimpath -s -w; target ≤ 20 MB")
		if p.goarch == "amd64" {
			runner = out
		}
	}
	trust := filepath.Join(tmp, "trust.pub")
	os.WriteFile(trust, []byte(bundle.FormatPublicKey(key.Public().(ed25519.PublicKey))+"\n"), 0o644)

	// The bird bundle: verify time (in process, the whole 6 MB file: signature, every digest).
	birdsGraph, err := os.ReadFile("examples/graphs/birds_yamnet.json")
	if err != nil {
		return err
	}
	birds := filepath.Join(tmp, "birds.atoll")
	if err := writeBundle(birds, birdsGraph, filepath.Join(root, "examples/graphs"), 1); err != nil {
		return err
	}
	info, _ := os.Stat(birds)
	var ds []float64
	for i := 0; i < 7; i++ {
		t0 := time.Now()
		if _, err := bundle.VerifyFile(birds, bundle.VerifyOptions{Trusted: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}}); err != nil {
			return err
		}
		ds = append(ds, ms(time.Since(t0)))
	}
	row("verify the bird bundle", fmt.Sprintf("%.0f", median(ds)), "ms", fmt.Sprintf("%.1f MB file (YAMNet, classifier.wasm, WAV, labels); median of 7", float64(info.Size())/1e6))

	// Start to first output row, warm compilation cache (the first run fills it).
	momentGraph := `{"version":1,"id":"bench-moment","name":"moment","nodes":[
	 {"id":"gen","type":"source.generator","config":{"count":COUNT,"rate":RATE,"batch_size":BATCH}},
	 {"id":"ts","type":"transform.map","config":{"set":{"creation_timestamp":"1700000000 + n * 1800"}}},
	 {"id":"fn","type":"function.wasm","config":{"module":"` + filepath.Join(root, "examples/functions/build/go-moment.wasm") + `"}},
	 {"id":"out","type":"sink.file","config":{"path":"out.jsonl"}}],
	 "edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"ts","port":"in"}},
	  {"from":{"node":"ts","port":"out"},"to":{"node":"fn","port":"in"}},
	  {"from":{"node":"fn","port":"out"},"to":{"node":"out","port":"in"}}]}`
	first := filepath.Join(tmp, "first.atoll")
	if err := writeBundle(first, []byte(strings.NewReplacer("COUNT", "100", "RATE", "0", "BATCH", "64").Replace(momentGraph)), "", 1); err != nil {
		return err
	}
	state := filepath.Join(tmp, "state")
	ds = ds[:0]
	for i := 0; i < 6; i++ {
		work := filepath.Join(tmp, fmt.Sprintf("first-%d", i))
		os.MkdirAll(work, 0o755)
		out := filepath.Join(work, "out.jsonl")
		cmd := exec.Command(runner, "run", "--trust", trust, "--state", state, first)
		cmd.Dir = work
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			return err
		}
		for {
			if info, err := os.Stat(out); err == nil && info.Size() > 0 {
				break
			}
			if time.Since(t0) > time.Minute {
				return fmt.Errorf("no output row within a minute")
			}
			time.Sleep(200 * time.Microsecond)
		}
		d := time.Since(t0)
		cmd.Wait()
		if i > 0 { // the first run compiles the module into the cache
			ds = append(ds, ms(d))
		}
	}
	row("start to first output row", fmt.Sprintf("%.0f", median(ds)), "ms", "moment bundle (generator → map → go-moment.wasm → file), warm compilation cache in --state; process start, verify, unpack, build; median of 5; target ≤ 100 ms")

	// RSS of the moment bundle at 10,000 rows/s for 12 s.
	rate := filepath.Join(tmp, "rate.atoll")
	if err := writeBundle(rate, []byte(strings.NewReplacer("COUNT", "0", "RATE", "10000", "BATCH", "500").Replace(momentGraph)), "", 1); err != nil {
		return err
	}
	peak, steady, rows, err := rss(runner, "run", "--trust", trust, "--state", state, "--timeout", "12s", rate)
	if err != nil {
		return err
	}
	row("RSS, moment bundle at 10,000 rows/s", fmt.Sprintf("%.1f", steady), "MB", fmt.Sprintf("largest VmRSS sampled after the first 2 s of 12 s (peak VmHWM %.1f MB; %d rows written); target ≤ 30 MB", peak, rows))
	peak, steady, rows, err = rss(runner, "run", "--trust", trust, "--state", state, birds)
	if err != nil {
		return err
	}
	row("RSS, bird bundle", fmt.Sprintf("%.1f", peak), "MB", fmt.Sprintf("peak VmHWM over the whole run (largest sampled VmRSS %.1f MB; %d detections)", steady, rows))

	return swapGap(tmp, runner, trust, root)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func writeBundle(path string, graph []byte, base string, version int) error {
	var b bytes.Buffer
	if _, err := bundle.Write(&b, bundle.Options{GraphJSON: graph, BaseDir: base, GraphVersion: version, Key: key, Catalog: nodes.New()}); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

var statusRE = regexp.MustCompile(`(?m)^(VmRSS|VmHWM):\s+(\d+) kB`)

// rss runs the runner in a fresh directory, samples /proc/PID/status every 100 ms and returns the
// peak (VmHWM) and the largest VmRSS after the first 2 s, in MB, and the output's row count.
func rss(bin string, args ...string) (peak, steady float64, rows int, err error) {
	work, _ := os.MkdirTemp("", "bundlebench-rss-")
	defer os.RemoveAll(work)
	cmd := exec.Command(bin, args...)
	cmd.Dir = work
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t0 := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return 0, 0, 0, fmt.Errorf("%s %v: %w", bin, args, err)
			}
			b, _ := os.ReadFile(filepath.Join(work, "out.jsonl"))
			if len(b) == 0 {
				b, _ = os.ReadFile(filepath.Join(work, "out", "birds_yamnet.jsonl"))
			}
			return peak, steady, bytes.Count(b, []byte("\n")), nil
		case <-tick.C:
			st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
			if err != nil {
				continue
			}
			for _, m := range statusRE.FindAllSubmatch(st, -1) {
				kb, _ := strconv.ParseFloat(string(m[2]), 64)
				mb := kb / 1024
				if string(m[1]) == "VmHWM" {
					peak = max(peak, mb)
				} else if time.Since(t0) > 2*time.Second {
					steady = max(steady, mb)
				}
			}
		}
	}
}

// swapGap runs a followed file at 2,000 rows/s through go-enrich v1 and swaps to v2, v3 and v4
// from a watched directory, watching the output grow every 0.5 ms: the figure is the longest time
// between two output writes around a swap (the baseline, the longest outside swaps, is noted).
func swapGap(tmp, runner, trust, root string) error {
	mod := filepath.Join(root, "examples/functions/build/go-enrich.wasm")
	g := func(field string) []byte {
		return []byte(`{"version":1,"id":"bench-live","name":"live","nodes":[
		 {"id":"src","type":"source.file","config":{"path":"in.jsonl","follow":true,"poll_ms":20,"batch_size":64}},
		 {"id":"fn","type":"function.wasm","config":{"module":"` + mod + `","config":{"key":"kind","table":{"a":{"` + field + `":true}}}}},
		 {"id":"out","type":"sink.file","config":{"path":"out.jsonl"}}],
		 "edges":[{"from":{"node":"src","port":"out"},"to":{"node":"fn","port":"in"}},{"from":{"node":"fn","port":"out"},"to":{"node":"out","port":"in"}}]}`)
	}
	work, updates := filepath.Join(tmp, "live"), filepath.Join(tmp, "updates")
	os.MkdirAll(work, 0o755)
	os.MkdirAll(updates, 0o755)
	for v := 1; v <= 4; v++ {
		if err := writeBundle(filepath.Join(tmp, fmt.Sprintf("v%d.atoll", v)), g(fmt.Sprintf("v%d", v)), "", v); err != nil {
			return err
		}
	}
	in, err := os.Create(filepath.Join(work, "in.jsonl"))
	if err != nil {
		return err
	}
	defer in.Close()
	stopGen := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for seq := 0; ; {
			select {
			case <-stopGen:
				return
			case <-t.C:
			}
			var b bytes.Buffer
			for i := 0; i < 10; i++ {
				fmt.Fprintf(&b, `{"seq":%d,"kind":"a"}`+"\n", seq)
				seq++
			}
			in.Write(b.Bytes())
		}
	}()
	defer close(stopGen)
	var stdout syncBuf
	cmd := exec.Command(runner, "run", "--trust", trust, "--state", filepath.Join(tmp, "live-state"), "--watch-dir", updates,
		"--watch-every", "50ms", filepath.Join(tmp, "v1.atoll"))
	cmd.Dir = work
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()

	out := filepath.Join(work, "out.jsonl")
	var last int64
	var lastAt time.Time
	var gaps []float64
	baseline := 0.0
	watch := func(d time.Duration) float64 { // longest interval between growths during d
		longest := 0.0
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			if info, err := os.Stat(out); err == nil && info.Size() != last {
				now := time.Now()
				if !lastAt.IsZero() {
					longest = max(longest, ms(now.Sub(lastAt)))
				}
				last, lastAt = info.Size(), now
			}
			time.Sleep(500 * time.Microsecond)
		}
		return longest
	}
	for deadline := time.Now().Add(time.Minute); last == 0; {
		if time.Now().After(deadline) {
			return fmt.Errorf("live: no output")
		}
		watch(100 * time.Millisecond)
	}
	baseline = watch(2 * time.Second)
	for v := 2; v <= 4; v++ {
		data, _ := os.ReadFile(filepath.Join(tmp, fmt.Sprintf("v%d.atoll", v)))
		os.WriteFile(filepath.Join(updates, ".tmp"), data, 0o644)
		os.Rename(filepath.Join(updates, ".tmp"), filepath.Join(updates, fmt.Sprintf("v%d.atoll", v)))
		want := fmt.Sprintf("-> %d ", v)
		gap := watch(1500 * time.Millisecond)
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(stdout.String(), want); {
			if time.Now().After(deadline) {
				return fmt.Errorf("live: no swap to v%d:\n%s", v, stdout.String())
			}
			gap = max(gap, watch(200*time.Millisecond))
		}
		gap = max(gap, watch(500*time.Millisecond))
		gaps = append(gaps, gap)
	}
	sort.Float64s(gaps)
	row("swap gap (longest time between two output rows)", fmt.Sprintf("%.0f", gaps[len(gaps)-1]), "ms",
		fmt.Sprintf("live update from a watched directory at 2,000 rows/s (go-enrich v1→v2→v3→v4), worst of 3 swaps (median %.0f ms); longest gap without a swap %.0f ms (source poll_ms 20); target ≤ 250 ms", gaps[1], baseline))
	return nil
}

// syncBuf is a bytes.Buffer safe for the process's writes and our reads.
type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
