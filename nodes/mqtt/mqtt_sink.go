package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

var sinkSpec = engine.Spec{
	ID:       "sink.mqtt",
	Category: "sink",
	Summary:  "Publishes each row as an MQTT message, on a topic that may use the row's fields.",
	Docs: `Publishes one message per row on ` + "`topic`" + `, a template: ` + "`{field}`" + ` is replaced by the row's
field (` + "`detections/{label}`" + ` with ` + "`label: \"wren\"`" + ` gives ` + "`detections/wren`" + `). A row without a field the
template names, or whose value would put ` + "`/`" + `, ` + "`+`" + `, ` + "`#`" + ` or nothing into the topic, goes to ` + "`errors`" + ` naming
the field; the run goes on.

Payloads (` + "`format`" + `): **json**, the row's JSON view (the fields ` + "`_topic`" + ` and ` + "`_message_id`" + ` that
source.mqtt adds are left out unless ` + "`keep_mqtt_fields`" + `); **raw**, the bytes or string of the field
` + "`payload_field`" + `.

**Delivery guarantee.** At-least-once with ` + "`qos`" + ` 1 (the default) or 2: the node acknowledges its input batch
only when the broker has confirmed every message of it (PUBACK or PUBCOMP). While the connection is
down the node waits, reconnects and publishes the unconfirmed messages again (the broker may then
see one twice). At ` + "`qos`" + ` 0: at-most-once (a message written to a connection that then breaks is lost).

` + connDocs,
	Headless: true,
	Inputs:   []engine.Port{{Name: "in", Type: "any", Required: true}},
	// The broker and what to do with it first; the rest of the connection after.
	Fields: withConnFields(
		engine.Field{Name: "topic", Type: "string", Doc: "topic template; {field} is replaced by the row's field", Required: true,
			Schema: map[string]any{"type": "string", "minLength": 1}},
		engine.Field{Name: "qos", Type: "integer", Doc: "publish QoS: 1 or 2 at-least-once, 0 at-most-once", Default: 1, Enum: []any{0, 1, 2}},
		engine.Field{Name: "retain", Type: "boolean", Doc: "ask the broker to keep the last message of each topic for new subscribers", Default: false},
		engine.Field{Name: "format", Type: "string", Doc: "payload: json (the row) or raw (one field's bytes)", Default: "json", Enum: []any{"json", "raw"}},
		engine.Field{Name: "payload_field", Type: "string", Doc: "raw: the field holding the payload", Default: "payload"},
		engine.Field{Name: "max_in_flight", Type: "integer", Doc: "messages published but not yet confirmed, at most (keep it at or below the broker's limit: Mosquitto's max_inflight_messages is 20 and it drops a client that sends more QoS 2 messages)", Default: 20, Min: engine.Num(1), Max: engine.Num(65535)},
		engine.Field{Name: "keep_mqtt_fields", Type: "boolean", Doc: "json: keep the _topic and _message_id fields of rows from source.mqtt", Default: false},
	),
	Examples: []engine.Example{
		{Name: "detections by label", Config: json.RawMessage(`{"broker":"tcp://127.0.0.1:1883","topic":"birds/{station}/{label}","client_id":"atoll-station-7-out"}`)},
		{Name: "over TLS with a client certificate", Config: json.RawMessage(`{"broker":"ssl://broker.example.com:8883","topic":"plant/moments","ca_file":"/etc/atoll/ca.pem","cert_file":"/etc/atoll/client.pem","key_file":"/etc/atoll/client.key","server_name":"broker.example.com"}`)},
		{Name: "raw bytes, retained", Config: json.RawMessage(`{"topic":"cameras/{camera}/last","format":"raw","payload_field":"jpeg","retain":true}`)},
	},
	Defaults: sinkDefaults(),
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, sinkDefaults())
		if err != nil {
			return nil, err
		}
		if err := cfg.resolve(bc); err != nil {
			return nil, err
		}
		tpl, err := parseTopic(cfg.Topic)
		if err != nil {
			return nil, fmt.Errorf("config: topic: %w", err)
		}
		return &sink{cfg: cfg, node: bc.NodeID, topic: tpl}, nil
	},
}

type sinkConfig struct {
	connConfig
	Topic          string `json:"topic"`
	QoS            int    `json:"qos"`
	Retain         bool   `json:"retain"`
	Format         string `json:"format"`
	PayloadField   string `json:"payload_field"`
	KeepMQTTFields bool   `json:"keep_mqtt_fields"`
	MaxInFlight    int    `json:"max_in_flight"`
}

func sinkDefaults() sinkConfig {
	return sinkConfig{connConfig: connDefaults, QoS: 1, Format: "json", PayloadField: "payload", MaxInFlight: 20}
}

func init() { nodes.Register(sinkSpec) }

// topicTemplate is a parsed topic: literal parts and the field names between them.
type topicTemplate struct {
	lits   []string // len(fields)+1
	fields []string
}

func parseTopic(s string) (topicTemplate, error) {
	var t topicTemplate
	rest := s
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			t.lits = append(t.lits, rest)
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return t, fmt.Errorf("%q: '{' at byte %d is not closed", s, len(s)-len(rest)+i)
		}
		name := rest[i+1 : i+j]
		if name == "" {
			return t, fmt.Errorf("%q: empty field name at byte %d", s, len(s)-len(rest)+i)
		}
		t.lits = append(t.lits, rest[:i])
		t.fields = append(t.fields, name)
		rest = rest[i+j+1:]
	}
	for _, l := range t.lits {
		if strings.ContainsAny(l, "+#") {
			return t, fmt.Errorf("%q: a topic to publish on cannot hold the wildcards + or #", s)
		}
	}
	return t, nil
}

// render fills the template from a row.
func (t topicTemplate) render(r rows.Row, buf []byte) ([]byte, error) {
	buf = append(buf[:0], t.lits[0]...)
	for i, f := range t.fields {
		v, ok := r.Get(f)
		if !ok || v.IsNull() {
			return nil, fmt.Errorf("topic: the row has no field %q", f)
		}
		var s string
		if str, ok := v.AsString(); ok {
			s = str
		} else {
			s = string(v.AppendJSON(nil))
		}
		if s == "" || strings.ContainsAny(s, "/+#\x00") {
			return nil, fmt.Errorf("topic: field %q = %q cannot be a topic level (empty, or holds /, + or #)", f, s)
		}
		buf = append(buf, s...)
		buf = append(buf, t.lits[i+1]...)
	}
	return buf, nil
}

type sink struct {
	cfg   sinkConfig
	node  string
	topic topicTemplate

	once     sync.Once
	startErr error
	client   paho.Client
	st       *connState
	buf      []byte
}

func (s *sink) Validate() error {
	if s.cfg.QoS < 0 || s.cfg.QoS > 2 {
		return fmt.Errorf("config: qos %d is not 0, 1 or 2", s.cfg.QoS)
	}
	switch s.cfg.Format {
	case "json":
	case "raw":
		if s.cfg.PayloadField == "" {
			return errors.New("config: format raw needs payload_field")
		}
	default:
		return fmt.Errorf("config: format %q is not json or raw", s.cfg.Format)
	}
	if s.cfg.MaxInFlight < 1 {
		return errors.New("config: max_in_flight must be >= 1")
	}
	return nil
}

// start connects on the first batch (a sink that never gets rows never connects).
// Its error is kept: a later batch gets it again instead of a nil client.
func (s *sink) start() error {
	s.once.Do(func() {
		s.st = &connState{node: s.node, broker: s.cfg.Broker}
		opts, err := s.cfg.clientOptions(s.st)
		if err != nil {
			s.startErr = err
			return
		}
		s.client = paho.NewClient(opts)
		s.client.Connect()
	})
	return s.startErr
}

// retryWait is the pause before publishing again the messages of a batch that failed.
const retryWait = 250 * time.Millisecond

type pending struct {
	topic   string
	payload []byte
	tok     paho.Token
}

func (s *sink) Process(ctx context.Context, port string, b *rows.Batch, out engine.Output) error {
	if err := s.start(); err != nil {
		return err
	}
	// The state keeps this output to report connection changes between batches too: Gauge, Log
	// and Status only touch the node's metrics (see RATIONALE.md).
	s.st.setOutput(out)
	msgs := make([]pending, 0, len(b.Rows))
	for _, r := range b.Rows {
		topic, err := s.topic.render(r, s.buf)
		if err != nil {
			out.Reject(r, fmt.Errorf("node %q: %w", s.node, err))
			continue
		}
		s.buf = topic
		payload, err := s.payload(r)
		if err != nil {
			out.Reject(r, fmt.Errorf("node %q: %w", s.node, err))
			continue
		}
		msgs = append(msgs, pending{topic: string(topic), payload: payload})
	}
	qos := byte(s.cfg.QoS)
	for attempt := 0; len(msgs) > 0; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(retryWait):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		// Publish with at most max_in_flight messages unconfirmed; keep the ones the broker did
		// not confirm, to publish them again.
		var failed []pending
		var lastErr error
		window := s.cfg.MaxInFlight
		for i := range msgs {
			if i >= window {
				m := msgs[i-window]
				if err := waitToken(ctx, m.tok); err != nil {
					if ctx.Err() != nil {
						return err
					}
					failed = append(failed, m)
					lastErr = err
				}
			}
			if err := s.waitOpen(ctx); err != nil {
				return err
			}
			msgs[i].tok = s.client.Publish(msgs[i].topic, qos, s.cfg.Retain, msgs[i].payload)
		}
		for _, m := range msgs[max(0, len(msgs)-window):] {
			if err := waitToken(ctx, m.tok); err != nil {
				if ctx.Err() != nil {
					return err
				}
				failed = append(failed, m)
				lastErr = err
			}
		}
		if len(failed) > 0 {
			s.st.failed(fmt.Errorf("publish %d messages (retrying): %w", len(failed), lastErr))
		}
		msgs = failed
	}
	return nil
}

// waitOpen waits until the connection is up. paho would queue a message published while it
// (re)connects and send the queue when it is up, racing the messages published after: waiting
// keeps the messages in order.
func (s *sink) waitOpen(ctx context.Context) error {
	for !s.client.IsConnectionOpen() {
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// waitToken waits for a publish to be confirmed (or to fail), or for ctx.
func waitToken(ctx context.Context, tok paho.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// payload returns the message body of a row.
func (s *sink) payload(r rows.Row) ([]byte, error) {
	if s.cfg.Format == "raw" {
		v, ok := r.Get(s.cfg.PayloadField)
		if !ok {
			return nil, fmt.Errorf("payload: the row has no field %q", s.cfg.PayloadField)
		}
		if b, ok := v.AsBytes(); ok {
			return b, nil
		}
		if str, ok := v.AsString(); ok {
			return []byte(str), nil
		}
		return nil, fmt.Errorf("payload: field %q is a %s, not bytes or a string", s.cfg.PayloadField, v.Kind())
	}
	if !s.cfg.KeepMQTTFields {
		if _, ok := r.Get(TopicField); ok {
			r = r.Clone()
			r.Delete(TopicField)
			r.Delete(MessageIDField)
		}
	}
	return r.AppendJSON(nil), nil
}

func (s *sink) Close() error {
	if s.client != nil {
		// Give the broker a moment for what is in flight; Process already waited for it.
		s.client.Disconnect(250)
	}
	return nil
}

var _ engine.Processor = (*sink)(nil)
var _ engine.Validator = (*sink)(nil)
