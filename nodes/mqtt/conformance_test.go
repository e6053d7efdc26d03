package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/internal/conformance"
	"github.com/atoll-studio/atoll/internal/mosquitto"
)

// sourceEnv drives source.mqtt through a real broker: rows are published as JSON messages.
type sourceEnv struct {
	b   *mosquitto.Broker
	pub paho.Client
}

func (e *sourceEnv) Config() json.RawMessage {
	// A persistent session: messages sent while the run is restarted wait at the broker.
	return json.RawMessage(fmt.Sprintf(`{%s,"client_id":"conformance-src","topics":["conf/#"],"qos":1}`, e.b.ConnJSON()))
}

func (e *sourceEnv) Send(ctx context.Context, rs []rows.Row) error {
	toks := make([]paho.Token, 0, len(rs))
	for _, r := range rs {
		toks = append(toks, e.pub.Publish("conf/rows", 1, false, r.AppendJSON(nil)))
	}
	for _, tok := range toks {
		select {
		case <-tok.Done():
			if err := tok.Error(); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (e *sourceEnv) SendMalformed(ctx context.Context) (string, error) {
	tok := e.pub.Publish("conf/bad", 1, false, `{"seq":`)
	select {
	case <-tok.Done():
		return `on topic "conf/bad"`, tok.Error()
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Ready waits until the broker granted the source's subscription.
func (e *sourceEnv) Ready(ctx context.Context, r *engine.Run) error {
	for r.Metrics()["under_test"].Gauges["subscribed"] != 1 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("source.mqtt never subscribed: gauges %v", r.Metrics()["under_test"].Gauges)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// sinkEnv reads what sink.mqtt published through a subscriber of its own.
type sinkEnv struct {
	b    *mosquitto.Broker
	mu   sync.Mutex
	got  []rows.Row
	last time.Time
	bad  error
}

func (e *sinkEnv) Config() json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{%s,"client_id":"conformance-sink","topic":"conf/out/{name}","qos":1}`, e.b.ConnJSON()))
}

// Received returns the messages so far, once none has arrived for 200 ms, nor since the call
// (the sink's run has ended: the broker confirmed them all, the subscriber may still be
// receiving).
func (e *sinkEnv) Received(ctx context.Context) ([]rows.Row, error) {
	start := time.Now()
	for {
		e.mu.Lock()
		quiet := time.Since(e.last) > 200*time.Millisecond && time.Since(start) > 200*time.Millisecond
		got, bad := append([]rows.Row(nil), e.got...), e.bad
		e.mu.Unlock()
		if bad != nil {
			return nil, bad
		}
		if quiet {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Poison is a row whose topic field holds a '/': the topic template cannot take it.
func (e *sinkEnv) Poison() (rows.Row, string) {
	r := conformance.Row(1000)
	r.Set("name", rows.String("a/b"))
	return r, `field "name"`
}

// Stall freezes the broker: publishes are never confirmed.
func (e *sinkEnv) Stall() { e.b.Pause() }

func TestConformance(t *testing.T) {
	conformance.TestSource(t, conformance.Source{Type: "source.mqtt", Replays: true, Start: func(t *testing.T) conformance.SourceEnv {
		b := mosquitto.Start(t, mosquitto.Plain)
		return &sourceEnv{b: b, pub: b.Client(t, "conformance-pub")}
	}})
	conformance.TestSink(t, conformance.Sink{Type: "sink.mqtt", Start: func(t *testing.T) conformance.SinkEnv {
		b := mosquitto.Start(t, mosquitto.Plain)
		e := &sinkEnv{b: b}
		sub := b.Client(t, "conformance-sub")
		tok := sub.Subscribe("conf/out/#", 1, func(_ paho.Client, m paho.Message) {
			r, err := rows.ParseJSON(m.Payload())
			e.mu.Lock()
			defer e.mu.Unlock()
			e.last = time.Now()
			if err != nil {
				e.bad = fmt.Errorf("message on %s: %w", m.Topic(), err)
				return
			}
			if v, _ := r.Get("name"); !strings.HasSuffix(m.Topic(), "/"+v.Any().(string)) {
				e.bad = errors.New("message on " + m.Topic() + " for a row named " + v.String())
			}
			e.got = append(e.got, r)
		})
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
		return e
	}})
}
