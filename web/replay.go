package web

import (
	"net/http"
	"sync"
	"time"
)

// replayCache remembers this node's answers to successful booking writes by
// (person, Idempotency-Key) for a while. The store makes writes idempotent;
// this cache answers, without asking it, the retry that arrives after the
// waiting-room pass was consumed by the first attempt, which the pass check
// would otherwise refuse before the store is asked. A retry that lands on
// another node of a cluster misses this cache and is answered from the
// store (Server.replay, booking.Engine.Replay).
type replayCache struct {
	mu    sync.Mutex
	ttl   time.Duration
	max   int
	now   func() time.Time
	items map[replayKey]replayAnswer
	order []replayKey // insertion order, for eviction
}

type replayKey struct {
	person int64
	key    string
}

type replayAnswer struct {
	fingerprint string // what the request asked: a reused key with another request is refused
	status      int
	body        any
	expires     time.Time
}

func newReplayCache(max int, ttl time.Duration, now func() time.Time) *replayCache {
	return &replayCache{ttl: ttl, max: max, now: now, items: map[replayKey]replayAnswer{}}
}

func (c *replayCache) put(person int64, key, fingerprint string, status int, body confirmationBody) {
	if key == "" || person == 0 {
		return
	}
	body.Replayed = true
	c.mu.Lock()
	defer c.mu.Unlock()
	k := replayKey{person, key}
	if _, ok := c.items[k]; !ok {
		for len(c.order) >= c.max {
			delete(c.items, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, k)
	}
	if status == http.StatusCreated {
		status = http.StatusOK
	}
	c.items[k] = replayAnswer{fingerprint: fingerprint, status: status, body: body, expires: c.now().Add(c.ttl)}
}

// get returns the remembered answer for the request's Idempotency-Key, if
// the request is a retry by the same person.
func (c *replayCache) get(r *http.Request, person int64) (replayAnswer, bool) {
	key := r.Header.Get(headerIdempotency)
	if key == "" || person == 0 {
		return replayAnswer{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.items[replayKey{person, key}]
	if !ok || !c.now().Before(a.expires) {
		return replayAnswer{}, false
	}
	return a, true
}
