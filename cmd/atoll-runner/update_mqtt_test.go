package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-studio/atoll/bundle"
	"github.com/atoll-studio/atoll/internal/mosquitto"
	"github.com/atoll-studio/atoll/internal/wasmexamples"
)

func TestParseMQTTChannel(t *testing.T) {
	c, err := parseMQTTChannel("mqtts://atoll:s3cret@broker.plant:8883/atoll/updates/live?ca=/etc/atoll/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	if c.broker != "ssl://broker.plant:8883" || c.topic != "atoll/updates/live" || c.user != "atoll" || c.pass != "s3cret" ||
		c.caFile != "/etc/atoll/ca.pem" || !c.secure {
		t.Fatalf("parsed %+v", c)
	}
	if strings.Contains(c.String(), "s3cret") {
		t.Errorf("the channel's name shows the password: %s", c)
	}
	for v, want := range map[string]string{
		"http://broker:1883/t":  "scheme",
		"tcp://broker:1883":     "topic",
		"tcp://broker:1883/a/#": "wildcards",
	} {
		if _, err := parseMQTTChannel(v); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to mention %q", v, err, want)
		}
	}
}

// TestIntegrationBundleMQTTUpdate runs a bundle with --watch-mqtt on a real broker: v2 arrives as
// the bundle itself retained on the topic, v3 as a retained {url, sha256} reference to a loopback
// HTTP server; a reference whose digest does not match and a bundle signed by an untrusted key
// are refused, and v3 keeps running.
func TestIntegrationBundleMQTTUpdate(t *testing.T) {
	_, runner, _ := buildBinaries(t)
	mod := wasmexamples.Path(t, "go-enrich")
	b := mosquitto.Start(t, mosquitto.Plain)
	pub := b.Client(t, "update-publisher")
	work, keyDir := t.TempDir(), t.TempDir()
	trust := filepath.Join(keyDir, "k.pub")
	writeFile(t, trust, []byte(bundle.FormatPublicKey(testKey(1).Public().(ed25519.PublicKey))+"\n"))
	cfg := func(field string) string { return `{"key":"kind","table":{"a":{"` + field + `":true}}}` }
	v1 := liveBundle(t, 1, mod, cfg("v1"), testKey(1))
	v2 := liveBundle(t, 2, mod, cfg("v2"), testKey(1))
	v3 := liveBundle(t, 3, mod, cfg("v3"), testKey(1))
	v4bad := liveBundle(t, 4, mod, cfg("v4"), testKey(2))
	b1 := filepath.Join(keyDir, "v1.atoll")
	writeFile(t, b1, v1)
	writeFile(t, filepath.Join(work, "in.jsonl"), []byte(`{"seq":0,"kind":"a"}`+"\n"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(v3) }))
	defer srv.Close()

	const topic = "atoll/updates/live"
	p := startRunner(t, work, runner, "run", "--trust", trust, "--state", "state", "--http", "127.0.0.1:0",
		"--watch-mqtt", fmt.Sprintf("tcp://127.0.0.1:%d/%s", b.Port(), topic), b1)
	waitFor(t, "the start line", 60*time.Second, p, func() bool { return startLine.MatchString(p.stdout.String()) })
	addr := startLine.FindStringSubmatch(p.stdout.String())[1]
	version := func() float64 { v, _ := healthz(t, addr)["graph_version"].(float64); return v }
	retain := func(payload []byte) {
		if tok := pub.Publish(topic, 1, true, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	ref := func(data []byte) []byte {
		sum := sha256.Sum256(data)
		return []byte(fmt.Sprintf(`{"url":%q,"sha256":%q}`, srv.URL+"/v3.atoll", hex.EncodeToString(sum[:])))
	}

	retain(v2)
	waitFor(t, "the swap to v2 over MQTT", 60*time.Second, p, func() bool { return version() == 2 })
	retain(ref(v3))
	waitFor(t, "the swap to v3 from an MQTT reference", 60*time.Second, p, func() bool { return version() == 3 })

	retain(ref(v4bad)) // the server still serves v3: the digest does not match
	waitFor(t, "the mismatching digest refused", 30*time.Second, p, func() bool {
		return strings.Contains(p.stderr.String(), "is not the announced")
	})
	retain(v4bad)
	waitFor(t, "the badly signed v4 refused", 60*time.Second, p, func() bool {
		r, reason := lastUpdate(healthz(t, addr))
		return r == "refused" && strings.Contains(reason, "not trusted")
	})
	if v := version(); v != 3 {
		t.Fatalf("running version %v after the refused updates, want 3", v)
	}
	if r, _ := lastUpdate(healthz(t, addr)); r != "refused" {
		t.Fatalf("last update %q", r)
	}
}
