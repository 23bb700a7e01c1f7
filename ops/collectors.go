package ops

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vaxbook"
	"vaxbook/booking"
	"vaxbook/identity"
)

// Collectors read their source when Prometheus scrapes (no background
// work): the waiting room, the booking engine, the identity providers'
// lights, the dev IdP's emulation and the database pool.

func desc(sub, name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName("vaxbook", sub, name), help, labels, nil)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// WaitRoomSource is what the waiting-room collector reads
// (waitroom.Service).
type WaitRoomSource interface {
	Stats(ctx context.Context) (vaxbook.WaitRoomStats, error)
	Settings() vaxbook.WaitRoomSettings
	Leader() bool
}

type waitRoomCollector struct {
	src WaitRoomSource
	log *slog.Logger

	arrivals, rejoins, admitted, claimed, used, left, expired, decisions *prometheus.Desc
	waiting, prequeue, unclaimed, active, rate, outflow, mode, leader    *prometheus.Desc
	bound, finishing, stage, stageTime, stay                             *prometheus.Desc
}

// NewWaitRoomCollector exports the waiting room's counters and gauges. In
// a cluster they are the cluster's totals, the same on every node: query
// them with max(), not sum().
func NewWaitRoomCollector(src WaitRoomSource, log *slog.Logger) prometheus.Collector {
	const sub = "waitroom"
	return &waitRoomCollector{src: src, log: log,
		arrivals:  desc(sub, "arrivals_total", "Tickets issued (cluster total)."),
		rejoins:   desc(sub, "rejoins_total", "Joins that returned an existing place."),
		admitted:  desc(sub, "admitted_total", "Tickets admitted to the booking stage."),
		claimed:   desc(sub, "claimed_total", "Passes collected."),
		used:      desc(sub, "passes_used_total", "Passes used for a booking."),
		left:      desc(sub, "left_total", "Passes given back without a booking."),
		expired:   desc(sub, "expired_total", "Places freed by no-shows and unused passes.", "reason"),
		decisions: desc(sub, "controller_decisions_total", "Admission controller decisions.", "decision"),
		waiting:   desc(sub, "waiting", "People in line in opened rooms."),
		prequeue:  desc(sub, "prequeue", "People in the pre-queues of rooms not opened yet."),
		unclaimed: desc(sub, "unclaimed", "Admitted people who have not collected their pass yet."),
		active:    desc(sub, "active", "Passes collected and not finished: people in the booking stage."),
		rate:      desc(sub, "rate_per_second", "Admission rate in force."),
		outflow:   desc(sub, "outflow_per_second", "Measured outflow (people admitted per second), summed over rooms."),
		mode:      desc(sub, "mode", "The operator's mode (1 for the mode in force).", "mode"),
		leader:    desc(sub, "leader", "1 if this node holds the controller lease."),
		bound:     desc(sub, "setting", "The operator's bounds and fixed rate.", "setting"),
		finishing: desc(sub, "stage_finishing_per_second", "People finishing the booking stage per second (passes used or given back), ~10 s moving average."),
		stage:     desc(sub, "stage_bound", "Bound on people admitted and not finished derived from the stage's pace (stage time × pace, at least the floor)."),
		stageTime: desc(sub, "stage_time_seconds", "Stage time the stage bound is derived from: the operator's, or twice the measured stay plus the time places of people who left are held per admission."),
		stay:      desc(sub, "stage_stay_seconds", "Measured mean time from collecting a pass to booking with it (the calmest ~10 s of the last few minutes; 0 until measured)."),
	}
}

func (c *waitRoomCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.arrivals, c.rejoins, c.admitted, c.claimed, c.used, c.left, c.expired,
		c.decisions, c.waiting, c.prequeue, c.unclaimed, c.active, c.rate, c.outflow, c.mode, c.leader, c.bound,
		c.finishing, c.stage, c.stageTime, c.stay} {
		ch <- d
	}
}

func (c *waitRoomCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.src.Stats(ctx)
	if err != nil {
		c.log.Warn("metrics: waiting room stats", "err", err)
		return
	}
	counter(ch, c.arrivals, float64(st.Arrivals))
	counter(ch, c.rejoins, float64(st.Rejoins))
	counter(ch, c.admitted, float64(st.Admitted))
	counter(ch, c.claimed, float64(st.Claimed))
	counter(ch, c.used, float64(st.Used))
	counter(ch, c.left, float64(st.Left))
	counter(ch, c.expired, float64(st.NoShows), vaxbook.ReasonNoShow)
	counter(ch, c.expired, float64(st.PassesExpired), vaxbook.ReasonPassExpired)
	counter(ch, c.decisions, float64(st.Increases), vaxbook.DecisionIncrease)
	counter(ch, c.decisions, float64(st.LatencyDecreases), vaxbook.DecisionDecreaseLatency)
	counter(ch, c.decisions, float64(st.ErrorDecreases), vaxbook.DecisionDecreaseErrors)
	counter(ch, c.decisions, float64(st.Holds), vaxbook.DecisionHold)
	gauge(ch, c.waiting, float64(st.Waiting))
	gauge(ch, c.prequeue, float64(st.Prequeue))
	gauge(ch, c.unclaimed, float64(st.Unclaimed))
	gauge(ch, c.active, float64(st.Active))
	gauge(ch, c.rate, st.Rate)
	gauge(ch, c.outflow, st.Outflow)
	gauge(ch, c.finishing, st.Finishing)
	gauge(ch, c.stage, float64(st.StageBound))
	gauge(ch, c.stageTime, st.StageTime.Seconds())
	gauge(ch, c.stay, st.Stay.Seconds())
	set := c.src.Settings()
	for _, m := range []vaxbook.WaitRoomMode{vaxbook.ModeAuto, vaxbook.ModeFixed, vaxbook.ModePaused, vaxbook.ModeDrain} {
		gauge(ch, c.mode, b2f(set.Mode == m), string(m))
	}
	gauge(ch, c.bound, set.RatePerS, "rate_per_s")
	gauge(ch, c.bound, float64(set.MaxActive), "max_active")
	gauge(ch, c.bound, set.MinRate, "min_rate")
	gauge(ch, c.bound, set.MaxRate, "max_rate")
	gauge(ch, c.leader, b2f(c.src.Leader()))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// EngineSource is what the engine collector reads (*booking.Engine).
type EngineSource interface {
	Stats() booking.Stats
	Remaining(at time.Time) booking.Remaining
}

type engineCollector struct {
	src EngineSource
	now func() time.Time

	batches, mutations, batchSize, batchErrors, refused, replayed, apply *prometheus.Desc
	searches, refreshes, refreshErrors, drift, queued, rows, remaining   *prometheus.Desc
}

// NewEngineCollector exports the booking engine's counters (this node's
// engine) and the places remaining in its index; now is the server clock
// (remaining places count from today).
func NewEngineCollector(src EngineSource, now func() time.Time) prometheus.Collector {
	const sub = "booking"
	return &engineCollector{src: src, now: now,
		batches:       desc(sub, "batches_total", "Store transactions (group commits)."),
		mutations:     desc(sub, "mutations_total", "Writes committed in batches that did not fail."),
		batchSize:     desc(sub, "batch_size", "Writes per group commit."),
		batchErrors:   desc(sub, "batch_errors_total", "Batches the store failed as a whole."),
		refused:       desc(sub, "refused_total", "Writes the store refused (slot full, already booked, …); codes in vaxbook_refusals_total."),
		replayed:      desc(sub, "replayed_total", "Idempotent replays."),
		apply:         desc(sub, "apply_seconds_total", "Time spent in store.Apply; divide by batches_total for the mean apply latency."),
		searches:      desc(sub, "searches_total", "Clinic searches answered from the index."),
		refreshes:     desc(sub, "refreshes_total", "Quota change-feed reads applied to the index."),
		refreshErrors: desc(sub, "refresh_errors_total", "Failed change-feed reads."),
		drift:         desc(sub, "drift_total", "Outcomes the index could not follow exactly (corrected by a refresh)."),
		queued:        desc(sub, "queued", "Writes waiting for a batch."),
		rows:          desc(sub, "catalog", "Catalog size in the index.", "kind"),
		remaining:     desc(sub, "remaining_places", "Bookable dose-1 places left from today (capped by dose-2 room)."),
	}
}

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.batches, c.mutations, c.batchSize, c.batchErrors, c.refused, c.replayed,
		c.apply, c.searches, c.refreshes, c.refreshErrors, c.drift, c.queued, c.rows, c.remaining} {
		ch <- d
	}
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	counter(ch, c.batches, float64(st.Batches))
	counter(ch, c.mutations, float64(st.Mutations))
	// BatchSizes[i] counts batches of 2^i … 2^(i+1)-1 writes (the last:
	// 256 and more); the upper bounds make the histogram's buckets.
	buckets := map[float64]uint64{}
	var cum uint64
	for i, n := range st.BatchSizes[:len(st.BatchSizes)-1] {
		cum += uint64(n)
		buckets[float64(int(1)<<(i+1)-1)] = cum
	}
	ch <- prometheus.MustNewConstHistogram(c.batchSize, uint64(st.Batches), float64(st.Mutations), buckets)
	counter(ch, c.batchErrors, float64(st.BatchErrors))
	counter(ch, c.refused, float64(st.Refused))
	counter(ch, c.replayed, float64(st.Replayed))
	counter(ch, c.apply, st.ApplySeconds)
	counter(ch, c.searches, float64(st.Searches))
	counter(ch, c.refreshes, float64(st.Refreshes))
	counter(ch, c.refreshErrors, float64(st.RefreshErrors))
	counter(ch, c.drift, float64(st.Drift))
	gauge(ch, c.queued, float64(st.Queued))
	gauge(ch, c.rows, float64(st.Clinics), "clinics")
	gauge(ch, c.rows, float64(st.Slots), "slots")
	gauge(ch, c.rows, float64(st.QuotaRows), "quota_rows")
	gauge(ch, c.remaining, float64(c.src.Remaining(c.now()).Total))
}

// LightsSource is what the identity collector reads (*identity.Service).
type LightsSource interface {
	Providers(now time.Time) []identity.ProviderLight
}

type lightsCollector struct {
	src LightsSource
	now func() time.Time

	light, breaker, inFlight, rate, errRate, p50, p95 *prometheus.Desc
}

// NewLightsCollector exports every identity provider's traffic light and
// what it is made of, as this node observes them.
func NewLightsCollector(src LightsSource, now func() time.Time) prometheus.Collector {
	const sub = "identity"
	return &lightsCollector{src: src, now: now,
		light:    desc(sub, "light", "Traffic light per provider: 1 for the light shown.", "provider", "light"),
		breaker:  desc(sub, "breaker_open", "1 if the provider's circuit breaker is open (0.5 half-open).", "provider"),
		inFlight: desc(sub, "in_flight", "Logins started and not back yet.", "provider"),
		rate:     desc(sub, "start_rate_per_second", "Logins started per second, recently.", "provider"),
		errRate:  desc(sub, "error_rate", "Share of failed logins over the window.", "provider"),
		p50:      desc(sub, "verification_p50_seconds", "Median verification time (start to callback).", "provider"),
		p95:      desc(sub, "verification_p95_seconds", "95th percentile of verification time.", "provider"),
	}
}

func (c *lightsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.light, c.breaker, c.inFlight, c.rate, c.errRate, c.p50, c.p95} {
		ch <- d
	}
}

func (c *lightsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.src.Providers(c.now()) {
		for _, l := range []identity.Light{identity.Green, identity.Yellow, identity.Red} {
			gauge(ch, c.light, b2f(p.Light == l), p.Name, string(l))
		}
		br := 0.0
		switch p.Breaker {
		case identity.BreakerOpen:
			br = 1
		case identity.BreakerHalfOpen:
			br = 0.5
		}
		gauge(ch, c.breaker, br, p.Name)
		gauge(ch, c.inFlight, float64(p.InFlight), p.Name)
		gauge(ch, c.rate, p.Rate, p.Name)
		gauge(ch, c.errRate, p.ErrorRate, p.Name)
		gauge(ch, c.p50, float64(p.P50ms)/1000, p.Name)
		gauge(ch, c.p95, float64(p.P95ms)/1000, p.Name)
	}
}

// EmulationStatus is one emulated provider as the dev IdP reports it.
type EmulationStatus struct {
	Name       string        `json:"name"`
	Capacity   float64       `json:"capacity"` // logins per second, 0: unlimited
	ErrorRate  float64       `json:"error_rate"`
	Median     time.Duration `json:"-"`
	P99        time.Duration `json:"-"`
	MedianMS   float64       `json:"median_ms"`
	P99MS      float64       `json:"p99_ms"`
	Outage     bool          `json:"outage"`
	Logins     int64         `json:"logins"`
	Queued     int64         `json:"queued"`
	Overloaded int64         `json:"overloaded"`
	Errors     int64         `json:"errors"`
	Hits       int64         `json:"outage_hits"`
}

type emulationCollector struct {
	src func() []EmulationStatus

	logins, queued, overloaded, errors, outageHits, capacity, outage *prometheus.Desc
}

// NewEmulationCollector exports the dev IdP's emulated providers (demo).
func NewEmulationCollector(src func() []EmulationStatus) prometheus.Collector {
	const sub = "devidp"
	return &emulationCollector{src: src,
		logins:     desc(sub, "logins_total", "Logins the emulated provider completed.", "provider"),
		queued:     desc(sub, "queued", "Logins waiting for the emulated capacity.", "provider"),
		overloaded: desc(sub, "overloaded_total", "Logins refused because the emulated queue was too long.", "provider"),
		errors:     desc(sub, "errors_total", "Logins failed by the emulated error rate.", "provider"),
		outageHits: desc(sub, "outage_hits_total", "Requests refused during an emulated outage.", "provider"),
		capacity:   desc(sub, "capacity_per_second", "Emulated capacity (0: unlimited).", "provider"),
		outage:     desc(sub, "outage", "1 during an emulated outage.", "provider"),
	}
}

func (c *emulationCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.logins, c.queued, c.overloaded, c.errors, c.outageHits, c.capacity, c.outage} {
		ch <- d
	}
}

func (c *emulationCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.src() {
		counter(ch, c.logins, float64(p.Logins), p.Name)
		gauge(ch, c.queued, float64(p.Queued), p.Name)
		counter(ch, c.overloaded, float64(p.Overloaded), p.Name)
		counter(ch, c.errors, float64(p.Errors), p.Name)
		counter(ch, c.outageHits, float64(p.Hits), p.Name)
		gauge(ch, c.capacity, p.Capacity, p.Name)
		gauge(ch, c.outage, b2f(p.Outage), p.Name)
	}
}

// PoolStats is a database connection pool's state.
type PoolStats struct {
	Total, Idle, InUse, Max    int64
	Acquires, EmptyAcquires    int64         // connections handed out; of which the caller had to wait
	CanceledAcquires           int64         // waits given up
	AcquireWait                time.Duration // total time spent waiting for a connection
	NewConns, DestroyedByLimit int64
}

type poolCollector struct {
	src func() PoolStats

	conns, max, acquires, empty, canceled, wait, created *prometheus.Desc
}

// NewPoolCollector exports a database pool's statistics (for stores that
// expose their pool: PostgreSQL).
func NewPoolCollector(src func() PoolStats) prometheus.Collector {
	const sub = "db_pool"
	return &poolCollector{src: src,
		conns:    desc(sub, "connections", "Connections by state.", "state"),
		max:      desc(sub, "max_connections", "Pool size limit."),
		acquires: desc(sub, "acquires_total", "Connections handed out."),
		empty:    desc(sub, "empty_acquires_total", "Acquires that had to wait for a connection."),
		canceled: desc(sub, "canceled_acquires_total", "Waits for a connection given up."),
		wait:     desc(sub, "acquire_wait_seconds_total", "Time spent waiting for connections."),
		created:  desc(sub, "new_connections_total", "Connections opened."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.max, c.acquires, c.empty, c.canceled, c.wait, c.created} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src()
	gauge(ch, c.conns, float64(s.Idle), "idle")
	gauge(ch, c.conns, float64(s.InUse), "in_use")
	gauge(ch, c.max, float64(s.Max))
	counter(ch, c.acquires, float64(s.Acquires))
	counter(ch, c.empty, float64(s.EmptyAcquires))
	counter(ch, c.canceled, float64(s.CanceledAcquires))
	counter(ch, c.wait, s.AcquireWait.Seconds())
	counter(ch, c.created, float64(s.NewConns))
}
