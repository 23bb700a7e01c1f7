package ops

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"vaxbook"
	"vaxbook/booking"
	"vaxbook/identity"
)

// The Board is the operators' live dashboard of one node: once a second it
// reads the waiting room, the booking engine, the identity providers and
// the edge counters (Metrics.Wrap), computes rates and percentiles, keeps
// the last minutes as time series, and marshals one JSON snapshot that every
// watching operator receives (Server-Sent Events): the cost does not grow
// with the number of operators watching.

// Defaults.
const (
	DefaultHistory       = 600 // points kept: ten minutes at one a second
	DefaultLatencyWindow = 10  // samples the percentiles are computed over
)

// BoardConfig configures a Board. Metrics and WaitRoom are required.
type BoardConfig struct {
	Node    string
	Metrics *Metrics
	// WaitRoom reads the waiting room's state (cluster totals).
	WaitRoom func(ctx context.Context, now time.Time) (vaxbook.WaitRoomState, error)
	// Engine is the booking engine (nil: no booking figures).
	Engine EngineSource
	// Lights are the identity providers (nil: none).
	Lights LightsSource
	// Emulation reads the dev IdP's emulated providers (nil outside demo).
	Emulation func() []EmulationStatus
	// History is how many points the series keep (DefaultHistory);
	// LatencyWindow how many samples the percentiles cover
	// (DefaultLatencyWindow).
	History       int
	LatencyWindow int
	Log           *slog.Logger
}

// Snapshot is what the dashboard shows at one instant.
type Snapshot struct {
	Seq  uint64    `json:"seq"`
	At   time.Time `json:"at"`
	Node string    `json:"node"`
	// Interval is the time since the previous sample, over which the rates
	// are computed (seconds).
	Interval  float64           `json:"interval_s"`
	Flow      Flow              `json:"flow"`
	WaitRoom  WaitRoomPanel     `json:"waitroom"`
	Stages    []StageLatency    `json:"stages"`
	Errors    Count             `json:"errors"` // answers with a 5xx status
	Refusals  []CodeCount       `json:"refusals"`
	Conflicts Count             `json:"device_lock_conflicts"`
	Logins    []LoginCount      `json:"logins"`
	Providers []ProviderPanel   `json:"providers"`
	Remaining booking.Remaining `json:"remaining"`
	Engine    booking.Stats     `json:"engine"`
	Point     Point             `json:"point"`
	// Problems lists sources that could not be read at this sample.
	Problems []string `json:"problems,omitempty"`
}

// Flow is the citizens' flow through the node (waiting-room figures are
// the cluster's).
type Flow struct {
	ArrivalsPerS float64 `json:"arrivals_per_s"`
	AdmittedPerS float64 `json:"admitted_per_s"`
	BookingsPerS float64 `json:"bookings_per_s"` // booking writes committed by this node's engine
	Waiting      int64   `json:"waiting"`
	Prequeue     int64   `json:"prequeue"`
	Unclaimed    int64   `json:"unclaimed"`
	Active       int64   `json:"active"`
	Rate         float64 `json:"rate"`
	Outflow      float64 `json:"outflow"`
}

// WaitRoomPanel is the waiting room's controls and controller.
type WaitRoomPanel struct {
	Settings   vaxbook.WaitRoomSettings `json:"settings"`
	Controller ControllerView           `json:"controller"`
	Leader     string                   `json:"leader"`
	Rooms      []vaxbook.RoomState      `json:"rooms"`
	Counts     WaitRoomCounts           `json:"counts"`
}

// StageLatency is one stage's traffic and latency over the last window.
type StageLatency struct {
	Stage string  `json:"stage"`
	PerS  float64 `json:"per_s"`
	Count int64   `json:"count"`
	P50ms float64 `json:"p50_ms"`
	P95ms float64 `json:"p95_ms"`
	P99ms float64 `json:"p99_ms"`
}

// Count is a running total and its rate over the last interval.
type Count struct {
	Total int64   `json:"total"`
	PerS  float64 `json:"per_s"`
}

// CodeCount is how often one code was answered.
type CodeCount struct {
	Code string `json:"code"`
	Count
}

// LoginCount is how many sign-ins with one provider ended one way.
type LoginCount struct {
	Provider string `json:"provider"`
	Outcome  string `json:"outcome"`
	Total    int64  `json:"total"`
}

// ProviderPanel is one identity provider: its light and, in demo mode, its
// emulated behaviour.
type ProviderPanel struct {
	identity.ProviderLight
	Emulation *EmulationStatus `json:"emulation,omitempty"`
}

// Point is one sample of the charted series.
type Point struct {
	T        int64              `json:"t"` // Unix seconds
	Arrivals float64            `json:"arrivals"`
	Admitted float64            `json:"admitted"`
	Bookings float64            `json:"bookings"`
	Errors   float64            `json:"errors"`
	Waiting  int64              `json:"waiting"`
	Active   int64              `json:"active"`
	Rate     float64            `json:"rate"`
	Outflow  float64            `json:"outflow"`
	P95ms    [numStages]float64 `json:"p95_ms"`
}

// Series are the charted points as columns (the layout uPlot draws).
type Series struct {
	Stages   []string    `json:"stages"`
	T        []int64     `json:"t"`
	Arrivals []float64   `json:"arrivals"`
	Admitted []float64   `json:"admitted"`
	Bookings []float64   `json:"bookings"`
	Errors   []float64   `json:"errors"`
	Waiting  []int64     `json:"waiting"`
	Active   []int64     `json:"active"`
	Rate     []float64   `json:"rate"`
	Outflow  []float64   `json:"outflow"`
	P95ms    [][]float64 `json:"p95_ms"` // per stage
}

// Board samples and publishes the dashboard. It is safe for concurrent use.
type Board struct {
	cfg BoardConfig
	log *slog.Logger

	sampleMu sync.Mutex // one sample at a time
	prev     *sampleState
	hist     []histSample // the last LatencyWindow+1 stage snapshots, oldest first

	mu      sync.Mutex
	seq     uint64
	latest  Snapshot
	frame   []byte // the latest snapshot as one SSE event
	points  []Point
	histSeq uint64
	history []byte // the series as one SSE event, for histSeq
	changed chan struct{}
	done    chan struct{}
	closed  bool
}

type histSample struct {
	at     time.Time
	stages [numStages]HistCounts
}

// sampleState is what the next sample computes rates against.
type sampleState struct {
	at       time.Time
	arrivals int64
	admitted int64
	writes   int64
	edge     edgeTotals
}

// NewBoard returns a Board; call Sample (or Run) to fill it.
func NewBoard(cfg BoardConfig) *Board {
	if cfg.History <= 0 {
		cfg.History = DefaultHistory
	}
	if cfg.LatencyWindow <= 0 {
		cfg.LatencyWindow = DefaultLatencyWindow
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Board{cfg: cfg, log: cfg.Log, changed: make(chan struct{}), done: make(chan struct{})}
}

// Run samples every interval (by a real ticker; the instant of each sample
// is now()) until ctx ends, then closes the board.
func (b *Board) Run(ctx context.Context, every time.Duration, now func() time.Time) {
	defer b.Close()
	t := time.NewTicker(every)
	defer t.Stop()
	b.Sample(ctx, now())
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.done:
			return
		case <-t.C:
			b.Sample(ctx, now())
		}
	}
}

// Close ends every stream waiting in Next (a server shutting down calls it
// so that open dashboards do not hold the shutdown).
func (b *Board) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.done)
	}
}

func rate(delta int64, dt float64) float64 {
	if dt <= 0 || delta < 0 {
		return 0
	}
	return float64(delta) / dt
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Sample reads every source at instant now and publishes a snapshot. The
// rates are over the time since the previous sample; a sample at an
// instant not after the previous one publishes the gauges but keeps the
// previous rates and adds no point to the series.
func (b *Board) Sample(ctx context.Context, now time.Time) Snapshot {
	b.sampleMu.Lock()
	defer b.sampleMu.Unlock()
	snap := Snapshot{At: now, Node: b.cfg.Node, Stages: []StageLatency{}, Refusals: []CodeCount{}, Logins: []LoginCount{},
		Providers: []ProviderPanel{}, Remaining: booking.Remaining{ByDay: []booking.DayRemaining{}, BySido: []booking.SidoRemaining{}}}
	cur := &sampleState{at: now}

	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	wr, err := b.cfg.WaitRoom(rctx, now)
	cancel()
	if err != nil {
		snap.Problems = append(snap.Problems, "waitroom: "+vaxbook.ErrorMessage(err))
		b.log.Warn("ops board: waiting room", "err", err)
		if b.prev != nil {
			cur.arrivals, cur.admitted = b.prev.arrivals, b.prev.admitted
		}
	} else {
		cur.arrivals, cur.admitted = wr.Stats.Arrivals, wr.Stats.Admitted
		snap.Flow = Flow{Waiting: wr.Waiting, Prequeue: wr.Prequeue, Unclaimed: wr.Unclaimed, Active: wr.Active,
			Rate: wr.Rate, Outflow: wr.Outflow}
		snap.WaitRoom = WaitRoomPanel{Settings: wr.Settings, Controller: ControllerViewOf(wr.Controller), Leader: wr.Leader,
			Rooms: wr.Rooms, Counts: CountsOf(wr.Stats)}
	}
	if snap.WaitRoom.Rooms == nil {
		snap.WaitRoom.Rooms = []vaxbook.RoomState{}
	}
	if b.cfg.Engine != nil {
		snap.Engine = b.cfg.Engine.Stats()
		cur.writes = snap.Engine.Mutations - snap.Engine.Refused - snap.Engine.Replayed
		snap.Remaining = b.cfg.Engine.Remaining(now)
	}
	cur.edge = b.cfg.Metrics.edge.totals()

	var dt float64
	prev := b.prev
	if prev != nil {
		dt = now.Sub(prev.at).Seconds()
	}
	fresh := prev == nil || dt > 0
	if fresh {
		if prev != nil {
			snap.Interval = dt
			snap.Flow.ArrivalsPerS = rate(cur.arrivals-prev.arrivals, dt)
			snap.Flow.AdmittedPerS = rate(cur.admitted-prev.admitted, dt)
			snap.Flow.BookingsPerS = rate(cur.writes-prev.writes, dt)
		}
		b.prev = cur
		b.hist = append(b.hist, histSample{at: now, stages: cur.edge.stages})
		if len(b.hist) > b.cfg.LatencyWindow+1 {
			b.hist = b.hist[len(b.hist)-b.cfg.LatencyWindow-1:]
		}
	} else {
		// Same instant as the last sample (a stopped test clock): keep its rates.
		b.mu.Lock()
		last := b.latest
		b.mu.Unlock()
		snap.Interval, snap.Flow.ArrivalsPerS, snap.Flow.AdmittedPerS, snap.Flow.BookingsPerS =
			last.Interval, last.Flow.ArrivalsPerS, last.Flow.AdmittedPerS, last.Flow.BookingsPerS
		prev = nil
	}
	var edgePrev *edgeTotals
	if prev != nil {
		edgePrev = &prev.edge
	}

	// Latency per stage over the window.
	oldest := &b.hist[0]
	span := now.Sub(oldest.at).Seconds()
	for i, st := range Stages() {
		w := cur.edge.stages[i].Sub(&oldest.stages[i])
		sl := StageLatency{Stage: st.String(), Count: w.Count(),
			P50ms: ms(w.Quantile(0.50)), P95ms: ms(w.Quantile(0.95)), P99ms: ms(w.Quantile(0.99))}
		if span > 0 {
			sl.PerS = float64(sl.Count) / span
		}
		snap.Stages = append(snap.Stages, sl)
		snap.Point.P95ms[i] = sl.P95ms
	}
	snap.Errors = Count{Total: cur.edge.errors}
	if edgePrev != nil {
		snap.Errors.PerS = rate(cur.edge.errors-edgePrev.errors, dt)
	}
	for code, n := range cur.edge.codes {
		c := CodeCount{Code: code, Count: Count{Total: n}}
		if edgePrev != nil {
			c.PerS = rate(n-edgePrev.codes[code], dt)
		}
		snap.Refusals = append(snap.Refusals, c)
		if code == string(vaxbook.CodeDeviceLocked) {
			snap.Conflicts = c.Count
		}
	}
	sort.Slice(snap.Refusals, func(i, j int) bool {
		if snap.Refusals[i].Total != snap.Refusals[j].Total {
			return snap.Refusals[i].Total > snap.Refusals[j].Total
		}
		return snap.Refusals[i].Code < snap.Refusals[j].Code
	})
	for k, n := range cur.edge.logins {
		snap.Logins = append(snap.Logins, LoginCount{Provider: k[0], Outcome: k[1], Total: n})
	}
	sort.Slice(snap.Logins, func(i, j int) bool {
		a, c := snap.Logins[i], snap.Logins[j]
		if a.Provider != c.Provider {
			return a.Provider < c.Provider
		}
		return a.Outcome < c.Outcome
	})

	if b.cfg.Lights != nil {
		var emu map[string]EmulationStatus
		if b.cfg.Emulation != nil {
			emu = map[string]EmulationStatus{}
			for _, e := range b.cfg.Emulation() {
				emu[e.Name] = e
			}
		}
		for _, l := range b.cfg.Lights.Providers(now) {
			p := ProviderPanel{ProviderLight: l}
			if e, ok := emu[l.Name]; ok {
				p.Emulation = &e
			}
			snap.Providers = append(snap.Providers, p)
		}
	}

	snap.Point = Point{T: now.Unix(), Arrivals: snap.Flow.ArrivalsPerS, Admitted: snap.Flow.AdmittedPerS,
		Bookings: snap.Flow.BookingsPerS, Errors: snap.Errors.PerS, Waiting: snap.Flow.Waiting, Active: snap.Flow.Active,
		Rate: snap.Flow.Rate, Outflow: snap.Flow.Outflow, P95ms: snap.Point.P95ms}
	b.publish(&snap, fresh)
	return snap
}

func (b *Board) publish(snap *Snapshot, addPoint bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	snap.Seq = b.seq
	data, err := json.Marshal(snap)
	if err != nil {
		b.log.Error("ops board: marshal", "err", err)
		return
	}
	b.latest = *snap
	b.frame = sseFrame("snapshot", b.seq, data)
	if addPoint {
		b.points = append(b.points, snap.Point)
		if len(b.points) > b.cfg.History {
			b.points = b.points[len(b.points)-b.cfg.History:]
		}
	}
	close(b.changed)
	b.changed = make(chan struct{})
}

func sseFrame(event string, seq uint64, data []byte) []byte {
	out := make([]byte, 0, len(data)+64)
	out = append(out, "id: "...)
	out = strconv.AppendUint(out, seq, 10)
	out = append(out, "\nevent: "...)
	out = append(out, event...)
	out = append(out, "\ndata: "...)
	out = append(out, data...)
	return append(out, "\n\n"...)
}

// Latest returns the latest snapshot (zero Seq before the first sample).
func (b *Board) Latest() Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.latest
}

// Series returns the charted points as columns, oldest first.
func (b *Board) Series() Series {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seriesLocked()
}

func (b *Board) seriesLocked() Series {
	n := len(b.points)
	s := Series{T: make([]int64, n), Arrivals: make([]float64, n), Admitted: make([]float64, n), Bookings: make([]float64, n),
		Errors: make([]float64, n), Waiting: make([]int64, n), Active: make([]int64, n), Rate: make([]float64, n),
		Outflow: make([]float64, n), P95ms: make([][]float64, numStages)}
	for _, st := range Stages() {
		s.Stages = append(s.Stages, st.String())
		s.P95ms[st] = make([]float64, n)
	}
	for i, p := range b.points {
		s.T[i], s.Arrivals[i], s.Admitted[i], s.Bookings[i], s.Errors[i] = p.T, p.Arrivals, p.Admitted, p.Bookings, p.Errors
		s.Waiting[i], s.Active[i], s.Rate[i], s.Outflow[i] = p.Waiting, p.Active, p.Rate, p.Outflow
		for st := range s.P95ms {
			s.P95ms[st][i] = p.P95ms[st]
		}
	}
	return s
}

// Stream returns what a dashboard that just connected is sent — the series
// so far and the latest snapshot, as SSE events — and the sequence number
// to wait after with Next. Both are built once per sample, whatever the
// number of watchers.
func (b *Board) Stream() (first []byte, seq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.histSeq != b.seq || b.history == nil {
		data, err := json.Marshal(b.seriesLocked())
		if err != nil {
			b.log.Error("ops board: marshal series", "err", err)
			data = []byte("{}")
		}
		b.history, b.histSeq = sseFrame("series", b.seq, data), b.seq
	}
	out := append([]byte(nil), b.history...)
	return append(out, b.frame...), b.seq
}

// Next waits for a snapshot newer than seq and returns it as an SSE event.
// ok is false when ctx ends or the board is closed.
func (b *Board) Next(ctx context.Context, seq uint64) (frame []byte, next uint64, ok bool) {
	for {
		b.mu.Lock()
		if b.seq > seq && b.frame != nil {
			frame, next = b.frame, b.seq
			b.mu.Unlock()
			return frame, next, true
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, seq, false
		case <-b.done:
			return nil, seq, false
		}
	}
}
