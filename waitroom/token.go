package waitroom

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"sync"
	"time"

	"vaxbook"
)

// Tickets and passes are compact binary payloads followed by a truncated
// HMAC-SHA256, in unpadded base64url. Both are verified without touching
// the backend and without allocating (buffers come from a pool).
//
//	ticket: 'T' | epoch (8, big endian) | seq (uvarint) | person (uvarint) | room id        | MAC (12)
//	pass:   'P' | epoch (8) | seq | person | issued (uvarint unix s) | expires (uvarint unix s)
//	            | session hash (16) | len(campaign) (uvarint) | campaign | window          | MAC (16)
const (
	ticketTag    = 'T'
	passTag      = 'P'
	ticketMACLen = 12
	passMACLen   = 16
	maxTokenLen  = 512 // encoded
)

var b64 = base64.RawURLEncoding

// signer computes HMACs under one key with pooled state.
type signer struct {
	pool sync.Pool
}

type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
	raw [maxTokenLen]byte // encoded token copied from a string
	dec [maxTokenLen]byte // decoded payload
}

func newSigner(key []byte) *signer {
	s := &signer{}
	s.pool.New = func() any { return &macState{h: hmac.New(sha256.New, key)} }
	return s
}

func (s *signer) get() *macState  { return s.pool.Get().(*macState) }
func (s *signer) put(m *macState) { s.pool.Put(m) }

// mac writes the HMAC of p into m.sum.
func (m *macState) mac(p []byte) []byte {
	m.h.Reset()
	m.h.Write(p)
	return m.h.Sum(m.sum[:0])
}

// decode base64url-decodes tok into m.dec and returns the payload and MAC
// parts, or ok=false.
func (m *macState) decode(tok string, macLen int) (payload, tag []byte, ok bool) {
	if len(tok) == 0 || len(tok) > maxTokenLen {
		return nil, nil, false
	}
	n := copy(m.raw[:], tok)
	d, err := b64.Decode(m.dec[:], m.raw[:n])
	if err != nil || d <= macLen+1 {
		return nil, nil, false
	}
	return m.dec[:d-macLen], m.dec[d-macLen : d], true
}

// ticket is a parsed ticket.
type ticket struct {
	epoch  uint64
	seq    uint64
	person int64
	room   []byte // aliases pooled memory: valid until the state is put back
}

func (s *signer) signTicket(epoch, seq uint64, person int64, room string) string {
	buf := make([]byte, 0, 1+8+2*binary.MaxVarintLen64+len(room)+sha256.Size)
	buf = append(buf, ticketTag)
	buf = binary.BigEndian.AppendUint64(buf, epoch)
	buf = binary.AppendUvarint(buf, seq)
	buf = binary.AppendUvarint(buf, uint64(person))
	buf = append(buf, room...)
	m := s.get()
	buf = append(buf, m.mac(buf)[:ticketMACLen]...)
	s.put(m)
	return b64.EncodeToString(buf)
}

// parseTicket verifies tok; the returned ticket's room aliases m.
func (m *macState) parseTicket(tok string) (ticket, bool) {
	p, tag, ok := m.decode(tok, ticketMACLen)
	if !ok || p[0] != ticketTag || !hmac.Equal(m.mac(p)[:ticketMACLen], tag) {
		return ticket{}, false
	}
	var t ticket
	p = p[1:]
	if len(p) < 8 {
		return ticket{}, false
	}
	t.epoch = binary.BigEndian.Uint64(p)
	p = p[8:]
	var n int
	if t.seq, n = binary.Uvarint(p); n <= 0 {
		return ticket{}, false
	}
	p = p[n:]
	person, n := binary.Uvarint(p)
	if n <= 0 || person == 0 || person > 1<<62 {
		return ticket{}, false
	}
	t.person = int64(person)
	t.room = p[n:]
	if len(t.room) == 0 {
		return ticket{}, false
	}
	return t, true
}

func sessionHash(sessionID string) [16]byte {
	sum := sha256.Sum256([]byte(sessionID))
	var h [16]byte
	copy(h[:], sum[:16])
	return h
}

func (s *signer) signPass(c vaxbook.PassClaims) string {
	buf := make([]byte, 0, 1+8+4*binary.MaxVarintLen64+16+binary.MaxVarintLen64+len(c.CampaignID)+len(c.WindowID)+sha256.Size)
	buf = append(buf, passTag)
	buf = binary.BigEndian.AppendUint64(buf, c.Epoch)
	buf = binary.AppendUvarint(buf, c.Ticket)
	buf = binary.AppendUvarint(buf, uint64(c.PersonID))
	buf = binary.AppendUvarint(buf, uint64(c.IssuedAt.Unix()))
	buf = binary.AppendUvarint(buf, uint64(c.Expires.Unix()))
	buf = append(buf, c.SessionHash[:]...)
	buf = binary.AppendUvarint(buf, uint64(len(c.CampaignID)))
	buf = append(buf, c.CampaignID...)
	buf = append(buf, c.WindowID...)
	m := s.get()
	buf = append(buf, m.mac(buf)[:passMACLen]...)
	s.put(m)
	return b64.EncodeToString(buf)
}

func (s *signer) parsePass(tok string) (vaxbook.PassClaims, bool) {
	m := s.get()
	defer s.put(m)
	p, tag, ok := m.decode(tok, passMACLen)
	if !ok || p[0] != passTag || !hmac.Equal(m.mac(p)[:passMACLen], tag) {
		return vaxbook.PassClaims{}, false
	}
	var c vaxbook.PassClaims
	p = p[1:]
	if len(p) < 8 {
		return c, false
	}
	c.Epoch = binary.BigEndian.Uint64(p)
	p = p[8:]
	var v [4]uint64
	for i := range v {
		x, n := binary.Uvarint(p)
		if n <= 0 {
			return vaxbook.PassClaims{}, false
		}
		v[i], p = x, p[n:]
	}
	c.Ticket, c.PersonID = v[0], int64(v[1])
	c.IssuedAt, c.Expires = time.Unix(int64(v[2]), 0), time.Unix(int64(v[3]), 0)
	if len(p) < 16 {
		return vaxbook.PassClaims{}, false
	}
	copy(c.SessionHash[:], p[:16])
	p = p[16:]
	cl, n := binary.Uvarint(p)
	if n <= 0 || uint64(len(p)-n) < cl {
		return vaxbook.PassClaims{}, false
	}
	p = p[n:]
	c.CampaignID, c.WindowID = string(p[:cl]), string(p[cl:])
	c.Room = c.CampaignID + "/" + c.WindowID
	return c, true
}
