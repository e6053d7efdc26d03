# Engine. `fuzz-engine` is a short fuzzing pass over graph parsing and validation (its seeds also
# run in test-go). `bench-engine` prints the engine rows of the benchmark table: the core
# passthrough pipeline (generator → 3 map → discard), the engine alone (source → 3 pass →
# discard), and the batch codec. Every figure is the median of ENGINE_BENCH_COUNT runs with
# GOMAXPROCS=1; the machine may be busy, so compare figures taken in the same minute.

TESTS   += fuzz-engine
BENCHES += bench-engine

.PHONY: fuzz-engine bench-engine

ENGINE_BENCH_COUNT ?= 5

fuzz-engine:
	$(GO) test -run '^$$' -fuzz FuzzParseValidate -fuzztime 30s ./engine/

# Medians per benchmark and unit of `go test -bench` output: "name unit median" lines.
ENGINE_MEDIANS = awk '/^Benchmark/ { name = $$1; sub(/-[0-9]+$$/, "", name); \
	for (i = 3; i < NF; i += 2) { k = name " " $$(i+1); n[k]++; v[k, n[k]] = $$i } } \
	END { for (k in n) { m = n[k]; for (i = 1; i <= m; i++) a[i] = v[k, i]; \
	for (i = 2; i <= m; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j+1] = a[j]; a[j+1] = x } \
	med = (m % 2) ? a[(m+1)/2] : (a[m/2] + a[m/2+1]) / 2; print k, med } }'

bench-engine:
	@set -o pipefail; rows=1048576; { \
	GOMAXPROCS=1 $(GO) test -run '^$$' -bench '^BenchmarkPassthrough$$' -benchtime 5x -count $(ENGINE_BENCH_COUNT) ./nodes/core/; \
	GOMAXPROCS=1 $(GO) test -run '^$$' -bench '^BenchmarkEngine$$' -benchtime 10x -count $(ENGINE_BENCH_COUNT) ./engine/; \
	GOMAXPROCS=1 $(GO) test -run '^$$' -bench '^BenchmarkCodec$$' -benchtime 300ms -count $(ENGINE_BENCH_COUNT) ./engine/rows/; \
	} | $(ENGINE_MEDIANS) | awk -v rows=$$rows -v count=$(ENGINE_BENCH_COUNT) ' \
	{ m[$$1 " " $$2] = $$3 } \
	function row(name, fig, unit, note) { printf "| engine | %s | %s | %s | %s |\n", name, fig, unit, note } \
	END { \
	  r = "GOMAXPROCS=1, median of " count; \
	  row("core passthrough: generator → 3 map (expr) → discard", sprintf("%.0f", m["BenchmarkPassthrough rows/s"]), "rows/s", "batches of 256; " r); \
	  row("core passthrough allocations", sprintf("%.3f", m["BenchmarkPassthrough allocs/op"] / rows), "allocs/row", \
	      sprintf("%.0f B/row, almost all the generator'"'"'s rows", m["BenchmarkPassthrough B/op"] / rows)); \
	  row("engine only: source → 3 pass → discard", sprintf("%.0f", m["BenchmarkEngine/passthrough rows/s"]), "rows/s", "source allocates each batch like the generator; " r); \
	  row("engine only allocations", sprintf("%.3f", m["BenchmarkEngine/passthrough allocs/op"] / rows), "allocs/row", "the source'"'"'s three per batch (batch, row slice, field slab); the engine allocates none per batch"); \
	  row("engine ceiling: one shared batch re-emitted", sprintf("%.0f", m["BenchmarkEngine/shared rows/s"]), "rows/s", "per-batch engine cost only (4 hops); " r); \
	  row("engine ceiling with a drained tap on every edge", sprintf("%.0f", m["BenchmarkEngine/tapped rows/s"]), "rows/s", "taps sample 20/s each; " r); \
	  row("codec encode, 6-column row", sprintf("%.0f", m["BenchmarkCodec/encode/6col ns/row"]), "ns/row", "batch of 256; " r); \
	  row("codec decode, 6-column row", sprintf("%.0f", m["BenchmarkCodec/decode/6col ns/row"]), "ns/row", "batch of 256; " r); \
	  row("codec encode, 15,600-float32 row", sprintf("%.0f", m["BenchmarkCodec/encode/f32x15600 ns/row"]), "ns/row", sprintf("%.0f MB/s; one YAMNet frame", m["BenchmarkCodec/encode/f32x15600 MB/s"])); \
	  row("codec decode, 15,600-float32 row", sprintf("%.0f", m["BenchmarkCodec/decode/f32x15600 ns/row"]), "ns/row", sprintf("%.0f MB/s: a memory copy, no per-value work", m["BenchmarkCodec/decode/f32x15600 MB/s"])); \
	}'
