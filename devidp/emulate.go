package devidp

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"vaxbook"
)

// Emulation is how one emulated provider behaves under load. The zero value
// is an ideal provider: unlimited capacity, no latency, no errors.
type Emulation struct {
	// Capacity is how many logins a second the provider completes; 0 means
	// unlimited. Logins beyond it wait in a queue.
	Capacity float64 `json:"capacity"`
	// MaxQueue is the longest a login waits for capacity; a login that would
	// wait longer fails at once as "temporarily_unavailable" (the overloaded
	// provider's answer). Default 5s.
	MaxQueue vaxbook.Duration `json:"max_queue"`
	// Latency is added to every login after it got capacity.
	Latency Latency `json:"latency"`
	// ErrorRate is the share of logins (0…1) that fail with "server_error".
	ErrorRate float64 `json:"error_rate"`
	// Outage makes every login and token request fail.
	Outage bool `json:"outage"`
}

// Latency is a log-normal distribution given by its median and 99th
// percentile (both zero: no latency; P99 zero: always Median).
type Latency struct {
	Median vaxbook.Duration `json:"median"`
	P99    vaxbook.Duration `json:"p99"`
}

// DefaultMaxQueue is MaxQueue when it is zero.
const DefaultMaxQueue = 5 * time.Second

// Validate reports the first thing wrong with e as a CodeInvalid error.
func (e Emulation) Validate() error {
	switch {
	case e.Capacity < 0 || math.IsNaN(e.Capacity) || math.IsInf(e.Capacity, 0):
		return vaxbook.InvalidParam("capacity", "capacity must be 0 (unlimited) or a positive number of logins a second")
	case e.MaxQueue < 0:
		return vaxbook.InvalidParam("max_queue", "max_queue must not be negative")
	case e.Latency.Median < 0 || e.Latency.P99 < 0:
		return vaxbook.InvalidParam("latency", "latency must not be negative")
	case e.Latency.P99 != 0 && e.Latency.P99 < e.Latency.Median:
		return vaxbook.InvalidParam("latency", "latency p99 must be at least the median")
	case e.Latency.P99 > 0 && e.Latency.Median == 0:
		return vaxbook.InvalidParam("latency", "latency p99 needs a positive median")
	case !(e.ErrorRate >= 0 && e.ErrorRate <= 1):
		return vaxbook.InvalidParam("error_rate", "error_rate must be between 0 and 1")
	}
	return nil
}

// String formats e in the syntax ParseEmulation reads.
func (e Emulation) String() string {
	var parts []string
	if e.Capacity > 0 {
		parts = append(parts, "capacity="+strconv.FormatFloat(e.Capacity, 'g', -1, 64))
	}
	if e.MaxQueue > 0 {
		parts = append(parts, "max-queue="+time.Duration(e.MaxQueue).String())
	}
	if e.Latency.Median > 0 {
		parts = append(parts, "median="+time.Duration(e.Latency.Median).String())
	}
	if e.Latency.P99 > 0 {
		parts = append(parts, "p99="+time.Duration(e.Latency.P99).String())
	}
	if e.ErrorRate > 0 {
		parts = append(parts, "errors="+strconv.FormatFloat(e.ErrorRate, 'g', -1, 64))
	}
	if e.Outage {
		parts = append(parts, "outage")
	}
	return strings.Join(parts, ",")
}

// ParseEmulation reads "capacity=300,median=200ms,p99=2s,errors=0.02,
// max-queue=5s,outage" (any subset, any order) over base.
func ParseEmulation(base Emulation, s string) (Emulation, error) {
	e := base
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, hasValue := strings.Cut(part, "=")
		var err error
		switch k {
		case "capacity":
			e.Capacity, err = strconv.ParseFloat(v, 64)
		case "max-queue", "max_queue":
			err = parseDuration(v, &e.MaxQueue)
		case "median":
			err = parseDuration(v, &e.Latency.Median)
		case "p99":
			err = parseDuration(v, &e.Latency.P99)
		case "errors", "error_rate", "error-rate":
			e.ErrorRate, err = strconv.ParseFloat(v, 64)
		case "outage":
			e.Outage = true
			if hasValue {
				e.Outage, err = strconv.ParseBool(v)
			}
		default:
			return base, vaxbook.InvalidParam("emulation", "unknown emulation setting %q (want capacity, max-queue, median, p99, errors, outage)", k)
		}
		if err != nil {
			return base, vaxbook.InvalidParam("emulation", "%s=%q: %v", k, v, err)
		}
	}
	if err := e.Validate(); err != nil {
		return base, err
	}
	return e, nil
}

func parseDuration(s string, d *vaxbook.Duration) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = vaxbook.Duration(v)
	return nil
}

// Waiter waits. Emulated queueing and latency go through it so that tests
// never sleep: they inject a Waiter that returns at once (and may advance a
// fake clock).
type Waiter interface {
	// Wait returns after d, or with ctx's error if ctx ends first.
	Wait(ctx context.Context, d time.Duration) error
}

// RealWaiter waits on the real clock.
type RealWaiter struct{}

// Wait implements Waiter with a timer.
func (RealWaiter) Wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// failure is why an emulated login failed, as an OAuth error code.
type failure string

const (
	failNone        failure = ""
	failUnavailable failure = "temporarily_unavailable" // outage or queue full
	failServer      failure = "server_error"            // random error
)

// EmulationStats counts what an emulated provider did since start.
type EmulationStats struct {
	Logins     int64 `json:"logins"`      // logins that completed
	Queued     int64 `json:"queued"`      // logins waiting for capacity right now
	Overloaded int64 `json:"overloaded"`  // logins refused because the queue was too long
	Errors     int64 `json:"errors"`      // logins failed by the error rate
	OutageHits int64 `json:"outage_hits"` // requests refused during an outage
}

// emulator applies an Emulation. Admission is a token bucket: capacity
// tokens a second, a burst of a tenth of a second's worth, and a queue that
// holds a login at most MaxQueue.
type emulator struct {
	mu    sync.Mutex
	cfg   Emulation
	next  time.Time // virtual time at which the next login gets capacity
	rng   *rand.Rand
	stats EmulationStats
}

func newEmulator(cfg Emulation, seed uint64) *emulator {
	return &emulator{cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (e *emulator) config() Emulation {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg
}

func (e *emulator) set(cfg Emulation) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if cfg.Capacity != e.cfg.Capacity {
		e.next = time.Time{}
	}
	e.cfg = cfg
}

func (e *emulator) snapshot() EmulationStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

// plan decides, at now, what happens to one login: how long it waits for
// capacity and then for latency, and whether it fails (and when).
func (e *emulator) plan(now time.Time) (queue, latency time.Duration, fail failure) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.cfg
	if c.Outage {
		e.stats.OutageHits++
		return 0, 0, failUnavailable
	}
	if c.Capacity > 0 {
		interval := time.Duration(float64(time.Second) / c.Capacity)
		burst := time.Duration(float64(time.Second) * math.Max(1, c.Capacity/10) / c.Capacity)
		if e.next.IsZero() || e.next.Before(now.Add(-burst)) {
			e.next = now.Add(-burst)
		}
		maxQueue := time.Duration(c.MaxQueue)
		if maxQueue == 0 {
			maxQueue = DefaultMaxQueue
		}
		start := e.next
		if start.Before(now) {
			start = now
		}
		queue = start.Sub(now)
		if queue > maxQueue {
			e.stats.Overloaded++
			return 0, 0, failUnavailable
		}
		e.next = e.next.Add(interval)
	}
	latency = e.sampleLatency()
	if c.ErrorRate > 0 && e.rng.Float64() < c.ErrorRate {
		e.stats.Errors++
		return queue, latency, failServer
	}
	return queue, latency, failNone
}

// sampleLatency draws from the log-normal given by median and p99
// (z(0.99) = 2.3263).
func (e *emulator) sampleLatency() time.Duration {
	l := e.cfg.Latency
	if l.Median <= 0 {
		return 0
	}
	if l.P99 <= l.Median {
		return time.Duration(l.Median)
	}
	sigma := math.Log(float64(l.P99)/float64(l.Median)) / 2.3263
	return time.Duration(float64(l.Median) * math.Exp(sigma*e.rng.NormFloat64()))
}

// login runs the plan: waits through w, then reports the failure, if any.
func (e *emulator) login(ctx context.Context, w Waiter, now time.Time) failure {
	queue, latency, fail := e.plan(now)
	if fail == failUnavailable && queue == 0 && latency == 0 {
		return fail
	}
	if queue > 0 {
		e.addQueued(1)
		err := w.Wait(ctx, queue)
		e.addQueued(-1)
		if err != nil {
			return failUnavailable
		}
	}
	if latency > 0 {
		if err := w.Wait(ctx, latency); err != nil {
			return failUnavailable
		}
	}
	if fail == failNone {
		e.mu.Lock()
		e.stats.Logins++
		e.mu.Unlock()
	}
	return fail
}

func (e *emulator) addQueued(n int64) {
	e.mu.Lock()
	e.stats.Queued += n
	e.mu.Unlock()
}

// outage reports whether the provider is down (token endpoint check).
func (e *emulator) outage() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cfg.Outage {
		e.stats.OutageHits++
	}
	return e.cfg.Outage
}

func (f failure) description() string {
	switch f {
	case failUnavailable:
		return "the identity provider is overloaded or down; try again or use another provider"
	case failServer:
		return "the identity provider failed"
	}
	return ""
}

// oidcError is the OAuth error the relying party receives.
func (f failure) oidcError() *oidc.Error {
	if f == failUnavailable {
		return &oidc.Error{ErrorType: "temporarily_unavailable", Description: f.description()}
	}
	return oidc.ErrServerError().WithDescription("%s", f.description())
}
