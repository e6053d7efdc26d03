# WebAssembly functions (engine/wasmhost, sdk/, examples/functions). `wasm-examples` builds every
# example and test guest from source into examples/functions/build/ (gitignored); the host's
# tests run `make -f mk/wasm.mk wasm-examples` themselves, so this fragment also works alone.
# `test-wasm` runs the host tests under the race detector, `fuzz-wasm` fuzzes the module rewriter,
# `bench-wasm` prints the table rows.

GO        ?= go
CLANG     ?= clang
RUSTC     ?= /usr/bin/rustc
WASM_OUT  := examples/functions/build
WASM_EX   := examples/functions
WASM_GODEP := $(wildcard engine/rows/*.go sdk/go/atoll/*.go) go.mod

# Go guests: the stock toolchain, reactor build, //go:wasmexport.
WASM_GO := moment enrich filter
WASM_GO_BAD := loop hog panic sleep snoop
# C guests: Debian's clang and lld, no libc.
WASM_C_BAD := trap wildptr abi import cloop
WASM_CFLAGS := --target=wasm32 -O2 -mbulk-memory -nostdlib -Wl,--no-entry -Isdk/c

WASM_ALL := $(WASM_GO:%=$(WASM_OUT)/go-%.wasm) $(WASM_GO_BAD:%=$(WASM_OUT)/bad-%.wasm) \
	$(WASM_OUT)/c-moment.wasm $(WASM_OUT)/rust-moment.wasm $(WASM_C_BAD:%=$(WASM_OUT)/bad-%.wasm)

PREREQS += wasm-examples
TESTS   += test-wasm fuzz-wasm
BENCHES += bench-wasm

.PHONY: wasm-examples test-wasm fuzz-wasm bench-wasm

wasm-examples: $(WASM_ALL)

$(WASM_OUT):
	mkdir -p $@

# One rule per Go guest: $(1) output name, $(2) source directory.
define wasm_go_rule
$$(WASM_OUT)/$(1).wasm: $$(shell find $(2) -name '*.go') $$(WASM_GODEP) | $$(WASM_OUT)
	GOOS=wasip1 GOARCH=wasm $$(GO) build -buildmode=c-shared -o $$@ ./$(2)
endef
$(foreach g,$(WASM_GO),$(eval $(call wasm_go_rule,go-$(g),$(WASM_EX)/go/$(g))))
$(foreach g,$(WASM_GO_BAD),$(eval $(call wasm_go_rule,bad-$(g),$(WASM_EX)/bad/$(g))))

$(WASM_C_BAD:%=$(WASM_OUT)/bad-%.wasm): $(WASM_OUT)/bad-%.wasm: $(WASM_EX)/bad/%.c sdk/c/atoll.h | $(WASM_OUT)
	$(CLANG) $(WASM_CFLAGS) -o $@ $<

$(WASM_OUT)/c-moment.wasm: $(WASM_EX)/c/moment/moment.c sdk/c/atoll.h | $(WASM_OUT)
	$(CLANG) $(WASM_CFLAGS) -o $@ $<

# Debian's rustc with its wasm32 std (the rustup toolchain on PATH has no wasm target).
$(WASM_OUT)/rust-moment.wasm: $(WASM_EX)/rust/moment/moment.rs | $(WASM_OUT)
	$(RUSTC) --target wasm32-wasi --crate-type cdylib --edition 2021 -C opt-level=3 -C panic=abort -C strip=debuginfo -o $@ $<

test-wasm: wasm-examples
	$(GO) test -count=1 -race ./engine/wasmhost/... ./nodes/function/...

# A short fuzzing pass over the module rewriter (it parses untrusted binaries).
fuzz-wasm:
	$(GO) test -run '^$$' -fuzz FuzzInstrument -fuzztime 30s ./engine/wasmhost/internal/meter/

# Medians of 7 runs of CPU time on one core; see engine/wasmhost/RATIONALE.md.
bench-wasm: wasm-examples
	@GOMAXPROCS=1 $(GO) run ./engine/wasmhost/cmd/wasmbench
