# Storage (SQLite). `bench-storage` prints SaveVersion (with the store's synchronous=FULL and,
# for comparison, NORMAL), LoadGraph and DiffVersions on a 500-node graph document; each figure
# is the median of 5 runs. The database lives under .cache/ (the repository's disk, as a user's
# data directory would be), not in a tmpfs /tmp where fsync costs nothing.

BENCHES += bench-storage

.PHONY: bench-storage

STORAGE_BENCH_DIR := .cache/bench-storage

bench-storage:
	@mkdir -p $(STORAGE_BENCH_DIR)
	@TMPDIR=$(abspath $(STORAGE_BENCH_DIR)) $(GO) test ./storage/ -run '^$$' \
		-bench 'SaveVersion|LoadGraph|DiffVersions' -benchtime 1s -count 5 \
	| awk '/^Benchmark/ { name = $$1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$$/, "", name); \
		kib = ""; for (i = 3; i < NF; i++) { if ($$(i+1) == "ns/op") ns = $$i; if ($$(i+1) == "KiB/doc") kib = $$i } \
		print name, ns, kib }' \
	| sort -k1,1 -k2,2n \
	| awk '{ n[$$1]++; v[$$1, n[$$1]] = $$2; k[$$1] = $$3 } \
		END { for (b in n) { m = v[b, int((n[b] + 1) / 2)]; note = "500-node graph document"; \
			if (k[b] != "") note = note sprintf(" (%.0f KiB)", k[b]); \
			if (b ~ /FULL/) note = note ", fsync per commit (the default)"; \
			if (b ~ /NORMAL/) note = note ", WAL without fsync per commit (comparison only)"; \
			if (b ~ /LoadGraph/) note = note ", latest of 21 versions"; \
			if (b ~ /Diff/) note = note ", every node changed"; \
			printf "| storage | %s | %.2f | ms/op | %s; median of 5 |\n", b, m / 1e6, note } }' \
	| sort
