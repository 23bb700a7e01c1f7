package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The queue cookie lets a waiting browser poll its status without the
// server reading the database: it binds the ticket to the person, the
// session (by hash) and the device (by hash) under the node secret. Polls
// verify it with one HMAC; the session itself is read only at booking writes.
const (
	queueCookie = "vb_queue"
	passCookie  = "vb_pass"
)

type queueClaims struct {
	Ticket     string
	PersonID   int64
	SessionSum [16]byte // first 16 bytes of SHA-256(session id)
	DeviceSum  [16]byte // first 16 bytes of SHA-256(device id)
	Expires    time.Time
}

func sum16(s string) [16]byte {
	h := sha256.Sum256([]byte(s))
	var out [16]byte
	copy(out[:], h[:16])
	return out
}

// queueMAC seals and opens queue cookies under the node secret. Keyed
// HMAC states are pooled: hmac.New hashes the key and allocates two SHA-256
// states, which was a tenth of a status poll's handler time.
type queueMAC struct {
	pool sync.Pool // hash.Hash: HMAC-SHA-256 keyed with the secret
}

func newQueueMAC(key []byte) *queueMAC {
	key = bytes.Clone(key)
	return &queueMAC{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
}

// sum appends to dst the cookie's 16-byte MAC of body.
func (q *queueMAC) sum(dst, body []byte) []byte {
	m := q.pool.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte("vb_queue\x00"))
	m.Write(body)
	var full [sha256.Size]byte
	out := append(dst, m.Sum(full[:0])[:16]...)
	q.pool.Put(m)
	return out
}

// seal encodes claims as base64url(person|expires|session|device|ticket).mac.
func (q *queueMAC) seal(c queueClaims) string {
	b := make([]byte, 0, 8+8+32+len(c.Ticket))
	b = binary.BigEndian.AppendUint64(b, uint64(c.PersonID))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Expires.Unix()))
	b = append(b, c.SessionSum[:]...)
	b = append(b, c.DeviceSum[:]...)
	b = append(b, c.Ticket...)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(q.sum(nil, b))
}

var errQueueCookie = errors.New("queue cookie invalid")

func (q *queueMAC) open(s string, now time.Time) (queueClaims, error) {
	body, mac, ok := strings.Cut(s, ".")
	if !ok || len(s) > 1024 {
		return queueClaims{}, errQueueCookie
	}
	b, err1 := base64.RawURLEncoding.DecodeString(body)
	got, err2 := base64.RawURLEncoding.DecodeString(mac)
	if err1 != nil || err2 != nil || len(b) < 48 {
		return queueClaims{}, errQueueCookie
	}
	var want [16]byte
	if !hmac.Equal(got, q.sum(want[:0], b)) {
		return queueClaims{}, errQueueCookie
	}
	var c queueClaims
	c.PersonID = int64(binary.BigEndian.Uint64(b[0:8]))
	c.Expires = time.Unix(int64(binary.BigEndian.Uint64(b[8:16])), 0)
	copy(c.SessionSum[:], b[16:32])
	copy(c.DeviceSum[:], b[32:48])
	c.Ticket = string(b[48:])
	if !now.Before(c.Expires) {
		return queueClaims{}, errQueueCookie
	}
	return c, nil
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil || s.cfg.SecureCookies,
	})
}

func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil || s.cfg.SecureCookies})
}
