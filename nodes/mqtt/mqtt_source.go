package mqtt

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/rows"
	"github.com/atoll-studio/atoll/nodes"
)

var sourceSpec = engine.Spec{
	ID:       "source.mqtt",
	Category: "source",
	Summary:  "Subscribes to MQTT topics and emits each message's rows (JSON, CSV or raw bytes).",
	Docs: `Subscribes to ` + "`topics`" + ` (wildcards ` + "`+`" + ` and ` + "`#`" + ` allowed; ` + "`$share/GROUP/TOPIC`" + ` joins a shared
subscription, where the broker splits the stream between every client of the group) and emits the
messages as rows, in batches of up to ` + "`batch_size`" + `: a batch goes out as soon as no more messages are waiting.

Payloads (` + "`format`" + `):

- **json**: a JSON object is one row; a JSON array of objects is one row per element.
- **csv**: one row per line. The header is ` + "`csv_columns`" + ` or, when that is empty, the first line of each
  message. Empty cells are null, numbers are ints or floats, anything else a string.
- **raw**: one row with the payload as bytes in ` + "`payload`" + `.

Every row also carries ` + "`_topic`" + ` (the topic the message was published on) and ` + "`_message_id`" + ` (the MQTT
packet id; 0 at QoS 0; unique only among the messages not yet acknowledged). A payload that cannot be
read goes to ` + "`errors`" + ` as one row with ` + "`_topic`" + `, ` + "`_message_id`" + ` and ` + "`raw`" + ` (the first 256 bytes), and an
` + "`_error`" + ` that names the message and, for CSV, the line; the run goes on.

**Delivery guarantee.** At-least-once with ` + "`qos`" + ` 1 or 2 and ` + "`clean_session: false`" + ` (the defaults are qos 1 and
a persistent session): paho's automatic acknowledgement is off, and a message is acknowledged to the
broker (PUBACK, or PUBREC for QoS 2) only once every row made from it has been handled by every sink
or sent to ` + "`errors`" + `. A message not acknowledged when the connection drops or the process dies is sent again
by the broker when the same ` + "`client_id`" + ` reconnects, so a sink may see it twice. With ` + "`clean_session: true`" + ` the
broker forgets the unacknowledged messages when the connection drops: at-least-once only while
connected. At ` + "`qos`" + ` 0: at-most-once. The broker must keep the messages queued for a slow or absent
client (Mosquitto: ` + "`max_queued_messages`" + ` defaults to 1000 and drops beyond it; set 0). See
nodes/mqtt/DEPLOY.md for several runners on one shared subscription.

**Backpressure.** At most ` + "`max_in_flight`" + ` messages are held between the broker and the pipeline; when the
pipeline is slower than the topic, the source stops taking messages and the broker keeps them
(at QoS 1 and 2 it also stops sending once its in-flight window of unacknowledged messages is full).

` + connDocs + `

` + "`max_messages`" + ` > 0 ends the source after that many messages (examples, tests); 0 runs until stopped.`,
	Headless: true,
	Outputs:  []engine.Port{{Name: "out", Type: "rows"}},
	// The broker and what to do with it first; the rest of the connection after.
	Fields: withConnFields(
		engine.Field{Name: "topics", Type: "array", Items: "string", Doc: "topic filters to subscribe to (wildcards, $share/GROUP/TOPIC)", Required: true,
			Schema: map[string]any{"type": "array", "minItems": 1, "items": map[string]any{"type": "string", "minLength": 1}}},
		engine.Field{Name: "qos", Type: "integer", Doc: "subscription QoS: 0 at-most-once, 1 or 2 at-least-once", Default: 1, Enum: []any{0, 1, 2}},
		engine.Field{Name: "format", Type: "string", Doc: "payload format: json, csv or raw", Default: "json", Enum: []any{"json", "csv", "raw"}},
		engine.Field{Name: "csv_columns", Type: "array", Items: "string", Doc: "csv: the column names; empty: the first line of each message is the header", Default: []any{}},
		engine.Field{Name: "batch_size", Type: "integer", Doc: "most rows per batch", Default: 256, Min: engine.Num(1), Max: engine.Num(65536)},
		engine.Field{Name: "max_in_flight", Type: "integer", Doc: "messages received but not yet emitted, at most", Default: 1024, Min: engine.Num(1), Max: engine.Num(65535)},
		engine.Field{Name: "max_messages", Type: "integer", Doc: "stop after this many messages; 0 = until stopped", Default: 0, Min: engine.Num(0)},
	),
	Examples: []engine.Example{
		{Name: "sensor readings", Config: json.RawMessage(`{"broker":"tcp://127.0.0.1:1883","topics":["sensors/+/reading"],"client_id":"atoll-gateway-1"}`)},
		{Name: "one of several runners", Config: json.RawMessage(`{"broker":"tcp://broker.local:1883","topics":["$share/atoll/sensors/#"],"client_id":"atoll-runner-2","qos":1}`)},
		{Name: "csv over TLS", Config: json.RawMessage(`{"broker":"ssl://broker.example.com:8883","topics":["plant/+/csv"],"format":"csv","csv_columns":["id","temp"],"ca_file":"/etc/atoll/ca.pem","username":"atoll","password":"secret"}`)},
		{Name: "raw bytes, at-most-once", Config: json.RawMessage(`{"topics":["cameras/#"],"format":"raw","qos":0,"clean_session":true}`)},
	},
	Defaults: sourceDefaults(),
	New: func(bc engine.BuildContext, raw json.RawMessage) (engine.Node, error) {
		cfg, err := engine.DecodeConfig(raw, sourceDefaults())
		if err != nil {
			return nil, err
		}
		if err := cfg.resolve(bc); err != nil {
			return nil, err
		}
		return &source{cfg: cfg, node: bc.NodeID}, nil
	},
}

type sourceConfig struct {
	connConfig
	Topics      []string `json:"topics"`
	QoS         int      `json:"qos"`
	Format      string   `json:"format"`
	CSVColumns  []string `json:"csv_columns"`
	BatchSize   int      `json:"batch_size"`
	MaxInFlight int      `json:"max_in_flight"`
	MaxMessages int64    `json:"max_messages"`
}

func sourceDefaults() sourceConfig {
	return sourceConfig{connConfig: connDefaults, QoS: 1, Format: "json", CSVColumns: []string{}, BatchSize: 256, MaxInFlight: 1024}
}

func init() { nodes.Register(sourceSpec) }

// Row fields the source adds to every row.
const (
	TopicField     = "_topic"
	MessageIDField = "_message_id"
)

// rawExcerpt is how much of a malformed payload its errors row keeps.
const rawExcerpt = 256

type source struct {
	cfg  sourceConfig
	node string
}

func (s *source) Validate() error {
	if len(s.cfg.Topics) == 0 {
		return errors.New("config: topics: at least one topic filter is needed")
	}
	for _, t := range s.cfg.Topics {
		if err := checkFilter(t); err != nil {
			return fmt.Errorf("config: topics: %w", err)
		}
	}
	if s.cfg.QoS < 0 || s.cfg.QoS > 2 {
		return fmt.Errorf("config: qos %d is not 0, 1 or 2", s.cfg.QoS)
	}
	switch s.cfg.Format {
	case "json", "csv", "raw":
	default:
		return fmt.Errorf("config: format %q is not json, csv or raw", s.cfg.Format)
	}
	if len(s.cfg.CSVColumns) > 0 && s.cfg.Format != "csv" {
		return errors.New("config: csv_columns applies to format csv only")
	}
	if s.cfg.BatchSize < 1 || s.cfg.MaxInFlight < 1 {
		return errors.New("config: batch_size and max_in_flight must be >= 1")
	}
	return nil
}

// checkFilter checks an MQTT topic filter: '#' only last and alone in its level, '+' alone in
// its level; a shared subscription names a group and a filter.
func checkFilter(f string) error {
	if f == "" {
		return errors.New("empty topic filter")
	}
	body := f
	if rest, ok := strings.CutPrefix(f, "$share/"); ok {
		group, filter, found := strings.Cut(rest, "/")
		if !found || group == "" || filter == "" {
			return fmt.Errorf("shared subscription %q must be $share/GROUP/FILTER", f)
		}
		body = filter
	}
	levels := strings.Split(body, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return fmt.Errorf("topic filter %q: '#' must be the last level", f)
		case l != "#" && l != "+" && strings.ContainsAny(l, "#+"):
			return fmt.Errorf("topic filter %q: wildcards must fill a whole level", f)
		}
	}
	return nil
}

// message is one MQTT message on its way through the pipeline: acknowledged to the broker when
// every batch holding its rows has been acknowledged by the engine.
type message struct {
	m       paho.Message
	pending atomic.Int32
}

func (m *message) release() {
	if m.pending.Add(-1) == 0 {
		m.m.Ack()
	}
}

func (s *source) Run(ctx context.Context, out engine.Output) error {
	if err := s.Validate(); err != nil {
		return err
	}
	st := &connState{node: s.node, broker: s.cfg.Broker, subs: true}
	st.setOutput(out)
	defer st.setOutput(nil)

	msgs := make(chan paho.Message, s.cfg.MaxInFlight)
	stop := make(chan struct{})
	var stopOnce sync.Once
	closeStop := func() { stopOnce.Do(func() { close(stop) }) }
	defer closeStop()

	handler := func(_ paho.Client, m paho.Message) {
		// Blocking here holds paho's router: the broker keeps what does not fit (backpressure).
		select {
		case msgs <- m:
		case <-stop:
		}
	}
	opts, err := s.cfg.clientOptions(st)
	if err != nil {
		return err
	}
	opts.SetAutoAckDisabled(true)
	opts.SetOrderMatters(true)
	opts.SetDefaultPublishHandler(handler) // messages of a persistent session arriving before the subscription
	filters := make(map[string]byte, len(s.cfg.Topics))
	for _, t := range s.cfg.Topics {
		filters[t] = byte(s.cfg.QoS)
	}
	var client paho.Client
	st.onUp = func() {
		// Called on paho's goroutine for each (re)connection: subscribe again without blocking it.
		go func() {
			tok := client.SubscribeMultiple(filters, handler)
			if !tok.WaitTimeout(time.Duration(s.cfg.ConnectTimeout)*time.Millisecond) || tok.Error() != nil {
				err := tok.Error()
				if err == nil {
					err = errors.New("no answer")
				}
				st.failed(fmt.Errorf("subscribe %v: %w", s.cfg.Topics, err))
				return
			}
			if sub, ok := tok.(*paho.SubscribeToken); ok {
				for topic, q := range sub.Result() {
					if q == 0x80 {
						st.failed(fmt.Errorf("the broker refused the subscription to %q", topic))
						return
					}
				}
			}
			st.granted()
		}()
	}
	client = paho.NewClient(opts)
	client.Connect()
	defer func() {
		closeStop()
		client.Disconnect(100)
	}()

	dec := decoder{cfg: &s.cfg, node: s.node}
	var seen int64
	batch := make([]paho.Message, 0, s.cfg.BatchSize)
	for {
		batch = batch[:0]
		select {
		case m := <-msgs:
			batch = append(batch, m)
		case <-ctx.Done():
			return nil
		}
	fill:
		for len(batch) < s.cfg.BatchSize && (s.cfg.MaxMessages == 0 || seen+int64(len(batch)) < s.cfg.MaxMessages) {
			select {
			case m := <-msgs:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		seen += int64(len(batch))
		if err := s.emit(dec, batch, out); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if s.cfg.MaxMessages > 0 && seen >= s.cfg.MaxMessages {
			return nil
		}
	}
}

// emit decodes a batch of messages and emits their rows (and their errors), each message
// acknowledged once all its rows are.
func (s *source) emit(dec decoder, batch []paho.Message, out engine.Output) error {
	good := make([]rows.Row, 0, len(batch))
	var bad []rows.Row
	var goodMsgs, badMsgs []*message
	for _, pm := range batch {
		m := &message{m: pm}
		rs, errs := dec.decode(pm)
		if len(rs) > 0 {
			good = append(good, rs...)
			goodMsgs = append(goodMsgs, m)
			m.pending.Add(1)
		}
		if len(errs) > 0 {
			bad = append(bad, errs...)
			badMsgs = append(badMsgs, m)
			m.pending.Add(1)
		}
		if len(rs) == 0 && len(errs) == 0 {
			pm.Ack() // an empty JSON array or CSV body: nothing to wait for
		}
	}
	ackAll := func(ms []*message) func() {
		return func() {
			for _, m := range ms {
				m.release()
			}
		}
	}
	if len(bad) > 0 {
		if err := out.EmitAcked(engine.ErrorsPort, &rows.Batch{Rows: bad}, ackAll(badMsgs)); err != nil {
			return err
		}
	}
	if len(good) > 0 {
		return out.EmitAcked("out", &rows.Batch{Rows: good}, ackAll(goodMsgs))
	}
	return nil
}

// decoder turns a message's payload into rows.
type decoder struct {
	cfg  *sourceConfig
	node string
}

// decode returns the rows of a message and the errors rows of the parts that could not be read.
func (d decoder) decode(m paho.Message) (good, bad []rows.Row) {
	topic, id, payload := m.Topic(), int64(m.MessageID()), m.Payload()
	tag := func(r rows.Row) rows.Row {
		r.Set(TopicField, rows.String(topic))
		r.Set(MessageIDField, rows.Int(id))
		return r
	}
	fail := func(raw []byte, err error) {
		if len(raw) > rawExcerpt {
			raw = raw[:rawExcerpt]
		}
		r := rows.Row{
			{Name: TopicField, Value: rows.String(topic)},
			{Name: MessageIDField, Value: rows.Int(id)},
			{Name: "raw", Value: rows.String(string(raw))},
			{Name: engine.ErrorField, Value: rows.String(fmt.Sprintf("node %q: message id %d on topic %q: %v", d.node, id, topic, err))},
			{Name: engine.ErrorNodeField, Value: rows.String(d.node)},
		}
		bad = append(bad, r)
	}
	switch d.cfg.Format {
	case "raw":
		return []rows.Row{tag(rows.Row{{Name: "payload", Value: rows.Bytes(bytes.Clone(payload))}})}, nil
	case "csv":
		good = d.decodeCSV(payload, tag, fail)
		return good, bad
	}
	p := bytes.TrimSpace(payload)
	switch {
	case len(p) > 0 && p[0] == '{':
		r, err := rows.ParseJSON(p)
		if err != nil {
			fail(payload, err)
			return nil, bad
		}
		return []rows.Row{tag(r)}, nil
	case len(p) > 0 && p[0] == '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(p, &elems); err != nil {
			fail(payload, fmt.Errorf("json: %w", err))
			return nil, bad
		}
		for i, e := range elems {
			r, err := rows.ParseJSON(e)
			if err != nil {
				fail(e, fmt.Errorf("element %d: %w", i, err))
				continue
			}
			good = append(good, tag(r))
		}
		return good, bad
	}
	fail(payload, errors.New("json: payload is not a JSON object or array of objects"))
	return nil, bad
}

// decodeCSV returns the rows of a CSV payload; lines it cannot read go to fail.
func (d decoder) decodeCSV(payload []byte, tag func(rows.Row) rows.Row, fail func([]byte, error)) (good []rows.Row) {
	cr := csv.NewReader(bytes.NewReader(payload))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header := d.cfg.CSVColumns
	for {
		start := cr.InputOffset()
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			fail(payload, fmt.Errorf("csv line %d: %w", line, err))
			break
		}
		if len(header) == 0 {
			header = append([]string(nil), rec...)
			continue
		}
		if len(rec) != len(header) {
			raw := bytes.TrimRight(payload[start:cr.InputOffset()], "\r\n") // the record as sent
			fail(raw, fmt.Errorf("csv line %d: %d fields, the header has %d", line, len(rec), len(header)))
			continue
		}
		r := make(rows.Row, 0, len(rec)+2)
		for i, v := range rec {
			r = append(r, rows.Field{Name: header[i], Value: csvAuto(v)})
		}
		good = append(good, tag(r))
	}
	return good
}

// csvAuto types a CSV cell: empty is null, a number an int or a float, anything else a string.
func csvAuto(s string) rows.Value {
	if s == "" {
		return rows.Null()
	}
	if c := s[0]; c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9') {
		if v, err := rows.NumberValue(s); err == nil {
			return v
		}
	}
	return rows.String(s)
}

var _ engine.Source = (*source)(nil)
var _ engine.Validator = (*source)(nil)
