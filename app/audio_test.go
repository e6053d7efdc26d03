package app

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// get sends GET path with the headers given (and the token as a bearer header unless the path
// carries it) and returns the status, headers and body.
func (s *testStudio) get(t *testing.T, path string, headers map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", s.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if !strings.Contains(path, "token=") && headers["Authorization"] == "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// testRecording is a 1 s 8 kHz 16-bit WAV whose samples are all different, so any byte range
// of it is recognisable.
func testRecording() []byte {
	le := binary.LittleEndian
	var data []byte
	for i := 0; i < 8000; i++ {
		data = le.AppendUint16(data, uint16(i*31))
	}
	f := []byte("RIFF")
	f = le.AppendUint32(f, uint32(36+len(data)))
	f = append(f, "WAVEfmt "...)
	f = le.AppendUint32(f, 16)
	f = le.AppendUint16(f, 1)
	f = le.AppendUint16(f, 1)
	f = le.AppendUint32(f, 8000)
	f = le.AppendUint32(f, 16000)
	f = le.AppendUint16(f, 2)
	f = le.AppendUint16(f, 16)
	f = append(f, "data"...)
	f = le.AppendUint32(f, uint32(len(data)))
	return append(f, data...)
}

// TestAudioServesRangesConfined: a recording in the workspace, by path (absolute or relative to
// the graphs) or from the asset store, is served with Range requests as an <audio> element makes
// them (a byte range, an open range, a suffix), with the token in the query where a page cannot
// set a header; paths outside the workspace, files that are not WAV and missing files are
// refused with 400, 400 and 404, and a request without the token with 401.
func TestAudioServesRangesConfined(t *testing.T) {
	s := newConfinedStudio(t)
	wav := testRecording()
	recPath := filepath.Join(s.ws, "data", "20240601_050000.wav")
	if err := os.WriteFile(recPath, wav, 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := s.svc.UploadAsset("owl.wav", "wav", wav)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{recPath, "../data/20240601_050000.wav", info.SHA256} {
		q := "/api/audio?ref=" + url.QueryEscape(ref)
		for _, tc := range []struct {
			rng       string
			status    int
			from, to  int // the bytes expected: wav[from:to]
			wantRange string
		}{
			{"", 200, 0, len(wav), ""},
			{"bytes=100-199", 206, 100, 200, "bytes 100-199/16044"},
			{"bytes=16000-", 206, 16000, len(wav), "bytes 16000-16043/16044"},
			{"bytes=-44", 206, len(wav) - 44, len(wav), "bytes 16000-16043/16044"},
		} {
			hdr := map[string]string{}
			if tc.rng != "" {
				hdr["Range"] = tc.rng
			}
			code, h, body := s.get(t, q, hdr)
			if code != tc.status || !bytes.Equal(body, wav[tc.from:tc.to]) || h.Get("Content-Range") != tc.wantRange {
				t.Fatalf("%s, Range %q: %d, %d bytes, Content-Range %q; want %d, bytes %d–%d, %q", ref, tc.rng, code, len(body), h.Get("Content-Range"), tc.status, tc.from, tc.to, tc.wantRange)
			}
			if h.Get("Content-Type") != "audio/wav" || h.Get("Accept-Ranges") != "bytes" {
				t.Fatalf("%s: Content-Type %q, Accept-Ranges %q", ref, h.Get("Content-Type"), h.Get("Accept-Ranges"))
			}
		}
	}
	// The token in the query, as an <audio src> carries it; none at all is refused.
	if code, _, body := s.get(t, "/api/audio?ref="+url.QueryEscape(recPath)+"&token="+s.token, map[string]string{"Range": "bytes=0-11"}); code != 206 || string(body) != string(wav[:12]) {
		t.Fatalf("token in the query: %d %q", code, body)
	}
	if code, _, _ := s.get(t, "/api/audio?ref="+url.QueryEscape(recPath), map[string]string{"Authorization": "Bearer wrong"}); code != 401 {
		t.Fatalf("a wrong token: %d, want 401", code)
	}

	secret := filepath.Join(s.outside, "secret.wav")
	if err := os.WriteFile(secret, wav, 0o644); err != nil {
		t.Fatal(err)
	}
	notWAV := filepath.Join(s.ws, "data", "notes.wav")
	if err := os.WriteFile(notWAV, []byte("RIFF0000AVI LIST"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ref    string
		status int
		says   string
	}{
		{secret, 400, "outside"},
		{"../../outside/secret.wav", 400, "outside"},
		{"/etc/passwd", 400, "outside"},
		{notWAV, 400, "not a RIFF/WAVE"},
		{filepath.Join(s.ws, "data", "gone.wav"), 404, "no such file"},
		{"", 400, "empty"},
	} {
		code, _, body := s.get(t, "/api/audio?ref="+url.QueryEscape(tc.ref), nil)
		if code != tc.status || !strings.Contains(string(body), tc.says) {
			t.Errorf("%q: %d %s, want %d saying %q", tc.ref, code, body, tc.status, tc.says)
		}
	}
}

// TestAudioLabels: the studio reads a model's class names to offer them in transform.detect's
// form, from a class-map CSV or a plain list in the workspace; a file outside it is refused.
func TestAudioLabels(t *testing.T) {
	s := newConfinedStudio(t)
	csvPath := filepath.Join(s.ws, "data", "class_map.csv")
	os.WriteFile(csvPath, []byte("index,mid,display_name\n0,/m/09x0r,Speech\n1,/m/015p6,Bird\n2,/m/0h0rv,\"Pigeon, dove\"\n"), 0o644)
	txtPath := filepath.Join(s.ws, "data", "labels.txt")
	os.WriteFile(txtPath, []byte("silence\nunknown\nyes\nno\n"), 0o644)
	for ref, want := range map[string][]string{csvPath: {"Speech", "Bird", "Pigeon, dove"}, "../data/labels.txt": {"silence", "unknown", "yes", "no"}} {
		var got []string
		s.must(t, "GET", "/api/audio/labels?ref="+url.QueryEscape(ref), nil, &got)
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: %q, want %q", ref, got, want)
		}
	}
	os.WriteFile(filepath.Join(s.outside, "l.txt"), []byte("a\n"), 0o644)
	if code := s.do(t, "GET", "/api/audio/labels?ref="+url.QueryEscape(filepath.Join(s.outside, "l.txt")), nil, nil); code != 400 {
		t.Errorf("labels outside the workspace: %d, want 400", code)
	}
}
