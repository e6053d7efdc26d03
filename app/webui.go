package app

import (
	"io/fs"
	"net/http"
	"path"
	"strings"
	"testing/fstest"
)

// noFrontendPage is served when the binary was built without the frontend.
const noFrontendPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Atoll</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:4rem auto;max-width:40rem;color:#1b2733}
code{background:#eef2f5;padding:.1rem .3rem;border-radius:3px}</style></head>
<body><h1>Atoll</h1>
<p>This build of <code>atoll</code> has no studio frontend built in.</p>
<p>Run <code>make frontend</code> and then <code>make bin/atoll</code> (or just <code>make run</code>) to build it.
The API is up at /api/ (send the token that <code>atoll serve</code> printed as
<code>Authorization: Bearer</code>).</p>
</body></html>
`

// webHandler serves the built frontend: files as they are, and index.html for any other path
// (the studio routes on the client).
func webHandler(fsys fs.FS) http.Handler {
	if fsys == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.Write([]byte(noFrontendPage))
		})
	}
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if p == "" || p == "." {
			p = "index.html"
		}
		if _, err := fs.Stat(fsys, p); err != nil {
			p = "index.html"
		}
		if p == "index.html" {
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, fsys, "index.html")
			return
		}
		if strings.HasPrefix(p, "assets/") {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		files.ServeHTTP(w, r)
	})
}

// noFrontendFS holds only the page saying to build the frontend (the desktop window's assets
// when none were built in).
var noFrontendFS = fstest.MapFS{"index.html": {Data: []byte(noFrontendPage)}}
