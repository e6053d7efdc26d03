// Package mqtt holds the MQTT connector nodes, source.mqtt and sink.mqtt, built on
// eclipse/paho.mqtt.golang (MQTT 3.1.1). The connection settings they share (broker, client id,
// credentials, TLS, sessions, reconnection) and the connection state they report live here; each
// node is in its own file.
package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/nodes/core"
)

// connConfig is the part of both nodes' config that says how to reach the broker. It is
// embedded in each node's config struct, so its fields sit at the top level of the JSON.
type connConfig struct {
	Broker         string `json:"broker"`
	ClientID       string `json:"client_id"`
	Username       string `json:"username"`
	Password       string `json:"password"`
	CleanSession   bool   `json:"clean_session"`
	KeepAliveS     int    `json:"keepalive_s"`
	ConnectTimeout int    `json:"connect_timeout_ms"`
	ReconnectMaxMS int    `json:"reconnect_max_ms"`
	CAFile         string `json:"ca_file"`
	CertFile       string `json:"cert_file"`
	KeyFile        string `json:"key_file"`
	ServerName     string `json:"server_name"`
}

var connDefaults = connConfig{
	Broker:         "tcp://127.0.0.1:1883",
	KeepAliveS:     30,
	ConnectTimeout: 5000,
	ReconnectMaxMS: 10000,
}

// connFields are the spec fields of connConfig, in form order.
func connFields() []engine.Field {
	return []engine.Field{
		{Name: "broker", Type: "string", Doc: "broker URL: tcp://host:1883, or ssl://host:8883 (also tls://, mqtts://) for TLS", Default: connDefaults.Broker,
			Schema: map[string]any{"type": "string", "minLength": 1}},
		{Name: "client_id", Type: "string", Doc: "MQTT client id; empty: atoll-<host name>-<node id>. Keep it stable for a persistent session; each replica needs its own", Default: ""},
		{Name: "username", Type: "string", Doc: "user name (empty: none)", Default: ""},
		{Name: "password", Type: "string", Doc: "password", Default: ""},
		{Name: "clean_session", Type: "boolean", Doc: "start a fresh session on every connect; false keeps the session (subscriptions, unacknowledged messages) at the broker across disconnects", Default: false},
		{Name: "keepalive_s", Type: "integer", Doc: "keep-alive interval in seconds", Default: connDefaults.KeepAliveS, Min: engine.Num(1), Max: engine.Num(65535)},
		{Name: "connect_timeout_ms", Type: "integer", Doc: "how long one connection attempt may take", Default: connDefaults.ConnectTimeout, Min: engine.Num(100)},
		{Name: "reconnect_max_ms", Type: "integer", Doc: "longest wait between reconnection attempts (the wait doubles from 250 ms up to this)", Default: connDefaults.ReconnectMaxMS, Min: engine.Num(250)},
		{Name: "ca_file", Type: "string", Doc: "TLS: PEM file of the certificate authorities to trust (empty: the system's); relative: to the graph file's directory", Default: "", Path: true},
		{Name: "cert_file", Type: "string", Doc: "TLS: PEM client certificate (with key_file)", Default: "", Path: true},
		{Name: "key_file", Type: "string", Doc: "TLS: PEM private key of cert_file", Default: "", Path: true},
		{Name: "server_name", Type: "string", Doc: "TLS: the name to verify the broker's certificate against (empty: the broker URL's host)", Default: ""},
	}
}

// withConnFields returns the spec fields of a node: the broker, then the node's own fields,
// then the rest of the connection settings.
func withConnFields(own ...engine.Field) []engine.Field {
	conn := connFields()
	out := append([]engine.Field{conn[0]}, own...)
	return append(out, conn[1:]...)
}

// connDocs is the markdown both nodes' docs share about the connection.
const connDocs = `**Connection.** ` + "`broker`" + ` is ` + "`tcp://host:port`" + ` or, for TLS, ` + "`ssl://`" + ` (also ` + "`tls://`" + `, ` + "`mqtts://`" + `).
TLS verifies the broker against ` + "`ca_file`" + ` (or the system's roots) and ` + "`server_name`" + `; ` + "`cert_file`" + `
and ` + "`key_file`" + ` add a client certificate. ` + "`username`" + `/` + "`password`" + ` authenticate. A lost connection is
retried with a doubling wait (250 ms up to ` + "`reconnect_max_ms`" + `) and the subscriptions are made again.

**State.** The node's gauges show ` + "`connected`" + ` (1 or 0), ` + "`reconnecting`" + ` (1 while retrying) and
` + "`connection_losses`" + ` (and, for source.mqtt, ` + "`subscribed`" + `: 1 once the broker granted the
subscriptions); its status texts, shown on the node in the studio, are ` + "`connection`" + ` (connecting,
connected or reconnecting) and ` + "`last_error`" + ` (with its time). Each loss and each first failed attempt is
logged. The runner exports them in ` + "`/metrics`" + ` (` + "`atoll_node_gauge`" + ` and ` + "`atoll_node_status`" + `).`

// resolve checks the connection settings, fills in the client id and makes the TLS file paths
// absolute against the graph file's directory (as source.file does its path).
func (c *connConfig) resolve(bc engine.BuildContext) error {
	nodeID := bc.NodeID
	if dir, ok := bc.Services[core.BaseDirService].(string); ok && dir != "" {
		for _, p := range []*string{&c.CAFile, &c.CertFile, &c.KeyFile} {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(dir, *p)
			}
		}
	}
	u, err := url.Parse(c.Broker)
	if err != nil {
		return fmt.Errorf("config: broker %q: %w", c.Broker, err)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "tcps":
	default:
		return fmt.Errorf("config: broker %q: scheme %q is not tcp, mqtt, ssl, tls or mqtts", c.Broker, u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("config: broker %q: no host", c.Broker)
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("config: cert_file and key_file go together")
	}
	if c.ClientID == "" {
		host, _ := os.Hostname()
		c.ClientID = "atoll-" + host + "-" + nodeID
	}
	if len(c.ClientID) > 65535 {
		return errors.New("config: client_id is longer than 65535 bytes")
	}
	return nil
}

func (c *connConfig) secure() bool {
	s := strings.SplitN(c.Broker, "://", 2)[0]
	return s == "ssl" || s == "tls" || s == "mqtts" || s == "tcps" || c.CAFile != "" || c.CertFile != ""
}

// tlsConfig builds the TLS settings from the config's files.
func (c *connConfig) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{ServerName: c.ServerName, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("config: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("config: ca_file %s: no PEM certificate in it", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("config: cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// clientOptions returns paho options for the connection; st receives its state changes.
func (c *connConfig) clientOptions(st *connState) (*paho.ClientOptions, error) {
	o := paho.NewClientOptions()
	broker := c.Broker
	// paho knows tcp, ssl, tls, mqtt, mqtts and ws(s); tcps is a common spelling of ssl.
	if strings.HasPrefix(broker, "tcps://") {
		broker = "ssl://" + strings.TrimPrefix(broker, "tcps://")
	}
	o.AddBroker(broker)
	o.SetClientID(c.ClientID)
	o.SetUsername(c.Username)
	o.SetPassword(c.Password)
	o.SetCleanSession(c.CleanSession)
	o.SetKeepAlive(time.Duration(c.KeepAliveS) * time.Second)
	o.SetPingTimeout(10 * time.Second)
	o.SetConnectTimeout(time.Duration(c.ConnectTimeout) * time.Millisecond)
	o.SetWriteTimeout(30 * time.Second)
	o.SetAutoReconnect(true)
	o.SetConnectRetry(true)
	o.SetMaxReconnectInterval(time.Duration(c.ReconnectMaxMS) * time.Millisecond)
	o.SetConnectRetryInterval(250 * time.Millisecond)
	o.SetResumeSubs(false) // the nodes subscribe again in OnConnect
	// Messages published while (re)connecting wait in the store and are sent when the connection
	// is up: in the order they were published, which the default store does not keep.
	o.SetStore(paho.NewOrderedMemoryStore())
	if c.secure() {
		tc, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		o.SetTLSConfig(tc)
	}
	o.SetOnConnectHandler(func(paho.Client) { st.connected() })
	o.SetConnectionLostHandler(func(_ paho.Client, err error) { st.lost(err) })
	o.SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) { st.reconnecting() })
	o.SetConnectionNotificationHandler(func(_ paho.Client, n paho.ConnectionNotification) {
		switch n := n.(type) {
		case paho.ConnectionNotificationConnecting:
			if n.IsReconnect || n.Attempt > 1 {
				st.reconnecting()
			}
		case paho.ConnectionNotificationFailed:
			st.attemptFailed(n.Reason)
		case paho.ConnectionNotificationBrokerFailed:
			st.attemptFailed(n.Reason)
		}
	})
	return o, nil
}

// connState tracks a connection's state and reports it as gauges, a status and log lines.
type connState struct {
	node   string
	broker string

	mu       sync.Mutex
	out      engine.Output // set while a run (or a Process call) can report
	lastErr  string
	isUp     atomic.Bool
	retrying atomic.Bool
	losses   atomic.Int64
	attempts atomic.Int64
	// subs is set for a source: the state then includes "subscribed" (1 once the broker
	// granted the subscriptions of the current connection).
	subs       bool
	subscribed atomic.Bool
	onUp       func() // called after each (re)connection, e.g. to subscribe
}

func (s *connState) setOutput(out engine.Output) {
	s.mu.Lock()
	s.out = out
	s.mu.Unlock()
	s.report()
}

// report publishes the state through the node's output, if it has one now.
func (s *connState) report() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return
	}
	s.out.Gauge("connected", b2f(s.isUp.Load()))
	s.out.Gauge("reconnecting", b2f(s.retrying.Load()))
	s.out.Gauge("connection_losses", float64(s.losses.Load()))
	if s.subs {
		s.out.Gauge("subscribed", b2f(s.subscribed.Load()))
	}
	if st, ok := s.out.(engine.StatusOutput); ok {
		conn := "connecting"
		switch {
		case s.isUp.Load():
			conn = "connected"
		case s.retrying.Load():
			conn = "reconnecting"
		}
		st.Status("connection", conn)
		st.Status("last_error", s.lastErr)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (s *connState) logf(level, format string, args ...any) {
	s.mu.Lock()
	out := s.out
	s.mu.Unlock()
	if out != nil {
		out.Log(level, fmt.Sprintf(format, args...))
	}
}

// attemptFailed records a failed connection attempt; the first of a series is logged, then
// one in ten, so that a broker down for an hour does not flood the log.
func (s *connState) attemptFailed(err error) {
	if err == nil {
		return
	}
	n := s.attempts.Add(1)
	s.retrying.Store(true)
	s.mu.Lock()
	s.lastErr = fmt.Sprintf("%s: connect: %v", time.Now().UTC().Format(time.RFC3339), err)
	s.mu.Unlock()
	s.report()
	if n == 1 || n%10 == 0 {
		s.logf("warn", "connect to %s (attempt %d): %v", s.broker, n, err)
	}
}

func (s *connState) connected() {
	s.isUp.Store(true)
	s.retrying.Store(false)
	s.attempts.Store(0)
	s.report()
	s.logf("info", "connected to %s", s.broker)
	if s.onUp != nil {
		s.onUp()
	}
}

func (s *connState) lost(err error) {
	s.isUp.Store(false)
	s.subscribed.Store(false)
	s.losses.Add(1)
	s.mu.Lock()
	s.lastErr = fmt.Sprintf("%s: connection lost: %v", time.Now().UTC().Format(time.RFC3339), err)
	s.mu.Unlock()
	s.report()
	s.logf("warn", "connection to %s lost: %v; reconnecting", s.broker, err)
}

func (s *connState) reconnecting() {
	s.retrying.Store(true)
	s.report()
}

// granted records that the broker granted the subscriptions.
func (s *connState) granted() {
	s.subscribed.Store(true)
	s.report()
}

// failed records an error that is not a loss of the connection (a refused subscription, say).
func (s *connState) failed(err error) {
	s.mu.Lock()
	s.lastErr = fmt.Sprintf("%s: %v", time.Now().UTC().Format(time.RFC3339), err)
	s.mu.Unlock()
	s.report()
	s.logf("error", "%v", err)
}
