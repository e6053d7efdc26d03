package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"time"
)

// candidate is a bundle file an update channel found: the runner verifies it, builds it and
// swaps to it, or refuses it and keeps the running one.
type candidate struct {
	// Channel names where it came from ("dir /var/lib/atoll/updates", "url https://...").
	Channel string
	// Path is a local file holding the bundle; a channel that downloads writes it under the
	// incoming directory it is given.
	Path string
}

// updateChannel is a way new bundles reach a running runner. Watch runs until ctx ends, sending
// each new candidate on found; incoming is a directory in the state directory where a channel
// may store what it downloads. The directory watcher and the HTTP poller are here; an MQTT topic
// channel (the connectors' client) implements the same interface.
type updateChannel interface {
	String() string
	Watch(ctx context.Context, incoming string, found chan<- candidate) error
}

// offer sends c on found; false when ctx ended first.
func offer(ctx context.Context, found chan<- candidate, c candidate) bool {
	select {
	case found <- c:
		return true
	case <-ctx.Done():
		return false
	}
}

// wait waits for t's next tick; false when ctx ended first.
func wait(ctx context.Context, t *time.Ticker) bool {
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// dirChannel watches a directory for *.atoll files. A file is offered once its size and
// modification time stayed the same over two polls (so a file being copied is not read half
// written; writers should still write elsewhere and rename into the directory), and again when
// it changes.
type dirChannel struct {
	dir  string
	poll time.Duration
}

func (d *dirChannel) String() string { return "dir " + d.dir }

func (d *dirChannel) Watch(ctx context.Context, incoming string, found chan<- candidate) error {
	type stamp struct {
		size int64
		mod  time.Time
	}
	offered := map[string]stamp{}
	pending := map[string]stamp{}
	t := time.NewTicker(d.poll)
	defer t.Stop()
	for {
		matches, _ := filepath.Glob(filepath.Join(d.dir, "*.atoll"))
		sort.Strings(matches)
		for _, p := range matches {
			info, err := os.Stat(p)
			if err != nil || !info.Mode().IsRegular() {
				continue
			}
			st := stamp{info.Size(), info.ModTime()}
			if offered[p] == st {
				continue
			}
			if pending[p] != st {
				pending[p] = st // seen changing: wait one more poll
				continue
			}
			delete(pending, p)
			offered[p] = st
			if !offer(ctx, found, candidate{Channel: d.String(), Path: p}) {
				return nil
			}
		}
		if !wait(ctx, t) {
			return nil
		}
	}
}

// urlChannel polls an HTTP(S) URL with If-None-Match: a 304 means no news; a 200 body (bounded
// by maxSize) is saved under incoming and offered, and its ETag remembered.
type urlChannel struct {
	url     string
	poll    time.Duration
	maxSize int64
	client  *http.Client
	logf    func(msg string, args ...any)
	n       atomic.Int64
}

func (u *urlChannel) String() string { return "url " + u.url }

func (u *urlChannel) Watch(ctx context.Context, incoming string, found chan<- candidate) error {
	etag := ""
	t := time.NewTicker(u.poll)
	defer t.Stop()
	for {
		if p, tag, err := u.fetch(ctx, incoming, etag); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			u.logf("update poll failed", "channel", u.String(), "error", err.Error())
		} else if p != "" {
			etag = tag
			if !offer(ctx, found, candidate{Channel: u.String(), Path: p}) {
				return nil
			}
		}
		if !wait(ctx, t) {
			return nil
		}
	}
}

// fetch returns the path of a newly downloaded bundle, or "" when the server had nothing new.
func (u *urlChannel) fetch(ctx context.Context, incoming, etag string) (string, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.url, nil)
	if err != nil {
		return "", "", err
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return "", etag, nil
	case http.StatusOK:
	default:
		return "", etag, fmt.Errorf("GET %s: %s", u.url, resp.Status)
	}
	if resp.ContentLength > u.maxSize {
		return "", etag, fmt.Errorf("GET %s: %d bytes exceeds the limit of %d", u.url, resp.ContentLength, u.maxSize)
	}
	if err := os.MkdirAll(incoming, 0o700); err != nil {
		return "", etag, err
	}
	p := filepath.Join(incoming, fmt.Sprintf("url-%d.atoll", u.n.Add(1)))
	if err := saveBody(p, u.url, resp.Body, u.maxSize, io.Discard); err != nil {
		return "", etag, err
	}
	// Without an ETag every poll downloads again; the runner ignores a bundle it runs already.
	return p, resp.Header.Get("ETag"), nil
}

// saveBody writes the body of a GET of url into a new file at path, refusing more than max bytes;
// also sees every byte written (io.Discard for none). On an error the file is removed.
func saveBody(path, url string, body io.Reader, max int64, also io.Writer) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.MultiWriter(f, also), io.LimitReader(body, max+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > max {
		err = fmt.Errorf("GET %s: body exceeds the limit of %d bytes", url, max)
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
