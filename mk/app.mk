# The studio binary (main.go, app/, nodes/studio). `bin/atoll` is the plain build (cgo for
# SQLite; serve/run/validate, no window); `bin/atoll-desktop` adds the Wails window (tags
# desktop,production,webkit2_41: Wails v2's production build, GTK 3 and WebKitGTK 4.1, built with
# go build rather than the wails CLI, which would also regenerate frontend bindings we do not
# use). Both embed the frontend that `make frontend` built: app-web copies frontend/dist into
# app/web/dist (gitignored), which package app/web embeds. `test-desktop` opens the window under
# Xvfb, waits for the canvas and checks a screenshot (artifacts/desktop/).

APP_VERSION      := $(shell git describe --always --dirty 2>/dev/null || echo dev)
APP_LDFLAGS      := -X main.version=$(APP_VERSION)
APP_DESKTOP_TAGS := desktop,production,webkit2_41

TESTS += test-desktop
BENCHES += bench-app

.PHONY: app-web bin/atoll bin/atoll-desktop test-desktop wails-cli bench-app

# The frontend is copied when built; without it the studio serves a page saying to run
# `make frontend`.
app-web:
	@find app/web/dist -mindepth 1 ! -name .gitignore -delete
	@if [ -f frontend/dist/index.html ]; then cp -R frontend/dist/. app/web/dist/; \
	else echo "app: frontend/dist is not built (make frontend): the studio will say so"; fi

# go build is incremental: these always run and cost little when nothing changed.
bin/atoll: frontend app-web
	CGO_ENABLED=1 $(GO) build -ldflags "$(APP_LDFLAGS)" -o $@ .

bin/atoll-desktop: frontend app-web
	CGO_ENABLED=1 $(GO) build -tags $(APP_DESKTOP_TAGS) -ldflags "-w -s $(APP_LDFLAGS)" -o $@ .

test-desktop: bin/atoll-desktop
	ATOLL_TEST_DESKTOP=1 ATOLL_DESKTOP_BIN=$(abspath bin/atoll-desktop) \
		$(GO) test -count=1 -run '^TestIntegrationDesktopWindow$$' -v -timeout 15m .

# The pinned Wails CLI (`wails doctor`, `wails dev`); the builds above do not need it.
wails-cli:
	$(GO) install github.com/wailsapp/wails/v2/cmd/wails@v2.16.0

# A 1M-row generator → map → discard graph run through the studio service, without and with a
# client subscribed and tapping the map (median of 3 runs each): the tap must not slow the
# pipeline; the client gets the engine's throttled samples.
bench-app:
	@$(GO) test ./app/ -run '^$$' -bench 'StudioRun' -benchtime 1x -count 3 | awk -f mk/app-bench.awk
