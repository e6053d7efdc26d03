# Nodes, examples and the headless runner. `bin/atoll-runner` builds the runner for this machine;
# `runner` cross-compiles it (CGO_ENABLED=0) into dist/ for every edge target; `docs` regenerates
# the node reference (docs/nodes) from the specs and `check-docs` fails when it is stale.

RUNNER_PLATFORMS := linux/amd64 linux/arm64 linux/arm/7 linux/riscv64
RUNNER_VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
RUNNER_LDFLAGS   := -s -w -X main.version=$(RUNNER_VERSION)

TESTS += check-docs

.PHONY: bin/atoll-runner runner docs check-docs

bin/atoll-runner:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(RUNNER_LDFLAGS)' -o $@ ./cmd/atoll-runner

# dist/atoll-runner-linux-amd64, -linux-arm64, -linux-armv7, -linux-riscv64
runner:
	@mkdir -p dist
	@set -e; for p in $(RUNNER_PLATFORMS); do \
		os=$${p%%/*}; rest=$${p#*/}; arch=$${rest%%/*}; arm=""; suffix=$$arch; \
		if [ "$$arch" = arm ]; then arm=$${rest#*/}; suffix=armv$$arm; fi; \
		echo "runner: $$os/$$suffix"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=$$arm $(GO) build -trimpath \
			-ldflags '$(RUNNER_LDFLAGS)' -o dist/atoll-runner-$$os-$$suffix ./cmd/atoll-runner; \
	done

docs:
	$(GO) run ./tools/gendocs -out docs/nodes

check-docs:
	$(GO) run ./tools/gendocs -out docs/nodes -check

# `bench-nodes`: file source and sink throughput (200 000 sensor rows, batches of 256; the median
# of 3 runs of 3 iterations each).
BENCHES += bench-nodes

.PHONY: bench-nodes

bench-nodes:
	@$(GO) test ./nodes/core/ -run '^$$' -bench 'BenchmarkFile(Source|Copy)' -benchtime 3x -count 3 \
	| awk '/^BenchmarkFile/ { name = $$1; sub(/-[0-9]+$$/, "", name); for (i = 3; i < NF; i++) if ($$(i+1) == "rows/s") print name, $$i }' \
	| sort -k1,1 -k2,2n \
	| awk '{ n[$$1]++; v[$$1, n[$$1]] = $$2 } \
		END { for (b in n) { m = v[b, int((n[b] + 1) / 2)]; split(b, p, "/"); \
			what = (p[1] ~ /Copy/) ? "source.file → sink.file" : "source.file → discard"; \
			printf "| nodes | %s (%s) | %.0f | rows/s | 200k rows, batches of 256; median of 3 |\n", what, p[2], m } }' \
	| sort
