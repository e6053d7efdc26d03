package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/atoll-studio/atoll/storage"
)

// ListAssets returns every stored asset, the newest first.
func (s *Service) ListAssets() ([]storage.AssetInfo, error) {
	as, err := s.store.ListAssets(s.ctx)
	if as == nil {
		as = []storage.AssetInfo{}
	}
	return as, err
}

// UploadAsset stores data under its SHA-256 (kind wasm, tflite, labels, wav or other; empty
// guesses it from the content). The desktop window sends data base64-encoded.
func (s *Service) UploadAsset(name, kind string, data []byte) (storage.AssetInfo, error) {
	return s.putAsset(name, kind, bytes.NewReader(data))
}

func (s *Service) putAsset(name, kind string, r io.Reader) (storage.AssetInfo, error) {
	if name == "" {
		return storage.AssetInfo{}, fmt.Errorf("asset: empty name: %w", ErrInvalid)
	}
	return s.store.PutAsset(s.ctx, name, kind, r)
}

// openAsset returns the asset and a reader of its bytes (checked against the hash).
func (s *Service) openAsset(sha string) (storage.AssetInfo, io.ReadCloser, error) {
	return s.store.GetAsset(s.ctx, sha)
}

// assetResolver opens a node's asset reference: a SHA-256 of the asset store, else a file path.
type assetResolver struct {
	store *storage.Store
	ctx   context.Context
	dir   string // relative paths resolve against it, when set
}

func (a *assetResolver) path(ref string) string {
	if a.dir != "" && !filepath.IsAbs(ref) {
		return filepath.Join(a.dir, ref)
	}
	return ref
}

// Asset returns the bytes of ref.
func (a *assetResolver) Asset(ref string) ([]byte, error) {
	if isSHA256(ref) {
		_, rc, err := a.store.GetAsset(a.ctx, ref)
		if err == nil {
			defer rc.Close()
			data, err := io.ReadAll(rc)
			if err != nil {
				return nil, fmt.Errorf("asset %s: %w", ref, err)
			}
			return data, nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
	}
	data, err := os.ReadFile(a.path(ref))
	if err != nil {
		if isSHA256(ref) {
			return nil, fmt.Errorf("asset %s is not in the asset store: %w", ref, ErrNotFound)
		}
		return nil, fmt.Errorf("asset %q: %w", ref, err)
	}
	return data, nil
}

// Path returns a file holding ref's bytes (the store's blob, or ref itself), for nodes that
// stream from or map a file.
func (a *assetResolver) Path(ref string) (string, error) {
	if isSHA256(ref) {
		p, err := a.store.AssetPath(a.ctx, ref)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return "", err
		}
	}
	p := a.path(ref)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("asset %q: %w", ref, err)
	}
	return p, nil
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
