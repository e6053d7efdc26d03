package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestIntegrationDesktopWindow opens the desktop studio under Xvfb, waits until the frontend
// reports that its canvas rendered (through the bound Service.Ready), takes a screenshot and
// checks it is not blank. The screenshot goes to artifacts/desktop/.
//
// `make test-desktop` (part of `make test`) sets ATOLL_TEST_DESKTOP=1 and ATOLL_DESKTOP_BIN; with
// ATOLL_TEST_DESKTOP set, anything missing (Xvfb, ImageMagick, WebKitGTK, the frontend) fails the
// test. Plain `go test ./...` skips it: it needs a desktop build and an X server.
func TestIntegrationDesktopWindow(t *testing.T) {
	if os.Getenv("ATOLL_TEST_DESKTOP") == "" {
		t.Skip("set ATOLL_TEST_DESKTOP=1 to run (make test-desktop does)")
	}
	for _, tool := range []string{"Xvfb", "import", "xwininfo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing (Debian: xvfb imagemagick x11-utils; see .ci/packages/app.txt): %v", tool, err)
		}
	}
	bin := os.Getenv("ATOLL_DESKTOP_BIN")
	if bin == "" {
		bin = buildAtoll(t, "desktop", "production", "webkit2_41")
	}
	tmp := t.TempDir()

	// Xvfb picks a free display and writes its number to the pipe (-displayfd).
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	xvfb := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "1280x800x24", "-nolisten", "tcp")
	xvfb.ExtraFiles = []*os.File{w}
	xvfb.Stderr = os.Stderr
	if err := xvfb.Start(); err != nil {
		t.Fatalf("Xvfb: %v", err)
	}
	w.Close()
	t.Cleanup(func() { xvfb.Process.Kill(); xvfb.Wait() })
	num := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		num <- strings.TrimSpace(line)
	}()
	var display string
	select {
	case n := <-num:
		display = ":" + n
	case <-time.After(30 * time.Second):
		t.Fatal("Xvfb did not report its display within 30 s")
	}
	if display == ":" {
		t.Fatal("Xvfb exited without a display")
	}

	ready := filepath.Join(tmp, "ready")
	app := exec.Command(bin)
	app.Env = append(os.Environ(), "DISPLAY="+display, "WAYLAND_DISPLAY=",
		"ATOLL_DB="+filepath.Join(tmp, "atoll.db"), "ATOLL_READY_FILE="+ready,
		"XDG_CACHE_HOME="+filepath.Join(tmp, "cache"), "XDG_DATA_HOME="+filepath.Join(tmp, "data"))
	logFile, _ := os.Create(filepath.Join(tmp, "app.log"))
	app.Stdout, app.Stderr = logFile, logFile
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- app.Wait() }()
	t.Cleanup(func() {
		app.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			app.Process.Kill()
			<-exited
		}
	})
	appLog := func() string { b, _ := os.ReadFile(filepath.Join(tmp, "app.log")); return string(b) }

	// The window appears, then the frontend reports the canvas (the machine may be slow).
	start := time.Now()
	var report struct {
		Canvas  bool           `json:"canvas"`
		Nodes   int            `json:"nodes"`
		Palette int            `json:"palette"`
		Events  map[string]int `json:"events"`
		Error   string         `json:"error"`
	}
	windowAt := time.Duration(0)
	for {
		select {
		case err := <-exited:
			t.Fatalf("the desktop app exited: %v\n%s", err, appLog())
		default:
		}
		if windowAt == 0 {
			out, _ := exec.Command("xwininfo", "-display", display, "-root", "-tree").Output()
			if strings.Contains(string(out), `"Atoll"`) {
				windowAt = time.Since(start)
			}
		}
		if b, err := os.ReadFile(ready); err == nil && len(b) > 0 {
			if err := json.Unmarshal(b, &report); err != nil {
				t.Fatalf("ready report %q: %v", b, err)
			}
			break
		}
		if time.Since(start) > 3*time.Minute {
			t.Fatalf("no ready report after %v (window seen: %v)\n%s", time.Since(start), windowAt > 0, appLog())
		}
		time.Sleep(200 * time.Millisecond)
	}
	readyAt := time.Since(start)
	if windowAt == 0 {
		t.Errorf("no top-level window named Atoll on %s", display)
	}
	if !report.Canvas || report.Nodes == 0 {
		t.Fatalf("the frontend did not render the canvas with the example graph: %+v (was the frontend built into the binary? make frontend)", report)
	}
	t.Logf("window after %v, canvas with %d nodes and %d palette entries, then a probe run's events %v, after %v",
		windowAt.Round(time.Millisecond), report.Nodes, report.Palette, report.Events, readyAt.Round(time.Millisecond))
	if report.Events["metrics"] == 0 || report.Events["rows"] == 0 || report.Error != "" {
		t.Errorf("the window's probe run (bound StartRun, Subscribe, Tap; \"atoll:event\" events) got %v: %s", report.Events, report.Error)
	}

	// Let the canvas settle (fit view, fonts), then take the screenshot.
	time.Sleep(time.Second)
	artifacts := filepath.Join("artifacts", "desktop")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(artifacts, "window.png")
	if out, err := exec.Command("import", "-display", display, "-window", "root", shot).CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	colors, stddev, err := imageStats(shot)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s: %d distinct colours, luminance stddev %.3f", shot, colors, stddev)
	if colors < 64 || stddev < 0.03 {
		t.Errorf("the screenshot looks blank: %d distinct colours, luminance stddev %.3f (see %s)", colors, stddev, shot)
	}
	os.WriteFile(filepath.Join(artifacts, "report.txt"), []byte(fmt.Sprintf(
		"window after %v\ncanvas and probe run events %v after %v: %d nodes, %d palette entries\nscreenshot: %d colours, luminance stddev %.3f\n",
		windowAt.Round(time.Millisecond), report.Events, readyAt.Round(time.Millisecond), report.Nodes, report.Palette, colors, stddev)), 0o644)
}

// imageStats returns the number of distinct colours of a PNG and the standard deviation of its
// luminance (0..1).
func imageStats(path string) (int, float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	b := img.Bounds()
	seen := map[uint32]bool{}
	var sum, sum2, n float64
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[(r>>8)<<16|(g>>8)<<8|bl>>8] = true
			l := (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(bl)) / 65535
			sum += l
			sum2 += l * l
			n++
		}
	}
	mean := sum / n
	return len(seen), math.Sqrt(max(sum2/n-mean*mean, 0)), nil
}
