// Package mosquitto starts real Mosquitto brokers for tests and benchmarks: each on a free
// loopback port with a fresh config (plain, password or TLS with a CA made by the test) and its
// own persistence directory, stopped when the test ends. A test fails, naming the package, when
// mosquitto is not installed.
package mosquitto

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Kind selects how a test broker listens.
type Kind int

const (
	Plain    Kind = iota // anonymous, plain TCP
	Password             // user "atoll", password "s3cret"
	TLS                  // TLS with a CA made by the test, client certificates required
)

// Broker is a Mosquitto process started by a test on a free loopback port with its own
// config and persistence directory; it is stopped when the test ends.
type Broker struct {
	t    testing.TB
	dir  string
	port int
	kind Kind
	conf string
	log  string

	mu  sync.Mutex
	cmd *exec.Cmd

	// TLS material (TLS).
	caFile, certFile, keyFile string
}

// Path finds the broker binary; Debian installs it in /usr/sbin, often not on PATH.
func Path(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("mosquitto is not installed (apt-get install mosquitto; listed in .ci/packages/mqtt.txt): the MQTT tests need a real broker")
	return ""
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start writes a fresh config for kind and starts Mosquitto with it. extra lines are
// appended to the config.
func Start(t testing.TB, kind Kind, extra ...string) *Broker {
	t.Helper()
	b := &Broker{t: t, dir: t.TempDir(), port: FreePort(t), kind: kind}
	b.log = filepath.Join(b.dir, "mosquitto.log")
	conf := []string{
		fmt.Sprintf("listener %d 127.0.0.1", b.port),
		"persistence true",
		"persistence_location " + b.dir + "/",
		"autosave_interval 3600",
		// Keep every message for slow or absent clients: the default (1000) drops beyond it.
		"max_queued_messages 0",
		"log_dest file " + b.log,
		"log_type error",
		"log_type warning",
		"log_type notice",
	}
	if os.Geteuid() == 0 {
		// Started as root, Mosquitto drops to the user "mosquitto", which cannot read the test's
		// private directory.
		conf = append(conf, "user root")
	}
	switch kind {
	case Plain:
		conf = append(conf, "allow_anonymous true")
	case Password:
		pw := filepath.Join(b.dir, "passwd")
		// A plain "user:password" file, hashed in place by mosquitto_passwd -U (from the
		// mosquitto package).
		WriteFile(t, pw, "atoll:s3cret\n")
		if p, err := exec.LookPath("mosquitto_passwd"); err == nil {
			if out, err := exec.Command(p, "-U", pw).CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_passwd -U: %v\n%s", err, out)
			}
		} else {
			t.Fatalf("mosquitto_passwd is not installed (it comes with the mosquitto package)")
		}
		conf = append(conf, "allow_anonymous false", "password_file "+pw)
	case TLS:
		b.makeCerts()
		conf = append(conf, "allow_anonymous true",
			"cafile "+b.caFile,
			"certfile "+filepath.Join(b.dir, "server.pem"),
			"keyfile "+filepath.Join(b.dir, "server.key"),
			"require_certificate true")
	}
	conf = append(conf, extra...)
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	WriteFile(t, b.conf, strings.Join(conf, "\n")+"\n")
	b.start()
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			logb, _ := os.ReadFile(b.log)
			t.Logf("mosquitto log (%s):\n%s", b.conf, logb)
		}
	})
	return b
}

func WriteFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// URL is the broker's URL for a client.
func (b *Broker) URL() string {
	if b.kind == TLS {
		return fmt.Sprintf("ssl://127.0.0.1:%d", b.port)
	}
	return fmt.Sprintf("tcp://127.0.0.1:%d", b.port)
}

// ConnJSON is the connection part of a node config for this broker (without braces).
func (b *Broker) ConnJSON() string {
	s := fmt.Sprintf(`"broker":%q`, b.URL())
	switch b.kind {
	case Password:
		s += `,"username":"atoll","password":"s3cret"`
	case TLS:
		s += fmt.Sprintf(`,"ca_file":%q,"cert_file":%q,"key_file":%q,"server_name":"localhost"`, b.caFile, b.certFile, b.keyFile)
	}
	return s
}

func (b *Broker) start() {
	t := b.t
	t.Helper()
	cmd := exec.Command(Path(t), "-c", b.conf)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	b.mu.Lock()
	b.cmd = cmd
	b.mu.Unlock()
	go cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if cmd.ProcessState != nil || time.Now().After(deadline) {
			logb, _ := os.ReadFile(b.log)
			t.Fatalf("mosquitto did not start listening on port %d: %v\n%s", b.port, err, logb)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Signal sends sig to the broker and waits for it to exit.
func (b *Broker) Signal(sig syscall.Signal) {
	b.mu.Lock()
	cmd := b.cmd
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	for i := 0; i < 500; i++ {
		if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
}

// Stop ends the broker (SIGTERM: it saves its sessions and queued messages first).
func (b *Broker) Stop() { b.Signal(syscall.SIGTERM) }

// Pause freezes the broker (SIGSTOP): connections stay open and nothing answers, until the
// test ends.
func (b *Broker) Pause() {
	b.mu.Lock()
	cmd := b.cmd
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGSTOP)
	b.t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGCONT) })
}

// Restart stops the broker and starts it again on the same port with the same state, after
// down.
func (b *Broker) Restart(down time.Duration) {
	b.Stop()
	time.Sleep(down)
	b.start()
}

// makeCerts makes a CA, a server certificate for localhost/127.0.0.1 and a client certificate.
func (b *Broker) makeCerts() {
	t := b.t
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "atoll test ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	b.caFile = filepath.Join(b.dir, "ca.pem")
	writePEM(t, b.caFile, "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: "localhost"},
			DNSNames:     []string{"localhost"},
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		writePEM(t, filepath.Join(b.dir, name+".pem"), "CERTIFICATE", der)
		writePEM(t, filepath.Join(b.dir, name+".key"), "EC PRIVATE KEY", kder)
	}
	leaf("server", 2, x509.ExtKeyUsageServerAuth)
	leaf("client", 3, x509.ExtKeyUsageClientAuth)
	b.certFile = filepath.Join(b.dir, "client.pem")
	b.keyFile = filepath.Join(b.dir, "client.key")
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	WriteFile(t, path, string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})))
}

// Client connects a plain paho client (a test's publisher or subscriber) with a clean session;
// configure may change its options. It is disconnected when the test ends.
func (b *Broker) Client(t testing.TB, id string, configure ...func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(b.URL()).SetClientID(id).SetCleanSession(true).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(250 * time.Millisecond).
		SetMaxReconnectInterval(time.Second).SetOrderMatters(true)
	switch b.kind {
	case Password:
		o.SetUsername("atoll").SetPassword("s3cret")
	case TLS:
		o.SetTLSConfig(b.TLSConfig(t))
	}
	for _, f := range configure {
		f(o)
	}
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("test client %s: connect to %s: %v", id, b.URL(), tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

// TLSConfig is a client's TLS config for a TLS broker: its CA and the client certificate.
func (b *Broker) TLSConfig(t testing.TB) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(b.caFile)
	if err != nil || !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("read the test CA %s: %v", b.caFile, err)
	}
	cert, err := tls.LoadX509KeyPair(b.certFile, b.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, ServerName: "localhost"}
}

// Port is the broker's loopback port.
func (b *Broker) Port() int { return b.port }
