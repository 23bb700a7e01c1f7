package identity

import (
	"testing"
	"time"
	"unsafe"

	"vaxbook"
)

// TestSessionCacheCopiesID: the cache keeps its own copy of a session id,
// not a slice of the Cookie header it was read from, which would keep the
// whole header line alive for as long as the entry.
func TestSessionCacheCopiesID(t *testing.T) {
	now := time.Date(2021, 8, 9, 20, 0, 0, 0, time.UTC)
	c := newSessionCache(2*time.Second, 100)
	header := "vb_device=0123456789abcdefghijkl; vb_session=sess-1; vb_queue=q.v.w"
	id := header[len("vb_device=0123456789abcdefghijkl; vb_session="):][:len("sess-1")]
	c.put(cachedSession{sess: vaxbook.Session{ID: id, PersonID: 7}, fetched: now})
	e, ok := c.get("sess-1", now.Add(time.Second))
	if !ok || e.sess.PersonID != 7 {
		t.Fatalf("get = %+v, %v", e, ok)
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(header)))
	inHeader := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return p >= start && p < start+uintptr(len(header))
	}
	if inHeader(e.sess.ID) {
		t.Fatal("the cached session's id points into the Cookie header")
	}
	sh := c.shard("sess-1")
	for k := range sh.m {
		if inHeader(k) {
			t.Fatal("the cache's key points into the Cookie header")
		}
	}
}
