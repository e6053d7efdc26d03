package examples_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/examples"
	"github.com/atoll-studio/atoll/examples/functions/go/moment/momentfn"
	"github.com/atoll-studio/atoll/internal/mosquitto"
	"github.com/atoll-studio/atoll/internal/wasmexamples"
)

// needsBroker reports whether an example graph talks to an MQTT broker: those run against a
// real Mosquitto started by the tests below, with the broker address rewritten.
func needsBroker(g examples.Graph) bool {
	return bytes.Contains(g.Data, []byte(`"source.mqtt"`)) || bytes.Contains(g.Data, []byte(`"sink.mqtt"`))
}

// startMQTTExample copies the examples, points every MQTT node of graph name at b and starts it.
func startMQTTExample(t *testing.T, name string, b *mosquitto.Broker) *engine.Run {
	t.Helper()
	g := graphNamed(t, name)
	if !needsBroker(g) {
		t.Fatalf("%s has no MQTT node", g.Path)
	}
	r, _ := startExampleCopy(t, g, func(doc *graph.Document) {
		for i, n := range doc.Nodes {
			if !strings.HasSuffix(n.Type, ".mqtt") {
				continue
			}
			var cfg map[string]any
			if err := json.Unmarshal(n.Config, &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg["broker"] != "tcp://127.0.0.1:1883" {
				t.Fatalf("%s: node %s: broker %v, want the local default", g.Path, n.ID, cfg["broker"])
			}
			cfg["broker"] = b.URL()
			doc.Nodes[i].Config, _ = json.Marshal(cfg)
		}
	}, "error")
	return r
}

type mqttInbox struct {
	mu   sync.Mutex
	msgs []paho.Message
}

func (in *mqttInbox) take() []paho.Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]paho.Message(nil), in.msgs...)
}

func subscribeInbox(t *testing.T, c paho.Client, filter string) *mqttInbox {
	t.Helper()
	in := &mqttInbox{}
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		in.mu.Lock()
		in.msgs = append(in.msgs, m)
		in.mu.Unlock()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return in
}

// TestMQTTSensorMoment runs the seeded example "MQTT sensor rows → moment.wasm → MQTT" against
// a real broker: sensor readings published on sensors/<id>/reading come back on
// moments/<moment> with the moment the Go function computes, and a malformed reading comes
// back on sensors/rejects naming its message.
func TestMQTTSensorMoment(t *testing.T) {
	wasmexamples.Path(t, "go-moment")
	b := mosquitto.Start(t, mosquitto.Plain)
	c := b.Client(t, "example-test")
	moments := subscribeInbox(t, c, "moments/#")
	rejects := subscribeInbox(t, c, "sensors/rejects")
	r := startMQTTExample(t, "mqtt_sensor_moment", b)

	// The source subscribes once connected: publish a first reading until it comes back.
	first := func(i int) string {
		return fmt.Sprintf(`{"sensor":"s%d","temp":%d.5,"creation_timestamp":%d}`, i%3, 15+i%10, 1699920000+i*1800)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(moments.take()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no moment came back within 20 s")
		}
		c.Publish("sensors/s0/reading", 1, false, first(0)).Wait()
		time.Sleep(200 * time.Millisecond)
	}
	const n = 96 // two days of half hours from a midnight: every moment of the day
	for i := 1; i <= n; i++ {
		if tok := c.Publish(fmt.Sprintf("sensors/s%d/reading", i%3), 1, false, first(i)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	c.Publish("sensors/s9/reading", 1, false, `{"sensor":"s9","temp":`).Wait()
	deadline = time.Now().Add(20 * time.Second)
	var got map[int64]paho.Message
	for {
		got = map[int64]paho.Message{}
		for _, m := range moments.take() {
			row, err := rows.ParseJSON(m.Payload())
			if err != nil {
				t.Fatalf("moments: %v: %s", err, m.Payload())
			}
			v, _ := row.Get("creation_timestamp")
			ts, _ := v.AsInt()
			got[ts] = m
		}
		if len(got) >= n+1 && len(rejects.take()) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	seenMoments := map[string]bool{}
	for i := 1; i <= n; i++ {
		ts := int64(1699920000 + i*1800)
		m, ok := got[ts]
		if !ok {
			t.Fatalf("reading %d (creation_timestamp %d) never came back", i, ts)
		}
		want := momentfn.Moment(ts)
		seenMoments[want] = true
		if m.Topic() != "moments/"+want {
			t.Errorf("reading %d on %s, want moments/%s", i, m.Topic(), want)
		}
		row, _ := rows.ParseJSON(m.Payload())
		if v, _ := row.Get("moment"); v.String() != want && fmt.Sprint(v.Any()) != want {
			t.Errorf("reading %d: moment %v, want %s", i, v.Any(), want)
		}
		if _, ok := row.Get("_topic"); ok {
			t.Errorf("reading %d kept the source's _topic field: %s", i, m.Payload())
		}
	}
	if len(seenMoments) != 4 {
		t.Errorf("the example covered moments %v, want all four", seenMoments)
	}
	rj := rejects.take()
	if len(rj) == 0 {
		t.Fatal("the malformed reading did not reach sensors/rejects")
	}
	if !bytes.Contains(rj[0].Payload(), []byte(`on topic \"sensors/s9/reading\"`)) {
		t.Errorf("reject does not name the message: %s", rj[0].Payload())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestMQTTBirds runs the seeded example "Bird detections (YAMNet) → MQTT": the tawny owl
// recording's detections arrive on birds/field-1/detections, the same as the file example
// writes.
func TestMQTTBirds(t *testing.T) {
	// The YAMNet classifier guest is built by mk/wasinn.mk, not by wasm-examples.
	if out, err := exec.Command("make", "-s", "-C", wasmexamples.Root(), "-f", "mk/wasinn.mk", "classifier-wasm").CombinedOutput(); err != nil {
		t.Fatalf("building the classifier guest (make -f mk/wasinn.mk classifier-wasm) failed: %v\n%s", err, out)
	}
	b := mosquitto.Start(t, mosquitto.Plain)
	c := b.Client(t, "birds-test")
	in := subscribeInbox(t, c, "birds/#")
	r := startMQTTExample(t, "mqtt_birds", b)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	select {
	case <-r.Done():
	case <-ctx.Done():
		t.Fatal("the example did not finish within 90 s")
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	// The sink acknowledged every row after the broker confirmed it; the subscriber may still be
	// receiving the last ones.
	want := r.Metrics()["mqtt"].RowsIn
	if want == 0 {
		t.Fatal("the example made no detection")
	}
	deadline := time.Now().Add(10 * time.Second)
	for int64(len(in.take())) < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	msgs := in.take()
	if int64(len(msgs)) != want {
		t.Fatalf("received %d detections, the sink handled %d", len(msgs), want)
	}
	for _, m := range msgs {
		if m.Topic() != "birds/field-1/detections" {
			t.Errorf("detection on %s", m.Topic())
		}
		row, err := rows.ParseJSON(m.Payload())
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"label", "t_start", "t_end", "confidence"} {
			if _, ok := row.Get(f); !ok {
				t.Errorf("detection without %s: %s", f, m.Payload())
			}
		}
	}
	t.Logf("%d detections, e.g. %s", len(msgs), msgs[0].Payload())
}
