package storage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

func TestAssetKinds(t *testing.T) {
	wav := append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), make([]byte, 32)...)
	tflite := append([]byte("\x1c\x00\x00\x00TFL3"), make([]byte, 64)...)
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	tests := []struct {
		name, file, kind string
		content          []byte
		want             string // kind, or "error"
	}{
		{"wasm by magic", "classifier.bin", "", wasm, KindWasm},
		{"tflite by magic at offset 4", "model", "", tflite, KindTFLite},
		{"wav by RIFF/WAVE", "dawn.WAV", "", wav, KindWAV},
		{"riff that is not wave", "x.avi", "", []byte("RIFF\x00\x00\x00\x00AVI LIST"), KindOther},
		{"labels by .txt", "labels.txt", "", []byte("robin\nwren\n"), KindLabels},
		{"labels by .csv", "Classes.CSV", "", []byte("id,name\n0,robin\n"), KindLabels},
		{"unknown", "notes.md", "", []byte("# hi"), KindOther},
		{"empty", "empty", "", nil, KindOther},
		{"short", "short.bin", "", []byte("\x00as"), KindOther},
		{"magic beats extension", "model.txt", "", tflite, KindTFLite},
		{"explicit labels", "names.dat", KindLabels, []byte("a\nb\n"), KindLabels},
		{"explicit other on a wasm file", "m.wasm", KindOther, append(wasm, 0), KindOther},
		{"explicit wasm that is not", "m.wasm", KindWasm, []byte("not wasm"), "error"},
		{"explicit wav that is wasm", "a.wav", KindWAV, wasm, "error"},
		{"unknown kind", "a", "video", []byte("x"), "error"},
	}
	ctx := t.Context()
	s := openTest(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// One byte at a time, so the kind cannot depend on a lucky first read.
			info, err := s.PutAsset(ctx, tc.file, tc.kind, iotest.OneByteReader(bytes.NewReader(tc.content)))
			if tc.want == "error" {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("PutAsset = %+v, %v; want ErrInvalid", info, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.Kind != tc.want {
				t.Errorf("kind = %s, want %s", info.Kind, tc.want)
			}
		})
	}
	tmps, _ := filepath.Glob(filepath.Join(s.blobDir, ".tmp-*"))
	if len(tmps) != 0 {
		t.Errorf("temporary blobs left behind: %v", tmps)
	}
}

func TestAssetsDeduplicate(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	content := bytes.Repeat([]byte("robin\nwren\nblackbird\n"), 50_000) // ~1 MB, several reads
	sum := sha256.Sum256(content)
	want := hex.EncodeToString(sum[:])

	first, err := s.PutAsset(ctx, "labels.txt", "", bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if first.SHA256 != want || first.Size != int64(len(content)) || first.Kind != KindLabels || first.Name != "labels.txt" {
		t.Errorf("PutAsset = %+v, want sha %s size %d", first, want, len(content))
	}
	again, err := s.PutAsset(ctx, "other-name.txt", "", bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("second put = %+v, want the first asset %+v", again, first)
	}
	if _, err := s.PutAsset(ctx, "b.txt", "", strings.NewReader("different")); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListAssets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[1] != first {
		t.Errorf("ListAssets = %+v", list)
	}
	blobs, _ := os.ReadDir(s.blobDir)
	if len(blobs) != 2 {
		t.Errorf("blobs/ holds %d files, want 2", len(blobs))
	}

	for _, sha := range []string{want, strings.ToUpper(want)} {
		info, rc, err := s.GetAsset(ctx, sha)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, content) || info != first {
			t.Errorf("GetAsset(%s) = %+v, %d bytes, %v", sha, info, len(got), err)
		}
	}
	p, err := s.AssetPath(ctx, want)
	if err != nil || filepath.Base(p) != want {
		t.Errorf("AssetPath = %s, %v", p, err)
	}

	for _, sha := range []string{strings.Repeat("0", 64), "nope", ""} {
		if _, _, err := s.GetAsset(ctx, sha); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetAsset(%q) = %v, want ErrNotFound", sha, err)
		}
	}
}

func TestAssetCorruptionDetected(t *testing.T) {
	ctx := t.Context()
	s := openTest(t)
	info, err := s.PutAsset(ctx, "m.wasm", "", bytes.NewReader([]byte("\x00asm\x01\x00\x00\x00")))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.blobDir, info.SHA256), []byte("\x00asm\x01\x00\x00\x01"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, rc, err := s.GetAsset(ctx, info.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("reading an altered blob: %v, want a corruption error", err)
	}
	// A blob deleted from disk comes back when the same bytes are put again.
	os.Remove(filepath.Join(s.blobDir, info.SHA256))
	if _, err := s.PutAsset(ctx, "m.wasm", "", bytes.NewReader([]byte("\x00asm\x01\x00\x00\x00"))); err != nil {
		t.Fatal(err)
	}
	_, rc2, err := s.GetAsset(ctx, info.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	defer rc2.Close()
	if _, err := io.ReadAll(rc2); err != nil {
		t.Errorf("after re-putting a missing blob: %v", err)
	}
}
