# Inference (engine/wasinn: the wasi_ephemeral_nn host, sdk/go/wasinn, the classifier guest).
# `classifier-wasm` builds examples/functions/go/classifier into examples/functions/build/
# (next to the other example modules); the tests run `make -f mk/wasinn.mk classifier-wasm`
# themselves, so this fragment also works alone. `test-wasinn` runs the host and end-to-end
# tests; `bench-wasinn` prints the table rows (YAMNet per 0.975 s frame through the guest vs the
# direct interpreter call, one core, medians).

GO            ?= go
WASINN_OUT    := examples/functions/build
WASINN_SRC    := $(wildcard examples/functions/go/classifier/*.go sdk/go/wasinn/*.go engine/wasinn/witx/*.go sdk/go/atoll/*.go engine/rows/*.go) go.mod

RUSTC         ?= /usr/bin/rustc

PREREQS += classifier-wasm wasinn-test-wasm
TESTS   += test-wasinn
BENCHES += bench-wasinn

.PHONY: classifier-wasm wasinn-test-wasm test-wasinn bench-wasinn

classifier-wasm: $(WASINN_OUT)/classifier.wasm

$(WASINN_OUT)/classifier.wasm: $(WASINN_SRC)
	@mkdir -p $(WASINN_OUT)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o $@ ./examples/functions/go/classifier

# A WasmEdge-style Rust guest (WASI command, wasi-nn `load` from a model file) for the
# compatibility test; Debian's rustc with its wasm32 std.
wasinn-test-wasm: $(WASINN_OUT)/wasmedge-yamnet.wasm

$(WASINN_OUT)/wasmedge-yamnet.wasm: engine/wasinn/testdata/wasmedge_yamnet.rs
	@mkdir -p $(WASINN_OUT)
	$(RUSTC) --target wasm32-wasi --edition 2021 -C opt-level=3 -C strip=debuginfo -o $@ $<

test-wasinn: classifier-wasm wasinn-test-wasm
	$(GO) test -count=1 -race ./engine/wasinn/...
	$(GO) test -count=1 ./sdk/go/wasinn/... ./examples/functions/go/classifier/...
	$(GO) test -run '^$$' -fuzz FuzzCalls -fuzztime 30s ./engine/wasinn/

# Medians of per-frame times on one core (GOMAXPROCS=1, one interpreter thread); see
# engine/wasinn/RATIONALE.md for how the overhead is measured.
bench-wasinn: classifier-wasm
	@GOMAXPROCS=1 $(GO) test ./engine/wasinn/ -run '^$$' -bench 'YAMNetFrame' -benchtime 5s -count 1 \
	| awk '/^BenchmarkYAMNetFrame/ { \
		for (i = 3; i < NF; i++) { \
			u = $$(i+1); \
			if (u == "direct-ms/frame") printf "| wasi-nn | YAMNet 0.975 s frame, direct interpreter call | %s | ms/frame | median, 1 core, 1 interpreter thread |\n", $$i; \
			if (u == "guest-ms/frame") printf "| wasi-nn | YAMNet 0.975 s frame, Wasm classifier guest via wasi-nn | %s | ms/frame | median, 1 core; one-row batch, top 5 rows out |\n", $$i; \
			if (u == "glue-us/frame") printf "| wasi-nn | guest glue per frame (call minus host compute) | %s | us/frame | codec, copies, host calls, guest code; median |\n", $$i; \
			if (u == "overhead-%") printf "| wasi-nn | guest overhead vs direct interpreter call | %s | %% | glue / direct median; target <= 5 %% |\n", $$i; \
			if (u == "wall-diff-%") printf "| wasi-nn | guest vs direct, wall clock | %s | %% | median over adjacent 8-frame blocks; noisy on a loaded machine |\n", $$i; \
		} }'
