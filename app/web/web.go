// Package web embeds the studio's built frontend. `make bin/atoll` copies frontend/dist into
// app/web/dist before building (see mk/app.mk); on a clean checkout the directory holds only its
// .gitignore, the build still compiles and the studio serves a page saying to run
// `make frontend`.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var files embed.FS

// FS returns the built frontend (index.html at its root), or nil when none was built in.
func FS() fs.FS {
	sub, err := fs.Sub(files, "dist")
	if err != nil {
		return nil
	}
	if _, err := fs.Stat(sub, "index.html"); err != nil {
		return nil
	}
	return sub
}
