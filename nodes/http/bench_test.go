package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/internal/conformance"
	"github.com/atoll-studio/atoll/nodes"
	_ "github.com/atoll-studio/atoll/nodes/core"
)

// BenchmarkListenToFile measures source.http_listen → sink.file (JSON lines) with 8 concurrent
// keep-alive clients, each request a body of rows that is answered once the file has them
// (each request waits for its acknowledgement). Reports requests/s and rows/s.
func BenchmarkListenToFile(b *testing.B) {
	for _, perBody := range []int{1, 10} {
		b.Run(fmt.Sprintf("rows_per_request=%d", perBody), func(b *testing.B) {
			const clients = 8
			ln := freeAddr(b)
			out := filepath.Join(b.TempDir(), "out.jsonl")
			doc := &graph.Document{Version: 1, ID: "bench", Name: "bench",
				Nodes: []graph.Node{
					{ID: "listen", Type: "source.http_listen", Config: json.RawMessage(fmt.Sprintf(`{"address":%q,"max_queued":64}`, ln))},
					{ID: "file", Type: "sink.file", Config: json.RawMessage(fmt.Sprintf(`{"path":%q}`, out))},
				},
				Edges: []graph.Edge{{From: graph.Endpoint{Node: "listen", Port: "out"}, To: graph.Endpoint{Node: "file", Port: "in"}}}}
			r, err := engine.Build(doc, engine.Options{Catalog: nodes.Default, Headless: true})
			if err != nil {
				b.Fatal(err)
			}
			r.Start(context.Background())
			defer r.Cancel()
			body := appendRows(nil, conformance.Rows(0, perBody), "jsonl")
			client := &nethttp.Client{Transport: &nethttp.Transport{MaxIdleConnsPerHost: clients}, Timeout: 30 * time.Second}
			post := func() (int, error) {
				resp, err := client.Post("http://"+ln+"/", "application/x-ndjson", bytes.NewReader(body))
				if err != nil {
					return 0, err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode, nil
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if _, err := post(); err == nil {
					break
				} else if time.Now().After(deadline) {
					b.Fatalf("the endpoint does not answer: %v", err)
				}
			}
			var next, busy atomic.Int64
			var failed atomic.Value
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						for {
							status, err := post()
							if err != nil {
								failed.Store(err)
								return
							}
							if status == nethttp.StatusOK {
								break
							}
							busy.Add(1) // 429: retry at once, as a busy client would after Retry-After 0
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := r.Stop(ctx); err != nil {
				b.Fatal(err)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				b.Fatal(err)
			}
			if lines := bytes.Count(data, []byte("\n")); lines != (b.N+1)*perBody {
				b.Fatalf("the file has %d rows, want %d", lines, (b.N+1)*perBody)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(b.N*perBody)/elapsed.Seconds(), "rows/s")
			b.ReportMetric(float64(busy.Load()), "429s")
		})
	}
}
