package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// mqttChannel takes new bundles from an MQTT topic. The topic's retained message is the newest
// bundle: either the bundle file itself, or a JSON reference {"url": "https://...", "sha256":
// "<hex>"} that is downloaded (bounded by maxSize) and checked against the digest. The bundle then
// goes through the same verification as any other candidate (signature, trusted key, graph id,
// version). A retained message is sent again on every (re)subscription: the channel offers a
// payload once, by its SHA-256.
//
// The channel is given as a URL: scheme://[user:password@]host:port/topic/levels[?ca=FILE], with
// the schemes of the MQTT nodes (tcp, mqtt; ssl, tls, mqtts for TLS; ca= adds a CA file to trust).
type mqttChannel struct {
	raw      string // the flag's value, password removed, for logs
	broker   string
	topic    string
	user     string
	pass     string
	caFile   string
	secure   bool // TLS
	clientID string

	maxSize int64
	client  *http.Client
	logf    func(msg string, args ...any)
	n       atomic.Int64
}

// mqttWatchFlag is the repeatable --watch-mqtt flag: each value is checked when parsed.
type mqttWatchFlag []*mqttChannel

func (m *mqttWatchFlag) String() string {
	var s []string
	for _, c := range *m {
		s = append(s, c.raw)
	}
	return strings.Join(s, ",")
}

func (m *mqttWatchFlag) Set(v string) error {
	c, err := parseMQTTChannel(v)
	if err != nil {
		return err
	}
	*m = append(*m, c)
	return nil
}

func parseMQTTChannel(v string) (*mqttChannel, error) {
	u, err := url.Parse(v)
	if err != nil {
		return nil, fmt.Errorf("--watch-mqtt: %w", err)
	}
	scheme := u.Scheme
	switch scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts":
	default:
		return nil, fmt.Errorf("--watch-mqtt %q: scheme %q is not tcp, mqtt, ssl, tls or mqtts", u.Redacted(), u.Scheme)
	}
	topic := strings.TrimPrefix(u.Path, "/")
	if u.Host == "" || topic == "" {
		return nil, fmt.Errorf("--watch-mqtt %q: want scheme://host:port/topic", u.Redacted())
	}
	if strings.ContainsAny(topic, "+#") || strings.Contains(v, "#") { // '#' would start a URL fragment
		return nil, fmt.Errorf("--watch-mqtt %q: the update topic cannot hold wildcards", u.Redacted())
	}
	c := &mqttChannel{raw: u.Redacted(), broker: scheme + "://" + u.Host, topic: topic, caFile: u.Query().Get("ca")}
	c.secure = scheme == "ssl" || scheme == "tls" || scheme == "mqtts" || c.caFile != ""
	if c.secure && scheme != "ssl" {
		c.broker = "ssl://" + u.Host // paho's name for TLS
	}
	if u.User != nil {
		c.user = u.User.Username()
		c.pass, _ = u.User.Password()
	}
	host, _ := os.Hostname()
	c.clientID = fmt.Sprintf("atoll-runner-update-%s-%d", host, os.Getpid())
	return c, nil
}

func (m *mqttChannel) String() string { return "mqtt " + m.raw }

func (m *mqttChannel) Watch(ctx context.Context, incoming string, found chan<- candidate) error {
	// The newest payload wins: a retained message replaced before it was handled is skipped.
	latest := make(chan []byte, 1)
	handler := func(_ paho.Client, msg paho.Message) {
		p := msg.Payload()
		for {
			select {
			case latest <- p:
				return
			default:
				select {
				case <-latest:
				default:
				}
			}
		}
	}
	o := paho.NewClientOptions().AddBroker(m.broker).SetClientID(m.clientID).SetCleanSession(true).
		SetUsername(m.user).SetPassword(m.pass).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).SetMaxReconnectInterval(30 * time.Second)
	if m.secure {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if m.caFile != "" {
			pem, err := os.ReadFile(m.caFile)
			if err != nil {
				return fmt.Errorf("%s: ca: %w", m, err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return fmt.Errorf("%s: ca %s: no PEM certificate", m, m.caFile)
			}
		}
		o.SetTLSConfig(tc)
	}
	var cl paho.Client
	o.SetOnConnectHandler(func(paho.Client) {
		go func() {
			tok := cl.Subscribe(m.topic, 1, handler)
			if tok.WaitTimeout(30*time.Second) && tok.Error() == nil {
				return
			}
			m.logf("update subscription failed", "channel", m.String(), "error", fmt.Sprint(tok.Error()))
		}()
	})
	o.SetConnectionLostHandler(func(_ paho.Client, err error) {
		m.logf("update channel lost its broker; reconnecting", "channel", m.String(), "error", err.Error())
	})
	cl = paho.NewClient(o)
	cl.Connect()
	defer cl.Disconnect(100)

	var last [32]byte
	for {
		var p []byte
		select {
		case <-ctx.Done():
			return nil
		case p = <-latest:
		}
		sum := sha256.Sum256(p)
		if len(p) == 0 || sum == last {
			continue // a cleared retained message, or the one offered already
		}
		path, err := m.save(ctx, incoming, p)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			m.logf("update from MQTT failed", "channel", m.String(), "error", err.Error())
			continue
		}
		last = sum
		if !offer(ctx, found, candidate{Channel: m.String(), Path: path}) {
			return nil
		}
	}
}

// bundleRef is the JSON form of an MQTT update: where to download the bundle and its digest.
type bundleRef struct {
	URL    string `json:"url"`
	SHA256 string `json:"sha256"`
}

// save writes the bundle a payload carries (or names) under incoming and returns its path.
func (m *mqttChannel) save(ctx context.Context, incoming string, p []byte) (string, error) {
	if int64(len(p)) > m.maxSize {
		return "", fmt.Errorf("message of %d bytes exceeds the limit of %d", len(p), m.maxSize)
	}
	if err := os.MkdirAll(incoming, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(incoming, fmt.Sprintf("mqtt-%d.atoll", m.n.Add(1)))
	if t := bytes.TrimSpace(p); len(t) > 0 && t[0] == '{' {
		var ref bundleRef
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ref); err != nil {
			return "", fmt.Errorf("reference: %w", err)
		}
		want, err := hex.DecodeString(ref.SHA256)
		if err != nil || len(want) != sha256.Size {
			return "", fmt.Errorf("reference: sha256 %q is not 64 hex digits", ref.SHA256)
		}
		if u, err := url.Parse(ref.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
			return "", fmt.Errorf("reference: url %q is not http(s)", ref.URL)
		}
		return path, m.download(ctx, ref.URL, want, path)
	}
	return path, os.WriteFile(path, p, 0o600)
}

// download fetches url into path, bounded by maxSize, and checks its SHA-256.
func (m *mqttChannel) download(ctx context.Context, url string, want []byte, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	h := sha256.New()
	if err := saveBody(path, url, resp.Body, m.maxSize, h); err != nil {
		return err
	}
	if !bytes.Equal(h.Sum(nil), want) {
		os.Remove(path)
		return errors.New("GET " + url + ": sha256 " + hex.EncodeToString(h.Sum(nil)) + " is not the announced " + hex.EncodeToString(want))
	}
	return nil
}

var _ updateChannel = (*mqttChannel)(nil)
