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

// readyProbe runs in the window once the DOM is ready: when the studio's canvas has rendered it
// reports to Service.Ready (the desktop test waits for the ready file that writes).
const readyProbe = `(function () {
  var tries = 0;
  function probe() {
    var flow = document.querySelector('.react-flow');
    var svc = window.go && window.go.app && window.go.app.Service;
    if (flow && svc) {
      svc.Ready(JSON.stringify({canvas: true, nodes: document.querySelectorAll('.react-flow__node').length,
        palette: document.querySelectorAll('[draggable="true"]').length, title: document.title}));
      return;
    }
    if (++tries < 600) { setTimeout(probe, 100); }
    else if (svc) { svc.Ready(JSON.stringify({canvas: false, body: document.body.innerText.slice(0, 200)})); }
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
