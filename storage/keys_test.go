package storage

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"path/filepath"
	"sync"
	"testing"
)

func TestSigningKeyCreatedOnceAndKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "atoll.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, _, err := s.PublicKey(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("public key before the first export: %v, want ErrNotFound", err)
	}
	// Concurrent first uses agree on one key.
	keys := make([]SigningKey, 4)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := s.SigningKey(ctx)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !k.Private.Equal(keys[0].Private) {
			t.Fatal("concurrent first uses created different keys")
		}
	}
	msg := []byte("manifest")
	sig := ed25519.Sign(keys[0].Private, msg)
	s.Close()

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pub, created, err := s.PublicKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(pub, msg, sig) || !created.Equal(keys[0].CreatedAt) {
		t.Fatalf("the reopened store's key differs (created %v vs %v)", created, keys[0].CreatedAt)
	}

	// Import a team key: it signs from now on; the old key is kept under another name.
	_, team, _ := ed25519.GenerateKey(rand.Reader)
	if err := s.ImportKey(ctx, team); err != nil {
		t.Fatal(err)
	}
	got, err := s.ExportKey(ctx)
	if err != nil || !got.Private.Equal(team) {
		t.Fatalf("export after import: %v", err)
	}
	var n int
	if err := s.db.QueryRow("SELECT count(*) FROM keys").Scan(&n); err != nil || n != 2 {
		t.Fatalf("keys rows: %d, %v (want the replaced key kept)", n, err)
	}
	bad := append(ed25519.PrivateKey(nil), team...)
	bad[40] ^= 1 // public half no longer matches the seed
	if err := s.ImportKey(ctx, bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("import of a corrupt key: %v, want ErrInvalid", err)
	}
	if err := s.ImportKey(ctx, team[:10]); !errors.Is(err, ErrInvalid) {
		t.Fatalf("import of a short key: %v, want ErrInvalid", err)
	}
}
