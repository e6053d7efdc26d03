// Package bundle is the export format of a graph: one .atoll file (a gzip-compressed tar) holding a
// manifest, its ed25519 signature, the graph with every asset reference rewritten to a path inside
// the bundle, the assets, and optionally tests, runner binaries and a systemd unit. Plan and Write
// make one (deterministically: the same inputs give the same bytes); Verify checks one without
// writing anything; Unpack checks one while writing it into a directory it creates. BUNDLE.md
// describes the format.
package bundle

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/atoll-studio/atoll/engine/graph"
)

// FormatVersion is the bundle format this package writes and reads.
const FormatVersion = 1

// Paths of the fixed entries.
const (
	ManifestPath  = "manifest.json"
	SignaturePath = "manifest.sig"
	GraphPath     = "graph.json"
	AssetsDir     = "assets/"
	TestsDir      = "tests/"
	RunnersDir    = "runners/"
	UnitPath      = "systemd/atoll-runner.service"
)

// Entry kinds.
const (
	KindGraph  = "graph"
	KindAsset  = "asset"
	KindTest   = "test"
	KindRunner = "runner"
	KindUnit   = "unit"
	KindData   = "data"
)

// Manifest describes a bundle. Its canonical bytes (Marshal) are what the signature covers, and it
// lists every other entry with its size and SHA-256.
type Manifest struct {
	FormatVersion int    `json:"format_version"`
	GraphID       string `json:"graph_id"`
	GraphName     string `json:"graph_name,omitempty"`
	GraphVersion  int    `json:"graph_version"`
	AtollVersion  string `json:"atoll_version"`
	// Created is the time of the graph version exported (not the time of the export), so that two
	// exports of one version are identical.
	Created time.Time `json:"created"`
	// NodeTypes are the node types the graph uses, sorted.
	NodeTypes []string `json:"node_types"`
	// Parameters are the graph's parameters with the defaults chosen at export.
	Parameters []graph.Parameter `json:"parameters"`
	// Platforms are the target platforms ("linux/arm64", ...), sorted.
	Platforms []string `json:"platforms"`
	// Entries are every entry except the manifest and the signature, sorted by path.
	Entries []Entry `json:"entries"`
}

// Entry is one file of the bundle.
type Entry struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Kind   string `json:"kind"`
	// Node and Field say where an asset is used (the first use, when several nodes share it).
	Node  string `json:"node,omitempty"`
	Field string `json:"field,omitempty"`
	// Source is where the asset came from at export (a path or sha256:...), for the dialog.
	Source string `json:"source,omitempty"`
}

// TotalSize is the sum of the entries' sizes (before compression).
func (m *Manifest) TotalSize() int64 {
	var n int64
	for _, e := range m.Entries {
		n += e.Size
	}
	return n
}

// Entry returns the entry with the given path.
func (m *Manifest) Entry(path string) (Entry, bool) {
	i := sort.Search(len(m.Entries), func(i int) bool { return m.Entries[i].Path >= path })
	if i < len(m.Entries) && m.Entries[i].Path == path {
		return m.Entries[i], true
	}
	return Entry{}, false
}

// Marshal returns the canonical manifest bytes: indented JSON, fields in declaration order,
// entries sorted by path, a final newline.
func (m *Manifest) Marshal() ([]byte, error) {
	c := *m
	c.Created = c.Created.UTC()
	c.Entries = append([]Entry(nil), m.Entries...)
	sort.Slice(c.Entries, func(i, j int) bool { return c.Entries[i].Path < c.Entries[j].Path })
	if c.NodeTypes == nil {
		c.NodeTypes = []string{}
	}
	if c.Parameters == nil {
		c.Parameters = []graph.Parameter{}
	}
	if c.Platforms == nil {
		c.Platforms = []string{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ParseManifest reads manifest bytes strictly: unknown fields, a newer format and non-canonical
// bytes (anything Marshal would not write) are errors.
func ParseManifest(data []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("manifest: format version %d, this build reads %d", m.FormatVersion, FormatVersion)
	}
	canon, err := m.Marshal()
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if !bytes.Equal(canon, data) {
		return nil, errors.New("manifest: not in canonical form (changed after signing?)")
	}
	for i, e := range m.Entries {
		if err := checkPath(e.Path); err != nil {
			return nil, fmt.Errorf("manifest: entry %q: %w", e.Path, err)
		}
		if e.Path == ManifestPath || e.Path == SignaturePath {
			return nil, fmt.Errorf("manifest: entry %q: reserved path", e.Path)
		}
		if i > 0 && m.Entries[i-1].Path == e.Path {
			return nil, fmt.Errorf("manifest: entry %q listed twice", e.Path)
		}
		if e.Size < 0 || len(e.SHA256) != 64 {
			return nil, fmt.Errorf("manifest: entry %q: bad size or sha256", e.Path)
		}
	}
	if _, ok := m.Entry(GraphPath); !ok {
		return nil, fmt.Errorf("manifest: no %s entry", GraphPath)
	}
	return &m, nil
}

// checkPath refuses entry paths that could land outside the directory a bundle unpacks into:
// absolute paths, "..", backslashes, empty or unclean names.
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case strings.HasPrefix(p, "/") || filepath.IsAbs(p) || (len(p) > 1 && p[1] == ':'):
		return errors.New("absolute path")
	case strings.Contains(p, "\\"):
		return errors.New("backslash in path")
	case strings.ContainsRune(p, 0):
		return errors.New("NUL in path")
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return errors.New("path traversal (..)")
		}
		if part == "" || part == "." {
			return errors.New("path is not clean")
		}
	}
	return nil
}

// Signature is the content of manifest.sig.
type Signature struct {
	Algorithm string `json:"algorithm"`  // "ed25519"
	PublicKey string `json:"public_key"` // base64 (standard) of the 32-byte key
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"` // base64 (standard) of the 64-byte signature
}

// Sign signs canonical manifest bytes.
func Sign(manifest []byte, key ed25519.PrivateKey) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign: private key is %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	pub := key.Public().(ed25519.PublicKey)
	s := Signature{Algorithm: "ed25519", PublicKey: base64.StdEncoding.EncodeToString(pub), KeyID: KeyID(pub),
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(key, manifest))}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// checkSignature parses manifest.sig and verifies it over the manifest bytes.
func checkSignature(manifest, sig []byte) (ed25519.PublicKey, error) {
	dec := json.NewDecoder(bytes.NewReader(sig))
	dec.DisallowUnknownFields()
	var s Signature
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	if s.Algorithm != "ed25519" {
		return nil, fmt.Errorf("signature: algorithm %q is not ed25519", s.Algorithm)
	}
	pub, err := base64.StdEncoding.DecodeString(s.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("signature: public key is not 32 bytes of base64")
	}
	raw, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return nil, errors.New("signature: signature is not 64 bytes of base64")
	}
	if !ed25519.Verify(pub, manifest, raw) {
		return nil, fmt.Errorf("signature: does not verify over %s with key %s (manifest or signature changed)", ManifestPath, KeyID(pub))
	}
	return ed25519.PublicKey(pub), nil
}

// KeyID is a short fingerprint of a public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// publicKeyPrefix starts the text form of a public key.
const publicKeyPrefix = "atoll-ed25519 "

// privateKeyPrefix starts the text form of a key pair.
const privateKeyPrefix = "atoll-ed25519-private "

// FormatPublicKey returns the one-line text form of a public key, as trust files hold it:
// "atoll-ed25519 BASE64 KEYID".
func FormatPublicKey(pub ed25519.PublicKey) string {
	return publicKeyPrefix + base64.StdEncoding.EncodeToString(pub) + " " + KeyID(pub)
}

// ParsePublicKey reads the text form of a public key (FormatPublicKey; the key id is optional).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	f := strings.Fields(strings.TrimSpace(s))
	if len(f) < 2 || f[0]+" " != publicKeyPrefix {
		return nil, fmt.Errorf("public key: want %q followed by base64", publicKeyPrefix)
	}
	b, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("public key: not 32 bytes of base64")
	}
	return ed25519.PublicKey(b), nil
}

// FormatPrivateKey returns the text form of a key pair for export to a team:
// "atoll-ed25519-private BASE64(seed) KEYID". Keep it secret.
func FormatPrivateKey(key ed25519.PrivateKey) string {
	return privateKeyPrefix + base64.StdEncoding.EncodeToString(key.Seed()) + " " + KeyID(key.Public().(ed25519.PublicKey)) + "\n"
}

// ParsePrivateKey reads the text form of a key pair (FormatPrivateKey). When the key id is given
// it must match.
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	f := strings.Fields(strings.TrimSpace(s))
	if len(f) < 2 || f[0]+" " != privateKeyPrefix {
		return nil, fmt.Errorf("private key: want %q followed by base64", privateKeyPrefix)
	}
	seed, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("private key: not a 32-byte seed in base64")
	}
	key := ed25519.NewKeyFromSeed(seed)
	if len(f) > 2 && f[2] != KeyID(key.Public().(ed25519.PublicKey)) {
		return nil, fmt.Errorf("private key: key id %s does not match the key (%s)", f[2], KeyID(key.Public().(ed25519.PublicKey)))
	}
	return key, nil
}

// LoadTrust reads trusted public keys from a file (one key a line; blank lines and # comments
// skipped) or from every *.pub file in a directory.
func LoadTrust(path string) ([]ed25519.PublicKey, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	files := []string{path}
	if info.IsDir() {
		files, err = filepath.Glob(filepath.Join(path, "*.pub"))
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("trust: %s: no *.pub files", path)
		}
	}
	var keys []ed25519.PublicKey
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("trust: %w", err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, err := ParsePublicKey(line)
			if err != nil {
				return nil, fmt.Errorf("trust: %s line %d: %w", f, i+1, err)
			}
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("trust: %s: no keys", path)
	}
	return keys, nil
}
