//go:build !desktop

package app

import (
	"errors"
	"io/fs"
)

// DesktopAvailable reports whether this build has the desktop window (build tag desktop).
const DesktopAvailable = false

// RunDesktop fails in a build without the desktop window: build with
// `make bin/atoll-desktop` (tags desktop,production,webkit2_41) or use `atoll serve`.
func RunDesktop(svc *Service, web fs.FS) error {
	return errors.New("this atoll was built without the desktop window (build tag desktop): run `atoll serve`, or build bin/atoll-desktop")
}
