package core

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/nodes"
)

const benchFileRows = 200_000

// benchInput writes a file of benchFileRows sensor-like rows in the given format.
func benchInput(b *testing.B, dir, format string) string {
	b.Helper()
	var sb strings.Builder
	if format == "csv" {
		sb.WriteString("n,station,temp_c,ok\n")
	}
	for i := 0; i < benchFileRows; i++ {
		if format == "csv" {
			fmt.Fprintf(&sb, "%d,station-%d,%.2f,%t\n", i, i%17, float64(i%4000)/100, i%3 == 0)
		} else {
			fmt.Fprintf(&sb, `{"n":%d,"station":"station-%d","temp_c":%.2f,"ok":%t}`+"\n", i, i%17, float64(i%4000)/100, i%3 == 0)
		}
	}
	p := filepath.Join(dir, "in."+format)
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

func benchRun(b *testing.B, js, dir string) {
	b.Helper()
	doc := mustGraph(b, js)
	for b.Loop() {
		r, err := engine.Build(doc, engine.Options{Catalog: nodes.Default, Services: map[string]any{BaseDirService: dir}})
		if err != nil {
			b.Fatal(err)
		}
		r.Start(b.Context())
		if err := r.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*benchFileRows/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkFileSource reads a file into sink.discard.
func BenchmarkFileSource(b *testing.B) {
	for _, format := range []string{"jsonl", "csv"} {
		b.Run(format, func(b *testing.B) {
			dir := b.TempDir()
			benchInput(b, dir, format)
			benchRun(b, fmt.Sprintf(`{"version":1,"id":"b","name":"b","nodes":[
				{"id":"src","type":"source.file","config":{"path":"in.%s","batch_size":256}},
				{"id":"out","type":"sink.discard"}],
				"edges":[{"from":{"node":"src","port":"out"},"to":{"node":"out","port":"in"}}]}`, format), dir)
		})
	}
}

// BenchmarkFileCopy reads a file and writes it back in the same format.
func BenchmarkFileCopy(b *testing.B) {
	for _, format := range []string{"jsonl", "csv"} {
		b.Run(format, func(b *testing.B) {
			dir := b.TempDir()
			benchInput(b, dir, format)
			benchRun(b, fmt.Sprintf(`{"version":1,"id":"b","name":"b","nodes":[
				{"id":"src","type":"source.file","config":{"path":"in.%[1]s","batch_size":256}},
				{"id":"out","type":"sink.file","config":{"path":"out.%[1]s","mode":"truncate"}}],
				"edges":[{"from":{"node":"src","port":"out"},"to":{"node":"out","port":"in"}}]}`, format), dir)
		})
	}
}
