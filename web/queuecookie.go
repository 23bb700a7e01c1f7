package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"strings"
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

// sealQueue encodes claims as base64url(person|expires|session|device|ticket).mac.
func sealQueue(key []byte, c queueClaims) string {
	b := make([]byte, 0, 8+8+32+len(c.Ticket))
	b = binary.BigEndian.AppendUint64(b, uint64(c.PersonID))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Expires.Unix()))
	b = append(b, c.SessionSum[:]...)
	b = append(b, c.DeviceSum[:]...)
	b = append(b, c.Ticket...)
	m := hmac.New(sha256.New, key)
	m.Write([]byte("vb_queue\x00"))
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

var errQueueCookie = errors.New("queue cookie invalid")

func openQueue(key []byte, s string, now time.Time) (queueClaims, error) {
	body, mac, ok := strings.Cut(s, ".")
	if !ok || len(s) > 1024 {
		return queueClaims{}, errQueueCookie
	}
	b, err1 := base64.RawURLEncoding.DecodeString(body)
	got, err2 := base64.RawURLEncoding.DecodeString(mac)
	if err1 != nil || err2 != nil || len(b) < 48 {
		return queueClaims{}, errQueueCookie
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("vb_queue\x00"))
	m.Write(b)
	if !hmac.Equal(got, m.Sum(nil)[:16]) {
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
