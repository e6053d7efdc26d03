package app

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/atoll-studio/atoll/nodes/audio"
	"github.com/atoll-studio/atoll/storage"
)

// audioRoutes registers the endpoints the studio's audio views use:
//
//	GET /api/audio?ref=…         a recording (an asset's SHA-256, or a path the studio may read),
//	                             with HTTP Range requests, so an <audio> element seeks to a
//	                             detection without fetching the file
//	GET /api/audio/labels?ref=…  a model's class names (YAMNet's class map CSV, or one label per
//	                             line), for picking classes by name in transform.detect
//
// Paths are confined as graphs' paths are (the workspace, the links at its top, the directories
// added in Settings); relative ones resolve against the graph directory. The token goes in
// `?token=` where the page cannot set a header (an <audio src>).
func (h *handler) audioRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/audio", h.getAudio)
	mux.HandleFunc("GET /api/audio/labels", h.json(func(r *http.Request) (any, error) {
		return h.svc.ModelLabels(r.URL.Query().Get("ref"))
	}))
}

func (h *handler) getAudio(w http.ResponseWriter, r *http.Request) {
	f, name, mod, err := h.svc.openRecording(r.URL.Query().Get("ref"))
	if err != nil {
		writeError(w, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Cache-Control", "private, no-cache")
	http.ServeContent(w, r, name, mod, f)
}

// openRecording opens the WAV file ref names (a stored asset or an allowed path), checked to be
// a RIFF/WAVE file, with its name and modification time.
func (s *Service) openRecording(ref string) (*os.File, string, time.Time, error) {
	path, err := s.readablePath(ref)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", time.Time{}, fmt.Errorf("recording %q: %w", ref, notFound(err))
	}
	var head [12]byte
	st, serr := f.Stat()
	if _, err := io.ReadFull(f, head[:]); err != nil || serr != nil || st.IsDir() || string(head[0:4]) != "RIFF" || string(head[8:12]) != "WAVE" {
		f.Close()
		return nil, "", time.Time{}, fmt.Errorf("recording %q: not a RIFF/WAVE file: %w", ref, ErrInvalid)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, "", time.Time{}, err
	}
	return f, filepath.Base(path), st.ModTime(), nil
}

// ModelLabels returns the class names in the labels file ref (a stored asset or an allowed
// path): YAMNet's class map CSV or one label per line.
func (s *Service) ModelLabels(ref string) ([]string, error) {
	path, err := s.readablePath(ref)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("labels %q: %w", ref, notFound(err))
	}
	labels, err := audio.ReadLabels(data)
	if err != nil {
		return nil, fmt.Errorf("labels %q: %w: %w", ref, err, ErrInvalid)
	}
	return labels, nil
}

// readablePath returns the file behind ref: the blob of a stored asset, or a path the studio's
// path policy allows (relative ones against BaseDir, as nodes open them).
func (s *Service) readablePath(ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("ref: empty (an asset's SHA-256 or a path): %w", ErrInvalid)
	}
	if isSHA256(ref) {
		p, err := s.store.AssetPath(s.ctx, ref)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return "", err
		}
	}
	policy, err := s.pathPolicy()
	if err != nil {
		return "", err
	}
	if err := policy(ref); err != nil {
		return "", fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	return s.assets.path(ref), nil // as the nodes' asset resolver joins it
}

// notFound marks a missing file as ErrNotFound (404) and leaves other errors as they are.
func notFound(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %w", err, ErrNotFound)
	}
	return err
}
