package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/atoll-studio/atoll/engine/graph"
)

// Limits bound what a bundle may make a reader read or write (decompression bombs).
type Limits struct {
	MaxEntrySize int64 // one entry; default 1 GiB
	MaxTotalSize int64 // all entries together, decompressed; default 4 GiB
	MaxEntries   int   // default 10000
}

// DefaultLimits are the limits used when a field is zero.
var DefaultLimits = Limits{MaxEntrySize: 1 << 30, MaxTotalSize: 4 << 30, MaxEntries: 10000}

// maxSmall bounds the manifest, the signature and the graph, which are held in memory.
const maxSmall = 16 << 20

func (l Limits) withDefaults() Limits {
	if l.MaxEntrySize <= 0 {
		l.MaxEntrySize = DefaultLimits.MaxEntrySize
	}
	if l.MaxTotalSize <= 0 {
		l.MaxTotalSize = DefaultLimits.MaxTotalSize
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultLimits.MaxEntries
	}
	return l
}

// VerifyOptions say what a reader accepts.
type VerifyOptions struct {
	// Trusted are the public keys whose signatures are accepted.
	Trusted []ed25519.PublicKey
	// InsecureSkipVerify accepts unsigned bundles and bundles signed by an untrusted key or with a
	// signature that does not verify. Entries are still checked against the manifest.
	InsecureSkipVerify bool
	Limits             Limits
	// HasNodeType, when set, refuses a bundle whose graph needs a node type it reports missing.
	HasNodeType func(string) bool
}

// Bundle is a verified bundle.
type Bundle struct {
	Manifest      *Manifest
	ManifestBytes []byte
	GraphJSON     []byte
	// SHA256 is the digest of the whole .atoll file.
	SHA256 string
	// Signer is the key that signed the manifest (nil when unsigned).
	Signer ed25519.PublicKey
	// Trusted reports that the signature verified with a trusted key; false only with
	// InsecureSkipVerify.
	Trusted bool
	// Problem says why an insecurely accepted bundle is not trusted.
	Problem string
	// Dir is where Unpack wrote the entries.
	Dir string
}

// SignerID is the signer's key id, or "unsigned".
func (b *Bundle) SignerID() string {
	if b.Signer == nil {
		return "unsigned"
	}
	return KeyID(b.Signer)
}

// Graph parses the bundled graph.
func (b *Bundle) Graph() (*graph.Document, error) {
	d, err := graph.Parse(b.GraphJSON)
	if err != nil {
		return nil, fmt.Errorf("bundle: %s: %w", GraphPath, err)
	}
	return d, nil
}

// VerifyError is why a bundle was refused; Entry names the entry when there is one.
type VerifyError struct {
	Entry string
	Msg   string
	Err   error
}

func (e *VerifyError) Error() string {
	s := "bundle: "
	if e.Entry != "" {
		s += fmt.Sprintf("entry %q: ", e.Entry)
	}
	s += e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *VerifyError) Unwrap() error { return e.Err }

func refuse(entry, format string, args ...any) error {
	return &VerifyError{Entry: entry, Msg: fmt.Sprintf(format, args...)}
}

// Verify reads a whole bundle and checks it (signature, trust, every entry's path, type, size and
// digest, nothing missing or extra, node types) without writing anything.
func Verify(r io.Reader, opts VerifyOptions) (*Bundle, error) {
	return read(r, opts, nil)
}

// VerifyFile is Verify on a file.
func VerifyFile(file string, opts VerifyOptions) (*Bundle, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Verify(f, opts)
}

// Unpack verifies a bundle while writing its entries into dir, which it creates (it must not
// exist) and removes again when the bundle is refused. Nothing is written outside dir: entry
// paths are checked and files are created through an os.Root opened on dir.
func Unpack(r io.Reader, dir string, opts VerifyOptions) (*Bundle, error) {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bundle: unpack: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("bundle: unpack: %w", err)
	}
	b, err := read(r, opts, root)
	root.Close()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	b.Dir = dir
	return b, nil
}

// countingReader fails once more than max bytes were read through it.
type countingReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		return n, fmt.Errorf("more than %d bytes decompressed: limit reached", c.max)
	}
	return n, err
}

func read(r io.Reader, opts VerifyOptions, root *os.Root) (*Bundle, error) {
	lim := opts.Limits.withDefaults()
	fileHash := sha256.New()
	raw := io.TeeReader(r, fileHash)
	gz, err := gzip.NewReader(raw)
	if err != nil {
		return nil, &VerifyError{Msg: "not a gzip-compressed bundle", Err: err}
	}
	gz.Multistream(false)
	tr := tar.NewReader(&countingReader{r: gz, max: lim.MaxTotalSize + maxSmall + 1<<20})
	corrupt := func(err error) error {
		return &VerifyError{Msg: "truncated or corrupt archive", Err: err}
	}

	b := &Bundle{}
	seen := map[string]bool{}
	var total int64
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, corrupt(err)
		}
		name := hdr.Name
		if i >= lim.MaxEntries+2 {
			return nil, refuse(name, "more than %d entries", lim.MaxEntries)
		}
		if err := checkPath(name); err != nil {
			return nil, refuse(name, "%v", err)
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
		case tar.TypeSymlink:
			return nil, refuse(name, "a symlink (to %q): only regular files are allowed", hdr.Linkname)
		case tar.TypeLink:
			return nil, refuse(name, "a hard link (to %q): only regular files are allowed", hdr.Linkname)
		case tar.TypeDir:
			return nil, refuse(name, "a directory entry: only regular files are allowed")
		default:
			return nil, refuse(name, "entry type %q: only regular files are allowed", string(hdr.Typeflag))
		}
		if seen[name] {
			return nil, refuse(name, "appears twice")
		}
		seen[name] = true

		switch {
		case i == 0:
			if name != ManifestPath {
				return nil, refuse(name, "the first entry must be %s", ManifestPath)
			}
			if hdr.Size > maxSmall {
				return nil, refuse(name, "%d bytes exceeds the limit of %d", hdr.Size, maxSmall)
			}
			if b.ManifestBytes, err = readAll(tr, hdr.Size); err != nil {
				return nil, corrupt(err)
			}
			continue
		case name == ManifestPath:
			return nil, refuse(name, "appears twice")
		case name == SignaturePath:
			if i != 1 {
				return nil, refuse(name, "must follow %s", ManifestPath)
			}
			if hdr.Size > 4096 {
				return nil, refuse(name, "%d bytes exceeds the limit of 4096", hdr.Size)
			}
			sig, err := readAll(tr, hdr.Size)
			if err != nil {
				return nil, corrupt(err)
			}
			if err := b.checkSignature(sig, opts); err != nil {
				return nil, err
			}
			continue
		}
		if b.Manifest == nil { // no signature entry: the bundle is unsigned
			if err := b.checkSignature(nil, opts); err != nil {
				return nil, err
			}
		}
		e, ok := b.Manifest.Entry(name)
		if !ok {
			return nil, refuse(name, "not in the manifest (extra entry)")
		}
		if hdr.Size > lim.MaxEntrySize {
			return nil, refuse(name, "%d bytes exceeds the entry size limit of %d", hdr.Size, lim.MaxEntrySize)
		}
		if hdr.Size != e.Size {
			return nil, refuse(name, "%d bytes, the manifest declares %d", hdr.Size, e.Size)
		}
		total += hdr.Size
		if total > lim.MaxTotalSize {
			return nil, refuse(name, "the entries exceed the total size limit of %d bytes", lim.MaxTotalSize)
		}
		h := sha256.New()
		var dst io.Writer = h
		var keep *bytes.Buffer
		if name == GraphPath {
			if hdr.Size > maxSmall {
				return nil, refuse(name, "%d bytes exceeds the limit of %d", hdr.Size, maxSmall)
			}
			keep = bytes.NewBuffer(make([]byte, 0, hdr.Size))
			dst = io.MultiWriter(h, keep)
		}
		var f *os.File
		if root != nil {
			if dir := path.Dir(name); dir != "." {
				if err := root.MkdirAll(dir, 0o700); err != nil {
					return nil, &VerifyError{Entry: name, Msg: "unpack", Err: err}
				}
			}
			mode := os.FileMode(0o600)
			if e.Kind == KindRunner {
				mode = 0o700
			}
			f, err = root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
			if err != nil {
				return nil, &VerifyError{Entry: name, Msg: "unpack", Err: err}
			}
			dst = io.MultiWriter(dst, f)
		}
		n, err := io.Copy(dst, io.LimitReader(tr, hdr.Size+1))
		if f != nil {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return nil, corrupt(fmt.Errorf("entry %q: %w", name, err))
		}
		if n != hdr.Size {
			return nil, refuse(name, "%d bytes read, %d declared", n, hdr.Size)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != e.SHA256 {
			return nil, refuse(name, "content changed: sha256 %s, the manifest declares %s", got, e.SHA256)
		}
		if keep != nil {
			b.GraphJSON = keep.Bytes()
		}
	}
	if b.ManifestBytes == nil {
		return nil, refuse("", "empty archive: no %s", ManifestPath)
	}
	if b.Manifest == nil {
		if err := b.checkSignature(nil, opts); err != nil {
			return nil, err
		}
	}
	for _, e := range b.Manifest.Entries {
		if !seen[e.Path] {
			return nil, refuse(e.Path, "declared in the manifest but missing from the archive")
		}
	}
	// Read to the end of the gzip stream (its checksum) and of the file.
	if _, err := io.Copy(io.Discard, io.LimitReader(gz, 1<<20)); err != nil {
		return nil, corrupt(err)
	}
	if n, _ := io.Copy(io.Discard, io.LimitReader(r, 1<<20)); n > 0 {
		return nil, refuse("", "%d bytes of trailing data after the archive", n)
	}
	b.SHA256 = hex.EncodeToString(fileHash.Sum(nil))
	doc, err := b.Graph()
	if err != nil {
		return nil, &VerifyError{Entry: GraphPath, Msg: "invalid graph", Err: err}
	}
	if doc.ID != b.Manifest.GraphID {
		return nil, refuse(GraphPath, "graph id %q, the manifest says %q", doc.ID, b.Manifest.GraphID)
	}
	if opts.HasNodeType != nil {
		for _, n := range doc.Nodes {
			if !opts.HasNodeType(n.Type) {
				return nil, refuse(GraphPath, "node %q needs node type %q, which this runner lacks", n.ID, n.Type)
			}
		}
	}
	return b, nil
}

// checkSignature verifies the manifest's signature (nil: unsigned) and trust, then parses it.
func (b *Bundle) checkSignature(sig []byte, opts VerifyOptions) error {
	var problem string
	switch {
	case sig == nil:
		problem = "not signed (no " + SignaturePath + ")"
	default:
		pub, err := checkSignature(b.ManifestBytes, sig)
		if err != nil {
			if !opts.InsecureSkipVerify {
				return &VerifyError{Entry: SignaturePath, Msg: "bad signature", Err: err}
			}
			problem = err.Error()
			break
		}
		b.Signer = pub
		for _, k := range opts.Trusted {
			if k.Equal(pub) {
				b.Trusted = true
			}
		}
		if !b.Trusted {
			problem = fmt.Sprintf("signed by key %s, which is not trusted", KeyID(pub))
		}
	}
	if problem != "" && !opts.InsecureSkipVerify {
		hint := " (give its public key with --trust, or --insecure-skip-verify)"
		if sig == nil {
			return refuse(SignaturePath, "%s: only signed bundles run%s", problem, hint)
		}
		return refuse(SignaturePath, "%s%s", problem, hint)
	}
	b.Problem = problem
	m, err := ParseManifest(b.ManifestBytes)
	if err != nil {
		return &VerifyError{Entry: ManifestPath, Msg: "invalid manifest", Err: err}
	}
	b.Manifest = m
	return nil
}

func readAll(r io.Reader, size int64) ([]byte, error) {
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// Assets resolves the asset references of an unpacked bundle's graph: paths under assets/ are
// read from the bundle's directory; any other reference (a device path given by a parameter) is
// read from the file system, relative paths against dir base.
type Assets struct {
	Dir  string // the unpacked bundle
	Base string // where device paths resolve
}

// Asset implements engine.AssetResolver.
func (a Assets) Asset(ref string) ([]byte, error) {
	if strings.HasPrefix(ref, AssetsDir) {
		if err := checkPath(ref); err != nil {
			return nil, fmt.Errorf("asset %q: %w", ref, err)
		}
		root, err := os.OpenRoot(a.Dir)
		if err != nil {
			return nil, err
		}
		defer root.Close()
		return root.ReadFile(ref)
	}
	if IsDigest(ref) {
		return nil, fmt.Errorf("asset %s: content-addressed, but not in the bundle", ref)
	}
	if !filepath.IsAbs(ref) && a.Base != "" {
		ref = filepath.Join(a.Base, ref)
	}
	return os.ReadFile(ref)
}

// IsBundleFile reports whether the file starts like a gzip stream (a bundle) rather than JSON.
func IsBundleFile(file string) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var head [2]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return false, nil
	}
	return head[0] == 0x1f && head[1] == 0x8b, nil
}
