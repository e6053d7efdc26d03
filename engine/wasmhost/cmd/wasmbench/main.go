// Command wasmbench prints the Wasm function benchmarks as rows of the `make bench` table:
// the moment function natively and in the Go, C and Rust guests (metered and not) at batch
// sizes 1, 64 and 1024, the call overhead of an empty batch, module start from the compilation
// cache, and memory per instance. Each figure is the median of -runs runs, in CPU time (see
// median). Run it from the repository root after `make wasm-examples`, with GOMAXPROCS=1.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/engine/wasmhost"
	"github.com/atoll-studio/atoll/engine/wasmhost/internal/bench"
)

var (
	runs      = flag.Int("runs", 7, "runs per figure (the median is printed)")
	benchtime = flag.Duration("benchtime", 300*time.Millisecond, "time per run")
	dir       = flag.String("dir", "examples/functions/build", "directory of the built example modules")
	guestList = flag.String("guests", "go-moment,c-moment,rust-moment", "comma-separated guest modules to measure")
	sizeList  = flag.String("sizes", "", "comma-separated batch sizes (default: all of bench.BatchSizes)")
	only      = flag.String("only", "", "measure only this part: rows, empty, start or memory (default: all)")
)

var guests []string

func main() {
	flag.Parse()
	guests = strings.Split(*guestList, ",")
	sizes := bench.BatchSizes
	if *sizeList != "" {
		sizes = nil
		for _, f := range strings.Split(*sizeList, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 {
				fail(fmt.Errorf("-sizes: bad size %q", f))
			}
			sizes = append(sizes, n)
		}
	}
	part := func(name string) bool { return *only == "" || *only == name }
	ctx := context.Background()
	cacheDir, err := os.MkdirTemp("", "atoll-wasmbench-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(cacheDir)
	t0 := time.Now()
	rt, err := wasmhost.NewRuntime(ctx, wasmhost.Config{CacheDir: cacheDir})
	if err != nil {
		fail(err)
	}
	calib := time.Since(t0)
	defer rt.Close(ctx)
	wasm := map[string][]byte{}
	for _, g := range guests {
		b, err := os.ReadFile(filepath.Join(*dir, g+".wasm"))
		if err != nil {
			fail(fmt.Errorf("%w (build the modules with `make wasm-examples`)", err))
		}
		wasm[g] = b
	}
	procs := runtime.GOMAXPROCS(0)
	row("runtime start (fuel calibration)", fmt.Sprintf("%.1f", float64(calib.Microseconds())/1000), "ms", fmt.Sprintf("%d fuel/ms", rt.FuelPerMS()))

	for _, size := range sizes {
		if !part("rows") {
			break
		}
		in := bench.MomentBatch(size)
		native := median(func(n int) {
			for range n {
				bench.NativeMoment(in)
			}
		})
		row(fmt.Sprintf("moment native Go, batch %d", size), rate(size, native), "rows/s", fmt.Sprintf("GOMAXPROCS=%d", procs))
		for _, g := range guests {
			var metered float64
			for _, m := range []bool{true, false} {
				f := function(ctx, rt, wasm[g], wasmhost.Limits{NoMetering: !m})
				res, err := f.Process(ctx, in)
				if err != nil {
					fail(err)
				}
				if err := bench.SameAsNative(in, res.Out); err != nil {
					fail(fmt.Errorf("%s, batch %d: not the native function's output: %w", g, size, err))
				}
				ns := median(func(n int) {
					for range n {
						if _, err := f.Process(ctx, in); err != nil {
							fail(err)
						}
					}
				})
				f.Close()
				if m {
					metered = ns
					row(fmt.Sprintf("moment %s, batch %d, metered", g, size), rate(size, ns), "rows/s",
						fmt.Sprintf("%.2f× native per-row cost", ns/native))
				} else {
					row(fmt.Sprintf("moment %s, batch %d, metering off", g, size), rate(size, ns), "rows/s",
						fmt.Sprintf("%.2f× native; metering costs %+.0f%%", ns/native, (metered/ns-1)*100))
				}
			}
		}
	}

	empty := &rows.Batch{}
	for _, g := range guests {
		if !part("empty") {
			break
		}
		f := function(ctx, rt, wasm[g], wasmhost.Limits{})
		ns := median(func(n int) {
			for range n {
				if _, err := f.Process(ctx, empty); err != nil {
					fail(err)
				}
			}
		})
		f.Close()
		row(fmt.Sprintf("empty batch call, %s", g), fmt.Sprintf("%.2f", ns/1000), "µs", "metered; target ≤ 1 µs")
	}

	for _, g := range guests {
		if !part("start") {
			break
		}
		ns := median(func(n int) {
			for range n {
				r, err := wasmhost.NewRuntime(ctx, wasmhost.Config{CacheDir: cacheDir, FuelPerMS: rt.FuelPerMS()})
				if err != nil {
					fail(err)
				}
				m, err := r.Load(ctx, wasm[g], wasmhost.Limits{})
				if err != nil {
					fail(err)
				}
				f, err := m.NewFunction(wasmhost.FunctionConfig{})
				if err != nil {
					fail(err)
				}
				f.Close()
				r.Close(ctx)
			}
		})
		row(fmt.Sprintf("module start from the compilation cache, %s", g), fmt.Sprintf("%.1f", ns/1e6), "ms",
			"new runtime + load (instrumented module and compiled code from the on-disk caches) + first instance; target ≤ 20 ms; see engine/wasmhost/RATIONALE.md")
		ns = median(func(n int) {
			for range n {
				m, err := rt.Load(ctx, wasm[g], wasmhost.Limits{})
				if err != nil {
					fail(err)
				}
				f, err := m.NewFunction(wasmhost.FunctionConfig{})
				if err != nil {
					fail(err)
				}
				f.Close()
			}
		})
		row(fmt.Sprintf("node rebuild (module compiled in this runtime), %s", g), fmt.Sprintf("%.2f", ns/1e6), "ms",
			"load found in the runtime + first instance (_initialize, ABI check)")
	}

	for _, g := range guests {
		if !part("memory") {
			break
		}
		m, err := rt.Load(ctx, wasm[g], wasmhost.Limits{})
		if err != nil {
			fail(err)
		}
		const n = 8
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		insts := make([]*wasmhost.Instance, n)
		var guestMem uint32
		for k := range insts {
			if insts[k], err = m.NewInstance(wasmhost.InstanceConfig{}); err != nil {
				fail(err)
			}
			if _, err := insts[k].Process(bench.MomentBatch(1024)); err != nil {
				fail(err)
			}
			guestMem = insts[k].MemoryBytes()
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		host := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
		row(fmt.Sprintf("memory per instance, %s", g), fmt.Sprintf("%.2f", float64(guestMem)/(1<<20)), "MiB",
			fmt.Sprintf("guest linear memory after a 1024-row batch; host heap %.2f MiB per instance (incl. memory)", float64(host)/(1<<20)))
		for _, i := range insts {
			i.Close()
		}
	}
}

func function(ctx context.Context, rt *wasmhost.Runtime, wasm []byte, lim wasmhost.Limits) *wasmhost.Function {
	m, err := rt.Load(ctx, wasm, lim)
	if err != nil {
		fail(err)
	}
	f, err := m.NewFunction(wasmhost.FunctionConfig{})
	if err != nil {
		fail(err)
	}
	return f
}

// median runs fn in runs of about -benchtime of CPU time each and returns the median CPU time
// per op. CPU time (this process's user + system time) rather than wall time: on a machine
// shared with other builds a process may get a fraction of a core, which inflates wall-clock
// figures several times over and differently from run to run; CPU time counts what this code
// did. With GOMAXPROCS=1 that includes the host's garbage collector.
func median(fn func(n int)) float64 {
	fn(1) // warm up
	n := 1
	for {
		c0 := cpuTime()
		fn(n)
		if el := cpuTime() - c0; el >= *benchtime/2 || n >= 1<<30 {
			break
		}
		n *= 2
	}
	ns := make([]float64, *runs)
	for k := range ns {
		c0 := cpuTime()
		fn(n)
		ns[k] = float64(cpuTime()-c0) / float64(n)
	}
	sort.Float64s(ns)
	return ns[len(ns)/2]
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rate(rowsPerOp int, nsPerOp float64) string {
	return fmt.Sprintf("%.0f", float64(rowsPerOp)/nsPerOp*1e9)
}

func row(name, figure, unit, note string) {
	fmt.Printf("| wasm | %s | %s | %s | %s |\n", name, figure, unit, note)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "wasmbench:", err)
	os.Exit(1)
}
