// Package pii protects the personal data vaxbook keeps about people.
//
// Names and phone numbers are sealed with AES-256-GCM under a rotatable key:
// Seal always uses the current key, Open accepts any known key, so a new key
// can be made current while old rows are still readable (and re-sealed at
// leisure with Reseal). The provider's stable person identifier (in Korea,
// the CI) is never stored: only its blind index, HMAC-SHA256 under a separate
// key, which lets the registry find a person without being able to list or
// reverse identifiers.
//
// Sealed format (all of it authenticated):
//
//	byte 0         format version, 1
//	byte 1         length n of the key id (1–32)
//	bytes 2…2+n    key id (ASCII letters, digits, '-', '_')
//	12 bytes       random GCM nonce
//	rest           ciphertext and 16-byte tag
//
// The header (version and key id) is authenticated as additional data
// together with the caller's aad, which binds a ciphertext to its row: vaxbook
// uses PersonAAD(person id) for the name and the phone of a person.
//
// Keys come from configuration (ParseKeys). DemoKeys returns fixed, public
// keys for demos and tests only.
package pii

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
)

// Version is the first byte of every sealed value.
const Version byte = 1

// KeySize is the size in bytes of sealing and blind-index keys.
const KeySize = 32

// BlindIndexSize is the size in bytes of a blind index.
const BlindIndexSize = sha256.Size

// maxKeyID bounds key ids (they are stored in every sealed value).
const maxKeyID = 32

// ErrOpen is returned (wrapped) by Open for every value that does not
// authenticate: tampered, truncated, sealed under another aad, or under a key
// this configuration does not know.
var ErrOpen = errors.New("pii: sealed value does not open")

// Keys holds the sealing keys (one current, any number of older ones still
// accepted by Open) and the blind-index key. A *Keys is safe for concurrent
// use and immutable after construction.
type Keys struct {
	current string
	hdr     []byte // header of values sealed under the current key
	aeads   map[string]cipher.AEAD
	ids     []string // current first, then the others in configuration order
	blind   sync.Pool
}

// ParseKeys builds Keys from configuration strings.
//
// sealing is a comma-separated list of id:key entries, the first being the
// current key: "k2:<base64>,k1:<base64>". An id is 1–32 ASCII letters,
// digits, '-' or '_'; a key is 32 bytes in standard or URL-safe base64
// (padding optional). blind is the blind-index key, 32 bytes in base64.
//
// Errors name the offending entry by position and id but never echo key
// material.
func ParseKeys(sealing, blind string) (*Keys, error) {
	sealing = strings.TrimSpace(sealing)
	if sealing == "" {
		return nil, errors.New("pii keys: no sealing key: want \"id:base64key[,id:base64key…]\", the first being current")
	}
	type entry struct {
		id  string
		key []byte
	}
	var entries []entry
	seen := map[string]bool{}
	for i, part := range strings.Split(sealing, ",") {
		part = strings.TrimSpace(part)
		id, b64, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("pii keys: sealing entry %d: want id:base64key", i+1)
		}
		if err := checkKeyID(id); err != nil {
			return nil, fmt.Errorf("pii keys: sealing entry %d: %w", i+1, err)
		}
		if seen[id] {
			return nil, fmt.Errorf("pii keys: sealing entry %d: key id %q given twice", i+1, id)
		}
		seen[id] = true
		key, err := decodeKey(b64)
		if err != nil {
			return nil, fmt.Errorf("pii keys: sealing key %q: %w", id, err)
		}
		entries = append(entries, entry{id, key})
	}
	bkey, err := decodeKey(strings.TrimSpace(blind))
	if err != nil {
		return nil, fmt.Errorf("pii keys: blind-index key: %w", err)
	}
	k := &Keys{current: entries[0].id, hdr: header(entries[0].id), aeads: map[string]cipher.AEAD{}}
	for _, e := range entries {
		for _, o := range entries {
			if o.id != e.id && hmac.Equal(o.key, e.key) {
				return nil, fmt.Errorf("pii keys: sealing keys %q and %q are the same key", e.id, o.id)
			}
		}
		if hmac.Equal(e.key, bkey) {
			return nil, fmt.Errorf("pii keys: sealing key %q is also the blind-index key; use separate keys", e.id)
		}
		block, err := aes.NewCipher(e.key)
		if err != nil {
			return nil, fmt.Errorf("pii keys: sealing key %q: %w", e.id, err)
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("pii keys: sealing key %q: %w", e.id, err)
		}
		k.aeads[e.id] = aead
		k.ids = append(k.ids, e.id)
	}
	k.blind.New = func() any { return hmac.New(sha256.New, bkey) }
	return k, nil
}

// DemoLabel is the public label DemoKeys derives its keys from.
const DemoLabel = "vaxbook demo keys v1 -- PUBLIC, NOT SECRET, NEVER USE IN PRODUCTION"

// DemoKeys returns keys derived from the public DemoLabel: sealing key id
// "demo" and a blind-index key. ANYONE CAN DERIVE THEM. They exist so that
// `vaxbook serve` runs with no configuration and tests are reproducible; a
// deployment that holds real personal data must configure its own keys
// (ParseKeys) and never use these.
func DemoKeys() *Keys {
	seal := sha256.Sum256([]byte(DemoLabel + " / sealing"))
	blind := sha256.Sum256([]byte(DemoLabel + " / blind index"))
	k, err := ParseKeys("demo:"+base64.StdEncoding.EncodeToString(seal[:]), base64.StdEncoding.EncodeToString(blind[:]))
	if err != nil {
		panic("pii: demo keys: " + err.Error()) // cannot happen: fixed, valid input
	}
	return k
}

// GenerateKeySpec returns a fresh sealing entry "id:<base64 32 random bytes>"
// for configuration, reading randomness from rnd.
func GenerateKeySpec(id string, rnd func([]byte) (int, error)) (string, error) {
	if err := checkKeyID(id); err != nil {
		return "", err
	}
	b := make([]byte, KeySize)
	if _, err := rnd(b); err != nil {
		return "", fmt.Errorf("pii: random key: %w", err)
	}
	return id + ":" + base64.StdEncoding.EncodeToString(b), nil
}

// CurrentKeyID returns the id of the key Seal uses.
func (k *Keys) CurrentKeyID() string { return k.current }

// KeyIDs returns the ids of all known sealing keys, the current one first.
func (k *Keys) KeyIDs() []string { return append([]string(nil), k.ids...) }

// PersonAAD returns the additional data that binds a person's sealed name and
// phone to their registry id: the id as 8 bytes, big-endian.
func PersonAAD(personID int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(personID))
}

// Seal encrypts plaintext under the current key, binding it to aad (which is
// not stored: the same aad must be given to Open). Each call uses a fresh
// random nonce; a key must not seal more than 2^32 values (rotate before).
func (k *Keys) Seal(plaintext string, aad []byte) []byte {
	aead := k.aeads[k.current]
	hdr := k.hdr
	out := make([]byte, len(hdr), len(hdr)+len(plaintext)+aead.Overhead())
	copy(out, hdr)
	return aead.Seal(out, nil, []byte(plaintext), additional(hdr, aad))
}

// Open decrypts a value made by Seal with any known key and the same aad.
// Values that do not authenticate are an error wrapping ErrOpen.
func (k *Keys) Open(sealed []byte, aad []byte) (string, error) {
	id, hdrLen, err := parseHeader(sealed)
	if err != nil {
		return "", err
	}
	aead, ok := k.aeads[id]
	if !ok {
		return "", fmt.Errorf("%w: sealed with key %q, which is not configured (known: %s)", ErrOpen, id, strings.Join(k.ids, ", "))
	}
	pt, err := aead.Open(nil, nil, sealed[hdrLen:], additional(sealed[:hdrLen], aad))
	if err != nil {
		return "", fmt.Errorf("%w: tampered, truncated or bound to another record", ErrOpen)
	}
	return string(pt), nil
}

// SealedKeyID returns the id of the key a sealed value was made with.
func SealedKeyID(sealed []byte) (string, error) {
	id, _, err := parseHeader(sealed)
	return id, err
}

// Reseal opens sealed and, if it was not sealed under the current key, seals
// it again under the current key. It reports whether it changed the value
// (a rotation job rewrites only those rows).
func (k *Keys) Reseal(sealed []byte, aad []byte) ([]byte, bool, error) {
	id, _, err := parseHeader(sealed)
	if err != nil {
		return nil, false, err
	}
	pt, err := k.Open(sealed, aad)
	if err != nil {
		return nil, false, err
	}
	if id == k.current {
		return sealed, false, nil
	}
	return k.Seal(pt, aad), true, nil
}

// BlindIndex returns HMAC-SHA256(blind-index key, ci): 32 bytes that find a
// person by the provider's identifier without storing it.
func (k *Keys) BlindIndex(ci string) []byte {
	return k.AppendBlindIndex(make([]byte, 0, BlindIndexSize), ci)
}

// AppendBlindIndex appends the blind index of ci to dst.
func (k *Keys) AppendBlindIndex(dst []byte, ci string) []byte {
	h := k.blind.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(ci))
	dst = h.Sum(dst)
	k.blind.Put(h)
	return dst
}

func checkKeyID(id string) error {
	if id == "" || len(id) > maxKeyID {
		return fmt.Errorf("key id must be 1–%d characters", maxKeyID)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("key id %q: only ASCII letters, digits, '-' and '_' are allowed", id)
		}
	}
	return nil
}

func decodeKey(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("missing: want 32 bytes in base64")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("want %d bytes, the base64 decodes to %d", KeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("not valid base64: want 32 bytes in base64")
}

func header(id string) []byte {
	return append([]byte{Version, byte(len(id))}, id...)
}

func parseHeader(sealed []byte) (id string, n int, err error) {
	if len(sealed) < 2 {
		return "", 0, fmt.Errorf("%w: too short", ErrOpen)
	}
	if sealed[0] != Version {
		return "", 0, fmt.Errorf("%w: unknown format version %d", ErrOpen, sealed[0])
	}
	l := int(sealed[1])
	if l == 0 || l > maxKeyID || len(sealed) < 2+l {
		return "", 0, fmt.Errorf("%w: malformed header", ErrOpen)
	}
	return string(sealed[2 : 2+l]), 2 + l, nil
}

func additional(hdr, aad []byte) []byte {
	ad := make([]byte, 0, len(hdr)+len(aad))
	return append(append(ad, hdr...), aad...)
}
