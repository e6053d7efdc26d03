# HTTP and SQLite connectors (nodes/http, nodes/sqlite) and the stream conformance suite
# (internal/conformance). Their tests, the suite and the HTTP example graphs against loopback
# servers (examples/http_test.go) run in `go test ./...`. `bench-httpsql`: source.http_listen →
# sink.file with 8 concurrent keep-alive clients, each request answered once its rows are in the
# file.

BENCHES += bench-httpsql

.PHONY: bench-httpsql

HTTPSQL_BENCH_CMD := go test ./nodes/http/ -run '^$$' -bench ListenToFile -benchtime 5000x

bench-httpsql:
	@$(GO) test ./nodes/http/ -run '^$$' -bench ListenToFile -benchtime 5000x -count 1 \
	| awk -v cmd="$(HTTPSQL_BENCH_CMD)" ' \
		/^BenchmarkListenToFile\// { split($$1, p, "="); n = p[2]; sub(/-[0-9]+$$/, "", n); \
			for (i = 3; i < NF; i++) { if ($$(i+1) == "req/s") rq = $$i; if ($$(i+1) == "rows/s") rw = $$i; if ($$(i+1) == "429s") busy = $$i } \
			printf "| httpsql | HTTP listen → file, 8 clients, %d row(s) per request | %.0f | requests/s | %.0f rows/s; each answered after its rows are in the file; %d 429s retried; 5,000 requests; `%s` |\n", n, rq, rw, busy, cmd }'
