package app

import (
	"crypto/ed25519"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/atoll-studio/atoll/bundle"
	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/storage"
)

// ExportRequest says what to export: a saved version of a graph (the latest when Version is 0),
// for some platforms, with or without their runner binaries, with parameter defaults chosen for
// this bundle, signed or not.
type ExportRequest struct {
	GraphID        string         `json:"graph_id"`
	Version        int            `json:"version,omitempty"`
	Platforms      []string       `json:"platforms"`
	IncludeRunners bool           `json:"include_runners"`
	Params         map[string]any `json:"params,omitempty"`
	Sign           bool           `json:"sign"`
}

// ExportPlan is what an export would write, shown before saving: the manifest (every entry with
// its size and SHA-256), the total size, the file name and the signer.
type ExportPlan struct {
	Manifest  *bundle.Manifest `json:"manifest"`
	TotalSize int64            `json:"total_size"`
	FileName  string           `json:"file_name"`
	// Signer is the signing key's public half in the text form trust files hold; empty when
	// unsigned.
	Signer string `json:"signer,omitempty"`
}

// SavedBundle is a written bundle.
type SavedBundle struct {
	FileName string `json:"file_name"`
	// Path is where the desktop window wrote it.
	Path   string `json:"path,omitempty"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Canceled is set when the user closed the save dialog.
	Canceled bool `json:"canceled,omitempty"`
}

// RunnerPlatform is a platform the runner is built for and whether its binary is at hand.
type RunnerPlatform struct {
	Platform  string `json:"platform"`
	Available bool   `json:"available"`
	Size      int64  `json:"size,omitempty"`
	// Reason says why the binary cannot be bundled.
	Reason string `json:"reason,omitempty"`
}

// ExportOptions are the choices the export dialog offers.
type ExportOptions struct {
	Platforms    []RunnerPlatform `json:"platforms"`
	AtollVersion string           `json:"atoll_version"`
}

// KeyInfo is the public half of the studio's signing key.
type KeyInfo struct {
	Algorithm string `json:"algorithm"`
	// PublicKey is the text form a runner's --trust file holds, one key a line.
	PublicKey   string    `json:"public_key"`
	Fingerprint string    `json:"fingerprint"`
	CreatedAt   time.Time `json:"created_at"`
}

// ExportOptions returns the platforms and, for each, whether a runner binary can be bundled (from
// the runner directory, dist/ of the checkout, where `make runner` puts them).
func (s *Service) ExportOptions() (ExportOptions, error) {
	o := ExportOptions{AtollVersion: s.atollVersion()}
	for _, p := range bundle.Platforms {
		rp := RunnerPlatform{Platform: p}
		if path, err := s.runnerBinary(p); err != nil {
			rp.Reason = err.Error()
		} else if fi, err := os.Stat(path); err == nil {
			rp.Available, rp.Size = true, fi.Size()
		}
		o.Platforms = append(o.Platforms, rp)
	}
	return o, nil
}

// PreviewBundle validates the export and returns its manifest, writing nothing. A graph that
// cannot be exported is refused with its problems addressed to nodes and fields: studio-only
// nodes, missing assets, bad parameters, an invalid graph.
func (s *Service) PreviewBundle(req ExportRequest) (ExportPlan, error) {
	opts, name, err := s.bundleOptions(req)
	if err != nil {
		return ExportPlan{}, err
	}
	m, err := bundle.Plan(opts)
	if err != nil {
		return ExportPlan{}, exportError(err)
	}
	return planOf(m, name, opts.Key), nil
}

// SaveBundle writes the bundle where the user says in the desktop window's save dialog. (The web
// studio downloads POST /api/bundles instead.)
func (s *Service) SaveBundle(req ExportRequest) (SavedBundle, error) {
	s.mu.Lock()
	dialog := s.saveDialog
	s.mu.Unlock()
	if dialog == nil {
		return SavedBundle{}, fmt.Errorf("export: no save dialog outside the desktop window (the web studio downloads POST /api/bundles): %w", ErrInvalid)
	}
	opts, name, err := s.bundleOptions(req)
	if err != nil {
		return SavedBundle{}, err
	}
	// Refuse before asking where to save.
	if _, err := bundle.Plan(opts); err != nil {
		return SavedBundle{}, exportError(err)
	}
	path, err := dialog(name)
	if err != nil {
		return SavedBundle{}, fmt.Errorf("export: save dialog: %w", err)
	}
	if path == "" {
		return SavedBundle{FileName: name, Canceled: true}, nil
	}
	saved, err := s.writeBundleFile(opts, path)
	if err != nil {
		return SavedBundle{}, err
	}
	saved.FileName = filepath.Base(path)
	return saved, nil
}

// exportBundleFile writes the bundle to path (replacing it only once it is complete) and returns
// what was written.
func (s *Service) exportBundleFile(req ExportRequest, path string) (SavedBundle, error) {
	opts, _, err := s.bundleOptions(req)
	if err != nil {
		return SavedBundle{}, err
	}
	saved, err := s.writeBundleFile(opts, path)
	if err != nil {
		return SavedBundle{}, err
	}
	saved.FileName = filepath.Base(path)
	return saved, nil
}

// writeBundleFile writes into a temporary file beside path, then renames it into place.
func (s *Service) writeBundleFile(opts bundle.Options, path string) (SavedBundle, error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".atoll-export-*")
	if err != nil {
		return SavedBundle{}, fmt.Errorf("export: %w", err)
	}
	defer os.Remove(f.Name())
	saved, err := writeBundle(f, opts)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return SavedBundle{}, err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return SavedBundle{}, fmt.Errorf("export: %w", err)
	}
	saved.Path = path
	return saved, nil
}

// exportTemp writes the bundle to a temporary file (removed by the caller) for the HTTP download:
// a refusal is known before the first byte is sent, and the download has a length and a digest.
func (s *Service) exportTemp(req ExportRequest) (*os.File, SavedBundle, error) {
	opts, name, err := s.bundleOptions(req)
	if err != nil {
		return nil, SavedBundle{}, err
	}
	f, err := os.CreateTemp("", "atoll-export-*.atoll")
	if err != nil {
		return nil, SavedBundle{}, fmt.Errorf("export: %w", err)
	}
	saved, err := writeBundle(f, opts)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, SavedBundle{}, err
	}
	saved.FileName = name
	return f, saved, nil
}

func writeBundle(w io.Writer, opts bundle.Options) (SavedBundle, error) {
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, h)}
	if _, err := bundle.Write(cw, opts); err != nil {
		return SavedBundle{}, exportError(err)
	}
	return SavedBundle{Size: cw.n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// bundleOptions turns a request into the bundle package's options and the file name to offer.
func (s *Service) bundleOptions(req ExportRequest) (bundle.Options, string, error) {
	if req.GraphID == "" {
		return bundle.Options{}, "", fmt.Errorf("export: no graph_id: %w", ErrInvalid)
	}
	if len(req.Platforms) == 0 {
		return bundle.Options{}, "", fmt.Errorf("export: choose at least one platform (%s): %w", strings.Join(bundle.Platforms, ", "), ErrInvalid)
	}
	v := req.Version
	if v == 0 {
		info, _, err := s.store.LoadGraph(s.ctx, req.GraphID)
		if err != nil {
			return bundle.Options{}, "", err
		}
		v = info.Version
	}
	vi, doc, err := s.store.LoadVersion(s.ctx, req.GraphID, v)
	if err != nil {
		return bundle.Options{}, "", err
	}
	parsed, err := parseDoc(doc)
	if err != nil {
		return bundle.Options{}, "", invalidDoc(err)
	}
	paths, err := s.pathPolicy()
	if err != nil {
		return bundle.Options{}, "", err
	}
	opts := bundle.Options{
		Paths:        paths,
		GraphJSON:    doc,
		GraphVersion: vi.Version,
		BaseDir:      s.opts.BaseDir,
		ResolveAsset: func(sha string) (string, error) { return s.store.AssetPath(s.ctx, sha) },
		Platforms:    req.Platforms,
		AtollVersion: s.atollVersion(),
		// The version's time, never now: two exports of one version are byte-identical.
		Created:       vi.CreatedAt,
		ParamDefaults: req.Params,
		Catalog:       s.catalog,
	}
	// The flow tests saved with the graph travel with it (as with `atoll export --graph`).
	_, tests, err := s.store.ListTests(s.ctx, req.GraphID)
	if err != nil {
		return bundle.Options{}, "", err
	}
	opts.Files = bundle.StoredTests(tests)
	if req.IncludeRunners {
		opts.RunnerBinaries = map[string]string{}
		for _, p := range req.Platforms {
			path, err := s.runnerBinary(p)
			if err != nil {
				return bundle.Options{}, "", fmt.Errorf("export: runner for %s: %w: %w", p, err, ErrInvalid)
			}
			opts.RunnerBinaries[p] = path
		}
		opts.SystemdUnit = true
	}
	if req.Sign {
		k, err := s.store.SigningKey(s.ctx)
		if err != nil {
			return bundle.Options{}, "", err
		}
		opts.Key = k.Private
	}
	return opts, bundleFileName(parsed.Name, vi.Version), nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// bundleFileName is "<name>-v<version>.atoll" with the name reduced to safe characters.
func bundleFileName(name string, version int) string {
	n := strings.Trim(unsafeName.ReplaceAllString(name, "_"), "_.-")
	if n == "" {
		n = "graph"
	}
	if len(n) > 80 {
		n = n[:80]
	}
	return fmt.Sprintf("%s-v%d.atoll", n, version)
}

func planOf(m *bundle.Manifest, name string, key ed25519.PrivateKey) ExportPlan {
	p := ExportPlan{Manifest: m, TotalSize: m.TotalSize(), FileName: name}
	if key != nil {
		p.Signer = bundle.FormatPublicKey(key.Public().(ed25519.PublicKey))
	}
	return p
}

// exportError reports a refused export as an invalid graph, so both transports carry its
// problems (node, field, message) and the studio marks the nodes.
func exportError(err error) error {
	var pe *bundle.PlanError
	if errors.As(err, &pe) {
		return &engine.InvalidGraphError{Problems: pe.Problems}
	}
	return err
}

func (s *Service) atollVersion() string {
	if s.opts.Version != "" {
		return s.opts.Version
	}
	return "dev"
}

// elfMachines are the ELF machines of the runner platforms, to refuse a binary built for another.
var elfMachines = map[string]elf.Machine{
	"linux/amd64":   elf.EM_X86_64,
	"linux/arm64":   elf.EM_AARCH64,
	"linux/armv7":   elf.EM_ARM,
	"linux/riscv64": elf.EM_RISCV,
}

// runnerBinary returns the runner binary for a platform: <runner dir>/atoll-runner-linux-<arch>,
// as `make runner` names them, checked to be a Linux executable for that platform.
func (s *Service) runnerBinary(platform string) (string, error) {
	want, ok := elfMachines[platform]
	if !ok {
		return "", fmt.Errorf("unknown platform %q (want %s)", platform, strings.Join(bundle.Platforms, ", "))
	}
	name := "atoll-runner-" + strings.ReplaceAll(platform, "/", "-")
	if s.opts.RunnerDir == "" {
		return "", fmt.Errorf("%s: the studio knows no runner directory (dist/ of a checkout, or $ATOLL_RUNNERS)", name)
	}
	path := filepath.Join(s.opts.RunnerDir, name)
	f, err := elf.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%s not found: build the runners with `make runner`", path)
		}
		return "", fmt.Errorf("%s is not an executable: %w", path, err)
	}
	defer f.Close()
	if f.Machine != want || f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return "", fmt.Errorf("%s is a %s %s file, not a %s executable", path, f.Machine, f.Type, platform)
	}
	return path, nil
}

// SigningKey returns the public half of the studio's signing key, creating the key on first use.
func (s *Service) SigningKey() (KeyInfo, error) {
	k, err := s.store.SigningKey(s.ctx)
	if err != nil {
		return KeyInfo{}, err
	}
	return keyInfo(k), nil
}

// ExportKeyPair returns the signing key pair in its text form, to give a teammate who signs too
// (created first when there is none yet).
func (s *Service) ExportKeyPair() (string, error) {
	k, err := s.store.SigningKey(s.ctx)
	if err != nil {
		return "", err
	}
	return bundle.FormatPrivateKey(k.Private), nil
}

// ImportKeyPair replaces the signing key with an exported pair and returns its public half.
func (s *Service) ImportKeyPair(pair string) (KeyInfo, error) {
	key, err := bundle.ParsePrivateKey(pair)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("import key pair: %w: %w", err, ErrInvalid)
	}
	if err := s.store.ImportKey(s.ctx, key); err != nil {
		return KeyInfo{}, err
	}
	return s.SigningKey()
}

func keyInfo(k storage.SigningKey) KeyInfo {
	pub := k.Public()
	return KeyInfo{Algorithm: "ed25519", PublicKey: bundle.FormatPublicKey(pub), Fingerprint: bundle.KeyID(pub), CreatedAt: k.CreatedAt}
}

// bundleRoutes registers the HTTP routes of bundles and keys (API.md "Bundles and keys").
func (h *handler) bundleRoutes(mux *http.ServeMux) {
	svc := h.svc
	mux.HandleFunc("GET /api/bundles/options", h.json(func(r *http.Request) (any, error) { return svc.ExportOptions() }))
	mux.HandleFunc("POST /api/bundles/preview", h.json(func(r *http.Request) (any, error) {
		var req ExportRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return svc.PreviewBundle(req)
	}))
	mux.HandleFunc("POST /api/bundles", h.downloadBundle)
	mux.HandleFunc("GET /api/keys/signing", h.json(func(r *http.Request) (any, error) { return svc.SigningKey() }))
	mux.HandleFunc("GET /api/keys/signing/pair", h.json(func(r *http.Request) (any, error) {
		pair, err := svc.ExportKeyPair()
		if err != nil {
			return nil, err
		}
		return map[string]string{"pair": pair}, nil
	}))
	mux.HandleFunc("PUT /api/keys/signing", h.json(func(r *http.Request) (any, error) {
		var body struct {
			Pair string `json:"pair"`
		}
		if err := decode(r, &body); err != nil {
			return nil, err
		}
		return svc.ImportKeyPair(body.Pair)
	}))
}

// downloadBundle answers POST /api/bundles with the bundle's bytes as an attachment.
func (h *handler) downloadBundle(w http.ResponseWriter, r *http.Request) {
	var req ExportRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	f, saved, err := h.svc.exportTemp(req)
	if err != nil {
		writeError(w, err)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	w.Header().Set("Content-Type", "application/vnd.atoll.bundle+gzip")
	w.Header().Set("Content-Length", strconv.FormatInt(saved.Size, 10))
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": saved.FileName}))
	w.Header().Set("X-Atoll-Bundle-SHA256", saved.SHA256)
	w.Header().Set("Cache-Control", "no-store")
	io.Copy(w, f)
}

// setSaveDialog installs the desktop window's save dialog (SaveBundle asks it where to write).
func (s *Service) setSaveDialog(f func(defaultName string) (string, error)) {
	s.mu.Lock()
	s.saveDialog = f
	s.mu.Unlock()
}
