# Flow tests (engine/flowtest, `atoll test`; the format is engine/flowtest/TESTS.md).
# `test-flows` runs the tests every example graph carries (examples/graphs/*.test.json) with the
# studio binary; the moment example's tests need the example modules and the birds example the
# classifier guest and the shared test data, hence the wasm prerequisites.

TESTS += test-flows

.PHONY: test-flows

test-flows: bin/atoll wasm-examples classifier-wasm
	./bin/atoll test examples/graphs
