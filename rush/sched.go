package rush

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// A lane is a timer heap of users (who is due when) drained by a bounded
// pool of workers. Sleeping users cost one heap entry (12 bytes), not a
// goroutine: a million people waiting between polls are a million entries.
// The simulator has three lanes — identity, queue, booking — so that a
// backlog in one stage (a million logins at the opening second) does not
// hold up people who are already further along, as it would not for real
// browsers.
type lane struct {
	name string
	mu   sync.Mutex
	h    []entry
	wake chan struct{}
	// queued counts users in the heap plus those a worker is running.
	queued atomic.Int64
}

type entry struct {
	at  int64 // nanoseconds since the simulation's start
	uid int32
}

func newLane(name string) *lane { return &lane{name: name, wake: make(chan struct{}, 1)} }

// push schedules uid at at (ns since start).
func (l *lane) push(at int64, uid int32) {
	l.queued.Add(1)
	l.mu.Lock()
	l.h = append(l.h, entry{at, uid})
	i := len(l.h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if l.h[p].at <= l.h[i].at {
			break
		}
		l.h[p], l.h[i] = l.h[i], l.h[p]
		i = p
	}
	top := i == 0
	l.mu.Unlock()
	if top {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// load sets the heap to es at once (heapify), for the initial arrivals.
func (l *lane) load(es []entry) {
	l.mu.Lock()
	l.h = append(l.h, es...)
	for i := len(l.h)/2 - 1; i >= 0; i-- {
		l.down(i)
	}
	l.mu.Unlock()
	l.queued.Add(int64(len(es)))
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *lane) down(i int) {
	n := len(l.h)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if r := c + 1; r < n && l.h[r].at < l.h[c].at {
			c = r
		}
		if l.h[i].at <= l.h[c].at {
			return
		}
		l.h[i], l.h[c] = l.h[c], l.h[i]
		i = c
	}
}

func (l *lane) pop() entry {
	top := l.h[0]
	n := len(l.h) - 1
	l.h[0] = l.h[n]
	l.h = l.h[:n]
	if n > 0 {
		l.down(0)
	}
	if cap(l.h) > 4096 && len(l.h) < cap(l.h)/4 {
		l.h = append([]entry(nil), l.h...) // give back a drained million
	}
	return top
}

// size is the number of users waiting in the heap.
func (l *lane) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.h)
}

// run dispatches due users to workers until ctx ends; it returns when the
// workers have finished their current step.
func (l *lane) run(ctx context.Context, start time.Time, workers int, step func(uid int32)) {
	ready := make(chan int32)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for uid := range ready {
				step(uid)
				l.queued.Add(-1)
			}
		}()
	}
	defer func() {
		close(ready)
		wg.Wait()
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		l.mu.Lock()
		if len(l.h) == 0 {
			l.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-l.wake:
			}
			continue
		}
		now := int64(time.Since(start))
		if l.h[0].at <= now {
			e := l.pop()
			l.mu.Unlock()
			select {
			case ready <- e.uid:
			case <-ctx.Done():
				return
			}
			continue
		}
		wait := time.Duration(l.h[0].at - now)
		l.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		case <-timer.C:
		}
	}
}
