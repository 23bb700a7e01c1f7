// Package booking is the booking engine, the hot path of vaxbook: book,
// change and cancel (dose 1 always with its dose 2), group commit of many
// callers' writes into one store transaction, and the in-memory
// availability index that search reads.
//
// The store decides every booking (capacity, uniqueness, ownership,
// idempotency); the engine re-checks eligibility with the server's instant,
// resolves the slot pair and quota rows, batches, and keeps its index in
// step with the outcomes (and, in a cluster, with the store's quota change
// feed). Search never touches the database.
package booking

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"vaxbook"
	"vaxbook/campaign"
)

// Config tunes the engine. The zero value is usable (single node, defaults).
type Config struct {
	// MaxBatch is the largest number of writes committed in one store
	// transaction (default 256; 1 disables group commit).
	MaxBatch int
	// MaxWait is how long a batch waits for company after its first write
	// when fewer than MaxBatch are queued (default 200µs; negative: never
	// wait, commit what is queued).
	MaxWait time.Duration
	// Refresh is the period of the availability refresh from the store's
	// quota change feed, for nodes that share a database (0: off, the right
	// choice for a single node). At most one second.
	Refresh time.Duration
	// Committers is how many batches may be in flight at once (default 1;
	// more helps only stores with concurrent writers, such as PostgreSQL).
	Committers int
	// Queue is how many writes may wait for a batch (default 8×MaxBatch);
	// callers beyond it block until there is room or their context ends.
	Queue int
}

// Defaults.
const (
	DefaultMaxBatch = 256
	DefaultMaxWait  = 200 * time.Microsecond
	MaxRefresh      = time.Second
	maxIdemKeyLen   = 128
	personStripes   = 4096
)

func (c *Config) normalise() error {
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxBatch < 0 {
		return fmt.Errorf("booking: MaxBatch %d: must be positive", c.MaxBatch)
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.Refresh < 0 || c.Refresh > MaxRefresh {
		return fmt.Errorf("booking: Refresh %v: must be between 0 (off) and %v", c.Refresh, MaxRefresh)
	}
	if c.Committers == 0 {
		c.Committers = 1
	}
	if c.Committers < 0 {
		return fmt.Errorf("booking: Committers %d: must be positive", c.Committers)
	}
	if c.Queue == 0 {
		c.Queue = 8 * c.MaxBatch
	}
	if c.Queue < 0 {
		return fmt.Errorf("booking: Queue %d: must be positive", c.Queue)
	}
	return nil
}

// Engine books for one campaign. It is safe for concurrent use.
type Engine struct {
	store vaxbook.Store
	c     vaxbook.Campaign
	cfg   Config
	log   *slog.Logger
	ix    *index

	reqs    chan *request
	quit    chan struct{} // closed by Close: stop taking work
	stopped chan struct{} // closed when the background goroutines are gone
	wg      sync.WaitGroup
	once    sync.Once
	bg      context.Context // for store calls of the background goroutines
	cancel  context.CancelFunc

	// gate orders index updates from outcomes against refreshes: batches
	// hold it shared from before Apply until their outcomes are absorbed;
	// a refresh holds it exclusively, so the absolute values it reads
	// already include every absorbed outcome.
	gate    sync.RWMutex
	applyMu sync.Mutex // serialises index updates
	seq     int64      // quota change sequence the index reflects (under gate, exclusive)
	dirty   atomic.Bool

	persons [personStripes]sync.Mutex

	st counters
}

type counters struct {
	batches, mutations, batchErrors, refused, replayed atomic.Int64
	searches, refreshes, refreshErrors, drift          atomic.Int64
	largest, applyNanos                                atomic.Int64
	sizes                                              [9]atomic.Int64 // batch sizes by power of two: 1, 2–3, 4–7, … 256+
}

type request struct {
	m    vaxbook.Mutation
	prev []vaxbook.Booking // change, cancel: the active bookings read before
	key  int64             // sort key: the smallest slot id the write touches
	done chan result
}

type result struct {
	o   vaxbook.Outcome
	err error
}

// New loads the campaign's regions, clinics, slots and quota rows into
// memory and starts the committer(s) (and the refresher with cfg.Refresh).
// log may be nil.
func New(ctx context.Context, store vaxbook.Store, c vaxbook.Campaign, cfg Config, log *slog.Logger) (*Engine, error) {
	if err := cfg.normalise(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if c.ID == "" {
		return nil, errors.New("booking: campaign without an id")
	}
	if c.Doses == 2 && c.DoseIntervalDays <= 0 {
		return nil, fmt.Errorf("booking: campaign %s: two doses need a positive dose interval", c.ID)
	}
	start := time.Now()
	ix, seq, err := load(ctx, store, c)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		store: store, c: c, cfg: cfg, log: log.With("campaign", c.ID), ix: ix, seq: seq,
		reqs: make(chan *request, cfg.Queue), quit: make(chan struct{}), stopped: make(chan struct{}),
	}
	e.bg, e.cancel = context.WithCancel(context.WithoutCancel(ctx))
	e.log.Info("booking engine loaded", "clinics", len(ix.clinics), "slots", len(ix.slots),
		"quota_rows", len(ix.capacity), "days", len(ix.days), "seq", seq, "took", time.Since(start).Round(time.Millisecond))
	for range cfg.Committers {
		e.wg.Add(1)
		go e.commitLoop()
	}
	e.wg.Add(1)
	go e.refreshLoop()
	return e, nil
}

// Close commits the writes already queued, stops the background goroutines
// and refuses later writes with CodeUnavailable. It does not close the store.
func (e *Engine) Close() error {
	e.once.Do(func() {
		close(e.quit)
		e.wg.Wait()
		e.cancel()
		close(e.stopped)
	})
	return nil
}

// Campaign returns the campaign the engine books for.
func (e *Engine) Campaign() vaxbook.Campaign { return e.c }

// Regions returns every 시군구 ordered by code.
func (e *Engine) Regions() []vaxbook.Region { return slices.Clone(e.ix.regions) }

// Confirmation is the result of a write: for book and change the person's
// active bookings after it (dose 1, then dose 2), for cancel the bookings it
// cancelled. Replayed is true when an earlier request with the same
// Idempotency-Key produced it.
type Confirmation struct {
	Bookings []View `json:"bookings"`
	Replayed bool   `json:"replayed"`
}

// View is a booking with its appointment time and clinic.
type View struct {
	vaxbook.Booking
	StartsAt time.Time      `json:"starts_at"`
	Clinic   vaxbook.Clinic `json:"clinic"`
}

var errClosed = &vaxbook.Error{Code: vaxbook.CodeUnavailable, Message: "The booking service is shutting down. Please try again."}

// Book books dose 1 in slot slotID for person p (and, in a two-dose
// campaign, dose 2 at the same clinic DoseIntervalDays later), if p may book
// at instant now (the server's clock; never the client's).
func (e *Engine) Book(ctx context.Context, p vaxbook.Person, slotID int64, idemKey string, now time.Time) (Confirmation, error) {
	if err := e.checkArgs(p, idemKey, now); err != nil {
		return Confirmation{}, err
	}
	if err := e.eligible(p, now); err != nil {
		return Confirmation{}, err
	}
	legs, err := e.legs(p, slotID, now)
	if err != nil {
		return Confirmation{}, err
	}
	r := &request{m: vaxbook.Mutation{
		Kind: vaxbook.MutationBook, PersonID: p.ID, CampaignID: e.c.ID,
		IdempotencyKey: idemKey, RequestHash: Write{Kind: vaxbook.MutationBook, SlotID: slotID}.hash(e.c.ID),
		Legs: legs, At: now,
	}, key: slotID}
	return e.run(ctx, r)
}

// Change moves the person's bookings (named by one of them, bookingID) to
// dose-1 slot slotID and its dose-2 pair.
func (e *Engine) Change(ctx context.Context, p vaxbook.Person, bookingID, slotID int64, idemKey string, now time.Time) (Confirmation, error) {
	if err := e.checkArgs(p, idemKey, now); err != nil {
		return Confirmation{}, err
	}
	if bookingID <= 0 {
		return Confirmation{}, vaxbook.InvalidParam("booking_id", "a booking id is a positive number")
	}
	if err := e.eligible(p, now); err != nil {
		return Confirmation{}, err
	}
	legs, err := e.legs(p, slotID, now)
	if err != nil {
		return Confirmation{}, err
	}
	r := &request{m: vaxbook.Mutation{
		Kind: vaxbook.MutationChange, PersonID: p.ID, CampaignID: e.c.ID,
		IdempotencyKey: idemKey, RequestHash: Write{Kind: vaxbook.MutationChange, SlotID: slotID, BookingID: bookingID}.hash(e.c.ID),
		Legs: legs, BookingID: bookingID, At: now,
	}, key: slotID}
	return e.runWithPrev(ctx, r)
}

// Cancel cancels the person's bookings (dose 1 and dose 2 together), named
// by one of them.
func (e *Engine) Cancel(ctx context.Context, p vaxbook.Person, bookingID int64, idemKey string, now time.Time) (Confirmation, error) {
	if err := e.checkArgs(p, idemKey, now); err != nil {
		return Confirmation{}, err
	}
	if bookingID <= 0 {
		return Confirmation{}, vaxbook.InvalidParam("booking_id", "a booking id is a positive number")
	}
	if err := e.eligible(p, now); err != nil {
		return Confirmation{}, err
	}
	r := &request{m: vaxbook.Mutation{
		Kind: vaxbook.MutationCancel, PersonID: p.ID, CampaignID: e.c.ID,
		IdempotencyKey: idemKey, RequestHash: Write{Kind: vaxbook.MutationCancel, BookingID: bookingID}.hash(e.c.ID),
		BookingID: bookingID, At: now,
	}}
	return e.runWithPrev(ctx, r)
}

// Write names what a booking write asked, for Replay.
type Write struct {
	Kind      vaxbook.MutationKind
	SlotID    int64 // book, change: the dose-1 slot
	BookingID int64 // change, cancel
}

// String is a short, stable name of the write ("book 12", "change 3 12",
// "cancel 3").
func (w Write) String() string {
	switch w.Kind {
	case vaxbook.MutationBook:
		return fmt.Sprintf("book %d", w.SlotID)
	case vaxbook.MutationChange:
		return fmt.Sprintf("change %d %d", w.BookingID, w.SlotID)
	default:
		return fmt.Sprintf("%s %d", w.Kind, w.BookingID)
	}
}

// hash is the RequestHash of the write in campaign campaignID.
func (w Write) hash(campaignID string) string {
	switch w.Kind {
	case vaxbook.MutationBook:
		return requestHash("book", campaignID, w.SlotID)
	case vaxbook.MutationChange:
		return requestHash("change", campaignID, w.BookingID, w.SlotID)
	default:
		return requestHash(string(w.Kind), campaignID, w.BookingID)
	}
}

// Replay answers a retry of write w only from the outcome stored under
// idemKey by an earlier attempt (Confirmation.Replayed); it never writes.
// Without a stored outcome it returns vaxbook.ErrNoReplay. A node uses it
// when the retry's waiting-room pass was consumed by the first attempt,
// which may have run on another node.
func (e *Engine) Replay(ctx context.Context, p vaxbook.Person, w Write, idemKey string, now time.Time) (Confirmation, error) {
	if err := e.checkArgs(p, idemKey, now); err != nil {
		return Confirmation{}, err
	}
	if idemKey == "" {
		return Confirmation{}, vaxbook.ErrNoReplay
	}
	r := &request{m: vaxbook.Mutation{
		Kind: w.Kind, PersonID: p.ID, CampaignID: e.c.ID,
		IdempotencyKey: idemKey, RequestHash: w.hash(e.c.ID), ReplayOnly: true, At: now,
	}, key: w.SlotID}
	return e.run(ctx, r)
}

// Mine returns the person's bookings of the campaign, active and cancelled,
// by dose then id, with clinic and time.
func (e *Engine) Mine(ctx context.Context, p vaxbook.Person) ([]View, error) {
	bs, err := e.store.Bookings(ctx, p.ID, e.c.ID)
	if err != nil {
		return nil, fmt.Errorf("booking: bookings of person %d: %w", p.ID, err)
	}
	return e.views(bs), nil
}

// Search answers a clinic query from memory.
func (e *Engine) Search(q Query) (Result, error) {
	e.st.searches.Add(1)
	return e.ix.search(q)
}

// Clinic returns one clinic with its remaining places per day (totals).
func (e *Engine) Clinic(id int64) (ClinicView, error) {
	ci, ok := e.ix.clinicIndex(id)
	if !ok {
		return ClinicView{}, vaxbook.Errorf(vaxbook.CodeNotFound, "clinic %d not found", id)
	}
	return e.ix.clinicView(ci, colTotal, -1, 0), nil
}

// Slots lists a clinic's dose-1 appointment times on a date with what each
// offers to cohort (-1: totals) at instant at; slots that have started by at
// show 0 (at zero: none has).
func (e *Engine) Slots(clinicID int64, date vaxbook.Date, cohort int, at time.Time) ([]SlotView, error) {
	ci, ok := e.ix.clinicIndex(clinicID)
	if !ok {
		return nil, vaxbook.Errorf(vaxbook.CodeNotFound, "clinic %d not found", clinicID)
	}
	return e.ix.slotViews(ci, date, cohort, at)
}

func (e *Engine) checkArgs(p vaxbook.Person, idemKey string, now time.Time) error {
	if p.ID <= 0 {
		return vaxbook.InvalidParam("person", "a person id is a positive number")
	}
	if len(idemKey) > maxIdemKeyLen {
		return vaxbook.InvalidParam("Idempotency-Key", "an Idempotency-Key has at most %d characters", maxIdemKeyLen)
	}
	for _, r := range idemKey {
		if r < 0x21 || r > 0x7e {
			return vaxbook.InvalidParam("Idempotency-Key", "an Idempotency-Key is printable ASCII without spaces")
		}
	}
	if now.IsZero() {
		return vaxbook.InvalidParam("now", "the instant of the request is missing")
	}
	return nil
}

// eligible re-checks, at the server's instant now, that p may write.
func (e *Engine) eligible(p vaxbook.Person, now time.Time) error {
	d := campaign.Check(e.c, p.BirthDate, p.Nationality, now)
	switch d.Code {
	case vaxbook.CodeEligible:
		return nil
	case vaxbook.CodeNotOpenYet, vaxbook.CodeOtherDay:
		return &vaxbook.Error{Code: vaxbook.CodeNotEligibleYet, Message: d.Message}
	case vaxbook.CodeClosed:
		return &vaxbook.Error{Code: vaxbook.CodeWindowClosed, Message: d.Message}
	case vaxbook.CodeNotInGroup:
		return &vaxbook.Error{Code: vaxbook.CodeNotInGroup, Message: d.Message}
	}
	return fmt.Errorf("booking: unexpected eligibility code %q", d.Code)
}

// legs resolves a dose-1 slot into the places a booking takes: the slot
// with the person's quota rows, and its dose-2 pair.
func (e *Engine) legs(p vaxbook.Person, slotID int64, now time.Time) ([]vaxbook.Leg, error) {
	if slotID <= 0 {
		return nil, vaxbook.InvalidParam("slot_id", "a slot id is a positive number")
	}
	ix := e.ix
	si, ok := ix.slotIndex(slotID)
	if !ok {
		return nil, vaxbook.Errorf(vaxbook.CodeNotFound, "slot %d is not a slot of this campaign", slotID)
	}
	s := &ix.slots[si]
	if s.day < 0 {
		return nil, vaxbook.Errorf(vaxbook.CodeSlotNotBookable, "slot %d is not on a dose-1 date (%s to %s)", slotID, ix.dose1.From, ix.dose1.To)
	}
	if s.start <= now.Unix() {
		return nil, vaxbook.Errorf(vaxbook.CodeSlotNotBookable, "slot %d has already started", slotID)
	}
	legs := []vaxbook.Leg{{Dose: 1, SlotID: slotID, Cohorts: e.cohorts(p, si, now)}}
	if ix.twoDoses {
		if s.pair < 0 {
			return nil, vaxbook.Errorf(vaxbook.CodeDose2Unavailable, "slot %d has no dose-2 appointment %d days later", slotID, ix.interval)
		}
		legs = append(legs, vaxbook.Leg{Dose: 2, SlotID: ix.slots[s.pair].id, Cohorts: []int{vaxbook.CohortDose2}})
	}
	return legs, nil
}

// cohorts orders the quota rows a dose-1 booking may take from: the
// campaign's list (the person's cohort during the rotation; every row once
// pooled), with, once pooled, the person's own row first and the others by
// most remaining (a hint from the index; the store decides).
func (e *Engine) cohorts(p vaxbook.Person, si int, now time.Time) []int {
	rows := campaign.Dose1Cohorts(e.c, p.BirthDate, now)
	if len(rows) <= 1 {
		return rows
	}
	own := campaign.Cohort(e.c, p.BirthDate)
	var have []int
	for _, k := range rows {
		if e.ix.row(si, k) >= 0 {
			have = append(have, k)
		}
	}
	if len(have) == 0 {
		return rows
	}
	slices.SortStableFunc(have, func(a, b int) int {
		if (a == own) != (b == own) {
			if a == own {
				return -1
			}
			return 1
		}
		return int(e.ix.remaining(si, b) - e.ix.remaining(si, a))
	})
	return have
}

// requestHash identifies a request by what the caller asked (not by what
// the engine resolved), so a retry after pooling started is the same request.
func requestHash(kind, campaignID string, ids ...int64) string {
	h := sha256.New()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(campaignID))
	for _, id := range ids {
		h.Write([]byte{0})
		h.Write(strconv.AppendInt(nil, id, 10))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// runWithPrev runs a change or cancel while holding the person's stripe, so
// that the bookings read before (to give the index the places released) are
// still the ones the write replaces.
func (e *Engine) runWithPrev(ctx context.Context, r *request) (Confirmation, error) {
	mu := &e.persons[uint64(r.m.PersonID)%personStripes]
	mu.Lock()
	defer mu.Unlock()
	bs, err := e.store.Bookings(ctx, r.m.PersonID, e.c.ID)
	if err != nil {
		return Confirmation{}, fmt.Errorf("booking: bookings of person %d: %w", r.m.PersonID, err)
	}
	for _, b := range bs {
		if b.Status != vaxbook.BookingActive {
			continue
		}
		r.prev = append(r.prev, b)
		if r.key == 0 || b.SlotID < r.key {
			r.key = b.SlotID
		}
	}
	return e.run(ctx, r)
}

// run queues the write for the next batch and waits for its outcome.
func (e *Engine) run(ctx context.Context, r *request) (Confirmation, error) {
	r.done = make(chan result, 1)
	select {
	case <-e.quit:
		return Confirmation{}, errClosed
	default:
	}
	select {
	case e.reqs <- r:
	case <-e.quit:
		return Confirmation{}, errClosed
	case <-ctx.Done():
		return Confirmation{}, &vaxbook.Error{Code: vaxbook.CodeUnavailable,
			Message: "The booking service is busy. Please try again.", Err: ctx.Err()}
	}
	var res result
	select {
	case res = <-r.done:
	case <-ctx.Done():
		// The write may still commit; a retry with the same
		// Idempotency-Key returns its outcome.
		return Confirmation{}, &vaxbook.Error{Code: vaxbook.CodeUnavailable,
			Message: "The booking took too long to confirm. Retry with the same Idempotency-Key to learn its outcome.", Err: ctx.Err()}
	case <-e.stopped:
		select {
		case res = <-r.done:
		default:
			return Confirmation{}, errClosed
		}
	}
	if res.err != nil {
		return Confirmation{}, res.err
	}
	if res.o.Err != nil {
		return Confirmation{}, res.o.Err
	}
	return Confirmation{Bookings: e.views(res.o.Bookings), Replayed: res.o.Replayed}, nil
}

func (e *Engine) views(bs []vaxbook.Booking) []View {
	out := make([]View, len(bs))
	for i, b := range bs {
		out[i] = View{Booking: b}
		if si, ok := e.ix.slotIndex(b.SlotID); ok {
			s := &e.ix.slots[si]
			out[i].StartsAt = time.Unix(s.start, 0).In(e.ix.loc)
			out[i].Clinic = e.ix.clinics[s.clinic].Clinic
		}
	}
	return out
}

// Stats are counters since New.
type Stats struct {
	Batches       int64    `json:"batches"`        // store transactions
	Mutations     int64    `json:"mutations"`      // writes committed (in batches that did not fail)
	MeanBatch     float64  `json:"mean_batch"`     // Mutations / Batches
	LargestBatch  int64    `json:"largest_batch"`  //
	BatchSizes    [9]int64 `json:"batch_sizes"`    // batches of size 1, 2–3, 4–7, …, 256 and more
	BatchErrors   int64    `json:"batch_errors"`   // batches the store failed as a whole
	Refused       int64    `json:"refused"`        // writes the store refused (slot full, already booked, …)
	Replayed      int64    `json:"replayed"`       // idempotent replays
	Searches      int64    `json:"searches"`       //
	Refreshes     int64    `json:"refreshes"`      // change-feed reads applied to the index
	RefreshErrors int64    `json:"refresh_errors"` //
	Drift         int64    `json:"drift"`          // outcomes the index could not follow exactly (corrected by a refresh)
	ApplySeconds  float64  `json:"apply_seconds"`  // time spent in store.Apply, all batches
	Queued        int      `json:"queued"`         // writes waiting for a batch now
	Clinics       int      `json:"clinics"`
	Slots         int      `json:"slots"`
	QuotaRows     int      `json:"quota_rows"`
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	s := Stats{
		Batches: e.st.batches.Load(), Mutations: e.st.mutations.Load(), LargestBatch: e.st.largest.Load(),
		BatchErrors: e.st.batchErrors.Load(), Refused: e.st.refused.Load(), Replayed: e.st.replayed.Load(),
		Searches: e.st.searches.Load(), Refreshes: e.st.refreshes.Load(), RefreshErrors: e.st.refreshErrors.Load(),
		Drift: e.st.drift.Load(), Queued: len(e.reqs), ApplySeconds: time.Duration(e.st.applyNanos.Load()).Seconds(),
		Clinics: len(e.ix.clinics), Slots: len(e.ix.slots), QuotaRows: len(e.ix.capacity),
	}
	for i := range s.BatchSizes {
		s.BatchSizes[i] = e.st.sizes[i].Load()
	}
	if s.Batches > 0 {
		s.MeanBatch = float64(s.Mutations) / float64(s.Batches)
	}
	return s
}
