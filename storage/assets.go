package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// AssetInfo describes a stored asset.
type AssetInfo struct {
	SHA256    string    `json:"sha256"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"` // wasm, tflite, labels, wav or other
	Size      int64     `json:"size"`
	CreatedAt time.Time `json:"created_at"`
}

// Asset kinds.
const (
	KindWasm   = "wasm"
	KindTFLite = "tflite"
	KindLabels = "labels"
	KindWAV    = "wav"
	KindOther  = "other"
)

// PutAsset stores the bytes read from r under their SHA-256 and returns the asset. Storing bytes
// that are already there stores nothing and returns the existing asset (its first name stays).
// An empty kind is guessed from the content (wasm, tflite, wav) or the name (.txt and .csv are
// labels); a wasm, tflite or wav kind must match the content.
func (s *Store) PutAsset(ctx context.Context, name, kind string, r io.Reader) (AssetInfo, error) {
	info, err := s.putAsset(ctx, name, kind, r)
	if err != nil {
		return AssetInfo{}, fmt.Errorf("asset %q: %w", name, err)
	}
	return info, nil
}

func (s *Store) putAsset(ctx context.Context, name, kind string, r io.Reader) (AssetInfo, error) {
	switch kind {
	case "", KindWasm, KindTFLite, KindLabels, KindWAV, KindOther:
	default:
		return AssetInfo{}, fmt.Errorf("unknown kind %q (want wasm, tflite, labels, wav or other): %w", kind, ErrInvalid)
	}
	// Stream into a temporary file in blobs/, hashing on the way; the first bytes decide the kind.
	tmp, err := os.CreateTemp(s.blobDir, ".tmp-*")
	if err != nil {
		return AssetInfo{}, err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	defer tmp.Close()
	h := sha256.New()
	head := &headWriter{max: 12}
	size, err := io.Copy(io.MultiWriter(tmp, h, head), readerWithContext{ctx, r})
	if err != nil {
		return AssetInfo{}, fmt.Errorf("read: %w", err)
	}
	detected := sniffKind(head.b, name)
	switch {
	case kind == "":
		kind = detected
	case (kind == KindWasm || kind == KindTFLite || kind == KindWAV) && detected != kind:
		return AssetInfo{}, fmt.Errorf("kind %s does not match the content (looks like %s): %w", kind, detected, ErrInvalid)
	}
	sum := hex.EncodeToString(h.Sum(nil))

	// The blob is durable under its final name before the row that announces it commits, so a
	// crash leaves at worst an unlisted blob, never a row without its bytes.
	final := filepath.Join(s.blobDir, sum)
	if _, err := os.Stat(final); err == nil {
		tmp.Close()
	} else {
		if err := tmp.Sync(); err != nil {
			return AssetInfo{}, err
		}
		if err := tmp.Close(); err != nil {
			return AssetInfo{}, err
		}
		if err := os.Rename(tmp.Name(), final); err != nil {
			return AssetInfo{}, err
		}
		if err := syncDir(s.blobDir); err != nil {
			return AssetInfo{}, err
		}
	}
	if _, err := s.db.ExecContext(ctx,
		"INSERT INTO assets (sha256, name, kind, size, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
		sum, name, kind, size, nowNS()); err != nil {
		return AssetInfo{}, err
	}
	return s.assetInfo(ctx, sum)
}

// GetAsset returns the asset and a reader of its bytes, which the caller closes. The reader
// checks the bytes against the hash and fails at the end if the blob was altered on disk.
func (s *Store) GetAsset(ctx context.Context, sha string) (AssetInfo, io.ReadCloser, error) {
	info, err := s.assetInfo(ctx, sha)
	if err != nil {
		return AssetInfo{}, nil, err
	}
	f, err := os.Open(filepath.Join(s.blobDir, info.SHA256))
	if err != nil {
		return AssetInfo{}, nil, fmt.Errorf("asset %s: blob: %w", sha, err)
	}
	return info, &verifyingReader{f: f, h: sha256.New(), want: info.SHA256}, nil
}

// AssetPath returns the file holding the asset's bytes, for code that streams from or maps a
// file (a WAV source, the Wasm compiler). The file must be treated as read-only.
func (s *Store) AssetPath(ctx context.Context, sha string) (string, error) {
	info, err := s.assetInfo(ctx, sha)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.blobDir, info.SHA256), nil
}

// ListAssets returns every asset, the newest first.
func (s *Store) ListAssets(ctx context.Context) ([]AssetInfo, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT sha256, name, kind, size, created_at FROM assets ORDER BY created_at DESC, sha256")
	if err != nil {
		return nil, fmt.Errorf("list assets: %w", err)
	}
	defer rows.Close()
	as := []AssetInfo{}
	for rows.Next() {
		var a AssetInfo
		var created int64
		if err := rows.Scan(&a.SHA256, &a.Name, &a.Kind, &a.Size, &created); err != nil {
			return nil, fmt.Errorf("list assets: %w", err)
		}
		a.CreatedAt = fromNS(created)
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list assets: %w", err)
	}
	return as, nil
}

func (s *Store) assetInfo(ctx context.Context, sha string) (AssetInfo, error) {
	sha = strings.ToLower(sha)
	if !validSHA256(sha) {
		return AssetInfo{}, fmt.Errorf("asset %q: not a sha256: %w", sha, ErrNotFound)
	}
	a := AssetInfo{SHA256: sha}
	var created int64
	err := s.db.QueryRowContext(ctx, "SELECT name, kind, size, created_at FROM assets WHERE sha256 = ?", sha).
		Scan(&a.Name, &a.Kind, &a.Size, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return AssetInfo{}, fmt.Errorf("asset %s: %w", sha, ErrNotFound)
	}
	if err != nil {
		return AssetInfo{}, fmt.Errorf("asset %s: %w", sha, err)
	}
	a.CreatedAt = fromNS(created)
	return a, nil
}

func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// sniffKind guesses an asset's kind from its first bytes, then from its name for text.
func sniffKind(head []byte, name string) string {
	switch {
	case bytes.HasPrefix(head, []byte("\x00asm")):
		return KindWasm
	case len(head) >= 8 && string(head[4:8]) == "TFL3":
		return KindTFLite
	case len(head) >= 12 && string(head[0:4]) == "RIFF" && string(head[8:12]) == "WAVE":
		return KindWAV
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".txt", ".csv":
		return KindLabels
	}
	return KindOther
}

// headWriter keeps the first max bytes written to it.
type headWriter struct {
	b   []byte
	max int
}

func (w *headWriter) Write(p []byte) (int, error) {
	if n := w.max - len(w.b); n > 0 {
		w.b = append(w.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

// readerWithContext stops a long upload when the context is done.
type readerWithContext struct {
	ctx context.Context
	r   io.Reader
}

func (r readerWithContext) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// verifyingReader hashes what it reads and reports a mismatch instead of io.EOF.
type verifyingReader struct {
	f    *os.File
	h    hash.Hash
	want string
}

func (r *verifyingReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(r.h.Sum(nil)); got != r.want {
			return n, fmt.Errorf("asset %s: blob %s is corrupt (its sha256 is %s)", r.want, r.f.Name(), got)
		}
	}
	return n, err
}

func (r *verifyingReader) Close() error { return r.f.Close() }

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) { // Windows cannot sync directories
		return err
	}
	return nil
}

// removeStaleTemps deletes temporary blobs left by a crashed upload. Young ones may belong to an
// upload in progress in another process and are left alone.
func (s *Store) removeStaleTemps() {
	tmps, _ := filepath.Glob(filepath.Join(s.blobDir, ".tmp-*"))
	for _, t := range tmps {
		if st, err := os.Stat(t); err == nil && time.Since(st.ModTime()) > time.Hour {
			os.Remove(t)
		}
	}
}
