package app

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/atoll-studio/atoll/bundle"
	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/internal/testdata"
	"github.com/atoll-studio/atoll/storage"
)

// newExportStudio is a studio whose relative paths resolve in a fresh workspace and whose runner
// directory is runners (may be empty).
func newExportStudio(t *testing.T, runners string) (*testStudio, string) {
	t.Helper()
	ws := t.TempDir()
	return newStudioWith(t, Options{BaseDir: ws, RunnerDir: runners, Version: "v-test"}), ws
}

// upload stores a file through POST /api/assets and returns its info.
func (s *testStudio) upload(t *testing.T, name string, content []byte) storage.AssetInfo {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(content)
	mw.Close()
	resp, err := s.post(t, "/api/assets", mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info storage.AssetInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || resp.StatusCode != 200 {
		t.Fatalf("upload %s: %d %v", name, resp.StatusCode, err)
	}
	return info
}

// post sends a POST with the studio's token.
func (s *testStudio) post(t *testing.T, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(t.Context(), "POST", s.srv.URL+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+s.token)
	return http.DefaultClient.Do(req)
}

// download posts an export request to /api/bundles and returns the body and the response.
func (s *testStudio) download(t *testing.T, req ExportRequest) ([]byte, *http.Response) {
	t.Helper()
	js, _ := json.Marshal(req)
	resp, err := s.post(t, "/api/bundles", "application/json", bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body, resp
}

// createGraph creates a graph from a document and returns its id.
func (s *testStudio) createGraph(t *testing.T, doc string) string {
	t.Helper()
	var info storage.GraphInfo
	s.must(t, "POST", "/api/graphs", map[string]any{"name": "", "document": json.RawMessage(doc)}, &info)
	return info.ID
}

// birdsDoc reads a WAV uploaded to the asset store (by hash) and one from the workspace (by
// relative path), writes each to a file whose directory is a parameter.
const birdsDoc = `{"version":1,"id":"","name":"Birds at the pond","parameters":[
 {"name":"out_dir","type":"string","default":"out","doc":"where detections go"},
 {"name":"rate","type":"integer","default":16000}],
 "nodes":[
 {"id":"owl","type":"source.wav","config":{"path":"%SHA%"}},
 {"id":"pond","type":"source.wav","config":{"path":"recordings/pond.wav"}},
 {"id":"resample","type":"transform.resample","config":{"to_rate":"${param:rate}"}},
 {"id":"file","type":"sink.file","config":{"format":"jsonl","path":"${param:out_dir}/owl.jsonl"}},
 {"id":"file2","type":"sink.file","config":{"format":"jsonl","path":"${param:out_dir}/pond.jsonl"}}],
 "edges":[{"from":{"node":"owl","port":"out"},"to":{"node":"resample","port":"in"}},
 {"from":{"node":"resample","port":"out"},"to":{"node":"file","port":"in"}},
 {"from":{"node":"pond","port":"out"},"to":{"node":"file2","port":"in"}}]}`

// birdsStudio is a studio with the birds graph saved, its WAVs real recordings.
func birdsStudio(t *testing.T, runners string) (s *testStudio, id string, owl, pond []byte) {
	t.Helper()
	s, ws := newExportStudio(t, runners)
	owl, err := os.ReadFile(testdata.Path(t, "audio/birds/birdnet_sample.wav"))
	if err != nil {
		t.Fatal(err)
	}
	// A second recording: the first 64 KiB of the tawny owl (a WAV cut short is still read by the
	// exporter as bytes; it is not run here).
	full, err := os.ReadFile(testdata.Path(t, "audio/birds/tawnyowl.wav"))
	if err != nil {
		t.Fatal(err)
	}
	pond = full[:64<<10]
	if err := os.MkdirAll(filepath.Join(ws, "recordings"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "recordings", "pond.wav"), pond, 0o644); err != nil {
		t.Fatal(err)
	}
	a := s.upload(t, "owl.wav", owl)
	id = s.createGraph(t, strings.Replace(birdsDoc, "%SHA%", a.SHA256, 1))
	return s, id, owl, pond
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestExportPreviewThenDownload(t *testing.T) {
	s, id, owl, pond := birdsStudio(t, "")
	req := ExportRequest{GraphID: id, Platforms: []string{"linux/arm64", "linux/amd64"}, Sign: true,
		Params: map[string]any{"out_dir": "/var/lib/birds"}}

	var plan ExportPlan
	s.must(t, "POST", "/api/bundles/preview", req, &plan)
	m := plan.Manifest
	if m.GraphID != id || m.GraphVersion != 1 || m.AtollVersion != "v-test" {
		t.Errorf("manifest graph %q v%d atoll %q", m.GraphID, m.GraphVersion, m.AtollVersion)
	}
	if plan.FileName != "Birds_at_the_pond-v1.atoll" {
		t.Errorf("file name %q", plan.FileName)
	}
	if strings.Join(m.Platforms, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("platforms %v", m.Platforms)
	}
	// Both recordings are entries under their SHA-256, with the node and field that use them.
	byPath := map[string]bundle.Entry{}
	var total int64
	for _, e := range m.Entries {
		byPath[e.Path] = e
		total += e.Size
	}
	// (A stored asset's blob has no extension; a file's keeps its own.)
	for _, c := range []struct {
		node, path string
		data       []byte
	}{{"owl", "assets/" + sum(owl), owl}, {"pond", "assets/" + sum(pond) + ".wav", pond}} {
		e, ok := byPath[c.path]
		if !ok || e.Size != int64(len(c.data)) || e.Node != c.node || e.Field != "path" || e.Kind != bundle.KindAsset {
			t.Errorf("%s: entry %+v (found %v) in %+v", c.node, e, ok, m.Entries)
		}
	}
	if _, ok := byPath[bundle.GraphPath]; !ok {
		t.Errorf("no %s entry", bundle.GraphPath)
	}
	if plan.TotalSize != total || total < int64(len(owl)+len(pond)) {
		t.Errorf("total %d, entries sum to %d", plan.TotalSize, total)
	}
	// The export's parameter default replaces the graph's; the other is kept.
	ps := map[string]any{}
	for _, p := range m.Parameters {
		ps[p.Name] = p.Default
	}
	if ps["out_dir"] != "/var/lib/birds" || ps["rate"] != float64(16000) {
		t.Errorf("parameters %+v", m.Parameters)
	}
	var key KeyInfo
	s.must(t, "GET", "/api/keys/signing", nil, &key)
	if plan.Signer != key.PublicKey || !strings.HasPrefix(key.PublicKey, "atoll-ed25519 ") {
		t.Errorf("signer %q, studio key %q", plan.Signer, key.PublicKey)
	}

	// The download is that bundle: the same manifest, signed by the studio's key.
	body, resp := s.download(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("download: %d %s", resp.StatusCode, body)
	}
	if _, p, _ := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); p["filename"] != plan.FileName {
		t.Errorf("Content-Disposition %q", resp.Header.Get("Content-Disposition"))
	}
	if resp.Header.Get("X-Atoll-Bundle-SHA256") != sum(body) || resp.ContentLength != int64(len(body)) {
		t.Errorf("digest header %q, length %d; body %s, %d bytes", resp.Header.Get("X-Atoll-Bundle-SHA256"), resp.ContentLength, sum(body), len(body))
	}
	pub, err := bundle.ParsePublicKey(key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Verify(bytes.NewReader(body), bundle.VerifyOptions{Trusted: []ed25519.PublicKey{pub}})
	if err != nil {
		t.Fatalf("verify the download: %v", err)
	}
	want, _ := m.Marshal()
	if !bytes.Equal(b.ManifestBytes, want) || !b.Trusted || b.SignerID() != key.Fingerprint {
		t.Errorf("downloaded manifest differs from the preview, or signer %s (trusted %v)", b.SignerID(), b.Trusted)
	}
	// Inside, the graph refers to the bundled recordings, not to the studio's store or workspace.
	g, err := b.Graph()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range g.Nodes {
		if n.Type == "source.wav" && !bytes.Contains(n.Config, []byte(`"assets/`)) {
			t.Errorf("node %s still refers to %s", n.ID, n.Config)
		}
	}

	// Another download of the same version and choices is byte-identical; a file written by the
	// service is too.
	again, _ := s.download(t, req)
	if !bytes.Equal(body, again) {
		t.Error("two exports of one version differ")
	}
	path := filepath.Join(t.TempDir(), "birds.atoll")
	saved, err := s.svc.exportBundleFile(req, path)
	if err != nil {
		t.Fatal(err)
	}
	onDisk, _ := os.ReadFile(path)
	if !bytes.Equal(onDisk, body) || saved.SHA256 != sum(body) || saved.Size != int64(len(body)) || saved.Path != path {
		t.Errorf("file export %+v differs from the download", saved)
	}

	// Unsigned on request: the runner's default refuses it, which the verifier says.
	req.Sign = false
	var unsigned ExportPlan
	s.must(t, "POST", "/api/bundles/preview", req, &unsigned)
	if unsigned.Signer != "" {
		t.Errorf("unsigned plan names signer %q", unsigned.Signer)
	}
	body, _ = s.download(t, req)
	if _, err := bundle.Verify(bytes.NewReader(body), bundle.VerifyOptions{Trusted: []ed25519.PublicKey{pub}}); err == nil {
		t.Error("an unsigned export verified")
	}
}

func TestExportRefusals(t *testing.T) {
	s, id, _, _ := birdsStudio(t, "")
	studioOnly := s.createGraph(t, pipelineDoc)
	missing := s.createGraph(t, `{"version":1,"id":"","name":"missing","nodes":[
 {"id":"wav","type":"source.wav","config":{"path":"recordings/gone.wav"}},
 {"id":"out","type":"sink.file","config":{"format":"jsonl","path":"out.jsonl"}}],
 "edges":[{"from":{"node":"wav","port":"out"},"to":{"node":"out","port":"in"}}]}`)
	amd64 := []string{"linux/amd64"}
	cases := []struct {
		name   string
		req    ExportRequest
		status int
		want   string // in the message
		node   string // a problem addressed to this node
		field  string
	}{
		{"studio-only node", ExportRequest{GraphID: studioOnly, Platforms: amd64, Sign: true}, 422, "runs only in the studio", "preview", ""},
		{"missing asset", ExportRequest{GraphID: missing, Platforms: amd64}, 422, "gone.wav", "wav", "path"},
		{"mistyped parameter", ExportRequest{GraphID: id, Platforms: amd64, Params: map[string]any{"rate": "fast"}}, 422, `"rate"`, "", ""},
		{"undeclared parameter", ExportRequest{GraphID: id, Platforms: amd64, Params: map[string]any{"gain": 2}}, 422, `"gain"`, "", ""},
		{"no platform", ExportRequest{GraphID: id}, 400, "choose at least one platform", "", ""},
		{"unknown platform", ExportRequest{GraphID: id, Platforms: []string{"plan9/386"}}, 422, "plan9/386", "", ""},
		{"runners not built", ExportRequest{GraphID: id, Platforms: amd64, IncludeRunners: true}, 400, "no runner directory", "", ""},
		{"unknown graph", ExportRequest{GraphID: "nope", Platforms: amd64}, 404, "nope", "", ""},
		{"unknown version", ExportRequest{GraphID: id, Version: 9, Platforms: amd64}, 404, "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"/api/bundles/preview", "/api/bundles"} {
				var body errorBody
				code := s.do(t, "POST", path, c.req, &body)
				if code != c.status || !strings.Contains(body.Error, c.want) {
					t.Fatalf("%s: %d %q, want %d with %q", path, code, body.Error, c.status, c.want)
				}
				if c.node == "" {
					continue
				}
				found := false
				for _, p := range body.Problems {
					found = found || p.Node == c.node && p.Field == c.field
				}
				if !found {
					t.Errorf("%s: no problem on node %q field %q in %+v", path, c.node, c.field, body.Problems)
				}
			}
		})
	}
}

func TestExportRunnerBinaries(t *testing.T) {
	// The runner directory as `make runner` fills it: here an amd64 executable (this test binary)
	// under its name, another mislabelled as arm64, and a file that is no executable at all.
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"atoll-runner-linux-amd64": exe,
		"atoll-runner-linux-arm64": exe,
		"atoll-runner-linux-armv7": []byte("#!/bin/sh\necho not a runner\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s, id, _, _ := birdsStudio(t, dir)
	var o ExportOptions
	s.must(t, "GET", "/api/bundles/options", nil, &o)
	got := map[string]RunnerPlatform{}
	for _, p := range o.Platforms {
		got[p.Platform] = p
	}
	if p := got["linux/amd64"]; !p.Available || p.Size != int64(len(exe)) {
		t.Errorf("amd64: %+v", p)
	}
	for plat, reason := range map[string]string{
		"linux/arm64":   "not a linux/arm64 executable",
		"linux/armv7":   "is not an executable",
		"linux/riscv64": "not found: build the runners with `make runner`",
	} {
		if p := got[plat]; p.Available || !strings.Contains(p.Reason, reason) {
			t.Errorf("%s: %+v, want the reason %q", plat, p, reason)
		}
	}
	if len(o.Platforms) != len(bundle.Platforms) || o.AtollVersion != "v-test" {
		t.Errorf("options %+v", o)
	}

	req := ExportRequest{GraphID: id, Platforms: []string{"linux/amd64"}, IncludeRunners: true, Sign: true}
	var plan ExportPlan
	s.must(t, "POST", "/api/bundles/preview", req, &plan)
	e, ok := plan.Manifest.Entry(bundle.RunnerPath("linux/amd64"))
	if !ok || e.SHA256 != sum(exe) || e.Kind != bundle.KindRunner {
		t.Errorf("runner entry %+v (found %v) in %+v", e, ok, plan.Manifest.Entries)
	}
	if _, ok := plan.Manifest.Entry(bundle.UnitPath); !ok {
		t.Errorf("no systemd unit beside the runner")
	}
	req.Platforms = []string{"linux/amd64", "linux/arm64"}
	var body errorBody
	if code := s.do(t, "POST", "/api/bundles/preview", req, &body); code != 400 || !strings.Contains(body.Error, "not a linux/arm64 executable") {
		t.Errorf("mislabelled runner: %d %q", code, body.Error)
	}
}

func TestSigningKeyShowExportImport(t *testing.T) {
	s, id, _, _ := birdsStudio(t, "")
	var k1, k2 KeyInfo
	s.must(t, "GET", "/api/keys/signing", nil, &k1)
	s.must(t, "GET", "/api/keys/signing", nil, &k2)
	if k1.PublicKey == "" || k1 != k2 || k1.Algorithm != "ed25519" || len(k1.Fingerprint) != 16 {
		t.Fatalf("first use made %+v, then %+v", k1, k2)
	}
	// The public key is what a runner's trust file holds.
	trust := filepath.Join(t.TempDir(), "studio.pub")
	os.WriteFile(trust, []byte(k1.PublicKey+"\n"), 0o644)
	keys, err := bundle.LoadTrust(trust)
	if err != nil || len(keys) != 1 || bundle.KeyID(keys[0]) != k1.Fingerprint {
		t.Fatalf("trust file of the shown key: %v %v", keys, err)
	}

	var pair struct{ Pair string }
	s.must(t, "GET", "/api/keys/signing/pair", nil, &pair)
	priv, err := bundle.ParsePrivateKey(pair.Pair)
	if err != nil || bundle.FormatPublicKey(priv.Public().(ed25519.PublicKey)) != k1.PublicKey {
		t.Fatalf("exported pair %q: %v", pair.Pair, err)
	}

	// A teammate's studio imports the pair and signs bundles the same runners trust.
	other, otherID, _, _ := birdsStudio(t, "")
	var imported KeyInfo
	other.must(t, "PUT", "/api/keys/signing", map[string]string{"pair": pair.Pair}, &imported)
	if imported.PublicKey != k1.PublicKey {
		t.Fatalf("imported %+v, want %s", imported, k1.PublicKey)
	}
	body, resp := other.download(t, ExportRequest{GraphID: otherID, Platforms: []string{"linux/amd64"}, Sign: true})
	if resp.StatusCode != 200 {
		t.Fatalf("export after import: %d %s", resp.StatusCode, body)
	}
	if _, err := bundle.Verify(bytes.NewReader(body), bundle.VerifyOptions{Trusted: keys}); err != nil {
		t.Errorf("bundle signed with the imported key: %v", err)
	}

	// Importing another key replaces it: bundles signed now are not trusted by the old trust file.
	_, fresh, _ := ed25519.GenerateKey(rand.Reader)
	var k3 KeyInfo
	s.must(t, "PUT", "/api/keys/signing", map[string]string{"pair": bundle.FormatPrivateKey(fresh)}, &k3)
	if k3.PublicKey == k1.PublicKey {
		t.Fatal("import kept the old key")
	}
	body, _ = s.download(t, ExportRequest{GraphID: id, Platforms: []string{"linux/amd64"}, Sign: true})
	if _, err := bundle.Verify(bytes.NewReader(body), bundle.VerifyOptions{Trusted: keys}); err == nil {
		t.Error("a bundle signed with the replacing key verified against the old trust")
	}

	for _, bad := range []string{"", "atoll-ed25519-private AAAA", k1.PublicKey, strings.Replace(pair.Pair, k1.Fingerprint, "0000000000000000", 1)} {
		var body errorBody
		if code := s.do(t, "PUT", "/api/keys/signing", map[string]string{"pair": bad}, &body); code != 400 || !strings.Contains(body.Error, "private key") {
			t.Errorf("import %q: %d %q", bad, code, body.Error)
		}
	}
	var now KeyInfo
	s.must(t, "GET", "/api/keys/signing", nil, &now)
	if now.PublicKey != k3.PublicKey {
		t.Error("a refused import changed the key")
	}
}

func TestSaveBundleAsksWhere(t *testing.T) {
	s, id, _, _ := birdsStudio(t, "")
	req := ExportRequest{GraphID: id, Platforms: []string{"linux/amd64"}, Sign: true}
	if _, err := s.svc.SaveBundle(req); err == nil || !strings.Contains(err.Error(), "no save dialog") {
		t.Fatalf("without the desktop window: %v", err)
	}
	dir := t.TempDir()
	var offered string
	answer := filepath.Join(dir, "chosen.atoll")
	s.svc.setSaveDialog(func(name string) (string, error) { offered = name; return answer, nil })
	saved, err := s.svc.SaveBundle(req)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(answer)
	if err != nil || saved.Path != answer || saved.FileName != "chosen.atoll" || saved.SHA256 != sum(data) || offered != "Birds_at_the_pond-v1.atoll" {
		t.Fatalf("saved %+v (offered %q): %v", saved, offered, err)
	}
	if _, err := bundle.Verify(bytes.NewReader(data), bundle.VerifyOptions{InsecureSkipVerify: true}); err != nil {
		t.Errorf("saved file: %v", err)
	}
	// Closing the dialog writes nothing; a refused export never opens it.
	s.svc.setSaveDialog(func(string) (string, error) { return "", nil })
	if saved, err := s.svc.SaveBundle(req); err != nil || !saved.Canceled {
		t.Errorf("canceled: %+v %v", saved, err)
	}
	s.svc.setSaveDialog(func(string) (string, error) { t.Error("dialog opened for a refused export"); return "", nil })
	req.Params = map[string]any{"rate": "fast"}
	var ig *engine.InvalidGraphError
	if _, err := s.svc.SaveBundle(req); !errors.As(err, &ig) {
		t.Errorf("refused export: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the save directory holds %d files, want only chosen.atoll", len(entries))
	}
}

func TestSeedSkipsFlowTests(t *testing.T) {
	fsys := fstest.MapFS{
		"a.json":      {Data: []byte(pipelineDoc)},
		"a.test.json": {Data: []byte(`{"version":1,"tests":[]}`)},
	}
	docs, err := exampleDocs(fsys)
	if err != nil || len(docs) != 1 || docs[0].name != "a.json" {
		t.Fatalf("seeded %+v: %v", docs, err)
	}
}
