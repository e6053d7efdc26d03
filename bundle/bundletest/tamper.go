// Package bundletest makes broken bundles for tests: the tampering table that the bundle package
// and the runner both check.
package bundletest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/atoll-studio/atoll/bundle"
)

// Case is one tampered bundle and the words its refusal must contain.
type Case struct {
	Name string
	Data []byte
	Want string
	// MaxEntrySize, when set, is the per-entry limit the reader must be given.
	MaxEntrySize int64
}

type entry struct {
	hdr  tar.Header
	data []byte
}

func read(data []byte) ([]entry, error) {
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(gz)
	var out []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		out = append(out, entry{*h, b})
	}
}

func pack(es []entry) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range es {
		h := e.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(&h); err != nil {
			panic(err) // headers come from this file
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(e.data)
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func find(es []entry, match func(string) bool) int {
	for i, e := range es {
		if match(e.hdr.Name) {
			return i
		}
	}
	return -1
}

// Build writes the good bundle opts describes and its bomb (opts plus a 4 MiB data entry), and
// returns the good bundle's bytes with the tampering table for both (see Cases).
func Build(opts bundle.Options, untrusted ed25519.PrivateKey) ([]byte, []Case, error) {
	var good, bomb bytes.Buffer
	if _, err := bundle.Write(&good, opts); err != nil {
		return nil, nil, err
	}
	opts.Files = append(append([]bundle.File(nil), opts.Files...), bundle.File{Path: "data/zeros.bin", Data: make([]byte, 4<<20)})
	if _, err := bundle.Write(&bomb, opts); err != nil {
		return nil, nil, err
	}
	cases, err := Cases(good.Bytes(), bomb.Bytes(), untrusted)
	return good.Bytes(), cases, err
}

// Cases returns the tampering table for good, a bundle signed by a trusted key holding at least
// a .wasm asset and an entry under tests/ or data/ (and a .tflite model, for the model case).
// bomb is a good bundle with an entry of more than 1 MiB; its case sets MaxEntrySize to 1 MiB.
// untrusted signs the "untrusted key" case.
func Cases(good, bomb []byte, untrusted ed25519.PrivateKey) ([]Case, error) {
	es, err := read(good)
	if err != nil {
		return nil, err
	}
	edit := func(f func([]entry) []entry) []byte {
		c := make([]entry, len(es))
		for i, e := range es {
			c[i] = entry{e.hdr, append([]byte(nil), e.data...)}
		}
		return pack(f(c))
	}
	var cases []Case
	flip := func(name string, match func(string) bool, want func(path string) string) {
		i := find(es, match)
		if i < 0 {
			return
		}
		cases = append(cases, Case{Name: name, Want: want(es[i].hdr.Name), Data: edit(func(c []entry) []entry {
			c[i].data[len(c[i].data)/2] ^= 0x20
			return c
		})})
	}
	changed := func(p string) string { return fmt.Sprintf("entry %q: content changed", p) }
	flip("manifest byte", func(p string) bool { return p == bundle.ManifestPath }, func(string) string { return `entry "manifest.sig": bad signature` })
	flip("graph byte", func(p string) bool { return p == bundle.GraphPath }, changed)
	flip("wasm byte", func(p string) bool { return strings.HasSuffix(p, ".wasm") }, changed)
	flip("model byte", func(p string) bool { return strings.HasSuffix(p, ".tflite") }, changed)
	flip("data byte", func(p string) bool {
		return strings.HasPrefix(p, bundle.TestsDir) || strings.HasPrefix(p, "data/")
	}, changed)

	add := func(name string, h tar.Header, data, want string) {
		cases = append(cases, Case{Name: name, Want: want, Data: edit(func(c []entry) []entry { return append(c, entry{h, []byte(data)}) })})
	}
	cases = append(cases,
		Case{Name: "truncated", Data: good[:len(good)*2/3], Want: "truncated or corrupt archive"},
		Case{Name: "unsigned", Want: "not signed", Data: edit(func(c []entry) []entry { return append(c[:1], c[2:]...) })},
	)
	// Signed by another key: a valid signature, an untrusted signer.
	sig, err := bundle.Sign(es[0].data, untrusted)
	if err != nil {
		return nil, err
	}
	cases = append(cases, Case{Name: "untrusted key", Want: "which is not trusted", Data: edit(func(c []entry) []entry {
		c[1].data = sig
		return c
	})})
	if i := find(es, func(p string) bool { return strings.HasPrefix(p, bundle.TestsDir) || strings.HasPrefix(p, "data/") }); i >= 0 {
		p := es[i].hdr.Name
		cases = append(cases, Case{Name: "missing entry", Want: fmt.Sprintf("entry %q: declared in the manifest but missing", p),
			Data: edit(func(c []entry) []entry { return append(c[:i], c[i+1:]...) })})
	}
	reg := func(name string) tar.Header { return tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644} }
	add("extra entry", reg("extra.txt"), "hi", `entry "extra.txt": not in the manifest`)
	add("dotdot", reg("../x"), "x", `entry "../x": path traversal`)
	add("absolute", reg("/etc/x"), "x", `entry "/etc/x": absolute path`)
	add("symlink", tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, "", `entry "link": a symlink`)
	add("hard link", tar.Header{Name: "hard", Typeflag: tar.TypeLink, Linkname: bundle.GraphPath}, "", `entry "hard": a hard link`)
	cases = append(cases, Case{Name: "inflates past the limit", Data: bomb, Want: "exceeds the entry size limit of 1048576", MaxEntrySize: 1 << 20})
	return cases, nil
}

// ReplaceEntry returns good with the entry at path holding data instead, the manifest updated and
// signed again by key: a bundle that verifies, for testing what happens after verification.
func ReplaceEntry(good []byte, key ed25519.PrivateKey, path string, data []byte) ([]byte, error) {
	es, err := read(good)
	if err != nil {
		return nil, err
	}
	m, err := bundle.ParseManifest(es[0].data)
	if err != nil {
		return nil, err
	}
	found := false
	for i := range m.Entries {
		if m.Entries[i].Path == path {
			sum := sha256.Sum256(data)
			m.Entries[i].Size, m.Entries[i].SHA256 = int64(len(data)), hex.EncodeToString(sum[:])
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("no entry %q", path)
	}
	mb, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	sig, err := bundle.Sign(mb, key)
	if err != nil {
		return nil, err
	}
	for i := range es {
		switch es[i].hdr.Name {
		case bundle.ManifestPath:
			es[i].data = mb
		case bundle.SignaturePath:
			es[i].data = sig
		case path:
			es[i].data = data
		}
	}
	return pack(es), nil
}
