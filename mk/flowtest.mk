# Flow tests (engine/flowtest, `atoll test`; the format is engine/flowtest/TESTS.md).
# `test-flows` runs the tests every example graph carries (examples/graphs/*.test.json) with the
# studio binary; the moment example's tests need the example modules and the birds example the
# classifier guest and the shared test data, hence the wasm prerequisites.

TESTS += test-flows

.PHONY: test-flows

test-flows: bin/atoll wasm-examples classifier-wasm
	./bin/atoll test examples/graphs

# Comparison speed: a day of rows (86,400, three fields) in order, as a multiset and by tally.
BENCHES += bench-flowtest
.PHONY: bench-flowtest
bench-flowtest:
	@$(GO) test -run '^$$' -bench Compare -benchtime 3x ./engine/flowtest/ | awk '/^BenchmarkCompare/ { \
		split($$1, a, "/"); sub(/-[0-9]+$$/, "", a[2]); \
		printf "| flowtest | compare a day of rows (86,400, 3 fields), %s | %.0f | rows/s | wall time, mean of 3 |\n", a[2], $$5 }'
