package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/atoll-studio/atoll/engine"
	"github.com/atoll-studio/atoll/engine/graph"
)

// Options say what to export.
type Options struct {
	// GraphJSON is the graph document.
	GraphJSON []byte
	// GraphVersion is the stored version exported (0 for a graph file).
	GraphVersion int
	// BaseDir resolves relative asset paths (the graph file's directory, or the studio's
	// workspace).
	BaseDir string
	// Paths, when set, is asked about every asset the bundle would pack from the host (a path
	// or a SHA-256, as written): the studio's exporter packs only files its graphs may read.
	// Other path fields (a sink's output file, say) name the device's files and are not asked.
	Paths engine.PathPolicy
	// ResolveAsset returns the file holding a content-addressed asset from the studio's store;
	// nil when there is no store (the CLI on a graph file).
	ResolveAsset func(sha256 string) (path string, err error)
	// Platforms are the target platforms ("linux/amd64", "linux/arm64", "linux/armv7",
	// "linux/riscv64").
	Platforms []string
	// RunnerBinaries maps a platform to an atoll-runner binary to include (optional).
	RunnerBinaries map[string]string
	// SystemdUnit includes a systemd unit that runs the bundle with the included runner.
	SystemdUnit bool
	// Files are extra data entries (a graph's tests, say).
	Files []File
	// Key signs the manifest; nil writes an unsigned bundle.
	Key ed25519.PrivateKey
	// AtollVersion is the exporting build's version.
	AtollVersion string
	// Created is the time of the graph version exported; zero means the Unix epoch. Never "now":
	// two exports of one version must be byte-identical.
	Created time.Time
	// ParamDefaults replace the defaults of the graph's declared parameters in the bundle.
	ParamDefaults map[string]any
	// Catalog validates the graph (headless); it must know the studio-only node types so that a
	// graph using one is refused by name.
	Catalog *engine.Catalog
}

// File is an extra entry: its path in the bundle and either a file to read or its bytes.
type File struct {
	Path   string
	Source string // file to read, or
	Data   []byte
	Kind   string // KindTest or KindData (default)
}

// PlanError lists every reason a graph cannot be exported, each addressed to a node (and field)
// where it has one.
type PlanError struct {
	Problems []engine.Problem
}

func (e *PlanError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.String()
	}
	return "export: " + strings.Join(msgs, "; ")
}

// planned is a manifest plus where each entry's bytes come from.
type planned struct {
	m       *Manifest
	sources map[string]source // by entry path
	graph   []byte
}

type source struct {
	path string
	data []byte
	mode int64
}

// Plan validates the export and returns the manifest Write would produce. It refuses, in one
// *PlanError, graphs that do not validate headless (studio-only nodes named), missing assets
// (node and field named) and bad parameters.
func Plan(opts Options) (*Manifest, error) {
	p, err := plan(opts)
	if err != nil {
		return nil, err
	}
	return p.m, nil
}

// Write writes the bundle to w and returns its manifest. The same options give the same bytes.
func Write(w io.Writer, opts Options) (*Manifest, error) {
	p, err := plan(opts)
	if err != nil {
		return nil, err
	}
	mb, err := p.m.Marshal()
	if err != nil {
		return nil, err
	}
	gz, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(gz)
	mtime := p.m.Created.Truncate(time.Second)
	put := func(name string, size, mode int64, r io.Reader) error {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: mode, ModTime: mtime, Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("export: entry %q: %w", name, err)
		}
		n, err := io.Copy(tw, r)
		if err != nil {
			return fmt.Errorf("export: entry %q: %w", name, err)
		}
		if n != size {
			return fmt.Errorf("export: entry %q: %d bytes, planned %d (changed during the export?)", name, n, size)
		}
		return nil
	}
	if err := put(ManifestPath, int64(len(mb)), 0o644, bytes.NewReader(mb)); err != nil {
		return nil, err
	}
	if opts.Key != nil {
		sig, err := Sign(mb, opts.Key)
		if err != nil {
			return nil, err
		}
		if err := put(SignaturePath, int64(len(sig)), 0o644, bytes.NewReader(sig)); err != nil {
			return nil, err
		}
	}
	for _, e := range p.m.Entries {
		src := p.sources[e.Path]
		var r io.Reader
		if src.data != nil {
			r = bytes.NewReader(src.data)
		} else {
			f, err := os.Open(src.path)
			if err != nil {
				return nil, fmt.Errorf("export: entry %q: %w", e.Path, err)
			}
			defer f.Close()
			r = f
		}
		h := sha256.New()
		if err := put(e.Path, e.Size, src.mode, io.TeeReader(r, h)); err != nil {
			return nil, err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != e.SHA256 {
			return nil, fmt.Errorf("export: entry %q: sha256 %s, planned %s (changed during the export?)", e.Path, got, e.SHA256)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return p.m, nil
}

// Platforms the runner is built for.
var Platforms = []string{"linux/amd64", "linux/arm64", "linux/armv7", "linux/riscv64"}

func validPlatform(p string) bool {
	for _, v := range Platforms {
		if v == p {
			return true
		}
	}
	return false
}

// RunnerPath is the entry path of the runner binary for a platform.
func RunnerPath(platform string) string {
	return RunnersDir + strings.ReplaceAll(platform, "/", "-") + "/atoll-runner"
}

var extRE = regexp.MustCompile(`^\.[a-z0-9]{1,10}$`)

func plan(opts Options) (*planned, error) {
	if opts.Catalog == nil {
		return nil, errors.New("export: no node catalog")
	}
	doc, err := graph.Parse(opts.GraphJSON)
	if err != nil {
		return nil, &PlanError{Problems: []engine.Problem{{Message: err.Error()}}}
	}
	var probs []engine.Problem
	add := func(p engine.Problem) { probs = append(probs, p) }

	// Parameters: the export's defaults replace the declared ones.
	params := append([]graph.Parameter(nil), doc.Parameters...)
	names := make([]string, 0, len(opts.ParamDefaults))
	for k := range opts.ParamDefaults {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		found := false
		for i := range params {
			if params[i].Name == k {
				params[i].Default = opts.ParamDefaults[k]
				found = true
			}
		}
		if !found {
			add(engine.Problem{Message: fmt.Sprintf("parameter %q: a default was given but the graph does not declare it", k)})
		}
	}
	doc.Parameters = params
	if err := doc.CheckParameters(); err != nil {
		add(engine.Problem{Message: err.Error()})
	} else if sub, err := doc.Substitute(nil); err != nil {
		add(engine.Problem{Message: err.Error()})
	} else {
		probs = append(probs, engine.Validate(sub, opts.Catalog, engine.ValidateOptions{Headless: true})...)
	}

	p := &planned{sources: map[string]source{}}
	m := &Manifest{FormatVersion: FormatVersion, GraphID: doc.ID, GraphName: doc.Name, GraphVersion: opts.GraphVersion,
		AtollVersion: opts.AtollVersion, Created: opts.Created.UTC(), Parameters: params}
	if opts.Created.IsZero() {
		m.Created = time.Unix(0, 0).UTC()
	}
	types := map[string]bool{}
	for _, n := range doc.Nodes {
		types[n.Type] = true
	}
	for t := range types {
		m.NodeTypes = append(m.NodeTypes, t)
	}
	sort.Strings(m.NodeTypes)

	addEntry := func(e Entry, src source) {
		if _, dup := p.sources[e.Path]; dup {
			return
		}
		p.sources[e.Path] = src
		m.Entries = append(m.Entries, e)
	}

	// Assets: hash each, rewrite the reference to its path in the bundle.
	for i, n := range doc.Nodes {
		spec, ok := opts.Catalog.Lookup(n.Type)
		if !ok || len(n.Config) == 0 {
			continue // Validate reported the unknown type
		}
		cfg, err := decodeJSON(n.Config)
		if err != nil {
			continue // Validate reported it
		}
		obj, ok := cfg.(map[string]any)
		if !ok {
			continue
		}
		changed := false
		for _, ref := range assetRefs(spec, obj) {
			val := ref.get()
			if val == "" {
				continue
			}
			if strings.Contains(val, "${") {
				continue // a parameter: the device gives the path
			}
			if opts.Paths != nil {
				if err := opts.Paths(val); err != nil {
					add(engine.Problem{Node: n.ID, Field: ref.field, Message: err.Error()})
					continue
				}
			}
			file, srcName, err := resolveAsset(opts, val)
			if err != nil {
				add(engine.Problem{Node: n.ID, Field: ref.field, Message: fmt.Sprintf("asset %q: %v", val, err)})
				continue
			}
			sum, size, err := hashFile(file)
			if err != nil {
				add(engine.Problem{Node: n.ID, Field: ref.field, Message: fmt.Sprintf("asset %q: %v", val, err)})
				continue
			}
			ext := strings.ToLower(filepath.Ext(file))
			if !extRE.MatchString(ext) {
				ext = ""
			}
			path := AssetsDir + sum + ext
			addEntry(Entry{Path: path, Size: size, SHA256: sum, Kind: KindAsset, Node: n.ID, Field: ref.field, Source: srcName},
				source{path: file, mode: 0o644})
			ref.set(path)
			changed = true
		}
		if changed {
			raw, err := json.Marshal(obj)
			if err != nil {
				return nil, err
			}
			doc.Nodes[i].Config = raw
		}
	}

	for _, f := range opts.Files {
		if err := checkPath(f.Path); err != nil || reserved(f.Path) {
			add(engine.Problem{Message: fmt.Sprintf("file %q: not a valid bundle path", f.Path)})
			continue
		}
		kind := f.Kind
		if kind == "" {
			kind = KindData
		}
		src := source{path: f.Source, data: f.Data, mode: 0o644}
		if kind == KindTest {
			data := f.Data
			base := opts.BaseDir
			if f.Source != "" {
				if data, err = os.ReadFile(f.Source); err != nil {
					add(engine.Problem{Message: fmt.Sprintf("file %q: %v", f.Path, err)})
					continue
				}
				base = filepath.Dir(f.Source)
			}
			out, tprobs := bundleTest(f.Path, data, base, doc, opts.Catalog, func(path, file, sum, node, field string, size int64) {
				addEntry(Entry{Path: path, Size: size, SHA256: sum, Kind: KindAsset, Node: node, Field: field, Source: file}, source{path: file, mode: 0o644})
			})
			probs = append(probs, tprobs...)
			src = source{data: out, mode: 0o644}
		}
		var sum string
		var size int64
		if src.data != nil || f.Source == "" {
			h := sha256.Sum256(src.data)
			sum, size = hex.EncodeToString(h[:]), int64(len(src.data))
			if src.data == nil {
				src.data = []byte{}
			}
		} else if sum, size, err = hashFile(f.Source); err != nil {
			add(engine.Problem{Message: fmt.Sprintf("file %q: %v", f.Path, err)})
			continue
		}
		addEntry(Entry{Path: f.Path, Size: size, SHA256: sum, Kind: kind, Source: f.Source}, src)
	}

	plats := append([]string(nil), opts.Platforms...)
	for pl := range opts.RunnerBinaries {
		plats = append(plats, pl)
	}
	sort.Strings(plats)
	for i, pl := range plats {
		if i > 0 && plats[i-1] == pl {
			continue
		}
		if !validPlatform(pl) {
			add(engine.Problem{Message: fmt.Sprintf("platform %q: not one of %s", pl, strings.Join(Platforms, ", "))})
			continue
		}
		m.Platforms = append(m.Platforms, pl)
	}
	runnerPlats := make([]string, 0, len(opts.RunnerBinaries))
	for pl := range opts.RunnerBinaries {
		runnerPlats = append(runnerPlats, pl)
	}
	sort.Strings(runnerPlats)
	for _, pl := range runnerPlats {
		bin := opts.RunnerBinaries[pl]
		sum, size, err := hashFile(bin)
		if err != nil {
			add(engine.Problem{Message: fmt.Sprintf("runner binary for %s: %v", pl, err)})
			continue
		}
		addEntry(Entry{Path: RunnerPath(pl), Size: size, SHA256: sum, Kind: KindRunner, Source: bin}, source{path: bin, mode: 0o755})
	}
	if opts.SystemdUnit {
		unit := []byte(systemdUnit(doc.ID))
		h := sha256.Sum256(unit)
		addEntry(Entry{Path: UnitPath, Size: int64(len(unit)), SHA256: hex.EncodeToString(h[:]), Kind: KindUnit}, source{data: unit, mode: 0o644})
	}

	if len(probs) > 0 {
		return nil, &PlanError{Problems: probs}
	}
	gj, err := doc.Marshal()
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	h := sha256.Sum256(gj)
	addEntry(Entry{Path: GraphPath, Size: int64(len(gj)), SHA256: hex.EncodeToString(h[:]), Kind: KindGraph}, source{data: gj, mode: 0o644})
	sort.Slice(m.Entries, func(i, j int) bool { return m.Entries[i].Path < m.Entries[j].Path })
	p.m, p.graph = m, gj
	return p, nil
}

func reserved(p string) bool {
	return p == ManifestPath || p == SignaturePath || p == GraphPath || p == UnitPath ||
		strings.HasPrefix(p, AssetsDir) || strings.HasPrefix(p, RunnersDir)
}

func systemdUnit(graphID string) string {
	return `# Runs the Atoll bundle ` + graphID + ` with the runner shipped beside it.
# Install: copy the runner to /usr/local/bin/atoll-runner, the bundle to /var/lib/atoll/bundle.atoll
# and the signer's public key to /etc/atoll/trust/, then: systemctl enable --now atoll-runner
[Unit]
Description=Atoll runner (` + graphID + `)
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=/usr/local/bin/atoll-runner run --state /var/lib/atoll/state --trust /etc/atoll/trust --watch-dir /var/lib/atoll/updates --http 127.0.0.1:9464 /var/lib/atoll/bundle.atoll
Restart=on-failure
RestartSec=2
DynamicUser=yes
StateDirectory=atoll

[Install]
WantedBy=multi-user.target
`
}

// TestFilesBeside returns the tests of a graph file, NAME.test.json beside NAME.json, as bundle
// entries under tests/ (none when there is no such file).
func TestFilesBeside(graphFile string) []File {
	base := strings.TrimSuffix(graphFile, filepath.Ext(graphFile))
	t := base + ".test.json"
	if _, err := os.Stat(t); err != nil {
		return nil
	}
	return []File{{Path: TestsDir + filepath.Base(t), Source: t, Kind: KindTest}}
}

// IsDigest reports whether ref names a content-addressed asset (64 hex digits, optionally
// prefixed "sha256:").
func IsDigest(ref string) bool {
	s := strings.TrimPrefix(ref, "sha256:")
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func resolveAsset(opts Options, ref string) (file, name string, err error) {
	if IsDigest(ref) {
		sha := strings.TrimPrefix(ref, "sha256:")
		if opts.ResolveAsset == nil {
			return "", "", errors.New("a content-addressed asset needs the studio's asset store (export from the studio or with --graph ID)")
		}
		p, err := opts.ResolveAsset(sha)
		if err != nil {
			return "", "", err
		}
		return p, "sha256:" + sha, nil
	}
	p := ref
	if !filepath.IsAbs(p) && opts.BaseDir != "" {
		p = filepath.Join(opts.BaseDir, p)
	}
	info, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", "", fmt.Errorf("no such file %s", p)
		}
		return "", "", err
	}
	if !info.Mode().IsRegular() {
		return "", "", fmt.Errorf("%s is not a regular file", p)
	}
	return p, ref, nil
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func decodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// assetRef is one asset-valued place in a node's config.
type assetRef struct {
	field string
	get   func() string
	set   func(string)
}

// assetRefs finds the config values that are assets: fields of format "asset", objects whose
// values are, and arrays whose items are.
func assetRefs(spec *engine.Spec, cfg map[string]any) []assetRef {
	var refs []assetRef
	for _, f := range spec.Fields {
		v, ok := cfg[f.Name]
		if !ok {
			continue
		}
		name := f.Name
		switch {
		case f.Format == "asset" || schemaFormat(f.Schema) == "asset":
			if s, ok := v.(string); ok {
				refs = append(refs, assetRef{field: name, get: func() string { return s }, set: func(n string) { cfg[name] = n }})
			}
		case subFormat(f.Schema, "additionalProperties") == "asset":
			obj, ok := v.(map[string]any)
			if !ok {
				continue
			}
			keys := make([]string, 0, len(obj))
			for k := range obj {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if s, ok := obj[k].(string); ok {
					refs = append(refs, assetRef{field: name + "." + k, get: func() string { return s }, set: func(n string) { obj[k] = n }})
				}
			}
		case subFormat(f.Schema, "items") == "asset":
			arr, ok := v.([]any)
			if !ok {
				continue
			}
			for i := range arr {
				if s, ok := arr[i].(string); ok {
					refs = append(refs, assetRef{field: fmt.Sprintf("%s[%d]", name, i), get: func() string { return s }, set: func(n string) { arr[i] = n }})
				}
			}
		}
	}
	return refs
}

func schemaFormat(s map[string]any) string {
	f, _ := s["format"].(string)
	return f
}

func subFormat(s map[string]any, key string) string {
	sub, _ := s[key].(map[string]any)
	return schemaFormat(sub)
}
