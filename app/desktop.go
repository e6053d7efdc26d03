//go:build desktop

package app

import (
	"context"
	"encoding/json"
	"io/fs"

	"github.com/wailsapp/wails/v2"
	"github.com/wailsapp/wails/v2/pkg/options"
	"github.com/wailsapp/wails/v2/pkg/options/assetserver"
	"github.com/wailsapp/wails/v2/pkg/options/linux"
	"github.com/wailsapp/wails/v2/pkg/runtime"
)

// DesktopAvailable reports whether this build has the desktop window (build tag desktop).
const DesktopAvailable = true

// WindowEvent is the Wails event that carries server events to the window: the same objects as
// the WebSocket's server → client messages.
const WindowEvent = "atoll:event"

// readyProbe runs in the window once the DOM is ready (only when a ready file is configured: the
// desktop test). When the studio's canvas has rendered it checks the bindings and the event path
// end to end — starts a small run, subscribes and taps it, waits for metrics and rows on the
// "atoll:event" Wails event, stops it — and reports all that to Service.Ready, which writes the
// ready file.
const readyProbe = `(function () {
  var tries = 0;
  function report(svc, r) { svc.Ready(JSON.stringify(r)); }
  function events(svc, r) {
    var doc = {version: 1, id: "", name: "probe", nodes: [
      {id: "gen", type: "source.generator", config: {count: 0, rate: 200}},
      {id: "show", type: "sink.preview", config: {}}],
      edges: [{from: {node: "gen", port: "out"}, to: {node: "show", port: "in"}}]};
    var seen = {metrics: 0, rows: 0, status: 0}, run = null, done = false;
    var finish = function (err) {
      if (done) return;
      done = true;
      r.events = seen;
      if (err) r.error = String(err);
      var end = function () { report(svc, r); };
      if (run) svc.StopRun(run).then(end, end); else end();
    };
    window.runtime.EventsOn("` + WindowEvent + `", function (e) {
      if (typeof e === "string") e = JSON.parse(e);
      if (!run || (e.run !== run && !(e.run && e.run.id === run))) return;
      if (seen[e.type] !== undefined) seen[e.type]++;
      if (seen.metrics >= 2 && seen.rows >= 2) finish();
    });
    svc.StartRun(doc, "").then(function (info) {
      run = info.id;
      return svc.Subscribe(run).then(function () { return svc.Tap(run, "gen", "out"); });
    }).catch(finish);
    setTimeout(function () { finish("timeout waiting for events"); }, 30000);
  }
  function probe() {
    var flow = document.querySelector('.react-flow');
    var svc = window.go && window.go.app && window.go.app.Service;
    var nodes = document.querySelectorAll('.react-flow__node').length;
    // The studio opens its first graph after the canvas mounts: wait for its nodes (up to 30 s,
    // then report what is there so the test says what it saw).
    if (flow && svc && window.runtime && (nodes > 0 || tries >= 300)) {
      events(svc, {canvas: true, nodes: nodes,
        palette: document.querySelectorAll('[draggable="true"]').length, title: document.title});
      return;
    }
    if (++tries < 600) { setTimeout(probe, 100); }
    else if (svc) { report(svc, {canvas: false, body: document.body.innerText.slice(0, 200)}); }
  }
  probe();
})();`

// RunDesktop opens the studio's window, bound to svc, and returns when it is closed. web is the
// built frontend (nil shows the page saying to run make frontend).
func RunDesktop(svc *Service, web fs.FS) error {
	var assets fs.FS = web
	if assets == nil {
		assets = noFrontendFS
	}
	done := make(chan struct{})
	return wails.Run(&options.App{
		Title:            "Atoll",
		Width:            1280,
		Height:           800,
		MinWidth:         800,
		MinHeight:        500,
		BackgroundColour: options.NewRGB(0xf4, 0xf6, 0xf8),
		AssetServer: &assetserver.Options{
			Assets: assets,
			// GET misses and every other method: the HTTP API (asset downloads, say).
			Handler: NewHandler(svc, HandlerOptions{}),
		},
		OnStartup: func(ctx context.Context) {
			svc.attachWindow(func(b json.RawMessage) { runtime.EventsEmit(ctx, WindowEvent, b) }, done)
			svc.setSaveDialog(func(name string) (string, error) {
				return runtime.SaveFileDialog(ctx, runtime.SaveDialogOptions{Title: "Save bundle", DefaultFilename: name,
					Filters: []runtime.FileFilter{{DisplayName: "Atoll bundles (*.atoll)", Pattern: "*.atoll"}}})
			})
		},
		OnDomReady: func(ctx context.Context) {
			if svc.opts.ReadyFile != "" {
				runtime.WindowExecJS(ctx, readyProbe)
			}
		},
		OnShutdown:     func(context.Context) { close(done) },
		Bind:           []any{svc},
		ErrorFormatter: FormatError,
		Linux:          &linux.Options{ProgramName: "atoll", WebviewGpuPolicy: linux.WebviewGpuPolicyNever},
	})
}
