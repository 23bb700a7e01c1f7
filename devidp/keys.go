package devidp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	jose "github.com/go-jose/go-jose/v4"
)

// signingKey is one provider's ES256 key. It implements op.SigningKey and
// op.Key (the public half is what the JWKS publishes).
type signingKey struct {
	id   string
	priv *ecdsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (k *signingKey) Key() any                                    { return k.priv }
func (k *signingKey) ID() string                                  { return k.id }

// publicKey is the JWKS view of a signing key.
type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.priv.PublicKey }

// newSigningKey wraps a P-256 key; its id is derived from the public key so
// that a key loaded from a file keeps its kid across restarts.
func newSigningKey(priv *ecdsa.PrivateKey) (*signingKey, error) {
	if priv.Curve != elliptic.P256() {
		return nil, errors.New("signing key: want an EC P-256 key (ES256)")
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	sum := sha256.Sum256(der)
	return &signingKey{id: base64.RawURLEncoding.EncodeToString(sum[:12]), priv: priv}, nil
}

// generateKey makes a fresh ES256 key.
func generateKey() (*signingKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	return newSigningKey(priv)
}

// loadOrCreateKey reads dir/<name>.pem (PKCS#8 "PRIVATE KEY" or SEC 1 "EC
// PRIVATE KEY"); if the file does not exist it generates a key and writes it
// (mode 0600) so that relying parties' cached key sets stay valid across
// restarts.
func loadOrCreateKey(dir, name string) (*signingKey, error) {
	path := filepath.Join(dir, name+".pem")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := generateKey()
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k.priv)
		if err != nil {
			return nil, fmt.Errorf("encode signing key: %w", err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("key directory: %w", err)
		}
		out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := os.WriteFile(path, out, 0o600); err != nil {
			return nil, fmt.Errorf("write signing key: %w", err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	return parseKeyPEM(path, b)
}

func parseKeyPEM(path string, b []byte) (*signingKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("signing key %s: no PEM block", path)
	}
	var priv *ecdsa.PrivateKey
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", path, err)
		}
		ec, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("signing key %s: want an EC P-256 key, got %T", path, k)
		}
		priv = ec
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", path, err)
		}
		priv = k
	default:
		return nil, fmt.Errorf("signing key %s: unexpected PEM block %q", path, block.Type)
	}
	k, err := newSigningKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// gcmCrypto seals the op's authorization codes and opaque access tokens
// with AES-256-GCM under a key made at start. The op's default does the
// same inside a JWE envelope built per call, which costs a key wrap and a
// JSON header per code and token; this is the same protection without them.
type gcmCrypto struct{ aead cipher.AEAD }

func newGCMCrypto() (*gcmCrypto, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("crypto key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &gcmCrypto{aead: aead}, nil
}

func (c *gcmCrypto) Encrypt(s string) (string, error) {
	ns := c.aead.NonceSize()
	buf := make([]byte, ns, ns+len(s)+c.aead.Overhead())
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(c.aead.Seal(buf, buf, []byte(s), nil)), nil
}

func (c *gcmCrypto) Decrypt(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < c.aead.NonceSize() {
		return "", errors.New("malformed token")
	}
	ns := c.aead.NonceSize()
	plain, err := c.aead.Open(nil, b[:ns], b[ns:], nil)
	if err != nil {
		return "", errors.New("token does not open")
	}
	return string(plain), nil
}
