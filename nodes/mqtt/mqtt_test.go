package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/internal/mosquitto"
	"github.com/atoll-studio/atoll/internal/testnodes"
	"github.com/atoll-studio/atoll/nodes"
	_ "github.com/atoll-studio/atoll/nodes/core"
)

// captures is a catalog with two capture sinks: test.rows and test.errors.
type captures struct {
	cat        *engine.Catalog
	rows, errs testnodes.Capture
}

func newCaptures() *captures {
	c := &captures{cat: nodes.New()}
	testnodes.Register(c.cat, "test.rows", &c.rows)
	testnodes.Register(c.cat, "test.errors", &c.errs)
	return c
}

// sourceGraph wires a source.mqtt with config cfg to test.rows and test.errors.
func sourceGraph(cfg string) string {
	return fmt.Sprintf(`{"version":1,"id":"g","name":"g","nodes":[
		{"id":"src","type":"source.mqtt","config":{%s}},
		{"id":"rows","type":"test.rows"},{"id":"errs","type":"test.errors"}],
		"edges":[{"from":{"node":"src","port":"out"},"to":{"node":"rows","port":"in"}},
		{"from":{"node":"src","port":"errors"},"to":{"node":"errs","port":"in"}}]}`, cfg)
}

func startRun(t testing.TB, js string, cat *engine.Catalog) *engine.Run {
	t.Helper()
	doc, err := graph.Parse([]byte(js))
	if err != nil {
		t.Fatalf("graph: %v\n%s", err, js)
	}
	r, err := engine.Build(doc, engine.Options{Catalog: cat, Headless: true})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	t.Cleanup(r.Cancel)
	return r
}

// waitGauge waits until the node's gauge has the value.
func waitGauge(t testing.TB, r *engine.Run, node, gauge string, want float64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if v, ok := r.Metrics()[node].Gauges[gauge]; ok && v == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("node %s: gauge %s never became %v (gauges %v)", node, gauge, want, r.Metrics()[node].Gauges)
}

// waitSubscribed waits until the source is connected and its subscription is in place: a probe
// message on probeTopic (covered by the source's filter) comes back as a row.
func waitRows(t testing.TB, c *testnodes.Capture, n int, timeout time.Duration) []rows.Row {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for c.Len() < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d rows within %v, want %d", c.Len(), timeout, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return c.Rows()
}

// publish sends messages with payload(i) for i in [from, to) at qos and waits for each
// confirmation.
func publish(t testing.TB, c paho.Client, topic string, qos byte, from, to int, payload func(int) string) {
	t.Helper()
	window := 256
	if qos == 2 {
		// Mosquitto disconnects a client with more unfinished QoS 2 publishes than its
		// max_inflight_messages (20).
		window = 16
	}
	toks := make([]paho.Token, 0, window)
	flush := func() {
		for _, tok := range toks {
			if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				t.Fatalf("publish: %v", tok.Error())
			}
		}
		toks = toks[:0]
	}
	for i := from; i < to; i++ {
		toks = append(toks, c.Publish(topic, qos, false, payload(i)))
		if len(toks) == cap(toks) {
			flush()
		}
	}
	flush()
}

func seqJSON(i int) string { return fmt.Sprintf(`{"seq":%d,"temp":%d.5}`, i, i%40) }

func seqOf(t testing.TB, r rows.Row) int {
	t.Helper()
	v, _ := r.Get("seq")
	n, ok := v.AsInt()
	if !ok {
		t.Fatalf("row without an int seq: %s", r.AppendJSON(nil))
	}
	return int(n)
}

// waitReady waits until a source run is subscribed: it publishes probes on topic until one
// arrives, then forgets the probe rows.
func waitReady(t testing.TB, r *engine.Run, pub paho.Client, topic string, c *testnodes.Capture) {
	t.Helper()
	waitGauge(t, r, "src", "connected", 1)
	deadline := time.Now().Add(15 * time.Second)
	for c.Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the source never received a probe message")
		}
		pub.Publish(topic, 1, false, `{"probe":true}`).Wait()
		time.Sleep(30 * time.Millisecond)
	}
}

func dropProbes(rs []rows.Row) []rows.Row {
	out := rs[:0:0]
	for _, r := range rs {
		if _, ok := r.Get("probe"); !ok {
			out = append(out, r)
		}
	}
	return out
}

// TestSourceBrokers runs N rows through source.mqtt against a plain, a password and a TLS
// broker: every row arrives in order with its topic and message id, at QoS 0, 1 and 2.
func TestSourceBrokers(t *testing.T) {
	kinds := map[string]mosquitto.Kind{"plain": mosquitto.Plain, "password": mosquitto.Password, "tls": mosquitto.TLS}
	for name, kind := range kinds {
		t.Run(name, func(t *testing.T) {
			b := mosquitto.Start(t, kind)
			pub := b.Client(t, "pub-"+name)
			for _, qos := range []int{0, 1, 2} {
				c := newCaptures()
				cfg := fmt.Sprintf(`%s,"client_id":"src-%s-%d","topics":["plant/+/q%d"],"qos":%d,"batch_size":32`, b.ConnJSON(), name, qos, qos, qos)
				r := startRun(t, sourceGraph(cfg), c.cat)
				topic := fmt.Sprintf("plant/boiler/q%d", qos)
				waitReady(t, r, pub, topic, &c.rows)
				const n = 300
				publish(t, pub, topic, byte(qos), 0, n, seqJSON)
				got := dropProbes(waitRows(t, &c.rows, n+1, 15*time.Second))
				time.Sleep(50 * time.Millisecond)
				got = dropProbes(c.rows.Rows())
				if len(got) != n {
					t.Fatalf("qos %d: %d rows, want %d", qos, len(got), n)
				}
				for i, row := range got {
					if s := seqOf(t, row); s != i {
						t.Fatalf("qos %d: row %d has seq %d (out of order)", qos, i, s)
					}
					tv, _ := row.Get(TopicField)
					if s, _ := tv.AsString(); s != topic {
						t.Fatalf("row %d: _topic %q, want %q", i, s, topic)
					}
					idv, _ := row.Get(MessageIDField)
					if id, ok := idv.AsInt(); !ok || (qos > 0) != (id > 0) {
						t.Fatalf("qos %d: row %d: _message_id %v", qos, i, idv)
					}
				}
				if m := r.Metrics()["src"]; m.Gauges["connected"] != 1 || m.Gauges["reconnecting"] != 0 {
					t.Errorf("gauges %v", m.Gauges)
				}
				r.Cancel()
			}
		})
	}
}

// TestSourceFormats reads CSV (header in the message or configured), raw bytes and JSON
// arrays, and sends what it cannot read to errors naming the message and line.
func TestSourceFormats(t *testing.T) {
	b := mosquitto.Start(t, mosquitto.Plain)
	pub := b.Client(t, "pub")
	cases := []struct {
		name, cfg, payload string
		want               []string // rows' JSON without _topic/_message_id
		wantErr            []string // substrings of the errors rows' _error
		wantRaw            string   // the errors row's raw, when set
	}{
		{"json object", `"format":"json"`, `{"a":1,"b":"x"}`, []string{`{"a":1,"b":"x"}`}, nil, ""},
		{"json array", `"format":"json"`, `[{"a":1},{"a":2.5},7]`, []string{`{"a":1}`, `{"a":2.5}`}, []string{"element 2"}, ""},
		{"json malformed", `"format":"json"`, `{"a":`, nil, []string{"message id", `on topic "fmt/json malformed"`, "json"}, ""},
		{"json not an object", `"format":"json"`, `42`, nil, []string{"not a JSON object"}, ""},
		{"csv with header", `"format":"csv"`, "id,temp,ok\ns1,21.5,yes\ns2,,no\n", []string{`{"id":"s1","temp":21.5,"ok":"yes"}`, `{"id":"s2","temp":null,"ok":"no"}`}, nil, ""},
		{"csv columns", `"format":"csv","csv_columns":["id","n"]`, "a,1\nb,2,extra\nc,3", []string{`{"id":"a","n":1}`, `{"id":"c","n":3}`}, []string{"csv line 2", "3 fields"}, "b,2,extra"},
		{"raw", `"format":"raw"`, "\x00\x01bytes", []string{`{"payload":"AAFieXRlcw=="}`}, nil, ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCaptures()
			topic := "fmt/" + tc.name
			cfg := fmt.Sprintf(`%s,"client_id":"src-fmt-%d","topics":[%q],%s`, b.ConnJSON(), i, topic, tc.cfg)
			r := startRun(t, sourceGraph(cfg), c.cat)
			waitGauge(t, r, "src", "connected", 1)
			// The subscription follows the connection: publish until something arrives.
			deadline := time.Now().Add(10 * time.Second)
			for c.rows.Len()+c.errs.Len() == 0 && time.Now().Before(deadline) {
				pub.Publish(topic, 1, false, tc.payload).Wait()
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond)
			r.Cancel()
			got := c.rows.Rows()
			errs := c.errs.Rows()
			per := len(tc.want)
			if per == 0 && len(errs) == 0 {
				t.Fatal("nothing arrived")
			}
			if per > 0 && (len(got) == 0 || len(got)%per != 0) {
				t.Fatalf("got %d rows, want a multiple of %d", len(got), per)
			}
			for j, row := range got {
				row = row.Clone()
				row.Delete(TopicField)
				row.Delete(MessageIDField)
				if s := string(row.AppendJSON(nil)); s != tc.want[j%per] {
					t.Errorf("row %d: %s, want %s", j, s, tc.want[j%per])
				}
			}
			if len(tc.wantErr) == 0 && len(errs) > 0 {
				t.Fatalf("unexpected errors: %s", errs[0].AppendJSON(nil))
			}
			if len(tc.wantErr) > 0 {
				if len(errs) == 0 {
					t.Fatal("no errors row")
				}
				ev, _ := errs[0].Get(engine.ErrorField)
				msg, _ := ev.AsString()
				for _, w := range tc.wantErr {
					if !strings.Contains(msg, w) {
						t.Errorf("error %q does not contain %q", msg, w)
					}
				}
				raw, ok := errs[0].Get("raw")
				if !ok {
					t.Errorf("errors row without raw: %s", errs[0].AppendJSON(nil))
				}
				if s, _ := raw.AsString(); tc.wantRaw != "" && s != tc.wantRaw {
					t.Errorf("raw %q, want %q", s, tc.wantRaw)
				}
			}
		})
	}
}

// collector subscribes a plain client and keeps what arrives, by topic.
type collector struct {
	mu   sync.Mutex
	msgs []paho.Message
}

func (c *collector) handle(_ paho.Client, m paho.Message) {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func (c *collector) all() []paho.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]paho.Message(nil), c.msgs...)
}

func subscribe(t testing.TB, c paho.Client, filter string, qos byte) *collector {
	t.Helper()
	col := &collector{}
	if tok := c.Subscribe(filter, qos, col.handle); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return col
}

// TestSinkPublishes sends generated rows through sink.mqtt with a topic template, to a plain
// broker at QoS 2, a TLS one and one with a password at QoS 1: each row is one message on its
// row's topic, in order; rows missing a template field go to errors.
func TestSinkPublishes(t *testing.T) {
	for _, tc := range []struct {
		kind mosquitto.Kind
		qos  int
	}{{mosquitto.Plain, 2}, {mosquitto.TLS, 1}, {mosquitto.Password, 1}} {
		kind := tc.kind
		b := mosquitto.Start(t, kind)
		sub := b.Client(t, "sub")
		col := subscribe(t, sub, "out/#", 2)
		c := newCaptures()
		const n = 500
		js := fmt.Sprintf(`{"version":1,"id":"g","name":"g","nodes":[
			{"id":"gen","type":"source.generator","config":{"count":%d,"rate":0,"batch_size":50}},
			{"id":"m","type":"transform.map","config":{"set":{"parity":"n %% 2 == 0 ? 'even' : 'odd'","hole":"n %% 100 == 7 ? nil : 1"}}},
			{"id":"sink","type":"sink.mqtt","config":{%s,"client_id":"sink-%d","topic":"out/{parity}/{hole}","qos":%d}},
			{"id":"errs","type":"test.errors"}],
			"edges":[{"from":{"node":"gen","port":"out"},"to":{"node":"m","port":"in"}},
			{"from":{"node":"m","port":"out"},"to":{"node":"sink","port":"in"}},
			{"from":{"node":"sink","port":"errors"},"to":{"node":"errs","port":"in"}}]}`, n, b.ConnJSON(), kind, tc.qos)
		r := startRun(t, js, c.cat)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		select {
		case <-r.Done():
		case <-ctx.Done():
			t.Fatal("the run did not finish")
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		holes := n / 100
		deadline := time.Now().Add(10 * time.Second)
		for col.len() < n-holes && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		msgs := col.all()
		if len(msgs) != n-holes {
			t.Fatalf("received %d messages, want %d", len(msgs), n-holes)
		}
		last := map[string]int64{"out/even/1": -1, "out/odd/1": -1}
		for _, m := range msgs {
			row, err := rows.ParseJSON(m.Payload())
			if err != nil {
				t.Fatal(err)
			}
			nv, _ := row.Get("n")
			k, _ := nv.AsInt()
			prev, ok := last[m.Topic()]
			if !ok || k <= prev {
				t.Fatalf("message n=%d on %q (previous %d)", k, m.Topic(), prev)
			}
			last[m.Topic()] = k
		}
		errs := c.errs.Rows()
		if len(errs) != holes {
			t.Fatalf("%d errors rows, want %d", len(errs), holes)
		}
		ev, _ := errs[0].Get(engine.ErrorField)
		if s, _ := ev.AsString(); !strings.Contains(s, `no field "hole"`) || !strings.Contains(s, `node "sink"`) {
			t.Errorf("error %q does not name the node and the field", s)
		}
	}
}

// TestSourceShutdown cancels a running source (connected, and also one whose broker is not
// there): the run ends within a second.
func TestSourceShutdown(t *testing.T) {
	b := mosquitto.Start(t, mosquitto.Plain)
	for name, broker := range map[string]string{"connected": b.URL(), "no broker": fmt.Sprintf("tcp://127.0.0.1:%d", mosquitto.FreePort(t))} {
		t.Run(name, func(t *testing.T) {
			c := newCaptures()
			r := startRun(t, sourceGraph(fmt.Sprintf(`"broker":%q,"client_id":"shut","topics":["a/#"]`, broker)), c.cat)
			time.Sleep(300 * time.Millisecond)
			start := time.Now()
			stopCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = r.Stop(stopCtx)
			if d := time.Since(start); d > time.Second {
				t.Fatalf("the run took %v to stop", d)
			}
		})
	}
}

// TestSourceValidate refuses bad configs with located messages.
func TestSourceValidate(t *testing.T) {
	cases := map[string]string{
		`"topics":["a/#/b"]`:                   "'#' must be the last level",
		`"topics":["a/b+"]`:                    "whole level",
		`"topics":["$share/g"]`:                "$share/GROUP/FILTER",
		`"topics":["a"],"broker":"http://x:1"`: "scheme",
		`"topics":["a"],"cert_file":"x.pem"`:   "go together",
		`"topics":["a"],"csv_columns":["x"]`:   "csv only",
	}
	for cfg, want := range cases {
		_, err := engine.Build(mustDoc(t, sourceGraph(cfg)), engine.Options{Catalog: newCaptures().cat})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to mention %q", cfg, err, want)
		}
	}
}

func mustDoc(t testing.TB, js string) *graph.Document {
	t.Helper()
	doc, err := graph.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

var _ = json.Valid

// TestSinkStartErrorKept: a connection that cannot be set up fails every batch with its cause,
// not only the first one.
func TestSinkStartErrorKept(t *testing.T) {
	s := &sink{node: "out", cfg: sinkDefaults()}
	s.cfg.Broker = "ssl://127.0.0.1:1"
	s.cfg.CAFile = t.TempDir() + "/missing.pem"
	b := &rows.Batch{Rows: []rows.Row{{{Name: "a", Value: rows.Int(1)}}}}
	for i := range 2 {
		if err := s.Process(t.Context(), "in", b, nil); err == nil || !strings.Contains(err.Error(), "ca_file") {
			t.Fatalf("batch %d: %v, want the ca_file error", i+1, err)
		}
	}
}
