package identity

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"vaxbook"
)

// Light is a provider's traffic light.
type Light string

// Lights: optimal, delayed, congested (원활, 지연, 혼잡).
const (
	Green  Light = "green"
	Yellow Light = "yellow"
	Red    Light = "red"
)

func (l Light) rank() int {
	switch l {
	case Green:
		return 0
	case Yellow:
		return 1
	}
	return 2
}

// Breaker states.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half_open"
)

// LightsConfig tunes the traffic lights and the circuit breaker. Zero
// fields take the defaults shown.
type LightsConfig struct {
	Window time.Duration // sliding window of observations (60s)
	Bucket time.Duration // its resolution (1s)
	// RateWindow is the recent span over which the start rate is measured (10s).
	RateWindow time.Duration
	// MinSamples is how many completed logins the window needs before the
	// error rate colours a light or opens the breaker (10).
	MinSamples int
	// Error-rate thresholds over the window (0.05, 0.25).
	YellowErrorRate, RedErrorRate float64
	// Thresholds on the 95th percentile of verification time, from start
	// to callback (5s, 15s). With people typing at a real provider this
	// includes their own time; tune accordingly.
	YellowLatency, RedLatency time.Duration
	// Thresholds on utilisation: the start rate over the provider's
	// configured Capacity, or in-flight logins over MaxInFlight (0.8, 1.0).
	YellowUtilization, RedUtilization float64
	// The breaker opens after BreakerFailures consecutive failures (5) or
	// when the window's error rate reaches BreakerErrorRate (0.5) with
	// MinSamples; it stays open BreakerCooldown (30s), then lets
	// BreakerProbes logins (2) through to probe; one success closes it, one
	// failure opens it again.
	BreakerFailures  int
	BreakerErrorRate float64
	BreakerCooldown  time.Duration
	BreakerProbes    int
	// InFlightTTL: a started login not back within it is abandoned (10m).
	InFlightTTL time.Duration
	// Refresh is the longest a snapshot is served before it is recomputed (1s).
	Refresh time.Duration
}

func (c LightsConfig) withDefaults() LightsConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	deff := func(f *float64, v float64) {
		if *f <= 0 {
			*f = v
		}
	}
	defi := func(i *int, v int) {
		if *i <= 0 {
			*i = v
		}
	}
	def(&c.Window, time.Minute)
	def(&c.Bucket, time.Second)
	def(&c.RateWindow, 10*time.Second)
	defi(&c.MinSamples, 10)
	deff(&c.YellowErrorRate, 0.05)
	deff(&c.RedErrorRate, 0.25)
	def(&c.YellowLatency, 5*time.Second)
	def(&c.RedLatency, 15*time.Second)
	deff(&c.YellowUtilization, 0.8)
	deff(&c.RedUtilization, 1.0)
	defi(&c.BreakerFailures, 5)
	deff(&c.BreakerErrorRate, 0.5)
	def(&c.BreakerCooldown, 30*time.Second)
	defi(&c.BreakerProbes, 2)
	def(&c.InFlightTTL, flowTTL)
	def(&c.Refresh, time.Second)
	if c.Bucket > c.Window {
		c.Bucket = c.Window
	}
	return c
}

// ProviderLight is what the landing page and /api/v1/identity/providers
// show of one provider.
type ProviderLight struct {
	Name        string  `json:"name"`
	Title       string  `json:"title"`
	Light       Light   `json:"light"`
	Reason      string  `json:"reason"`
	Alternative string  `json:"alternative,omitempty"` // a better provider right now, if this one is not green
	Breaker     string  `json:"breaker"`
	Enabled     bool    `json:"enabled"` // false: turned off by the operators
	InFlight    int64   `json:"in_flight"`
	Rate        float64 `json:"rate"`               // logins started per second, recently
	Capacity    float64 `json:"capacity,omitempty"` // configured logins per second
	Completed   int64   `json:"completed"`          // logins that came back in the window
	ErrorRate   float64 `json:"error_rate"`
	P50ms       int64   `json:"p50_ms"`
	P95ms       int64   `json:"p95_ms"`
}

// Latency histogram: bucket i holds durations in [1.25^i, 1.25^(i+1)) ms;
// 64 buckets reach past 10 minutes.
const latBuckets = 64

var latLog = math.Log(1.25)

func latIndex(d time.Duration) int {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 1 {
		return 0
	}
	i := int(math.Log(ms)/latLog) + 1
	return min(i, latBuckets-1)
}

// latUpper is the upper bound of bucket i.
func latUpper(i int) time.Duration {
	return time.Duration(math.Pow(1.25, float64(i)) * float64(time.Millisecond))
}

type bucket struct {
	idx                 int64 // time index (unix nanos / Bucket)
	started, ok, failed int64
	lat                 [latBuckets]uint32
}

// health is one provider's observations and breaker.
type health struct {
	cfg         LightsConfig
	name, title string
	capacity    float64
	maxInFlight int64

	mu       sync.Mutex
	buckets  []bucket // ring over Window
	inflight []bucket // ring over InFlightTTL; started − returned, by start bucket
	state    string
	fails    int // consecutive
	openedAt time.Time
	probeAt  time.Time // when the current probing round began
	probes   int
	why      string // why the breaker opened
	// off: turned off by the operators (SetEnabled); no login starts.
	off bool
}

func newHealth(cfg LightsConfig, name, title string, capacity float64, maxInFlight int64) *health {
	return &health{
		cfg: cfg, name: name, title: title, capacity: capacity, maxInFlight: maxInFlight,
		buckets:  make([]bucket, int(cfg.Window/cfg.Bucket)),
		inflight: make([]bucket, int(cfg.InFlightTTL/cfg.Bucket)+1),
		state:    BreakerClosed,
	}
}

func (h *health) slot(ring []bucket, t time.Time) *bucket {
	idx := t.UnixNano() / int64(h.cfg.Bucket)
	b := &ring[int(idx%int64(len(ring)))]
	if b.idx != idx {
		*b = bucket{idx: idx}
	}
	return b
}

// begin decides whether a login may start now and records it. A login
// refused by an open breaker is not recorded.
func (h *health) begin(now time.Time) (ok bool, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.off {
		return false, "turned off by the operators"
	}
	switch h.state {
	case BreakerOpen:
		if now.Sub(h.openedAt) < h.cfg.BreakerCooldown {
			return false, h.why
		}
		h.state, h.probeAt, h.probes = BreakerHalfOpen, now, 0
		fallthrough
	case BreakerHalfOpen:
		if now.Sub(h.probeAt) >= h.cfg.BreakerCooldown {
			h.probeAt, h.probes = now, 0 // probes that never came back
		}
		if h.probes >= h.cfg.BreakerProbes {
			return false, "probing after failures"
		}
		h.probes++
	}
	h.slot(h.buckets, now).started++
	h.slot(h.inflight, now).started++
	return true, ""
}

// outcome of a login as the provider is concerned.
type outcome int

const (
	neutral outcome = iota // came back, nothing learned (user cancelled, wrong state, …)
	success                // the provider verified and issued a valid ID token
	failure                // the provider failed, timed out or was unreachable
)

// end records a login that came back (started is its start; zero for
// failures without a login, such as discovery). It reports whether the
// breaker changed state.
func (h *health) end(started, now time.Time, o outcome, why string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !started.IsZero() && now.Sub(started) < h.cfg.InFlightTTL {
		idx := started.UnixNano() / int64(h.cfg.Bucket)
		b := &h.inflight[int(idx%int64(len(h.inflight)))]
		if b.idx == idx && b.started > b.ok {
			b.ok++ // ok counts returns here
		}
	}
	before := h.state
	switch o {
	case success:
		b := h.slot(h.buckets, now)
		b.ok++
		if !started.IsZero() {
			b.lat[latIndex(now.Sub(started))]++
		}
		h.fails = 0
		if h.state == BreakerHalfOpen {
			h.state, h.why = BreakerClosed, ""
		}
	case failure:
		h.slot(h.buckets, now).failed++
		h.fails++
		switch h.state {
		case BreakerHalfOpen:
			h.open(now, "a probe failed: "+why)
		case BreakerClosed:
			if h.fails >= h.cfg.BreakerFailures {
				h.open(now, fmt.Sprintf("%d failures in a row: %s", h.fails, why))
			} else if ok, failed := h.window(now); ok+failed >= int64(h.cfg.MinSamples) &&
				float64(failed) >= h.cfg.BreakerErrorRate*float64(ok+failed) {
				h.open(now, fmt.Sprintf("%.0f%% of %d logins failed", 100*float64(failed)/float64(ok+failed), ok+failed))
			}
		}
	}
	return h.state != before
}

func (h *health) open(now time.Time, why string) {
	h.state, h.openedAt, h.why = BreakerOpen, now, why
}

// window sums the completed logins of the window; mu must be held.
func (h *health) window(now time.Time) (ok, failed int64) {
	cur := now.UnixNano() / int64(h.cfg.Bucket)
	n := int64(len(h.buckets))
	for i := range h.buckets {
		b := &h.buckets[i]
		if b.idx > cur-n && b.idx <= cur {
			ok += b.ok
			failed += b.failed
		}
	}
	return ok, failed
}

// light computes the provider's light at now.
func (h *health) light(now time.Time) ProviderLight {
	h.mu.Lock()
	defer h.mu.Unlock()
	cfg := h.cfg
	cur := now.UnixNano() / int64(cfg.Bucket)
	n := int64(len(h.buckets))
	rateBuckets := max(1, int64(cfg.RateWindow/cfg.Bucket))
	var ok, failed, recent int64
	var hist [latBuckets]uint64
	for i := range h.buckets {
		b := &h.buckets[i]
		if b.idx <= cur-n || b.idx > cur {
			continue
		}
		ok += b.ok
		failed += b.failed
		if b.idx > cur-rateBuckets {
			recent += b.started
		}
		for j, c := range b.lat {
			hist[j] += uint64(c)
		}
	}
	var inFlight int64
	fn := int64(len(h.inflight))
	for i := range h.inflight {
		b := &h.inflight[i]
		if b.idx > cur-fn && b.idx <= cur {
			inFlight += b.started - b.ok
		}
	}
	state := h.state
	if state == BreakerOpen && now.Sub(h.openedAt) >= cfg.BreakerCooldown {
		state = BreakerHalfOpen // the next login probes
	}
	pl := ProviderLight{
		Name: h.name, Title: h.title, Breaker: state, InFlight: inFlight, Capacity: h.capacity, Enabled: !h.off,
		Completed: ok + failed,
		Rate:      float64(recent) / (float64(rateBuckets) * cfg.Bucket.Seconds()),
	}
	if ok+failed > 0 {
		pl.ErrorRate = float64(failed) / float64(ok+failed)
	}
	p50, p95 := percentile(&hist, 0.50), percentile(&hist, 0.95)
	pl.P50ms, pl.P95ms = p50.Milliseconds(), p95.Milliseconds()
	util := 0.0
	if h.capacity > 0 {
		util = pl.Rate / h.capacity
	}
	if h.maxInFlight > 0 {
		util = max(util, float64(inFlight)/float64(h.maxInFlight))
	}
	enough := ok+failed >= int64(cfg.MinSamples)
	switch {
	case h.off:
		pl.Light, pl.Reason = Red, "turned off by the operators"
	case state == BreakerOpen:
		pl.Light, pl.Reason = Red, "unavailable: "+h.why
	case enough && pl.ErrorRate >= cfg.RedErrorRate:
		pl.Light, pl.Reason = Red, fmt.Sprintf("failing: %.0f%% of %d logins", 100*pl.ErrorRate, ok+failed)
	case util >= cfg.RedUtilization:
		pl.Light, pl.Reason = Red, fmt.Sprintf("congested: %.0f%% of capacity", 100*util)
	case p95 >= cfg.RedLatency:
		pl.Light, pl.Reason = Red, fmt.Sprintf("congested: 95%% of logins take up to %s", p95.Round(100*time.Millisecond))
	case state == BreakerHalfOpen:
		pl.Light, pl.Reason = Yellow, "recovering: probing after failures"
	case enough && pl.ErrorRate >= cfg.YellowErrorRate:
		pl.Light, pl.Reason = Yellow, fmt.Sprintf("errors: %.0f%% of %d logins", 100*pl.ErrorRate, ok+failed)
	case util >= cfg.YellowUtilization:
		pl.Light, pl.Reason = Yellow, fmt.Sprintf("busy: %.0f%% of capacity", 100*util)
	case p95 >= cfg.YellowLatency:
		pl.Light, pl.Reason = Yellow, fmt.Sprintf("delayed: 95%% of logins take up to %s", p95.Round(100*time.Millisecond))
	case ok+failed == 0:
		pl.Light, pl.Reason = Green, "optimal (no recent logins)"
	default:
		pl.Light, pl.Reason = Green, "optimal"
	}
	return pl
}

func percentile(hist *[latBuckets]uint64, q float64) time.Duration {
	var total uint64
	for _, c := range hist {
		total += c
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, c := range hist {
		seen += c
		if seen >= want {
			return latUpper(i)
		}
	}
	return latUpper(latBuckets - 1)
}

// lights holds every provider's health and a cached snapshot.
type lights struct {
	cfg    LightsConfig
	order  []*health
	byName map[string]*health

	mu    sync.Mutex // serialises recomputation
	cache atomic.Pointer[lightSnapshot]
	dirty atomic.Bool
}

type lightSnapshot struct {
	at   time.Time
	list []ProviderLight
}

func newLights(cfg LightsConfig) *lights {
	return &lights{cfg: cfg.withDefaults(), byName: map[string]*health{}}
}

func (l *lights) add(name, title string, capacity float64, maxInFlight int64) *health {
	h := newHealth(l.cfg, name, title, capacity, maxInFlight)
	l.order = append(l.order, h)
	l.byName[name] = h
	return h
}

// end records an outcome and invalidates the snapshot on breaker changes.
func (l *lights) end(h *health, started, now time.Time, o outcome, why string) {
	if h.end(started, now, o, why) {
		l.dirty.Store(true)
	}
}

// snapshot returns the lights at now: the cached list if it is younger than
// Refresh and no breaker changed since, else a fresh one.
func (l *lights) snapshot(now time.Time) []ProviderLight {
	if s := l.cache.Load(); s != nil && !l.dirty.Load() && !now.Before(s.at) && now.Sub(s.at) < l.cfg.Refresh {
		return s.list
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.cache.Load(); s != nil && !l.dirty.Load() && !now.Before(s.at) && now.Sub(s.at) < l.cfg.Refresh {
		return s.list
	}
	l.dirty.Store(false)
	list := make([]ProviderLight, len(l.order))
	for i, h := range l.order {
		list[i] = h.light(now)
	}
	suggestAlternatives(list)
	l.cache.Store(&lightSnapshot{at: now, list: list})
	return list
}

// suggestAlternatives names, for every provider that is not green, the best
// other provider: the lowest light, then the lowest utilisation, then the
// fastest.
func suggestAlternatives(list []ProviderLight) {
	better := func(a, b ProviderLight) int {
		return cmp.Or(
			cmp.Compare(a.Light.rank(), b.Light.rank()),
			cmp.Compare(a.ErrorRate, b.ErrorRate),
			cmp.Compare(a.InFlight, b.InFlight),
			cmp.Compare(a.P95ms, b.P95ms),
		)
	}
	ranked := slices.Clone(list)
	slices.SortStableFunc(ranked, better)
	for i := range list {
		if list[i].Light == Green {
			continue
		}
		for _, c := range ranked {
			if c.Name != list[i].Name && c.Light.rank() < list[i].Light.rank() {
				list[i].Alternative = c.Name
				break
			}
		}
	}
}

// SetEnabled turns a provider on or off: stored (so that every node of a
// cluster, within its next SyncSwitches, and a node that restarts honour
// it), then applied on this node at once. Off, no login starts with it
// (provider_unavailable, with an alternative) and its light is red; logins
// already under way finish. Errors: CodeNotFound for an unknown provider,
// the store's. The caller audits.
func (s *Service) SetEnabled(ctx context.Context, name string, on bool, by string, now time.Time) error {
	if _, ok := s.providers[name]; !ok {
		return vaxbook.Errorf(vaxbook.CodeNotFound, "no identity provider %q", name)
	}
	if err := s.cfg.Store.SetProviderSwitch(ctx, vaxbook.ProviderSwitch{Provider: name, Enabled: on, By: by, At: now}); err != nil {
		return fmt.Errorf("identity: store the switch of %s: %w", name, err)
	}
	s.apply(name, on)
	return nil
}

// SyncSwitches applies the stored switches to this node: nodes call it at
// start and every few seconds. A switch of a provider this node does not
// have is ignored.
func (s *Service) SyncSwitches(ctx context.Context) error {
	list, err := s.cfg.Store.ProviderSwitches(ctx)
	if err != nil {
		return fmt.Errorf("identity: read provider switches: %w", err)
	}
	for _, sw := range list {
		if _, ok := s.providers[sw.Provider]; ok {
			s.apply(sw.Provider, sw.Enabled)
		}
	}
	return nil
}

// apply sets a known provider on or off here; the lights are recomputed
// only when that changes something.
func (s *Service) apply(name string, on bool) {
	h := s.providers[name].health
	h.mu.Lock()
	changed := h.off == on
	h.off = !on
	h.mu.Unlock()
	if changed {
		s.lights.dirty.Store(true)
	}
}

// Providers returns every provider's traffic light at now, in configuration
// order. It is cheap: a cached snapshot, recomputed at most once a
// Refresh or when a breaker changes state. The slice must not be modified.
func (s *Service) Providers(now time.Time) []ProviderLight { return s.lights.snapshot(now) }

// ProvidersHandler serves GET /api/v1/identity/providers: {"providers":[…]}
// by the server clock, with a short public cache lifetime.
func (s *Service) ProvidersHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeProblem(w, vaxbook.Errorf(vaxbook.CodeInvalid, "Use GET."), Outcome{})
			return
		}
		list := s.Providers(s.clock.Now())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=1")
		_ = json.NewEncoder(w).Encode(map[string]any{"providers": list})
	})
}
