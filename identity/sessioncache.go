package identity

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"vaxbook"
)

// sessionCache keeps recently read sessions with their person for a short
// time, so that the requests of a booking — search, slots, book, confirm,
// each signed in — do not each read the session and the person from the
// store: in the 100,000-citizen rush those two reads were 11 % of all CPU.
// A session deleted on this node (logout, rotation at sign-in, expiry) is
// dropped at once; one deleted on another node of a cluster is still
// honoured here for up to the cache's TTL. People are the registry, which
// does not change during a campaign.
type sessionCache struct {
	ttl    time.Duration
	max    int // entries per shard
	seed   maphash.Seed
	shards [16]sessionShard
}

type sessionShard struct {
	mu sync.Mutex
	m  map[string]cachedSession
}

type cachedSession struct {
	sess    vaxbook.Session
	person  vaxbook.Person
	fetched time.Time
}

// newSessionCache returns a cache holding entries for ttl, about max in
// all; nil (no caching) when ttl ≤ 0.
func newSessionCache(ttl time.Duration, max int) *sessionCache {
	if ttl <= 0 {
		return nil
	}
	c := &sessionCache{ttl: ttl, seed: maphash.MakeSeed()}
	c.max = max/len(c.shards) + 1
	for i := range c.shards {
		c.shards[i].m = map[string]cachedSession{}
	}
	return c
}

func (c *sessionCache) shard(id string) *sessionShard {
	return &c.shards[maphash.String(c.seed, id)%uint64(len(c.shards))]
}

// get returns the session id's entry if it was read less than ttl before now.
func (c *sessionCache) get(id string, now time.Time) (cachedSession, bool) {
	if c == nil {
		return cachedSession{}, false
	}
	sh := c.shard(id)
	sh.mu.Lock()
	e, ok := sh.m[id]
	sh.mu.Unlock()
	if !ok || now.Sub(e.fetched) >= c.ttl || now.Before(e.fetched) {
		return cachedSession{}, false
	}
	return e, true
}

// put remembers a session read at now. A full shard first drops what has
// expired, then, if still full, everything (a rush's working set is the
// people of the last few seconds; a miss costs one store read).
//
// The id is copied: it comes from the request's Cookie header, and a
// slice of it would keep the whole header line (every cookie of the
// request, ~260 bytes) alive for as long as the entry — 26 MB of a
// 100,000-person rush's peak heap.
func (c *sessionCache) put(e cachedSession) {
	if c == nil {
		return
	}
	e.sess.ID = strings.Clone(e.sess.ID)
	sh := c.shard(e.sess.ID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.m) >= c.max {
		for k, v := range sh.m {
			if e.fetched.Sub(v.fetched) >= c.ttl {
				delete(sh.m, k)
			}
		}
		if len(sh.m) >= c.max {
			clear(sh.m)
		}
	}
	sh.m[e.sess.ID] = e
}

// drop forgets a session (deleted on this node).
func (c *sessionCache) drop(id string) {
	if c == nil {
		return
	}
	sh := c.shard(id)
	sh.mu.Lock()
	delete(sh.m, id)
	sh.mu.Unlock()
}
