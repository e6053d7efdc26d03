package mqtt

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/internal/mosquitto"
	"github.com/atoll-studio/atoll/internal/wasmexamples"
	"github.com/atoll-studio/atoll/nodes"
	_ "github.com/atoll-studio/atoll/nodes/function"
)

// The benchmarks pass messages publisher → Mosquitto → relay → Mosquitto → subscriber on
// loopback, where the relay is either Atoll (source.mqtt → moment.wasm → sink.mqtt) or a bare
// paho client that republishes what it receives. b.N is the number of messages (run them with
// -benchtime 20000x); each reports msgs/s, and the fixed-rate ones the latency percentiles.
// `make bench-mqtt` prints them as table rows with Atoll's throughput as a ratio of paho's.

// benchBroker starts a broker with a wide in-flight window (see DEPLOY.md).
func benchBroker(b *testing.B) *mosquitto.Broker {
	return mosquitto.Start(b, mosquitto.Plain, "max_inflight_messages 1000")
}

// payload is a sensor reading stamped with its send time.
func benchPayload(i int) []byte {
	return []byte(`{"seq":` + strconv.Itoa(i) + `,"creation_timestamp":` + strconv.Itoa(1700000000+i*60) +
		`,"sent_ns":` + strconv.FormatInt(time.Now().UnixNano(), 10) + `}`)
}

// counter subscribes to out/# and records how many messages arrived and their latencies.
type counter struct {
	n    atomic.Int64
	mu   sync.Mutex
	lat  []time.Duration
	done chan struct{}
	want int64
}

func newCounter(b *testing.B, br *mosquitto.Broker, topic string, qos byte, want int) *counter {
	c := &counter{done: make(chan struct{}), want: int64(want)}
	sub := br.Client(b, fmt.Sprintf("bench-sub-%d", time.Now().UnixNano()))
	tok := sub.Subscribe(topic, qos, func(_ paho.Client, m paho.Message) {
		p := m.Payload()
		if i := indexOf(p, `"sent_ns":`); i >= 0 {
			j := i + len(`"sent_ns":`)
			k := j
			for k < len(p) && p[k] >= '0' && p[k] <= '9' {
				k++
			}
			if ns, err := strconv.ParseInt(string(p[j:k]), 10, 64); err == nil {
				c.mu.Lock()
				c.lat = append(c.lat, time.Duration(time.Now().UnixNano()-ns))
				c.mu.Unlock()
			}
		}
		if c.n.Add(1) == c.want {
			close(c.done)
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	return c
}

func indexOf(p []byte, s string) int {
	for i := 0; i+len(s) <= len(p); i++ {
		if string(p[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

// wait waits for every message, or reports how many came.
func (c *counter) wait(b *testing.B, timeout time.Duration) {
	select {
	case <-c.done:
	case <-time.After(timeout):
		b.Fatalf("only %d of %d messages arrived within %v", c.n.Load(), c.want, timeout)
	}
}

func (c *counter) percentile(p float64) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.lat) == 0 {
		return 0
	}
	sort.Slice(c.lat, func(i, j int) bool { return c.lat[i] < c.lat[j] })
	return c.lat[min(len(c.lat)-1, int(p*float64(len(c.lat))))]
}

// publishN publishes n readings on topic, as fast as the broker takes them (rate 0) or paced to
// rate messages a second.
func publishN(b *testing.B, pub paho.Client, topic string, qos byte, n int, rate float64) {
	window := make(chan paho.Token, 1000)
	errs := make(chan error, 1)
	go func() {
		for tok := range window {
			tok.Wait()
			if err := tok.Error(); err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		}
		close(errs)
	}()
	start := time.Now()
	for i := 0; i < n; i++ {
		if rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		window <- pub.Publish(topic, qos, false, benchPayload(i))
	}
	close(window)
	if err := <-errs; err != nil {
		b.Fatalf("publish: %v", err)
	}
}

// atollRelay starts source.mqtt → moment.wasm → sink.mqtt from in/<tag> to out/<tag>.
func atollRelay(b *testing.B, br *mosquitto.Broker, tag string, qos int) *engine.Run {
	module := wasmexamples.Path(b, "go-moment")
	js := fmt.Sprintf(`{"version":1,"id":"bench","name":"bench","nodes":[
		{"id":"src","type":"source.mqtt","config":{%[1]s,"client_id":"bench-src-%[2]s","topics":["in/%[2]s"],"qos":%[3]d,"clean_session":true,"batch_size":256,"max_in_flight":4096}},
		{"id":"moment","type":"function.wasm","config":{"module":%[4]q}},
		{"id":"sink","type":"sink.mqtt","config":{%[1]s,"client_id":"bench-sink-%[2]s","topic":"out/%[2]s","qos":%[3]d,"clean_session":true,"max_in_flight":1000}}],
		"edges":[{"from":{"node":"src","port":"out"},"to":{"node":"moment","port":"in"}},
		{"from":{"node":"moment","port":"out"},"to":{"node":"sink","port":"in"}}]}`, br.ConnJSON(), tag, qos, module)
	r, err := engine.Build(mustDoc(b, js), engine.Options{Catalog: nodes.Default, Headless: true, Assets: fileAssets{}})
	if err != nil {
		b.Fatal(err)
	}
	r.Start(b.Context())
	b.Cleanup(r.Cancel)
	waitGauge(b, r, "src", "connected", 1)
	time.Sleep(200 * time.Millisecond) // the subscription follows the connection
	return r
}

// fileAssets opens assets by path.
type fileAssets struct{}

func (fileAssets) Asset(ref string) ([]byte, error) { return os.ReadFile(ref) }

// pahoRelay republishes what arrives on in/<tag> to out/<tag>, with paho's automatic acks.
func pahoRelay(b *testing.B, br *mosquitto.Broker, tag string, qos byte) {
	out := br.Client(b, "bench-relay-out-"+tag)
	ch := make(chan []byte, 4096)
	go func() {
		for p := range ch {
			out.Publish("out/"+tag, qos, false, p)
		}
	}()
	in := br.Client(b, "bench-relay-in-"+tag)
	tok := in.Subscribe("in/"+tag, qos, func(_ paho.Client, m paho.Message) { ch <- m.Payload() })
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	b.Cleanup(func() { in.Disconnect(0); close(ch) })
}

// BenchmarkMQTTRelay measures throughput: b.N messages through each relay at QoS 0 and 1.
func BenchmarkMQTTRelay(b *testing.B) {
	br := benchBroker(b)
	pub := br.Client(b, "bench-pub")
	for _, relay := range []string{"atoll", "paho"} {
		for _, qos := range []int{0, 1} {
			b.Run(fmt.Sprintf("%s/qos%d", relay, qos), func(b *testing.B) {
				tag := fmt.Sprintf("%s-q%d-%d", relay, qos, b.N)
				if relay == "atoll" {
					atollRelay(b, br, tag, qos)
				} else {
					pahoRelay(b, br, tag, byte(qos))
				}
				c := newCounter(b, br, "out/"+tag, byte(qos), b.N)
				b.ResetTimer()
				start := time.Now()
				publishN(b, pub, "in/"+tag, byte(qos), b.N, 0)
				c.wait(b, 120*time.Second)
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkMQTTLatency measures end-to-end latency (publisher to final subscriber) at a fixed
// 5,000 messages a second, QoS 1.
func BenchmarkMQTTLatency(b *testing.B) {
	br := benchBroker(b)
	pub := br.Client(b, "bench-pub-lat")
	for _, relay := range []string{"atoll", "paho"} {
		b.Run(relay+"/qos1/5000per_s", func(b *testing.B) {
			tag := fmt.Sprintf("lat-%s-%d", relay, b.N)
			if relay == "atoll" {
				atollRelay(b, br, tag, 1)
			} else {
				pahoRelay(b, br, tag, 1)
			}
			c := newCounter(b, br, "out/"+tag, 1, b.N)
			b.ResetTimer()
			publishN(b, pub, "in/"+tag, 1, b.N, 5000)
			c.wait(b, 120*time.Second)
			b.ReportMetric(float64(c.percentile(0.50).Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(c.percentile(0.99).Microseconds())/1000, "p99_ms")
		})
	}
}
