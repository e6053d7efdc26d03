package storage

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestConcurrentSavers(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "atoll.db")
	// Two stores on one file stand for two processes (the studio and `atoll run`, say).
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	g, err := a.CreateGraph(ctx, "shared", nil)
	if err != nil {
		t.Fatal(err)
	}

	const perSaver = 40
	var mu sync.Mutex
	saved := map[int][]byte{} // version → document
	var wg sync.WaitGroup
	for i, s := range []*Store{a, b, a} {
		wg.Go(func() {
			for j := range perSaver {
				doc := testDoc(g.ID, "shared", 3, i*1000+j)
				vi, err := s.SaveVersion(ctx, g.ID, doc, fmt.Sprintf("saver %d #%d", i, j))
				if err != nil {
					t.Errorf("saver %d: %v", i, err)
					return
				}
				mu.Lock()
				if _, dup := saved[vi.Version]; dup {
					t.Errorf("version %d handed out twice", vi.Version)
				}
				saved[vi.Version] = doc
				mu.Unlock()
			}
		})
	}
	wg.Go(func() { // a reader alongside
		for range perSaver {
			if _, _, err := b.LoadGraph(ctx, g.ID); err != nil {
				t.Errorf("reader: %v", err)
				return
			}
		}
	})
	wg.Wait()

	vs, err := a.ListVersions(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1+3*perSaver || vs[0].Version != 1+3*perSaver {
		t.Fatalf("%d versions up to %d, want 1..%d with no gaps", len(vs), vs[0].Version, 1+3*perSaver)
	}
	for v, want := range saved {
		_, got, err := b.LoadVersion(ctx, g.ID, v)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("version %d: %v, equal %v", v, err, bytes.Equal(got, want))
		}
	}
}

// crashChildEnv, when set, makes TestSlowCrashDuringSave the child: it holds
// "<database path> <graph id> <round>".
const crashChildEnv = "ATOLL_STORAGE_CRASH_CHILD"

// crashDoc is the document the child saves as its i-th save in a round; the parent rebuilds it
// to compare byte for byte. Documents grow and shrink so pages are both added and rewritten.
func crashDoc(graphID string, round, i int) []byte {
	return testDoc(graphID, "crash", 20+(i*37)%180, round*100_000+i)
}

// TestSlowCrashDuringSave kills a process that is saving versions with SIGKILL at random
// moments and checks that the database is intact and every version the process saw committed
// is there, byte for byte. The child is this test binary run again with crashChildEnv set; it
// prints "saved <version> <i>" only after SaveVersion returned.
func TestSlowCrashDuringSave(t *testing.T) {
	if spec := os.Getenv(crashChildEnv); spec != "" {
		crashChild(t, spec)
		return
	}
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "atoll.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.CreateGraph(ctx, "crash", nil)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}

	reported := map[int][]byte{} // version → document, over all rounds
	const rounds = 5
	for round := range rounds {
		killAfter := 5 + rand.IntN(40)
		lines := runAndKill(t, path, g.ID, round, killAfter)
		for _, l := range lines {
			var v, i int
			if _, err := fmt.Sscanf(l, "saved %d %d", &v, &i); err != nil {
				t.Fatalf("round %d: child printed %q", round, l)
			}
			reported[v] = crashDoc(g.ID, round, i)
		}
		if len(lines) < killAfter {
			t.Fatalf("round %d: child reported %d saves before it was killed, want at least %d", round, len(lines), killAfter)
		}

		s, err := Open(path)
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		var check string
		if err := s.db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
			t.Fatalf("round %d: integrity_check = %q, %v", round, check, err)
		}
		info, _, err := s.LoadGraph(ctx, g.ID)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		vs, err := s.ListVersions(ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != info.Version {
			t.Errorf("round %d: %d versions stored up to %d: history has gaps", round, len(vs), info.Version)
		}
		for v, want := range reported {
			_, got, err := s.LoadVersion(ctx, g.ID, v)
			if err != nil {
				t.Errorf("round %d: committed version %d lost: %v", round, v, err)
				continue
			}
			if !bytes.Equal(got, want) {
				t.Errorf("round %d: version %d differs from what was saved", round, v)
			}
		}
		t.Logf("round %d: killed after %d saves, %d reported in all, latest version %d (one unreported save may have committed)",
			round, killAfter, len(reported), info.Version)
		s.Close()
	}
}

// runAndKill starts the child, lets it report killAfter saves, waits a random fraction of a save
// so the kill lands inside SaveVersion at different points, sends SIGKILL and returns every line
// the child reported, including those printed between the decision and the kill.
func runAndKill(t *testing.T, path, graphID string, round, killAfter int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSlowCrashDuringSave$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d", crashChildEnv, path, graphID, round))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "saved ") {
			continue // the test framework's own output
		}
		lines = append(lines, l)
		if len(lines) == killAfter && !killed {
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("round %d: child exited after %d saves before it could be killed: %v", round, len(lines), err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: child ended with %v, want SIGKILL", round, err)
	}
	return lines
}

// crashChild saves versions until it is killed.
func crashChild(t *testing.T, spec string) {
	f := strings.Fields(spec)
	if len(f) != 3 {
		t.Fatalf("%s=%q: want <path> <graph id> <round>", crashChildEnv, spec)
	}
	round, _ := strconv.Atoi(f[2])
	s, err := Open(f[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	w := bufio.NewWriter(os.Stdout)
	deadline := time.Now().Add(time.Minute) // an orphaned child does not run forever
	for i := 0; time.Now().Before(deadline); i++ {
		vi, err := s.SaveVersion(ctx, f[1], crashDoc(f[1], round, i), fmt.Sprintf("crash round %d save %d", round, i))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "saved %d %d\n", vi.Version, i)
		w.Flush() // reported only once committed, and at once
	}
	t.Fatal("child was not killed within a minute")
}
