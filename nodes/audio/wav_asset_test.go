package audio

import (
	"errors"
	"path/filepath"
	"testing"
)

// pathAssets resolves one reference to a file and refuses to hand over bytes.
type pathAssets struct{ ref, path string }

func (a pathAssets) Asset(string) ([]byte, error) { return nil, errors.New("read whole") }

func (a pathAssets) Path(ref string) (string, error) {
	if ref != a.ref {
		return "", errors.New("unknown asset")
	}
	return a.path, nil
}

// A stored recording whose resolver names its file is streamed from that file, not read whole.
func TestWAVAssetStreamsFromItsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blob")
	writeTestWAV(t, path, 1, 16, 2, false, 1000)
	ref := "5f2b0c1d9e8a7b6c5f2b0c1d9e8a7b6c5f2b0c1d9e8a7b6c5f2b0c1d9e8a7b6c"
	s := &wavSource{cfg: wavSourceConfig{Path: ref, Channel: 1}, assets: pathAssets{ref, path}, file: ref}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	st, err := s.open()
	if err != nil {
		t.Fatal(err)
	}
	defer st.closer.Close()
	if st.channels != 2 || st.held() != 4000 {
		t.Errorf("%d channels, %d bytes held, want 2 and 4000", st.channels, st.held())
	}
}
