# Turns `go test -bench StudioRun -count 3` output into rows of the bench table (medians).
/^BenchmarkStudioRun/ {
  name = $1; sub(/^BenchmarkStudioRun\//, "", name); sub(/-[0-9]+$/, "", name)
  for (i = 3; i < NF; i++) {
    u = $(i + 1)
    if (u == "rows/s" || u == "msgs/s" || u == "ms-to-first-rows") v[name, u, ++n[name, u]] = $i
  }
}
function med(k, u,   m, i, j, a, t) {
  m = n[k, u]
  for (i = 1; i <= m; i++) a[i] = v[k, u, i]
  for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
  return a[int((m + 1) / 2)]
}
END {
  printf "| app | studio run, 1M rows, no client | %.0f | rows/s | generator → map → discard through app.Service; median of 3 |\n", med("untapped", "rows/s")
  printf "| app | studio run, 1M rows, client tapping the map | %.0f | rows/s | same graph, a subscribed client tapping map.out; median of 3 |\n", med("tapped", "rows/s")
  printf "| app | tap messages to the client | %.1f | msgs/s | engine-throttled samples (at most 20/s, 20 rows each); median of 3 |\n", med("tapped", "msgs/s")
  printf "| app | run start to first rows message | %.0f | ms | StartRun to the client's first rows event; median of 3 |\n", med("tapped", "ms-to-first-rows")
}
