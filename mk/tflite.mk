# Pure-Go TFLite interpreter (engine/tflite). `test-tflite` runs the package under the race
# detector, the allocation test without it (Invoke allocates nothing), the portable (purego) kernels against the same conformance and naive-reference
# tests, and a short FuzzLoad pass. `bench-tflite` prints YAMNet per 0.975 s frame on one core
# (Threads=1, GOMAXPROCS=1) and on all cores: ms per frame, real-time factor and GFLOP/s
# (2 x the model's MACs counted at load); each figure is the median of per-frame times.

TESTS += test-tflite
BENCHES += bench-tflite

.PHONY: test-tflite bench-tflite

test-tflite:
	$(GO) test -count=1 -race ./engine/tflite/
	$(GO) test -count=1 -run 'AllocatesNothing' ./engine/tflite/
	$(GO) test -count=1 -tags purego -run 'Naive|Gemm|YAMNet|HelloWorld' ./engine/tflite/
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime 30s ./engine/tflite/

TFLITE_BENCH_AWK = awk -v cores="$(1)" -v note="$(2)" '/^BenchmarkYAMNet/ { \
	for (i = 3; i < NF; i++) { u = $$(i+1); \
		if (u == "ms/frame") printf "| tflite | YAMNet 0.975 s frame, %s | %s | ms/frame | %s; median of per-frame times; TFLite runtime: 50 ms/frame on one core |\n", cores, $$i, note; \
		if (u == "x-realtime") printf "| tflite | YAMNet real-time factor, %s | %s | x real time | %s; TFLite runtime: 19.5x on one core |\n", cores, $$i, note; \
		if (u == "GFLOP/s") printf "| tflite | YAMNet achieved throughput, %s | %s | GFLOP/s | %s; 2 x model MACs counted at load |\n", cores, $$i, note; \
	} }'

bench-tflite:
	@GOMAXPROCS=1 $(GO) test ./engine/tflite/ -run '^$$' -bench 'YAMNet/threads=1$$' -benchtime 60x \
	| $(call TFLITE_BENCH_AWK,1 core,Threads=1 GOMAXPROCS=1 hybrid int8 AVX2)
	@$(GO) test ./engine/tflite/ -run '^$$' -bench 'YAMNet/threads=all$$' -benchtime 60x \
	| $(call TFLITE_BENCH_AWK,all cores ($(shell nproc)),Threads=GOMAXPROCS hybrid int8 AVX2)
	@GOMAXPROCS=1 $(GO) test -tags purego ./engine/tflite/ -run '^$$' -bench 'YAMNet/threads=1$$' -benchtime 30x \
	| $(call TFLITE_BENCH_AWK,1 core portable,Threads=1 GOMAXPROCS=1 pure Go kernels (-tags purego))
