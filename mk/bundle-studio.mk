# The studio side of bundles (app/bundles.go, the export dialog). The browser end-to-end tests
# verify the bundle they download with the runner, so they need bin/atoll-runner besides bin/atoll.
# The studio-API integration test (app: TestIntegrationStudioBundlesRunLikeAtollRun) builds its own
# binaries and needs the example modules that PREREQS build (wasm-examples, classifier-wasm).

test-frontend-e2e: bin/atoll-runner

# `bench-bundle-studio`: the bird example exported through the studio service (YAMNet model,
# classifier module, recording): the preview (validate, hash every entry) and the signed .atoll
# written to a file (median of 3).
BENCHES += bench-bundle-studio

.PHONY: bench-bundle-studio

bench-bundle-studio:
	@$(GO) test ./app/ -run '^$$' -bench 'ExportBirds' -benchtime 3x -count 3 | awk ' \
		/^BenchmarkExportBirds\/preview/ { p[np++] = $$3 / 1e6; mib = $$5 } \
		/^BenchmarkExportBirds\/write/ { w[nw++] = $$3 / 1e6; size = $$5 } \
		function med(a, n,   i, j, t) { for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int(n / 2)] } \
		END { \
			getline load < "/proc/loadavg"; split(load, l, " "); \
			if (!np || !nw) { print "bench-bundle-studio: no benchmark output" > "/dev/stderr"; exit 1 } \
			printf "| studio-export | bird example: export preview | %.0f | ms | validate + hash %.1f MiB of entries; median of %d; load avg %s |\n", med(p, np), mib, np, l[1]; \
			printf "| studio-export | bird example: signed bundle written | %.0f | ms | %.2f MiB .atoll (gzip), fsynced (gzip dominates the CPU time); median of %d; load avg %s |\n", med(w, nw), size, nw, l[1] }'
