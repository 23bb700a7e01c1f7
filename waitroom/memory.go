package waitroom

import (
	"container/heap"
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"vaxbook"
)

// Memory is the in-process WaitRoomBackend (the embedded default, and a
// single node's state). Per room it keeps two atomic counters (tickets
// issued, serving), the admitted batches still awaiting collection, the live
// passes and a person → ticket map; the status of a waiting ticket reads
// only the atomics (no lock). Several Services may share one Memory (it
// then behaves like one Redis: one leader at a time).
type Memory struct {
	rooms   atomic.Pointer[map[string]*memRoom] // copy on write
	roomsMu sync.Mutex

	mu       sync.Mutex // global state below
	settings vaxbook.WaitRoomSettings
	set      bool
	rate     float64
	tokens   float64
	owed     int64
	lastTick time.Time
	ctrl     vaxbook.ControllerState
	lease    vaxbook.Lease
	stage    vaxbook.StageSample
	inflight map[string]inflightReport

	active, unclaimed                               atomic.Int64
	arrivals, rejoins, admitted, claimed, used      atomic.Int64
	left, noShows, passesExpired                    atomic.Int64
	increases, latencyDecreases, errDecreases, hold atomic.Int64
}

type inflightReport struct {
	n  int64
	at time.Time
}

type memRoom struct {
	info  vaxbook.RoomCounters // static part: ID, campaign, window, epoch, times
	tail  atomic.Uint64
	head  atomic.Uint64
	unc   atomic.Int64 // unclaimed in live batches
	meta  atomic.Pointer[memMeta]
	mu    sync.Mutex // everything below, and writes to the atomics above
	who   map[int64]uint64
	batch []memBatch // ordered by from
	pass  map[uint64]*memPass
	exp   passHeap
	live  int64 // passes collected and not finished
}

type memMeta struct {
	preQueue int64
	share    float64
	outflow  vaxbook.OutflowState
}

type memBatch struct {
	from, to  uint64 // places in line [from, to)
	deadline  time.Time
	unclaimed int64
}

type memPass struct {
	seq       uint64
	person    int64
	claimedAt time.Time
	expires   time.Time
	ended     string    // "" while live, else a Reason
	at        time.Time // next event: expiry, then removal of the tombstone
	idx       int       // in the expiry heap
}

type passHeap []*memPass

func (h passHeap) Len() int           { return len(h) }
func (h passHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h passHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *passHeap) Push(x any)        { p := x.(*memPass); p.idx = len(*h); *h = append(*h, p) }
func (h *passHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}

// NewMemory returns an empty in-process backend.
func NewMemory() *Memory {
	m := &Memory{inflight: map[string]inflightReport{}}
	empty := map[string]*memRoom{}
	m.rooms.Store(&empty)
	return m
}

var _ vaxbook.WaitRoomBackend = (*Memory)(nil)

func (m *Memory) room(id string) (*memRoom, error) {
	r := (*m.rooms.Load())[id]
	if r == nil {
		return nil, vaxbook.Errorf(vaxbook.CodeNotInQueue, "there is no waiting room %q", id)
	}
	return r, nil
}

func (m *Memory) roomOrCreate(room vaxbook.QueueRoom, epoch uint64) *memRoom {
	if r := (*m.rooms.Load())[room.ID]; r != nil {
		return r
	}
	m.roomsMu.Lock()
	defer m.roomsMu.Unlock()
	old := *m.rooms.Load()
	if r := old[room.ID]; r != nil {
		return r
	}
	r := &memRoom{
		info: vaxbook.RoomCounters{ID: room.ID, CampaignID: room.CampaignID, WindowID: room.WindowID, Epoch: epoch,
			JoinFrom: room.JoinFrom, Opens: room.Opens, Closes: room.Closes, PreQueue: -1},
		who:  map[int64]uint64{},
		pass: map[uint64]*memPass{},
	}
	r.meta.Store(&memMeta{preQueue: -1})
	next := make(map[string]*memRoom, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[room.ID] = r
	m.rooms.Store(&next)
	return r
}

func (r *memRoom) counters() vaxbook.RoomCounters {
	c := r.info
	meta := r.meta.Load()
	c.Tail, c.Head = r.tail.Load(), r.head.Load()
	c.PreQueue, c.Share, c.Outflow = meta.preQueue, meta.share, meta.outflow
	c.Unclaimed = r.unc.Load()
	return c
}

// openLocked fixes the pre-queue size if the room is due to open.
func (r *memRoom) openLocked(now time.Time) bool {
	meta := r.meta.Load()
	if meta.preQueue >= 0 || now.Before(r.info.Opens) {
		return false
	}
	next := *meta
	next.preQueue = int64(r.tail.Load())
	r.meta.Store(&next)
	return true
}

func (m *Memory) issueLocked(r *memRoom, person int64) uint64 {
	seq := r.tail.Load()
	r.who[person] = seq
	r.tail.Store(seq + 1)
	m.arrivals.Add(1)
	return seq
}

// JoinRoom implements vaxbook.WaitRoomBackend.
func (m *Memory) JoinRoom(ctx context.Context, room vaxbook.QueueRoom, epoch uint64, person int64, allowNew bool, now time.Time) (vaxbook.QueueJoin, error) {
	r := m.roomOrCreate(room, epoch)
	r.mu.Lock()
	var j vaxbook.QueueJoin
	j.Froze = r.openLocked(now)
	if seq, ok := r.who[person]; ok {
		j.Seq, j.Found = seq, true
		m.rejoins.Add(1)
	} else if allowNew {
		j.Seq, j.Found, j.Created = m.issueLocked(r, person), true, true
	}
	j.Counters = r.counters()
	r.mu.Unlock()
	return j, nil
}

// Rejoin implements vaxbook.WaitRoomBackend.
func (m *Memory) Rejoin(ctx context.Context, roomID string, person int64, oldSeq uint64, allowNew bool, now time.Time) (vaxbook.QueueJoin, error) {
	r, err := m.room(roomID)
	if err != nil {
		return vaxbook.QueueJoin{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var j vaxbook.QueueJoin
	j.Froze = r.openLocked(now)
	seq, ok := r.who[person]
	switch {
	case ok && seq != oldSeq:
		j.Seq, j.Found = seq, true
	case allowNew:
		j.Seq, j.Found, j.Created = m.issueLocked(r, person), true, true
		m.rejoins.Add(-1) // JoinRoom counted it as a rejoin; it was a new place
	default:
		j.Seq, j.Found = seq, ok
	}
	j.Counters = r.counters()
	return j, nil
}

// OpenRoom implements vaxbook.WaitRoomBackend.
func (m *Memory) OpenRoom(ctx context.Context, roomID string, now time.Time) (vaxbook.RoomCounters, bool, error) {
	r, err := m.room(roomID)
	if err != nil {
		return vaxbook.RoomCounters{}, false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	opened := r.openLocked(now)
	return r.counters(), opened, nil
}

// Counters implements vaxbook.WaitRoomBackend. It takes no lock.
func (m *Memory) Counters(ctx context.Context, roomID string) (vaxbook.RoomCounters, error) {
	r, err := m.room(roomID)
	if err != nil {
		return vaxbook.RoomCounters{}, err
	}
	return r.counters(), nil
}

// RoomIDs implements vaxbook.WaitRoomBackend.
func (m *Memory) RoomIDs(ctx context.Context) ([]string, error) {
	rooms := *m.rooms.Load()
	ids := make([]string, 0, len(rooms))
	for id := range rooms {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// DropRoom implements vaxbook.WaitRoomBackend.
func (m *Memory) DropRoom(ctx context.Context, roomID string) error {
	m.roomsMu.Lock()
	defer m.roomsMu.Unlock()
	old := *m.rooms.Load()
	r := old[roomID]
	if r == nil {
		return nil
	}
	next := make(map[string]*memRoom, len(old))
	for k, v := range old {
		if k != roomID {
			next[k] = v
		}
	}
	m.rooms.Store(&next)
	r.mu.Lock()
	m.unclaimed.Add(-r.unc.Load())
	m.active.Add(-r.live)
	r.mu.Unlock()
	return nil
}

// batchLocked finds the live batch holding place eff.
func (r *memRoom) batchLocked(eff uint64) *memBatch {
	i := sort.Search(len(r.batch), func(i int) bool { return r.batch[i].to > eff })
	if i < len(r.batch) && r.batch[i].from <= eff {
		return &r.batch[i]
	}
	return nil
}

func (p *memPass) record(now time.Time) vaxbook.PassRecord {
	rec := vaxbook.PassRecord{State: vaxbook.QueueAdmitted, PersonID: p.person, ClaimedAt: p.claimedAt, Expires: p.expires}
	switch {
	case p.ended != "":
		rec.State, rec.Reason = vaxbook.QueueExpired, p.ended
	case !now.Before(p.expires):
		rec.State, rec.Reason = vaxbook.QueueExpired, vaxbook.ReasonPassExpired
	}
	return rec
}

var noShow = vaxbook.PassRecord{State: vaxbook.QueueExpired, Reason: vaxbook.ReasonNoShow}

// Claim implements vaxbook.WaitRoomBackend.
func (m *Memory) Claim(ctx context.Context, roomID string, seq, eff uint64, person int64, now time.Time, ttl time.Duration) (vaxbook.PassRecord, error) {
	r, err := m.room(roomID)
	if err != nil {
		return vaxbook.PassRecord{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.pass[seq]; p != nil {
		return p.record(now), nil
	}
	if eff >= r.head.Load() {
		return vaxbook.PassRecord{}, vaxbook.Errorf(vaxbook.CodeConflict, "ticket %d is not admitted", seq)
	}
	b := r.batchLocked(eff)
	if b == nil || !now.Before(b.deadline) || b.unclaimed <= 0 {
		return noShow, nil
	}
	b.unclaimed--
	r.unc.Add(-1)
	r.live++
	m.unclaimed.Add(-1)
	m.active.Add(1)
	m.claimed.Add(1)
	p := &memPass{seq: seq, person: person, claimedAt: now, expires: now.Add(ttl), at: now.Add(ttl)}
	r.pass[seq] = p
	heap.Push(&r.exp, p)
	return p.record(now), nil
}

// Pass implements vaxbook.WaitRoomBackend.
func (m *Memory) Pass(ctx context.Context, roomID string, seq uint64, now time.Time) (vaxbook.PassRecord, error) {
	r, err := m.room(roomID)
	if err != nil {
		return vaxbook.PassRecord{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.pass[seq]; p != nil {
		return p.record(now), nil
	}
	return noShow, nil
}

// EndPass implements vaxbook.WaitRoomBackend.
func (m *Memory) EndPass(ctx context.Context, roomID string, seq uint64, used bool, now time.Time) (vaxbook.PassRecord, error) {
	r, err := m.room(roomID)
	if err != nil {
		return vaxbook.PassRecord{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pass[seq]
	if p == nil {
		return noShow, nil
	}
	rec := p.record(now)
	if rec.State != vaxbook.QueueAdmitted {
		return rec, nil
	}
	p.ended = vaxbook.ReasonLeft
	m.left.Add(1)
	if used {
		p.ended = vaxbook.ReasonPassUsed
		m.left.Add(-1)
		m.used.Add(1)
	}
	r.live--
	m.active.Add(-1)
	return rec, nil
}

// Lease implements vaxbook.WaitRoomBackend.
func (m *Memory) Lease(ctx context.Context, node string, now time.Time, ttl time.Duration) (vaxbook.Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.lease
	if l.Holder == node || l.Holder == "" || !now.Before(l.Until) {
		if l.Holder != node {
			l.Token++
		}
		l.Holder, l.Until = node, now.Add(ttl)
		m.lease = l
		l.Held = true
		return l, nil
	}
	l.Held = false
	return l, nil
}

// ReleaseLease implements vaxbook.WaitRoomBackend.
func (m *Memory) ReleaseLease(ctx context.Context, node string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lease.Holder == node {
		m.lease.Holder, m.lease.Until = "", time.Time{}
	}
	return nil
}

func (m *Memory) checkLeaseLocked(l vaxbook.Lease) error {
	if m.lease.Holder != l.Holder || m.lease.Token != l.Token {
		return vaxbook.Errorf(vaxbook.CodeConflict, "controller lease %d of %q is no longer held", l.Token, l.Holder)
	}
	return nil
}

// Admit implements vaxbook.WaitRoomBackend.
func (m *Memory) Admit(ctx context.Context, l vaxbook.Lease, roomID string, n int64, now, deadline time.Time, share float64, o vaxbook.OutflowState) (int64, error) {
	r, err := m.room(roomID)
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	err = m.checkLeaseLocked(l)
	m.mu.Unlock()
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.openLocked(now)
	meta := *r.meta.Load()
	meta.share, meta.outflow = share, o
	var k int64
	if meta.preQueue >= 0 && n > 0 {
		head, tail := r.head.Load(), r.tail.Load()
		k = min(n, int64(tail-head))
		if k > 0 {
			r.batch = append(r.batch, memBatch{from: head, to: head + uint64(k), deadline: deadline, unclaimed: k})
			r.unc.Add(k)
			m.unclaimed.Add(k)
			m.admitted.Add(k)
			r.head.Store(head + uint64(k))
		}
	}
	r.meta.Store(&meta)
	return k, nil
}

// Expire implements vaxbook.WaitRoomBackend.
func (m *Memory) Expire(ctx context.Context, roomID string, now time.Time) (vaxbook.ExpireResult, error) {
	r, err := m.room(roomID)
	if err != nil {
		return vaxbook.ExpireResult{}, err
	}
	var res vaxbook.ExpireResult
	r.mu.Lock()
	keep := r.batch[:0]
	for _, b := range r.batch {
		if now.Before(b.deadline) {
			keep = append(keep, b)
			continue
		}
		res.NoShows += b.unclaimed
	}
	clear(r.batch[len(keep):])
	r.batch = keep
	r.unc.Add(-res.NoShows)
	// A pass record stays after it ends (as a tombstone that tells replays
	// and status polls what happened) until one more TTL has passed.
	for len(r.exp) > 0 && !now.Before(r.exp[0].at) {
		p := heap.Pop(&r.exp).(*memPass)
		if p.at.Equal(p.expires) {
			if p.ended == "" {
				p.ended = vaxbook.ReasonPassExpired
				res.PassesExpired++
				r.live--
			}
			p.at = p.expires.Add(p.expires.Sub(p.claimedAt))
			heap.Push(&r.exp, p)
			continue
		}
		delete(r.pass, p.seq)
	}
	r.mu.Unlock()
	m.unclaimed.Add(-res.NoShows)
	m.active.Add(-res.PassesExpired)
	m.noShows.Add(res.NoShows)
	m.passesExpired.Add(res.PassesExpired)
	m.mu.Lock()
	m.owed += res.NoShows + res.PassesExpired
	m.mu.Unlock()
	return res, nil
}

// Global implements vaxbook.WaitRoomBackend.
func (m *Memory) Global(ctx context.Context) (vaxbook.WaitRoomGlobal, error) {
	m.mu.Lock()
	g := vaxbook.WaitRoomGlobal{
		Settings: m.settings, SettingsSet: m.set, Rate: m.rate, Tokens: m.tokens, Owed: m.owed,
		LastTick: m.lastTick, Controller: m.ctrl, Lease: m.lease,
	}
	m.mu.Unlock()
	g.Active, g.Unclaimed = m.active.Load(), m.unclaimed.Load()
	g.Stats = vaxbook.WaitRoomStats{
		Arrivals: m.arrivals.Load(), Rejoins: m.rejoins.Load(), Admitted: m.admitted.Load(),
		Claimed: m.claimed.Load(), Used: m.used.Load(), Left: m.left.Load(),
		NoShows: m.noShows.Load(), PassesExpired: m.passesExpired.Load(),
		Increases: m.increases.Load(), LatencyDecreases: m.latencyDecreases.Load(),
		ErrorDecreases: m.errDecreases.Load(), Holds: m.hold.Load(),
	}
	return g, nil
}

// SaveTick implements vaxbook.WaitRoomBackend.
func (m *Memory) SaveTick(ctx context.Context, l vaxbook.Lease, t vaxbook.TickState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkLeaseLocked(l); err != nil {
		return err
	}
	m.rate, m.tokens, m.lastTick, m.ctrl = t.Rate, t.Tokens, t.LastTick, t.Controller
	m.owed = max(0, m.owed-t.OwedUsed)
	switch t.Decision {
	case vaxbook.DecisionIncrease:
		m.increases.Add(1)
	case vaxbook.DecisionDecreaseLatency:
		m.latencyDecreases.Add(1)
	case vaxbook.DecisionDecreaseErrors:
		m.errDecreases.Add(1)
	case vaxbook.DecisionHold:
		m.hold.Add(1)
	}
	return nil
}

// SetSettings implements vaxbook.WaitRoomBackend.
func (m *Memory) SetSettings(ctx context.Context, s vaxbook.WaitRoomSettings) error {
	m.mu.Lock()
	m.settings, m.set = s, true
	m.mu.Unlock()
	return nil
}

// AddStage implements vaxbook.WaitRoomBackend.
func (m *Memory) AddStage(ctx context.Context, node string, s vaxbook.StageSample, now time.Time) error {
	m.mu.Lock()
	m.stage.Count += s.Count
	m.stage.Errors += s.Errors
	m.stage.LatencySum += s.LatencySum
	m.stage.Stays += s.Stays
	m.stage.StaySum += s.StaySum
	m.inflight[node] = inflightReport{s.InFlight, now}
	m.mu.Unlock()
	return nil
}

// inflightFresh is how old a node's in-flight report may be to count.
const inflightFresh = 10 * time.Second

// TakeStage implements vaxbook.WaitRoomBackend.
func (m *Memory) TakeStage(ctx context.Context, l vaxbook.Lease, now time.Time) (vaxbook.StageSample, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkLeaseLocked(l); err != nil {
		return vaxbook.StageSample{}, err
	}
	s := m.stage
	m.stage = vaxbook.StageSample{}
	for node, r := range m.inflight {
		if now.Sub(r.at) > inflightFresh {
			delete(m.inflight, node)
			continue
		}
		s.InFlight += r.n
	}
	return s, nil
}
