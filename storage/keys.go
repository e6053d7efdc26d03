package storage

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// SigningKeyName is the keys-table row holding the studio's bundle signing key.
const SigningKeyName = "signing"

// SigningKey is the studio's ed25519 bundle signing key.
type SigningKey struct {
	Private   ed25519.PrivateKey
	CreatedAt time.Time
}

// Public returns the key's public half.
func (k SigningKey) Public() ed25519.PublicKey { return k.Private.Public().(ed25519.PublicKey) }

// SigningKey returns the signing key, creating it on first use (the first export). Concurrent
// first uses, also from several processes, agree on one key.
func (s *Store) SigningKey(ctx context.Context) (SigningKey, error) {
	var k SigningKey
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		k, err = loadKey(ctx, tx)
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return fmt.Errorf("signing key: generate: %w", err)
		}
		k = SigningKey{Private: priv, CreatedAt: fromNS(nowNS())}
		return storeKey(ctx, tx, k)
	})
	return k, err
}

// PublicKey returns the signing key's public half; ErrNotFound when none was created yet.
func (s *Store) PublicKey(ctx context.Context) (ed25519.PublicKey, time.Time, error) {
	var k SigningKey
	err := s.tx(ctx, func(tx *sql.Tx) (err error) {
		k, err = loadKey(ctx, tx)
		return err
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return k.Public(), k.CreatedAt, nil
}

// ImportKey makes priv the signing key (a team's shared key). The key it replaces is kept in the
// keys table as "signing-replaced-<unix ns>", so an import never destroys a key.
func (s *Store) ImportKey(ctx context.Context, priv ed25519.PrivateKey) error {
	if len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("signing key: import: %d bytes, want %d: %w", len(priv), ed25519.PrivateKeySize, ErrInvalid)
	}
	// A key whose public half does not derive from its seed is corrupt.
	if !ed25519.NewKeyFromSeed(priv.Seed()).Equal(priv) {
		return fmt.Errorf("signing key: import: public half does not match the seed: %w", ErrInvalid)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		old, err := loadKey(ctx, tx)
		switch {
		case err == nil:
			if old.Private.Equal(priv) {
				return nil
			}
			name := SigningKeyName + "-replaced-" + strconv.FormatInt(nowNS(), 10)
			if _, err := tx.ExecContext(ctx, "UPDATE keys SET name = ? WHERE name = ?", name, SigningKeyName); err != nil {
				return fmt.Errorf("signing key: keep the old key: %w", err)
			}
		case !errors.Is(err, ErrNotFound):
			return err
		}
		return storeKey(ctx, tx, SigningKey{Private: priv, CreatedAt: fromNS(nowNS())})
	})
}

// ExportKey returns the signing key for export to a team; ErrNotFound when none exists yet.
func (s *Store) ExportKey(ctx context.Context) (SigningKey, error) {
	var k SigningKey
	err := s.tx(ctx, func(tx *sql.Tx) (err error) {
		k, err = loadKey(ctx, tx)
		return err
	})
	return k, err
}

func loadKey(ctx context.Context, tx *sql.Tx) (SigningKey, error) {
	var alg string
	var seed []byte
	var created int64
	err := tx.QueryRowContext(ctx, "SELECT algorithm, private, created_at FROM keys WHERE name = ?", SigningKeyName).Scan(&alg, &seed, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return SigningKey{}, fmt.Errorf("signing key: %w", ErrNotFound)
	}
	if err != nil {
		return SigningKey{}, fmt.Errorf("signing key: %w", err)
	}
	if alg != "ed25519" || len(seed) != ed25519.SeedSize {
		return SigningKey{}, fmt.Errorf("signing key: algorithm %q with a %d-byte key: %w", alg, len(seed), ErrInvalid)
	}
	return SigningKey{Private: ed25519.NewKeyFromSeed(seed), CreatedAt: fromNS(created)}, nil
}

// storeKey writes the seed (the private key's 32 bytes; the rest derives from it).
func storeKey(ctx context.Context, tx *sql.Tx, k SigningKey) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO keys (name, algorithm, private, created_at) VALUES (?, 'ed25519', ?, ?)",
		SigningKeyName, k.Private.Seed(), k.CreatedAt.UnixNano())
	if err != nil {
		return fmt.Errorf("signing key: save: %w", err)
	}
	return nil
}
