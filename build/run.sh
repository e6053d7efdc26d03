#!/usr/bin/env bash
# `make run`: the studio's desktop window when there is a display (DISPLAY or WAYLAND_DISPLAY)
# and the desktop build works; otherwise web mode, `atoll serve`, printing the URL to open.
# Arguments go to the binary (e.g. --db FILE). ATOLL_ADDR overrides the web address.
set -uo pipefail
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  if $MAKE --no-print-directory bin/atoll-desktop; then
    echo "atoll: desktop mode (display ${DISPLAY:-${WAYLAND_DISPLAY:-}}): opening the studio window"
    exec ./bin/atoll-desktop "$@"
  fi
  echo "atoll: the desktop build failed (see above; needs libgtk-3-dev libwebkit2gtk-4.1-dev): web mode instead"
else
  echo "atoll: no DISPLAY or WAYLAND_DISPLAY: web mode"
fi
[ -x bin/atoll ] || $MAKE --no-print-directory bin/atoll || exit 1
echo "atoll: web mode: open the \"atoll: open ...#token=...\" address below in a browser (Ctrl-C stops)"
exec ./bin/atoll serve --addr "${ATOLL_ADDR:-127.0.0.1:7300}" "$@"
