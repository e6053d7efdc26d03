package app

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/nodes"
)

// BenchmarkStudioRun runs a 1M-row generator → map → discard graph through the studio, with and
// without a WebSocket client subscribed and tapping the map's output, and reports rows/s: the
// tap and the metrics must not slow the pipeline. It also reports the client's rows messages
// per second (throttled by the engine) and the ms from POST /api/runs to the first rows message.
func BenchmarkStudioRun(b *testing.B) {
	for _, tapped := range []bool{false, true} {
		name := "untapped"
		if tapped {
			name = "tapped"
		}
		b.Run(name, func(b *testing.B) {
			s := newBenchStudio(b)
			doc := `{"version":1,"id":"","name":"bench","nodes":[
			 {"id":"gen","type":"source.generator","config":{"count":1000000,"rate":0,"batch_size":1024}},
			 {"id":"double","type":"transform.map","config":{"set":{"d":"n * 2"}}},
			 {"id":"sink","type":"sink.discard"}],
			 "edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"double","port":"in"}},
			 {"from":{"node":"double","port":"out"},"to":{"node":"sink","port":"in"}}]}`
			var rowsMsgs, total float64
			var firstMS float64
			for i := 0; i < b.N; i++ {
				start := time.Now()
				run, err := s.svc.StartRun(json.RawMessage(doc), "")
				if err != nil {
					b.Fatal(err)
				}
				var done chan struct{}
				var msgs int
				var first time.Duration
				if tapped {
					c := s.svc.newClient()
					c.subscribe(run.ID)
					if err := c.tap(run.ID, "double", "out"); err != nil {
						b.Fatal(err)
					}
					done = make(chan struct{})
					go func() {
						defer close(done)
						for m := range c.out {
							if strings.HasPrefix(string(m), `{"type":"rows"`) {
								if msgs == 0 {
									first = time.Since(start)
								}
								msgs++
							}
							if strings.Contains(string(m), `"status":"finished"`) {
								c.close()
								return
							}
						}
					}()
				}
				rs, _ := s.svc.runState(run.ID)
				<-rs.ended
				elapsed := time.Since(start)
				if done != nil {
					<-done
				}
				total += elapsed.Seconds()
				rowsMsgs += float64(msgs) / elapsed.Seconds()
				firstMS += float64(first.Milliseconds())
			}
			b.ReportMetric(1e6*float64(b.N)/total, "rows/s")
			if tapped {
				b.ReportMetric(rowsMsgs/float64(b.N), "msgs/s")
				b.ReportMetric(firstMS/float64(b.N), "ms-to-first-rows")
			}
		})
	}
}

func newBenchStudio(b *testing.B) *testStudio {
	b.Helper()
	svc, err := Open(Options{DB: b.TempDir() + "/atoll.db", Catalog: nodes.New()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close() })
	return &testStudio{svc: svc}
}
