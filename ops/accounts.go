package ops

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"vaxbook"
)

// Operator accounts come from configuration as "name:bcrypt-hash" entries.
// Verification always runs one bcrypt comparison — against a dummy hash for
// an unknown name — so that a failure takes the same time whether or not
// the name exists.

// Accounts are the operator accounts of a node. It is safe for concurrent
// use.
type Accounts struct {
	hashes map[string][]byte
	dummy  []byte

	// A successful check is remembered for a minute (keyed by an HMAC of
	// name and password under a random key), so that scripts using HTTP
	// Basic do not pay bcrypt on every call.
	cacheKey [32]byte
	mu       sync.Mutex
	cache    map[[32]byte]time.Time

	generated *Generated
	genCost   int // bcrypt cost of generated accounts (tests lower it)
}

// Generated is an account made at start (demo mode without configured
// operators); its password is shown once.
type Generated struct {
	Name, Password string
}

// validName accepts 1–32 of a–z, 0–9, '.', '_', '-'.
func validName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ParseAccounts reads "name:bcrypt-hash" entries. Names are 1–32 of a–z,
// 0–9, '.', '_', '-'; each appears once; hashes must be bcrypt ($2a$, $2b$
// or $2y$). The error names the first bad entry without echoing its hash.
func ParseAccounts(entries []string) (*Accounts, error) {
	a, err := newAccounts()
	if err != nil {
		return nil, err
	}
	maxCost := 0
	for i, e := range entries {
		name, hash, ok := strings.Cut(strings.TrimSpace(e), ":")
		if !ok || !validName(name) {
			return nil, vaxbook.InvalidParam("operators", "operator entry %d: want name:bcrypt-hash with a name of 1–32 of a–z, 0–9, '.', '_', '-'", i+1)
		}
		if _, dup := a.hashes[name]; dup {
			return nil, vaxbook.InvalidParam("operators", "operator %q is configured twice", name)
		}
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return nil, vaxbook.InvalidParam("operators", "operator %q: the hash is not a bcrypt hash (make one with htpasswd -nbBC 12 NAME PASSWORD)", name)
		}
		maxCost = max(maxCost, cost)
		a.hashes[name] = []byte(hash)
	}
	if maxCost > 0 {
		if err := a.setDummy(maxCost); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// setDummy makes the hash unknown names are checked against, at the cost of
// the real ones so that both take the same time.
func (a *Accounts) setDummy(cost int) error {
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		return fmt.Errorf("ops: accounts: %w", err)
	}
	dummy, err := bcrypt.GenerateFromPassword(pw, cost)
	if err != nil {
		return fmt.Errorf("ops: accounts: %w", err)
	}
	a.mu.Lock()
	a.dummy = dummy
	a.mu.Unlock()
	return nil
}

func (a *Accounts) dummyHash() []byte {
	a.mu.Lock()
	d := a.dummy
	a.mu.Unlock()
	if d == nil {
		_ = a.setDummy(bcrypt.DefaultCost)
		a.mu.Lock()
		d = a.dummy
		a.mu.Unlock()
	}
	return d
}

func newAccounts() (*Accounts, error) {
	a := &Accounts{hashes: map[string][]byte{}, cache: map[[32]byte]time.Time{}, genCost: bcrypt.DefaultCost}
	if _, err := rand.Read(a.cacheKey[:]); err != nil {
		return nil, fmt.Errorf("ops: accounts: %w", err)
	}
	return a, nil
}

// GenerateAccount adds an account name with a random password (20
// characters of base32, 100 bits) and returns it; TakeGenerated hands it
// out once. Call it before the accounts are in use.
func (a *Accounts) GenerateAccount(name string) (Generated, error) {
	if !validName(name) {
		return Generated{}, vaxbook.InvalidParam("name", "bad operator name %q", name)
	}
	b := make([]byte, 13)
	if _, err := rand.Read(b); err != nil {
		return Generated{}, fmt.Errorf("ops: generate account: %w", err)
	}
	pw := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:20]
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), a.genCost)
	if err != nil {
		return Generated{}, fmt.Errorf("ops: generate account: %w", err)
	}
	a.hashes[name] = hash
	if err := a.setDummy(a.genCost); err != nil {
		return Generated{}, err
	}
	g := Generated{Name: name, Password: pw}
	a.generated = &g
	return g, nil
}

// TakeGenerated returns the generated account once (then nothing).
func (a *Accounts) TakeGenerated() (Generated, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	g := a.generated
	a.generated = nil
	if g == nil {
		return Generated{}, false
	}
	return *g, true
}

// Names lists the accounts, sorted.
func (a *Accounts) Names() []string {
	out := make([]string, 0, len(a.hashes))
	for n := range a.hashes {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Has reports whether name is an account (a session of a removed account
// stops working).
func (a *Accounts) Has(name string) bool {
	_, ok := a.hashes[name]
	return ok
}

// Verify reports whether password is name's. It takes a bcrypt comparison's
// time whether or not the name exists (unless the pair was verified in the
// last minute, by now).
func (a *Accounts) Verify(name, password string, now time.Time) bool {
	if len(password) > 72 || len(name) > 64 {
		// bcrypt reads at most 72 bytes; longer passwords are refused
		// rather than silently truncated. Still spend the time.
		_ = bcrypt.CompareHashAndPassword(a.dummyHash(), []byte("x"))
		return false
	}
	m := hmac.New(sha256.New, a.cacheKey[:])
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var key [32]byte
	copy(key[:], m.Sum(nil))
	a.mu.Lock()
	until, hit := a.cache[key]
	a.mu.Unlock()
	if hit && now.Before(until) {
		return a.Has(name)
	}
	hash, ok := a.hashes[name]
	if !ok {
		hash = a.dummyHash()
	}
	if err := bcrypt.CompareHashAndPassword(hash, []byte(password)); err != nil || !ok {
		return false
	}
	a.mu.Lock()
	if len(a.cache) > 1000 {
		clear(a.cache)
	}
	a.cache[key] = now.Add(time.Minute)
	a.mu.Unlock()
	return true
}

// ErrLocked is returned by Limiter.Allow while a key is locked out.
var ErrLocked = errors.New("too many failed sign-ins")

// Limiter counts failed sign-ins per key (account name, client address)
// and locks a key out for Window after Max failures within Window. It keeps
// at most a bounded number of keys. Time is a parameter.
type Limiter struct {
	Max    int
	Window time.Duration

	mu   sync.Mutex
	keys map[string]*failures
}

type failures struct {
	n     int
	first time.Time
	until time.Time // locked until
}

// maxLimiterKeys bounds the limiter's memory.
const maxLimiterKeys = 100_000

// NewLimiter returns a limiter of max failures per window.
func NewLimiter(max int, window time.Duration) *Limiter {
	return &Limiter{Max: max, Window: window, keys: map[string]*failures{}}
}

// Allow returns how long the caller must wait before trying key again (0:
// now).
func (l *Limiter) Allow(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.keys[key]
	if f == nil || !now.Before(f.until) {
		return 0
	}
	return f.until.Sub(now)
}

// Fail counts a failure of key at now.
func (l *Limiter) Fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.keys[key]
	if f == nil || now.Sub(f.first) > l.Window {
		if f == nil && len(l.keys) >= maxLimiterKeys {
			for k, v := range l.keys {
				if now.Sub(v.first) > l.Window && !now.Before(v.until) {
					delete(l.keys, k)
				}
			}
			if len(l.keys) >= maxLimiterKeys {
				clear(l.keys)
			}
		}
		f = &failures{first: now}
		l.keys[key] = f
	}
	f.n++
	if f.n >= l.Max {
		f.until = now.Add(l.Window)
		f.n, f.first = 0, now
	}
}

// Reset forgets key's failures (after a success).
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.keys, key)
}
