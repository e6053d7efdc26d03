# Bundles and the edge runner's bundle side (bundle/, cmd/atoll-runner's bundle files).
# `test-bundle` runs the bundle package tests and the runner's bundle integration tests (exports
# of the examples against `atoll run`, the arm64 runner under qemu-aarch64-static, the tampering
# table, kill -9 and restart, live updates); `go test ./...` runs them too. `bench-bundle` prints
# runner size per platform, bird bundle verify time, start to first row, RSS and the swap gap.

BENCHES += bench-bundle

.PHONY: test-bundle bench-bundle bundle-prereqs

bundle-prereqs:
	@$(MAKE) -s -f mk/wasm.mk wasm-examples
	@$(MAKE) -s -f mk/wasinn.mk classifier-wasm

test-bundle: bundle-prereqs
	$(GO) test -count=1 ./bundle/... ./engine/graph/
	$(GO) test -count=1 ./storage/ -run SigningKey
	$(GO) test -count=1 -timeout 20m ./cmd/atoll-runner/ -run 'TestIntegrationBundle'

bench-bundle: bundle-prereqs
	@$(GO) run ./bundle/internal/bundlebench
