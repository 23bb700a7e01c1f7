// Package waitroom is the waiting room between identity verification and the
// booking stage (DESIGN.md §6): tickets in O(1) state per room, a fair
// pre-queue drawn with a keyed permutation at the opening instant, strict
// FIFO after it, an admission controller that sets the outflow from the
// booking stage's health, signed short-lived passes, server-paced polling
// and an ETA from the measured outflow.
//
// Service implements vaxbook.WaitRoom over a vaxbook.WaitRoomBackend: Memory
// (in process, this package) or the Redis backend (package redis) for a
// cluster of nodes. Time is always a parameter; Tick drives admissions.
package waitroom

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"vaxbook"
)

// Defaults.
const (
	DefaultPreQueue     = 30 * time.Minute
	DefaultPassTTL      = 10 * time.Minute
	DefaultClaimTimeout = 7 * time.Minute
	DefaultMinRetry     = 2 * time.Second
	DefaultMaxRetry     = 5 * time.Minute
	DefaultPollBudget   = 3000 // polls per second the opening burst is spread for
	DefaultLeaseTTL     = 5 * time.Second
	DefaultControlEvery = time.Second
	DefaultRetention    = time.Hour
	DefaultMaxTickGap   = 2 * time.Second
	DefaultStageFloor   = 2000 // people the stage bound never goes below
	// DefaultLeaverAllowance: see Config.LeaverAllowance.
	DefaultLeaverAllowance = 20 * time.Second
)

// DefaultSettings are in force until an operator sets others.
var DefaultSettings = vaxbook.WaitRoomSettings{
	Mode:      vaxbook.ModeAuto,
	RatePerS:  50,
	MaxActive: 50_000,
	MinRate:   5,
	MaxRate:   2_000,
}

// Config configures a Service. Backend and Secret are required.
type Config struct {
	Backend vaxbook.WaitRoomBackend
	// Secret keys tickets, passes and the pre-queue permutations (≥ 32
	// bytes, the same on every node).
	Secret []byte
	// Node names this node for the controller lease (default: random).
	Node  string
	Audit vaxbook.AuditLog // optional: operator changes and pre-queue draws
	Log   *slog.Logger     // default slog.Default()
	// Defaults are the settings before any operator change (zero fields
	// take DefaultSettings).
	Defaults vaxbook.WaitRoomSettings

	PassTTL      time.Duration // a collected pass is valid this long (10 min)
	ClaimTimeout time.Duration // an admitted person must collect the pass within this (7 min); ≤ PassTTL, > MaxRetry
	MinRetry     time.Duration // polling interval at the front (2 s)
	MaxRetry     time.Duration // polling interval far back (5 min)
	PollBudget   float64       // polls/s the first poll after opening is spread for (3000)
	LeaseTTL     time.Duration // controller lease (5 s); tick well within it
	ControlEvery time.Duration // controller update interval (1 s)
	MaxTickGap   time.Duration // admissions credited for at most this long between ticks (2 s)
	Retention    time.Duration // a room is dropped this long after it closes (1 h)
	// StageTime and StageFloor derive the stage bound: at most as many
	// people admitted and not finished as the stage, at its measured pace
	// of finishing (passes used or given back), finishes in StageTime —
	// Little's law —, and never fewer than StageFloor (2,000). It holds in
	// every mode, within the operator's MaxActive: admitting faster than
	// the stage finishes only lengthens everyone's stay in it until passes
	// expire unused. StageTime defaults to PassTTL/4 (2.5 min).
	StageTime  time.Duration
	StageFloor int64
	// MeasureStageTime replaces StageTime, once measured, with twice the
	// mean time from collecting a pass to booking with it in the calmest
	// ~10 s of the last few minutes, plus the time places of people who
	// left are held per admission (measured, at least LeaverAllowance), at
	// most PassTTL/2. It kept the booking stage at its pace at three times
	// the admissions it could take; it also starved a stage whose stays
	// were long for another reason — a CPU saturated by sign-ins — since
	// then the bound shrinks with the pace it limits (docs/waitroom.md).
	// Off by default.
	MeasureStageTime bool
	// LeaverAllowance is the least time added to a measured stage time
	// for the places that people who left hold until they expire — a
	// no-show's for ClaimTimeout, an abandoned pass's for PassTTL; the
	// measured time per admission replaces it when longer (at 5 % no-shows
	// and 2 % abandoned passes, 33 s). Default 20 s: the first expiries
	// come only ClaimTimeout after the opening.
	LeaverAllowance time.Duration
	// CountersMaxAge lets Status use a room's counters read up to this long
	// ago (by the injected clock) — with Redis it saves a round trip per
	// poll. 0 reads them every time.
	CountersMaxAge time.Duration
	Outflow        OutflowConfig
	Controller     ControllerConfig
}

// Service is the waiting room of one node. It is safe for concurrent use.
type Service struct {
	cfg     Config
	b       vaxbook.WaitRoomBackend
	log     *slog.Logger
	tickets *signer
	passes  *signer
	epochK  [2]uint64

	rooms   atomic.Pointer[map[string]*roomInfo]
	roomsMu sync.Mutex

	settings atomic.Pointer[vaxbook.WaitRoomSettings]
	leader   atomic.Pointer[string]

	stCount, stErrors, stLatency, stInFlight atomic.Int64
	stStays, stStaySum                       atomic.Int64

	tickMu  sync.Mutex // leader state below
	ctrl    *Controller
	acc     vaxbook.StageSample // stage sample accumulated for the controller
	accFrom time.Time
	rr      int
}

type roomInfo struct {
	id, campaignID, windowID string
	joinFrom, opens, closes  time.Time
	key                      [16]byte
	perm                     atomic.Pointer[Perm]
	cache                    atomic.Pointer[cachedCounters]
}

type cachedCounters struct {
	c  vaxbook.RoomCounters
	at time.Time
}

var _ vaxbook.WaitRoom = (*Service)(nil)

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Backend == nil {
		return nil, errors.New("waitroom: Config.Backend is required")
	}
	if len(cfg.Secret) < 32 {
		return nil, errors.New("waitroom: Config.Secret must be at least 32 bytes")
	}
	if cfg.StageTime < 0 || cfg.StageFloor < 0 || cfg.LeaverAllowance < 0 {
		return nil, fmt.Errorf("waitroom: StageTime (%s), StageFloor (%d) and LeaverAllowance (%s) must not be negative",
			cfg.StageTime, cfg.StageFloor, cfg.LeaverAllowance)
	}
	d := &cfg
	setDur := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	setDur(&d.PassTTL, DefaultPassTTL)
	setDur(&d.ClaimTimeout, DefaultClaimTimeout)
	setDur(&d.MinRetry, DefaultMinRetry)
	setDur(&d.MaxRetry, DefaultMaxRetry)
	setDur(&d.LeaseTTL, DefaultLeaseTTL)
	setDur(&d.ControlEvery, DefaultControlEvery)
	setDur(&d.MaxTickGap, DefaultMaxTickGap)
	setDur(&d.Retention, DefaultRetention)
	setDur(&d.LeaverAllowance, DefaultLeaverAllowance)
	setDur(&d.StageTime, d.PassTTL/4)
	if d.StageFloor <= 0 {
		d.StageFloor = DefaultStageFloor
	}
	if d.PollBudget <= 0 {
		d.PollBudget = DefaultPollBudget
	}
	if d.ClaimTimeout > d.PassTTL {
		return nil, fmt.Errorf("waitroom: ClaimTimeout %s must not exceed PassTTL %s", d.ClaimTimeout, d.PassTTL)
	}
	if d.MaxRetry >= d.ClaimTimeout || d.MinRetry > d.MaxRetry {
		return nil, fmt.Errorf("waitroom: need MinRetry ≤ MaxRetry < ClaimTimeout (got %s, %s, %s)", d.MinRetry, d.MaxRetry, d.ClaimTimeout)
	}
	def := DefaultSettings
	if d.Defaults.Mode != "" {
		def.Mode = d.Defaults.Mode
	}
	if d.Defaults.RatePerS > 0 {
		def.RatePerS = d.Defaults.RatePerS
	}
	if d.Defaults.MaxActive != 0 {
		def.MaxActive = d.Defaults.MaxActive
	}
	if d.Defaults.MinRate > 0 {
		def.MinRate = d.Defaults.MinRate
	}
	if d.Defaults.MaxRate > 0 {
		def.MaxRate = d.Defaults.MaxRate
	}
	if err := ValidateSettings(def); err != nil {
		return nil, fmt.Errorf("waitroom: Config.Defaults: %w", err)
	}
	d.Defaults = def
	d.Outflow.defaults()
	d.Controller.defaults()
	if d.Log == nil {
		d.Log = slog.Default()
	}
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	if d.Node == "" {
		d.Node = "node-" + hex.EncodeToString(rnd[:4])
	}
	s := &Service{
		cfg:     cfg,
		b:       cfg.Backend,
		log:     cfg.Log,
		tickets: newSigner(derive(cfg.Secret, "vaxbook/waitroom/ticket/v1")),
		passes:  newSigner(derive(cfg.Secret, "vaxbook/waitroom/pass/v1")),
		epochK:  [2]uint64{binary.LittleEndian.Uint64(rnd[:8]), binary.LittleEndian.Uint64(rnd[8:])},
	}
	empty := map[string]*roomInfo{}
	s.rooms.Store(&empty)
	s.settings.Store(&def)
	none := ""
	s.leader.Store(&none)
	return s, nil
}

func derive(secret []byte, label string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(label))
	return h.Sum(nil)
}

// ShuffleKey returns the key of a room's pre-queue permutation, derived from
// the secret and the room id (so an auditor holding the secret can recompute
// the order).
func ShuffleKey(secret []byte, roomID string) [16]byte {
	var k [16]byte
	copy(k[:], derive(secret, "vaxbook/waitroom/shuffle/v1\x00"+roomID))
	return k
}

// RoomOf returns the waiting room of window w of campaign c: people may join
// from c.PreQueue (default 30 minutes) before w opens until it closes.
func RoomOf(c vaxbook.Campaign, w vaxbook.Window) vaxbook.QueueRoom {
	pre := time.Duration(c.PreQueue)
	if pre <= 0 {
		pre = DefaultPreQueue
	}
	return vaxbook.QueueRoom{
		ID: c.ID + "/" + w.ID, CampaignID: c.ID, WindowID: w.ID,
		JoinFrom: w.Opens.Add(-pre), Opens: w.Opens, Closes: w.Closes,
	}
}

// Node returns this node's name.
func (s *Service) Node() string { return s.cfg.Node }

// Leader reports whether this node held the controller lease at its last tick.
func (s *Service) Leader() bool { return *s.leader.Load() == s.cfg.Node }

// Settings returns the settings this node last saw.
func (s *Service) Settings() vaxbook.WaitRoomSettings { return *s.settings.Load() }

func (s *Service) info(id, campaign, window string, joinFrom, opens, closes time.Time) *roomInfo {
	if ri := (*s.rooms.Load())[id]; ri != nil {
		return ri
	}
	s.roomsMu.Lock()
	defer s.roomsMu.Unlock()
	old := *s.rooms.Load()
	if ri := old[id]; ri != nil {
		return ri
	}
	ri := &roomInfo{id: id, campaignID: campaign, windowID: window, joinFrom: joinFrom, opens: opens, closes: closes,
		key: ShuffleKey(s.cfg.Secret, id)}
	next := make(map[string]*roomInfo, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[id] = ri
	s.rooms.Store(&next)
	return ri
}

func (s *Service) forget(id string) {
	s.roomsMu.Lock()
	defer s.roomsMu.Unlock()
	old := *s.rooms.Load()
	next := make(map[string]*roomInfo, len(old))
	for k, v := range old {
		if k != id {
			next[k] = v
		}
	}
	s.rooms.Store(&next)
}

func (s *Service) infoOf(c vaxbook.RoomCounters) *roomInfo {
	return s.info(c.ID, c.CampaignID, c.WindowID, c.JoinFrom, c.Opens, c.Closes)
}

// roomByID finds a room known to this node or to the backend.
func (s *Service) roomByID(ctx context.Context, id []byte) (*roomInfo, error) {
	if ri := (*s.rooms.Load())[string(id)]; ri != nil {
		return ri, nil
	}
	c, err := s.b.Counters(ctx, string(id))
	if err != nil {
		return nil, err
	}
	return s.infoOf(c), nil
}

func (s *Service) counters(ctx context.Context, ri *roomInfo, now time.Time, fresh bool) (vaxbook.RoomCounters, error) {
	if max := s.cfg.CountersMaxAge; max > 0 && !fresh {
		if cc := ri.cache.Load(); cc != nil && !now.Before(cc.at) && now.Sub(cc.at) < max {
			return cc.c, nil
		}
	}
	c, err := s.b.Counters(ctx, ri.id)
	if err != nil {
		return c, err
	}
	s.remember(ri, c, now)
	return c, nil
}

func (s *Service) remember(ri *roomInfo, c vaxbook.RoomCounters, now time.Time) {
	if s.cfg.CountersMaxAge > 0 {
		ri.cache.Store(&cachedCounters{c: c, at: now})
	}
}

// place returns the place in line of ticket seq: pre-queue tickets are
// placed by the room's permutation, later ones by arrival.
func (ri *roomInfo) place(c vaxbook.RoomCounters, seq uint64) uint64 {
	if c.PreQueue <= 0 || seq >= uint64(c.PreQueue) {
		return seq
	}
	p := ri.perm.Load()
	if p == nil || p.N() != uint64(c.PreQueue) {
		np := NewPerm(ri.key, uint64(c.PreQueue))
		ri.perm.Store(&np)
		p = &np
	}
	return p.At(seq)
}

func (s *Service) epoch(roomID string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(roomID))
	return sipHash(s.epochK[0], s.epochK[1], h.Sum64()) | 1
}

func notInQueue(format string, args ...any) error {
	return vaxbook.Errorf(vaxbook.CodeNotInQueue, format, args...)
}

func validRoom(r vaxbook.QueueRoom) error {
	switch {
	case r.ID == "" || len(r.ID) > 200:
		return vaxbook.InvalidParam("room", "room id must be 1 to 200 bytes")
	case r.CampaignID == "" || r.WindowID == "" || r.ID != r.CampaignID+"/"+r.WindowID:
		return vaxbook.InvalidParam("room", "room id must be campaign/window")
	case r.Opens.IsZero() || !r.Opens.Before(r.Closes) || r.JoinFrom.After(r.Opens):
		return vaxbook.InvalidParam("room", "room times must satisfy join from ≤ opens < closes")
	}
	return nil
}

// Join implements vaxbook.WaitRoom.
func (s *Service) Join(ctx context.Context, room vaxbook.QueueRoom, person int64, sessionID string, now time.Time) (vaxbook.QueueStatus, error) {
	if err := validRoom(room); err != nil {
		return vaxbook.QueueStatus{}, err
	}
	if person <= 0 {
		return vaxbook.QueueStatus{}, vaxbook.InvalidParam("person", "a signed-in person is required")
	}
	if sessionID == "" {
		return vaxbook.QueueStatus{}, vaxbook.Errorf(vaxbook.CodeNotSignedIn, "a session is required to join the queue")
	}
	if now.Before(room.JoinFrom) {
		return vaxbook.QueueStatus{}, vaxbook.Errorf(vaxbook.CodeQueueClosed, "the waiting room opens for joining at %s", room.JoinFrom.Format(time.RFC3339))
	}
	if !now.Before(room.Closes) {
		return vaxbook.QueueStatus{}, vaxbook.Errorf(vaxbook.CodeQueueClosed, "the booking window closed at %s", room.Closes.Format(time.RFC3339))
	}
	allowNew := s.Settings().Mode != vaxbook.ModeDrain
	ri := s.info(room.ID, room.CampaignID, room.WindowID, room.JoinFrom, room.Opens, room.Closes)
	j, err := s.b.JoinRoom(ctx, room, s.epoch(room.ID), person, allowNew, now)
	if err != nil {
		return vaxbook.QueueStatus{}, fmt.Errorf("waitroom: join %s: %w", room.ID, err)
	}
	if j.Froze {
		s.auditShuffle(ctx, ri, j.Counters, now)
	}
	s.remember(ri, j.Counters, now)
	if !j.Found {
		return vaxbook.QueueStatus{}, vaxbook.Errorf(vaxbook.CodeQueueClosed, "the waiting room is draining and takes nobody new")
	}
	tok := s.tickets.signTicket(j.Counters.Epoch, j.Seq, person, room.ID)
	st, err := s.status(ctx, ri, &j.Counters, tok, j.Counters.Epoch, j.Seq, person, sessionID, now)
	if err != nil {
		return st, err
	}
	if !j.Created && st.State == vaxbook.QueueExpired && st.Reason != vaxbook.ReasonClosed {
		// The old place is finished (no-show, pass expired or used): join again at the end.
		old := j.Seq
		j, err = s.b.Rejoin(ctx, room.ID, person, old, allowNew, now)
		if err != nil {
			return vaxbook.QueueStatus{}, fmt.Errorf("waitroom: rejoin %s: %w", room.ID, err)
		}
		if j.Froze {
			s.auditShuffle(ctx, ri, j.Counters, now)
		}
		if !j.Found || (j.Seq == old && !j.Created) {
			return vaxbook.QueueStatus{}, vaxbook.Errorf(vaxbook.CodeQueueClosed, "the waiting room is draining and takes nobody new")
		}
		tok = s.tickets.signTicket(j.Counters.Epoch, j.Seq, person, room.ID)
		if st, err = s.status(ctx, ri, &j.Counters, tok, j.Counters.Epoch, j.Seq, person, sessionID, now); err != nil {
			return st, err
		}
	}
	st.Created = j.Created
	return st, nil
}

// Status implements vaxbook.WaitRoom. For a waiting ticket it reads only the
// room's counters (no lock in process; one read, or none with
// CountersMaxAge, in Redis) and allocates nothing.
func (s *Service) Status(ctx context.Context, tok string, person int64, sessionID string, now time.Time) (vaxbook.QueueStatus, error) {
	m := s.tickets.get()
	t, ok := m.parseTicket(tok)
	if !ok {
		s.tickets.put(m)
		return vaxbook.QueueStatus{}, notInQueue("the ticket is not valid; join the queue again")
	}
	ri, err := s.roomByID(ctx, t.room)
	s.tickets.put(m) // t.room is not used after this
	if err != nil {
		if vaxbook.ErrorCode(err) == vaxbook.CodeNotInQueue {
			return vaxbook.QueueStatus{}, notInQueue("the waiting room of this ticket no longer exists")
		}
		return vaxbook.QueueStatus{}, fmt.Errorf("waitroom: status: %w", err)
	}
	if t.person != person {
		return vaxbook.QueueStatus{}, notInQueue("the ticket belongs to someone else")
	}
	return s.status(ctx, ri, nil, tok, t.epoch, t.seq, person, sessionID, now)
}

func (s *Service) status(ctx context.Context, ri *roomInfo, cp *vaxbook.RoomCounters, tok string, epoch, seq uint64, person int64, sessionID string, now time.Time) (vaxbook.QueueStatus, error) {
	var c vaxbook.RoomCounters
	if cp != nil {
		c = *cp
	} else {
		var err error
		if c, err = s.counters(ctx, ri, now, false); err != nil {
			return vaxbook.QueueStatus{}, fmt.Errorf("waitroom: status: %w", err)
		}
		if seq >= c.Tail { // a stale cache, or not ours
			if c, err = s.counters(ctx, ri, now, true); err != nil {
				return vaxbook.QueueStatus{}, fmt.Errorf("waitroom: status: %w", err)
			}
		}
	}
	if c.Epoch != epoch || seq >= c.Tail {
		return vaxbook.QueueStatus{}, notInQueue("the waiting room was reset; join the queue again")
	}
	st := vaxbook.QueueStatus{Ticket: tok, Room: ri.id, OpensAt: ri.opens}
	if !now.Before(ri.closes) {
		st.State, st.Reason = vaxbook.QueueExpired, vaxbook.ReasonClosed
		return st, nil
	}
	if c.PreQueue < 0 {
		if now.Before(ri.opens) {
			st.State, st.ETAUncertain = vaxbook.QueuePrequeue, true
			st.RetryAfter = s.prequeueRetry(ri, c, seq, now)
			return st, nil
		}
		var opened bool
		var err error
		if c, opened, err = s.b.OpenRoom(ctx, ri.id, now); err != nil {
			return vaxbook.QueueStatus{}, fmt.Errorf("waitroom: open %s: %w", ri.id, err)
		}
		if opened {
			s.auditShuffle(ctx, ri, c, now)
		}
		s.remember(ri, c, now)
	}
	eff := ri.place(c, seq)
	if eff >= c.Head {
		st.State = vaxbook.QueueWaiting
		st.Ahead = int64(eff - c.Head)
		st.Position = st.Ahead + 1
		st.ETA, st.ETAUncertain = s.cfg.Outflow.eta(c.Outflow, c.Share, st.Position, now)
		st.RetryAfter = s.pollRetry(st.Position, paceETA(st.ETA, st.Position, c.Share), int64(c.Tail-c.Head), seq, now)
		return st, nil
	}
	// The pass carries whole seconds, and VerifyPass refuses it from its
	// whole-second expiry: the record ends on that second too, so the
	// waiting room never hands out a pass in the fraction of a second
	// after nodes began refusing it.
	ttl := now.Add(s.cfg.PassTTL).Truncate(time.Second).Sub(now)
	rec, err := s.b.Claim(ctx, ri.id, seq, eff, person, now, ttl)
	if err != nil {
		return vaxbook.QueueStatus{}, fmt.Errorf("waitroom: claim: %w", err)
	}
	if rec.State != vaxbook.QueueAdmitted {
		st.State, st.Reason = vaxbook.QueueExpired, rec.Reason
		return st, nil
	}
	if rec.PersonID != person {
		return vaxbook.QueueStatus{}, notInQueue("the ticket belongs to someone else")
	}
	claims := vaxbook.PassClaims{
		Room: ri.id, CampaignID: ri.campaignID, WindowID: ri.windowID, PersonID: person,
		Ticket: seq, Epoch: epoch, SessionHash: sessionHash(sessionID),
		IssuedAt: rec.ClaimedAt.Truncate(time.Second), Expires: rec.Expires.Truncate(time.Second),
	}
	st.State = vaxbook.QueueAdmitted
	st.Pass, st.PassExpires = s.passes.signPass(claims), claims.Expires
	st.RetryAfter = min(s.cfg.MaxRetry, max(claims.Expires.Sub(now), s.cfg.MinRetry))
	return st, nil
}

// paceETA is the time polls are paced by: the sooner of the shown ETA (from
// the measured outflow) and the one the planned rate gives. While the
// controller raises the rate the measurement lags it, and people told to
// come back by the measurement alone learn of their admission minutes late
// (seen in the 100,000-citizen rush: claims at a fifth of admissions).
func paceETA(eta time.Duration, position int64, planned float64) time.Duration {
	if planned <= 0 {
		return eta
	}
	byPlan := time.Duration(float64(position) / planned * float64(time.Second))
	if eta <= 0 {
		return byPlan
	}
	return min(eta, byPlan)
}

// pollRetry is when a waiting person polls next: paced by their ETA
// (waitRetry), but never later than the poll budget allows for the whole
// line (budgetRetry). An ETA is only as good as the rate it assumes, and
// when the rate rises — the sign-in surge ends, the controller's slow start
// — people paced by the old one learn of their admission minutes late: in
// the 100,000-citizen rush a cohort that joined in the first minute was
// told to come back in five and was admitted in waves. The budget is what
// the server has agreed to spend on polls; a long line (a million: a
// budget period of 667 s) is still paced by MaxRetry and the ETA.
func (s *Service) pollRetry(position int64, eta time.Duration, waiting int64, seq uint64, now time.Time) time.Duration {
	return min(s.waitRetry(position, eta, seq), s.budgetRetry(waiting, seq, now))
}

// budgetRetry is a polling interval that spends at most PollBudget polls a
// second on a line of waiting people: 2 × waiting ÷ PollBudget, scaled by a
// fresh random factor in [0.5, 1) at every poll (mean 0.75: the line polls
// two thirds of PollBudget a second; the people near the front, paced by
// their ETA, use the rest). The fresh factor keeps a shrinking line's
// polls from bunching: with a fixed factor, people who polled later get a
// shorter period and catch up with those who polled earlier.
func (s *Service) budgetRetry(waiting int64, seq uint64, now time.Time) time.Duration {
	p := 2 * float64(max(waiting, 0)) / s.cfg.PollBudget * float64(time.Second)
	f := 0.5 + 0.5*unit(seq^uint64(now.UnixNano())*0xBF58476D1CE4E5B9)
	return max(time.Duration(p*f), s.cfg.MinRetry)
}

// unit maps seq to a pseudo-random number in [0, 1) (polling jitter).
func unit(seq uint64) float64 {
	return float64((seq*0x9E3779B97F4A7C15)>>11) / (1 << 53)
}

// waitRetry paces a waiting person: come back about when your turn is
// expected (the caller's estimate), never sooner than MinRetry nor later
// than MaxRetry, with up to 10 % jitter so that polls do not synchronise.
// (Coming back at half the time bounds lateness better but costs 30 % more
// polls and a busiest second above the budget in TestPollingLoad.) With no
// estimate yet it assumes the highest rate the operator allows.
func (s *Service) waitRetry(position int64, eta time.Duration, seq uint64) time.Duration {
	r := eta
	if r <= 0 {
		if max := s.Settings().MaxRate; max > 0 {
			r = time.Duration(float64(position) / max * float64(time.Second))
		} else {
			r = s.cfg.MinRetry
		}
	}
	r = time.Duration(float64(r) * (1 - 0.1*unit(seq)))
	return min(max(r, s.cfg.MinRetry), s.cfg.MaxRetry)
}

// prequeueRetry paces the pre-queue: until the opening, then a first poll
// spread over the time PollBudget needs to see the whole pre-queue (at most
// MaxRetry), so that the opening instant is not a thundering herd.
func (s *Service) prequeueRetry(ri *roomInfo, c vaxbook.RoomCounters, seq uint64, now time.Time) time.Duration {
	until := ri.opens.Sub(now)
	if until > s.cfg.MaxRetry {
		return time.Duration(float64(s.cfg.MaxRetry) * (1 - 0.1*unit(seq)))
	}
	spread := time.Duration(float64(c.Tail) / s.cfg.PollBudget * float64(time.Second))
	spread = min(max(spread, s.cfg.MinRetry), s.cfg.MaxRetry)
	return until + time.Duration(float64(spread)*unit(seq))
}

func (s *Service) auditShuffle(ctx context.Context, ri *roomInfo, c vaxbook.RoomCounters, now time.Time) {
	detail, _ := json.Marshal(map[string]any{
		"prequeue": c.PreQueue, "key": hex.EncodeToString(ri.key[:]), "epoch": c.Epoch,
		"algorithm": fmt.Sprintf("feistel-siphash24-%dr-cyclewalk", FeistelRounds),
	})
	s.log.Info("waitroom: pre-queue drawn", "room", ri.id, "prequeue", c.PreQueue, "key", hex.EncodeToString(ri.key[:]))
	s.audit(ctx, vaxbook.AuditEntry{At: now, Actor: "system", Action: "waitroom.shuffle", Target: ri.id, Detail: string(detail)})
}

func (s *Service) audit(ctx context.Context, e vaxbook.AuditEntry) error {
	if s.cfg.Audit == nil {
		return nil
	}
	if err := s.cfg.Audit.Audit(ctx, e); err != nil {
		s.log.Error("waitroom: audit failed", "action", e.Action, "err", err)
		return err
	}
	return nil
}

// VerifyPass implements vaxbook.WaitRoom: a pass must be ours (untampered),
// unexpired, issued to this session and person, and not used or given back.
func (s *Service) VerifyPass(ctx context.Context, pass, sessionID string, person int64, now time.Time) (vaxbook.PassClaims, error) {
	if pass == "" {
		return vaxbook.PassClaims{}, vaxbook.Errorf(vaxbook.CodePassRequired, "a pass from the waiting room is required")
	}
	c, ok := s.passes.parsePass(pass)
	if !ok {
		return vaxbook.PassClaims{}, vaxbook.Errorf(vaxbook.CodePassInvalid, "the pass is not valid")
	}
	if c.PersonID != person || c.SessionHash != sessionHash(sessionID) {
		return vaxbook.PassClaims{}, vaxbook.Errorf(vaxbook.CodePassInvalid, "the pass was issued to another session")
	}
	if !now.Before(c.Expires) {
		return vaxbook.PassClaims{}, &vaxbook.Error{Code: vaxbook.CodePassExpired, Err: vaxbook.ErrPassEnded,
			Message: fmt.Sprintf("the pass expired at %s; join the queue again", c.Expires.Format(time.RFC3339))}
	}
	rec, err := s.b.Pass(ctx, c.Room, c.Ticket, now)
	if err != nil {
		if vaxbook.ErrorCode(err) == vaxbook.CodeNotInQueue {
			return vaxbook.PassClaims{}, &vaxbook.Error{Code: vaxbook.CodePassExpired, Err: vaxbook.ErrPassEnded,
				Message: "the pass is no longer valid; join the queue again"}
		}
		return vaxbook.PassClaims{}, fmt.Errorf("waitroom: verify pass: %w", err)
	}
	if err := passRefusal(rec, c); err != nil {
		return vaxbook.PassClaims{}, err
	}
	return c, nil
}

// passRefusal maps a pass record that is not live to the error a client sees.
func passRefusal(rec vaxbook.PassRecord, c vaxbook.PassClaims) error {
	switch {
	case rec.State == vaxbook.QueueAdmitted && rec.PersonID == c.PersonID:
		return nil
	case rec.State == vaxbook.QueueAdmitted:
		return vaxbook.Errorf(vaxbook.CodePassInvalid, "the pass is not valid")
	case rec.Reason == vaxbook.ReasonPassUsed:
		return &vaxbook.Error{Code: vaxbook.CodePassInvalid, Message: "the pass has already been used for a booking", Err: vaxbook.ErrPassEnded}
	case rec.Reason == vaxbook.ReasonLeft:
		return vaxbook.Errorf(vaxbook.CodePassInvalid, "the pass was given back")
	default:
		return &vaxbook.Error{Code: vaxbook.CodePassExpired, Message: "the pass is no longer valid; join the queue again", Err: vaxbook.ErrPassEnded}
	}
}

// MarkPassUsed implements vaxbook.WaitRoom. Call it after a successful
// booking write; a refused write (slot full, …) keeps the pass.
func (s *Service) MarkPassUsed(ctx context.Context, c vaxbook.PassClaims, now time.Time) error {
	rec, err := s.b.EndPass(ctx, c.Room, c.Ticket, true, now)
	if err != nil {
		if vaxbook.ErrorCode(err) == vaxbook.CodeNotInQueue {
			return vaxbook.Errorf(vaxbook.CodePassExpired, "the pass is no longer valid; join the queue again")
		}
		return fmt.Errorf("waitroom: use pass: %w", err)
	}
	if err := passRefusal(rec, c); err != nil {
		return err
	}
	if stay := now.Sub(c.IssuedAt); stay >= 0 && !c.IssuedAt.IsZero() {
		s.stStays.Add(1)
		s.stStaySum.Add(int64(stay))
	}
	return nil
}

// Done implements vaxbook.WaitRoom: the person leaves the booking stage.
// Finishing a pass that is already finished is not an error.
func (s *Service) Done(ctx context.Context, c vaxbook.PassClaims, now time.Time) error {
	_, err := s.b.EndPass(ctx, c.Room, c.Ticket, false, now)
	if err != nil && vaxbook.ErrorCode(err) != vaxbook.CodeNotInQueue {
		return fmt.Errorf("waitroom: done: %w", err)
	}
	return nil
}

// Observe implements vaxbook.WaitRoom. err counts against the stage only if
// it is the stage's own failure: user refusals (*vaxbook.Error with any
// code but internal or unavailable) and cancelled requests do not.
func (s *Service) Observe(latency time.Duration, err error, now time.Time) {
	s.stCount.Add(1)
	s.stLatency.Add(int64(latency))
	if stageFailure(err) {
		s.stErrors.Add(1)
	}
}

func stageFailure(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var e *vaxbook.Error
	if errors.As(err, &e) {
		return e.Code == vaxbook.CodeInternal || e.Code == vaxbook.CodeUnavailable
	}
	return true
}

// StageCall is a booking-stage request in flight.
type StageCall struct{ start time.Time }

// BeginStage counts a booking-stage request in flight (the controller's
// in-flight signal); pair it with EndStage.
func (s *Service) BeginStage(now time.Time) StageCall {
	s.stInFlight.Add(1)
	return StageCall{start: now}
}

// EndStage ends a request begun with BeginStage and observes it.
func (s *Service) EndStage(c StageCall, err error, now time.Time) {
	s.stInFlight.Add(-1)
	s.Observe(now.Sub(c.start), err, now)
}

// finite reports whether x is a finite number.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
