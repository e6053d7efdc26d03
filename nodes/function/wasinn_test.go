package function

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/internal/testdata"
)

// dirAssets resolves asset paths against a directory.
type dirAssets string

func (d dirAssets) Asset(ref string) ([]byte, error) {
	if !filepath.IsAbs(ref) {
		ref = filepath.Join(string(d), ref)
	}
	return os.ReadFile(ref)
}

func TestNNSetup(t *testing.T) {
	dir := filepath.Dir(testdata.Path(t, "models/yamnet/yamnet.tflite"))
	bc := engine.BuildContext{NodeID: "fn", Assets: dirAssets(dir), Services: map[string]any{"base_dir": "/graphs"}}

	s, err := newNNSetup(bc, map[string]string{"yamnet": "yamnet.tflite"}, map[string]string{"labels.csv": "yamnet_class_map.csv"}, 1, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.env.Model("yamnet") == nil || s.Context == nil {
		t.Fatal("the model is not registered")
	}
	got, err := os.ReadFile(filepath.Join(s.AllowDir, "labels.csv"))
	if err != nil || !strings.HasPrefix(string(got), "index,mid,display_name") {
		t.Fatalf("files: %v %.30q", err, got)
	}
	tmp := s.AllowDir
	s.Close()
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("Close left %s: %v", tmp, err)
	}

	s, err = newNNSetup(bc, nil, nil, 0, "data", nil)
	if err != nil || s.AllowDir != "/graphs/data" {
		t.Fatalf("relative allow_dir: %q, %v", s.AllowDir, err)
	}
	s.Close()

	for _, tc := range []struct {
		models, files map[string]string
		threads       int
		allow, want   string
	}{
		{models: map[string]string{"m": "nope.tflite"}, want: `models: "m"`},
		{models: map[string]string{"m": "yamnet_class_map.csv"}, want: `models: wasi-nn: model "m"`},
		{files: map[string]string{"../x": "yamnet_class_map.csv"}, want: "not a plain file name"},
		{files: map[string]string{"x": "nope"}, want: `files: "x"`},
		{files: map[string]string{"x": "yamnet_class_map.csv"}, allow: "/tmp", want: "exclusive"},
		{threads: -1, want: "nn_threads"},
	} {
		if _, err := newNNSetup(bc, tc.models, tc.files, tc.threads, tc.allow, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error with %q", tc, err, tc.want)
		}
	}
}
