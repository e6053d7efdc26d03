package mqtt

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/atoll-studio/atoll/internal/mosquitto"
)

var (
	runnerOnce sync.Once
	runnerBin  string
	runnerErr  error
)

// runnerBinary builds cmd/atoll-runner once per test binary (CGO_ENABLED=0, as shipped).
func runnerBinary(t testing.TB) string {
	t.Helper()
	runnerOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(filepath.Dir(file)))
		dir, err := os.MkdirTemp("", "atoll-runner-mqtt")
		if err != nil {
			runnerErr = err
			return
		}
		runnerBin = filepath.Join(dir, "atoll-runner")
		cmd := exec.Command("go", "build", "-o", runnerBin, "./cmd/atoll-runner")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			runnerErr = fmt.Errorf("go build ./cmd/atoll-runner: %v\n%s", err, out)
		}
	})
	if runnerErr != nil {
		t.Fatal(runnerErr)
	}
	return runnerBin
}

// runnerProc is one atoll-runner process running a graph file.
type runnerProc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	mu     *sync.Mutex
	http   string
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// startRunner starts atoll-runner on graph, serving /metrics on a free port; the test's end
// kills it.
func startRunner(t testing.TB, graphFile string) *runnerProc {
	t.Helper()
	p := &runnerProc{stderr: &bytes.Buffer{}, mu: &sync.Mutex{}, http: fmt.Sprintf("127.0.0.1:%d", mosquitto.FreePort(t))}
	p.cmd = exec.Command(runnerBinary(t), "run", "--http", p.http, graphFile)
	p.cmd.Stderr = lockedWriter{p.mu, p.stderr}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.cmd.Wait()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("runner %s log:\n%s", graphFile, p.log())
		}
	})
	return p
}

func (p *runnerProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// kill ends the runner with SIGKILL: no drain, no goodbye to the broker.
func (p *runnerProc) kill() { _ = p.cmd.Process.Signal(syscall.SIGKILL) }

// metrics fetches the runner's /metrics text.
func (p *runnerProc) metrics(t testing.TB) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + p.http + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("runner /metrics: %v\n%s", err, p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitConnected waits until the runner's /metrics says its source is connected.
func (p *runnerProc) waitConnected(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.metrics(t), `atoll_node_gauge{node="src",name="connected"} 1`) {
		if time.Now().After(deadline) {
			t.Fatalf("the runner's source never connected:\n%s", p.metrics(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// relayGraph writes a graph that relays source topics to sink topic "done/<name>" and returns
// its path.
func relayGraph(t testing.TB, b *mosquitto.Broker, name, filter string, clean bool) string {
	t.Helper()
	js := fmt.Sprintf(`{"version":1,"id":"relay-%[1]s","name":"relay","nodes":[
		{"id":"src","type":"source.mqtt","config":{%[2]s,"client_id":"runner-%[1]s","topics":[%[3]q],"qos":1,"clean_session":%[4]v,"batch_size":64}},
		{"id":"sink","type":"sink.mqtt","config":{%[2]s,"client_id":"runner-%[1]s-out","topic":"done/%[1]s","qos":1}}],
		"edges":[{"from":{"node":"src","port":"out"},"to":{"node":"sink","port":"in"}}]}`, name, b.ConnJSON(), filter, clean)
	path := filepath.Join(t.TempDir(), "relay-"+name+".json")
	mosquitto.WriteFile(t, path, js)
	return path
}

// doneCollector counts the relayed messages by runner and sequence number.
type doneCollector struct {
	mu       sync.Mutex
	seen     map[int]int
	byRunner map[string]int
	at       map[string][]int // sequence numbers each runner relayed, in arrival order
}

func collectDone(t testing.TB, b *mosquitto.Broker) *doneCollector {
	t.Helper()
	d := &doneCollector{seen: map[int]int{}, byRunner: map[string]int{}, at: map[string][]int{}}
	sub := b.Client(t, "done-sub", func(o *paho.ClientOptions) { o.SetOrderMatters(true) })
	tok := sub.Subscribe("done/#", 1, func(_ paho.Client, m paho.Message) {
		var seq int
		if _, err := fmt.Sscanf(string(m.Payload()), `{"seq":%d`, &seq); err != nil {
			return // a probe
		}
		runner := strings.TrimPrefix(m.Topic(), "done/")
		d.mu.Lock()
		d.seen[seq]++
		d.byRunner[runner]++
		d.at[runner] = append(d.at[runner], seq)
		d.mu.Unlock()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe done/#: %v", tok.Error())
	}
	return d
}

// waitAll waits until every sequence number in [0, n) was relayed at least once.
func (d *doneCollector) waitAll(t testing.TB, n int, timeout time.Duration) (dups int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		d.mu.Lock()
		var miss []int
		dups = 0
		for i := 0; i < n; i++ {
			if c := d.seen[i]; c == 0 {
				miss = append(miss, i)
			} else {
				dups += c - 1
			}
		}
		d.mu.Unlock()
		if len(miss) == 0 {
			return dups
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sequence numbers never arrived, e.g. %v", len(miss), n, miss[:min(10, len(miss))])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *doneCollector) total() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.byRunner {
		n += c
	}
	return n
}

// TestIntegrationRunnerSIGKILL runs source.mqtt → sink.mqtt in atoll-runner, kills it with
// SIGKILL mid-stream and starts it again: the messages it had taken but not acknowledged are
// delivered again by the broker, so every sequence number comes out at least once.
func TestIntegrationRunnerSIGKILL(t *testing.T) {
	b := mosquitto.Start(t, mosquitto.Plain)
	done := collectDone(t, b)
	pub := b.Client(t, "pub-kill")
	g := relayGraph(t, b, "solo", "jobs/#", false)
	r := startRunner(t, g)
	r.waitConnected(t)
	time.Sleep(200 * time.Millisecond) // the subscription follows the connection

	const n = 6000
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for i := 0; i < n; i += 100 {
			publish(t, pub, "jobs/a", 1, i, i+100, seqJSON)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	for done.total() < n/3 {
		time.Sleep(5 * time.Millisecond)
	}
	m := r.metrics(t)
	for _, want := range []string{`atoll_node_gauge{node="src",name="connected"} 1`, `atoll_node_gauge{node="sink",name="connected"} 1`, `atoll_node_gauge{node="src",name="reconnecting"} 0`,
		`atoll_node_status{node="src",name="connection",value="connected"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	r.kill()
	killedAt := done.total()
	time.Sleep(300 * time.Millisecond)
	r2 := startRunner(t, g)
	<-pubDone
	dups := done.waitAll(t, n, 30*time.Second)
	t.Logf("killed after %d relayed; all %d relayed in the end, %d twice (redelivered)", killedAt, n, dups)
	r2.kill()
}

// TestIntegrationSharedSubscription runs three runners on one shared subscription
// ($share/atoll/jobs/#, persistent sessions): the broker splits 30,000 messages between them,
// none is lost and each relays a share.
func TestIntegrationSharedSubscription(t *testing.T) {
	b := mosquitto.Start(t, mosquitto.Plain)
	done := collectDone(t, b)
	pub := b.Client(t, "pub-share")
	var rs []*runnerProc
	for i := 1; i <= 3; i++ {
		r := startRunner(t, relayGraph(t, b, fmt.Sprint("r", i), "$share/atoll/jobs/#", false))
		rs = append(rs, r)
	}
	for _, r := range rs {
		r.waitConnected(t)
	}
	time.Sleep(300 * time.Millisecond)
	const n = 30000
	start := time.Now()
	publish(t, pub, "jobs/a", 1, 0, n, seqJSON)
	dups := done.waitAll(t, n, 60*time.Second)
	took := time.Since(start)
	done.mu.Lock()
	defer done.mu.Unlock()
	for i := 1; i <= 3; i++ {
		got := done.byRunner[fmt.Sprint("r", i)]
		if got < n/6 {
			t.Errorf("runner r%d relayed %d of %d: not a fair share", i, got, n)
		}
	}
	t.Logf("%d messages in %v; shares %v; %d twice", n, took.Round(time.Millisecond), done.byRunner, dups)
}

// TestIntegrationSharedSubscriptionFailover kills one of three runners mid-stream: the broker
// sends everything after to the other two. The group uses clean sessions, so that the dead
// runner leaves the group when its connection drops (with persistent sessions Mosquitto keeps
// queueing its share for it until it comes back; see DEPLOY.md); what it had taken and not
// acknowledged is lost with its session, and the test counts it.
func TestIntegrationSharedSubscriptionFailover(t *testing.T) {
	b := mosquitto.Start(t, mosquitto.Plain)
	done := collectDone(t, b)
	pub := b.Client(t, "pub-failover")
	var rs []*runnerProc
	for i := 1; i <= 3; i++ {
		rs = append(rs, startRunner(t, relayGraph(t, b, fmt.Sprint("f", i), "$share/atoll/jobs/#", true)))
	}
	for _, r := range rs {
		r.waitConnected(t)
	}
	time.Sleep(300 * time.Millisecond)
	const n = 30000
	killAt := n / 3
	for i := 0; i < n; i += 500 {
		publish(t, pub, "jobs/a", 1, i, i+500, seqJSON)
		if i+500 == killAt {
			// Let the runners catch up, then kill one.
			for done.total() < killAt*9/10 {
				time.Sleep(5 * time.Millisecond)
			}
			rs[2].kill()
			time.Sleep(200 * time.Millisecond) // the broker sees the connection drop
		}
	}
	// Everything published after the kill arrives, from the two survivors.
	deadline := time.Now().Add(60 * time.Second)
	for {
		done.mu.Lock()
		var miss []int
		for i := killAt; i < n; i++ {
			if done.seen[i] == 0 {
				miss = append(miss, i)
			}
		}
		lost := 0
		for i := 0; i < killAt; i++ {
			if done.seen[i] == 0 {
				lost++
			}
		}
		after := map[string]int{}
		for r, seqs := range done.at {
			for _, s := range seqs {
				if s >= killAt {
					after[r]++
				}
			}
		}
		done.mu.Unlock()
		if len(miss) == 0 {
			if after["f3"] != 0 {
				t.Errorf("the killed runner relayed %d messages published after its death", after["f3"])
			}
			if after["f1"] < (n-killAt)/4 || after["f2"] < (n-killAt)/4 {
				t.Errorf("after the kill the survivors relayed %v: not both taking a share", after)
			}
			// The dead runner's unacknowledged window (its in-flight batches, at most the
			// broker's max_inflight_messages plus what Mosquitto had queued for it) is gone.
			t.Logf("after the kill: %v; lost with the dead runner's clean session: %d of %d", after, lost, killAt)
			if lost > 2000 {
				t.Errorf("%d messages lost with the dead runner: more than its in-flight window", lost)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages published after the kill never arrived, e.g. %v", len(miss), miss[:min(10, len(miss))])
		}
		time.Sleep(50 * time.Millisecond)
	}
}
