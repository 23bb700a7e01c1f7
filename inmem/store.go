// Package inmem is an in-memory vaxbook.Store: mutex-protected maps, one
// lock per call, so every call is atomic and every Apply mutation isolated.
// It keeps nothing across processes. It exists so that the engine, identity
// and web layers have a fast store for unit tests, and it passes the same
// contract suite (storetest) as the SQLite and PostgreSQL adapters.
package inmem

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"vaxbook"
)

// Store is an in-memory vaxbook.Store. The zero value is not usable; call New.
type Store struct {
	mu     sync.RWMutex
	closed bool

	campaigns map[string]vaxbook.Campaign
	regions   map[string]vaxbook.Region
	clinics   map[int64]vaxbook.Clinic
	slots     map[int64]vaxbook.Slot
	// campSlots lists each campaign's slot ids; sorted lazily (dirty flag).
	campSlots      map[string][]int64
	campSlotsDirty map[string]bool
	quotas         map[quotaKey]*quotaRow
	slotCohorts    map[int64][]int // cohorts of each slot's quota rows, ascending

	people     map[int64]vaxbook.Person
	peopleByCI map[string]int64

	bookings      map[int64]*vaxbook.Booking
	byPerson      map[personCampaign][]int64 // booking ids in creation order
	active        map[activeKey]int64        // the active booking of (person, campaign, dose)
	nextBookingID int64
	idem          map[idemKey]idemRecord

	seq     int64                    // quota change sequence, shared by all campaigns
	changes map[string][]quotaChange // per campaign, ascending seq

	sessions map[string]vaxbook.Session
	locks    map[lockKey]vaxbook.DeviceLock
	switches map[string]vaxbook.ProviderSwitch
	audit    []vaxbook.AuditEntry
}

type quotaKey struct {
	slot   int64
	cohort int
}

type quotaRow struct {
	capacity, booked int
	seq              int64
}

type personCampaign struct {
	person   int64
	campaign string
}

type activeKey struct {
	person   int64
	campaign string
	dose     int
}

type idemKey struct {
	person int64
	key    string
}

type idemRecord struct {
	hash    string
	outcome vaxbook.Outcome
	at      time.Time
}

type quotaChange struct {
	seq int64
	key quotaKey
}

type lockKey struct {
	person           int64
	campaign, window string
}

var _ vaxbook.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		campaigns:      map[string]vaxbook.Campaign{},
		regions:        map[string]vaxbook.Region{},
		clinics:        map[int64]vaxbook.Clinic{},
		slots:          map[int64]vaxbook.Slot{},
		campSlots:      map[string][]int64{},
		campSlotsDirty: map[string]bool{},
		quotas:         map[quotaKey]*quotaRow{},
		slotCohorts:    map[int64][]int{},
		people:         map[int64]vaxbook.Person{},
		peopleByCI:     map[string]int64{},
		bookings:       map[int64]*vaxbook.Booking{},
		byPerson:       map[personCampaign][]int64{},
		active:         map[activeKey]int64{},
		idem:           map[idemKey]idemRecord{},
		changes:        map[string][]quotaChange{},
		sessions:       map[string]vaxbook.Session{},
		locks:          map[lockKey]vaxbook.DeviceLock{},
		switches:       map[string]vaxbook.ProviderSwitch{},
	}
}

var errClosed = &vaxbook.Error{Code: vaxbook.CodeUnavailable, Message: "the in-memory store is closed"}

// check returns an error if ctx is done or the store is closed. Callers hold mu.
func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("inmem: %w", err)
	}
	if s.closed {
		return errClosed
	}
	return nil
}

// Ping reports whether the store is open.
func (s *Store) Ping(ctx context.Context) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.check(ctx)
}

// Close marks the store closed; later calls fail with CodeUnavailable.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// ---- Registry ----

// PersonByCIHash finds a person by the blind index of their CI.
func (s *Store) PersonByCIHash(ctx context.Context, ciHash []byte) (vaxbook.Person, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return vaxbook.Person{}, err
	}
	id, ok := s.peopleByCI[string(ciHash)]
	if !ok || len(ciHash) == 0 {
		return vaxbook.Person{}, vaxbook.Errorf(vaxbook.CodeNotInRegistry, "no person with this identity in the registry")
	}
	return clonePerson(s.people[id]), nil
}

// PersonByID finds a person by registry id.
func (s *Store) PersonByID(ctx context.Context, id int64) (vaxbook.Person, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return vaxbook.Person{}, err
	}
	p, ok := s.people[id]
	if !ok {
		return vaxbook.Person{}, vaxbook.Errorf(vaxbook.CodeNotFound, "person %d not found", id)
	}
	return clonePerson(p), nil
}

func clonePerson(p vaxbook.Person) vaxbook.Person {
	p.CIHash = bytes.Clone(p.CIHash)
	p.NameSealed = bytes.Clone(p.NameSealed)
	p.PhoneSealed = bytes.Clone(p.PhoneSealed)
	return p
}

// ---- Catalog ----

// Regions returns every region ordered by 시군구 code.
func (s *Store) Regions(ctx context.Context) ([]vaxbook.Region, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out := make([]vaxbook.Region, 0, len(s.regions))
	for _, r := range s.regions {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SigunguCode < out[j].SigunguCode })
	return out, nil
}

// Clinics returns every clinic ordered by id.
func (s *Store) Clinics(ctx context.Context) ([]vaxbook.Clinic, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out := make([]vaxbook.Clinic, 0, len(s.clinics))
	for _, c := range s.clinics {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// sortedSlots returns the campaign's slot ids in ascending order. Callers
// hold mu for writing (it may sort in place).
func (s *Store) sortedSlotsLocked(campaignID string) []int64 {
	ids := s.campSlots[campaignID]
	if s.campSlotsDirty[campaignID] {
		slices.Sort(ids)
		delete(s.campSlotsDirty, campaignID)
	}
	return ids
}

// Slots calls fn for every slot of the campaign in ascending id order. fn runs
// outside the store's lock on a snapshot.
func (s *Store) Slots(ctx context.Context, campaignID string, fn func(vaxbook.Slot) error) error {
	s.mu.Lock()
	if err := s.check(ctx); err != nil {
		s.mu.Unlock()
		return err
	}
	ids := s.sortedSlotsLocked(campaignID)
	snap := make([]vaxbook.Slot, len(ids))
	for i, id := range ids {
		snap[i] = s.slots[id]
	}
	s.mu.Unlock()
	for _, sl := range snap {
		if err := fn(sl); err != nil {
			return err
		}
	}
	return nil
}

// ---- BookingStore ----

// Booking returns one booking.
func (s *Store) Booking(ctx context.Context, id int64) (vaxbook.Booking, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return vaxbook.Booking{}, err
	}
	b, ok := s.bookings[id]
	if !ok {
		return vaxbook.Booking{}, vaxbook.Errorf(vaxbook.CodeNotFound, "booking %d not found", id)
	}
	return *b, nil
}

// Bookings returns a person's bookings of a campaign, ordered by dose then id.
func (s *Store) Bookings(ctx context.Context, personID int64, campaignID string) ([]vaxbook.Booking, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ids := s.byPerson[personCampaign{personID, campaignID}]
	out := make([]vaxbook.Booking, 0, len(ids))
	for _, id := range ids {
		out = append(out, *s.bookings[id])
	}
	sortBookings(out)
	return out, nil
}

func sortBookings(bs []vaxbook.Booking) {
	sort.Slice(bs, func(i, j int) bool {
		if bs[i].Dose != bs[j].Dose {
			return bs[i].Dose < bs[j].Dose
		}
		return bs[i].ID < bs[j].ID
	})
}

// Quotas calls fn for every quota row of the campaign, ordered by slot then
// cohort, on a snapshot taken under the lock; it returns the sequence number
// of that snapshot.
func (s *Store) Quotas(ctx context.Context, campaignID string, fn func(vaxbook.Quota) error) (int64, error) {
	s.mu.Lock()
	if err := s.check(ctx); err != nil {
		s.mu.Unlock()
		return 0, err
	}
	seq := s.seq
	var snap []vaxbook.Quota
	for _, id := range s.sortedSlotsLocked(campaignID) {
		for _, c := range s.slotCohorts[id] {
			r := s.quotas[quotaKey{id, c}]
			snap = append(snap, vaxbook.Quota{SlotID: id, Cohort: c, Capacity: r.capacity, Booked: r.booked})
		}
	}
	s.mu.Unlock()
	for _, q := range snap {
		if err := fn(q); err != nil {
			return 0, err
		}
	}
	return seq, nil
}

// QuotaChanges returns the campaign's quota rows changed after seq (their
// current values, ordered by slot then cohort) and the sequence number they
// bring the caller to.
func (s *Store) QuotaChanges(ctx context.Context, campaignID string, seq int64) ([]vaxbook.Quota, int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, 0, err
	}
	log := s.changes[campaignID]
	i := sort.Search(len(log), func(i int) bool { return log[i].seq > seq })
	seen := map[quotaKey]bool{}
	var out []vaxbook.Quota
	for _, ch := range log[i:] {
		if seen[ch.key] {
			continue
		}
		seen[ch.key] = true
		r := s.quotas[ch.key]
		out = append(out, vaxbook.Quota{SlotID: ch.key.slot, Cohort: ch.key.cohort, Capacity: r.capacity, Booked: r.booked})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].SlotID != out[j].SlotID {
			return out[i].SlotID < out[j].SlotID
		}
		return out[i].Cohort < out[j].Cohort
	})
	return out, max(s.seq, seq), nil
}

// DeleteIdempotencyBefore forgets the outcomes of idempotent writes made
// before t.
func (s *Store) DeleteIdempotencyBefore(ctx context.Context, t time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	n := 0
	for k, r := range s.idem {
		if r.at.Before(t) {
			delete(s.idem, k)
			n++
		}
	}
	return n, nil
}

// Apply runs the mutations in order under one lock. Each mutation is checked
// completely before it changes anything, so a refusal leaves no trace but
// its idempotency record.
func (s *Store) Apply(ctx context.Context, muts []vaxbook.Mutation) ([]vaxbook.Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out := make([]vaxbook.Outcome, len(muts))
	for i, m := range muts {
		out[i] = s.applyOne(m)
	}
	return out, nil
}

func (s *Store) applyOne(m vaxbook.Mutation) vaxbook.Outcome {
	var ik idemKey
	if m.IdempotencyKey != "" {
		ik = idemKey{m.PersonID, m.IdempotencyKey}
		if rec, ok := s.idem[ik]; ok {
			if rec.hash != m.RequestHash {
				return vaxbook.Outcome{Err: vaxbook.Errorf(vaxbook.CodeIdempotencyReused,
					"this Idempotency-Key was already used for another request")}
			}
			o := cloneOutcome(rec.outcome)
			o.Replayed = true
			return o
		}
	}
	if m.ReplayOnly {
		return vaxbook.Outcome{Err: vaxbook.ErrNoReplay}
	}
	var o vaxbook.Outcome
	_, knownPerson := s.people[m.PersonID]
	_, knownCampaign := s.campaigns[m.CampaignID]
	switch {
	case m.Kind != vaxbook.MutationBook && m.Kind != vaxbook.MutationChange && m.Kind != vaxbook.MutationCancel:
		o = refuse(vaxbook.CodeInvalid, "unknown mutation kind %q", m.Kind)
	case m.Kind != vaxbook.MutationCancel && checkLegs(m) != nil:
		o = *checkLegs(m)
	case m.Kind != vaxbook.MutationBook && m.BookingID == 0:
		o = refuse(vaxbook.CodeInvalid, "a %s needs the booking id", m.Kind)
	case !knownPerson:
		o = refuse(vaxbook.CodeNotFound, "person %d not found", m.PersonID)
	case !knownCampaign:
		o = refuse(vaxbook.CodeNotFound, "campaign %q not found", m.CampaignID)
	case m.Kind == vaxbook.MutationBook:
		o = s.book(m)
	case m.Kind == vaxbook.MutationChange:
		o = s.change(m)
	default:
		o = s.cancel(m)
	}
	// A malformed mutation is a programming error, not a request: its
	// refusal is not remembered under the key.
	if m.IdempotencyKey != "" && vaxbook.ErrorCode(o.Err) != vaxbook.CodeInvalid {
		s.idem[ik] = idemRecord{hash: m.RequestHash, outcome: cloneOutcome(o), at: m.At}
	}
	return o
}

func cloneOutcome(o vaxbook.Outcome) vaxbook.Outcome {
	o.Bookings = slices.Clone(o.Bookings)
	return o
}

func refuse(code vaxbook.Code, format string, args ...any) vaxbook.Outcome {
	return vaxbook.Outcome{Err: vaxbook.Errorf(code, format, args...)}
}

// checkLegs refuses malformed legs: none, or doses that are not positive
// and increasing. Unknown slots are not malformed: they have no room.
func checkLegs(m vaxbook.Mutation) *vaxbook.Outcome {
	if len(m.Legs) == 0 {
		o := refuse(vaxbook.CodeInvalid, "a %s needs at least one leg", m.Kind)
		return &o
	}
	last := 0
	for _, l := range m.Legs {
		if l.Dose <= last {
			o := refuse(vaxbook.CodeInvalid, "leg doses must be positive and increasing (dose %d after %d)", l.Dose, last)
			return &o
		}
		last = l.Dose
	}
	return nil
}

// take picks, for each leg, the first of its cohorts with room given the
// pending deltas, and records the increments in delta. It returns the chosen
// cohorts or a refusal. A slot of another campaign has no room.
func (s *Store) take(campaignID string, legs []vaxbook.Leg, delta map[quotaKey]int) ([]int, *vaxbook.Outcome) {
	chosen := make([]int, len(legs))
	for i, l := range legs {
		found := false
		if sl, ok := s.slots[l.SlotID]; !ok || sl.CampaignID != campaignID {
			l.Cohorts = nil
		}
		for _, c := range l.Cohorts {
			k := quotaKey{l.SlotID, c}
			r, ok := s.quotas[k]
			if ok && r.booked+delta[k] < r.capacity {
				delta[k]++
				chosen[i] = c
				found = true
				break
			}
		}
		if !found {
			var o vaxbook.Outcome
			if i == 0 {
				o = refuse(vaxbook.CodeSlotFull, "no place left in slot %d", l.SlotID)
			} else {
				o = refuse(vaxbook.CodeDose2Unavailable, "no place left for dose %d in slot %d", l.Dose, l.SlotID)
			}
			return nil, &o
		}
	}
	return chosen, nil
}

// commitDelta applies quota deltas and records them in the change log.
func (s *Store) commitDelta(campaignID string, delta map[quotaKey]int) {
	keys := make([]quotaKey, 0, len(delta))
	for k, d := range delta {
		if d != 0 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].slot != keys[j].slot {
			return keys[i].slot < keys[j].slot
		}
		return keys[i].cohort < keys[j].cohort
	})
	for _, k := range keys {
		r := s.quotas[k]
		r.booked += delta[k]
		s.seq++
		r.seq = s.seq
		s.changes[campaignID] = append(s.changes[campaignID], quotaChange{seq: s.seq, key: k})
	}
}

func (s *Store) book(m vaxbook.Mutation) vaxbook.Outcome {
	for _, l := range m.Legs {
		if _, ok := s.active[activeKey{m.PersonID, m.CampaignID, l.Dose}]; ok {
			return refuse(vaxbook.CodeAlreadyBooked, "an active booking for dose %d already exists", l.Dose)
		}
	}
	delta := map[quotaKey]int{}
	chosen, refusal := s.take(m.CampaignID, m.Legs, delta)
	if refusal != nil {
		return *refusal
	}
	s.commitDelta(m.CampaignID, delta)
	for i, l := range m.Legs {
		s.insert(m, l.Dose, l.SlotID, chosen[i])
	}
	return vaxbook.Outcome{Bookings: s.activeCopies(m.PersonID, m.CampaignID)}
}

// insert adds a new active booking.
func (s *Store) insert(m vaxbook.Mutation, dose int, slot int64, cohort int) {
	s.nextBookingID++
	b := &vaxbook.Booking{
		ID: s.nextBookingID, PersonID: m.PersonID, CampaignID: m.CampaignID, Dose: dose,
		SlotID: slot, Cohort: cohort, Status: vaxbook.BookingActive, Version: 1,
		CreatedAt: m.At, UpdatedAt: m.At,
	}
	pc := personCampaign{m.PersonID, m.CampaignID}
	s.bookings[b.ID] = b
	s.byPerson[pc] = append(s.byPerson[pc], b.ID)
	s.active[activeKey{m.PersonID, m.CampaignID, dose}] = b.ID
}

// activeCopies returns copies of the person's active bookings in dose order.
func (s *Store) activeCopies(person int64, campaign string) []vaxbook.Booking {
	act := s.activeOf(person, campaign)
	out := make([]vaxbook.Booking, len(act))
	for i, b := range act {
		out[i] = *b
	}
	return out
}

// target checks that m.BookingID is an active booking of m's person and
// campaign.
func (s *Store) target(m vaxbook.Mutation) *vaxbook.Outcome {
	b, ok := s.bookings[m.BookingID]
	if !ok || b.CampaignID != m.CampaignID {
		o := refuse(vaxbook.CodeNotFound, "booking %d not found", m.BookingID)
		return &o
	}
	if b.PersonID != m.PersonID {
		o := refuse(vaxbook.CodeNotYourBooking, "booking %d belongs to someone else", m.BookingID)
		return &o
	}
	if b.Status != vaxbook.BookingActive {
		o := refuse(vaxbook.CodeBookingCancelled, "booking %d is no longer active", m.BookingID)
		return &o
	}
	return nil
}

// activeOf returns the person's active bookings of the campaign in dose order.
func (s *Store) activeOf(person int64, campaign string) []*vaxbook.Booking {
	var out []*vaxbook.Booking
	for _, id := range s.byPerson[personCampaign{person, campaign}] {
		if b := s.bookings[id]; b.Status == vaxbook.BookingActive {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dose < out[j].Dose })
	return out
}

func (s *Store) change(m vaxbook.Mutation) vaxbook.Outcome {
	if o := s.target(m); o != nil {
		return *o
	}
	current := map[int]*vaxbook.Booking{}
	for _, b := range s.activeOf(m.PersonID, m.CampaignID) {
		current[b.Dose] = b
	}
	if len(current) != len(m.Legs) {
		return refuse(vaxbook.CodeInvalid, "a change must move every active dose (%d), not %d", len(current), len(m.Legs))
	}
	delta := map[quotaKey]int{}
	for _, l := range m.Legs {
		b := current[l.Dose]
		if b == nil {
			return refuse(vaxbook.CodeInvalid, "the person has no active dose-%d booking to change", l.Dose)
		}
		delta[quotaKey{b.SlotID, b.Cohort}]--
	}
	chosen, refusal := s.take(m.CampaignID, m.Legs, delta)
	if refusal != nil {
		return *refusal
	}
	s.commitDelta(m.CampaignID, delta)
	for i, l := range m.Legs {
		b := current[l.Dose]
		b.SlotID, b.Cohort = l.SlotID, chosen[i]
		b.Version++
		b.UpdatedAt = m.At
	}
	return vaxbook.Outcome{Bookings: s.activeCopies(m.PersonID, m.CampaignID)}
}

func (s *Store) cancel(m vaxbook.Mutation) vaxbook.Outcome {
	if o := s.target(m); o != nil {
		return *o
	}
	delta := map[quotaKey]int{}
	act := s.activeOf(m.PersonID, m.CampaignID)
	for _, b := range act {
		delta[quotaKey{b.SlotID, b.Cohort}]--
	}
	s.commitDelta(m.CampaignID, delta)
	out := make([]vaxbook.Booking, 0, len(act))
	for _, b := range act {
		b.Status = vaxbook.BookingCancelled
		b.Version++
		b.UpdatedAt = m.At
		delete(s.active, activeKey{b.PersonID, b.CampaignID, b.Dose})
		out = append(out, *b)
	}
	return vaxbook.Outcome{Bookings: out}
}

// ---- Auditor ----

// CheckInvariants counts violations from the store's own rows.
func (s *Store) CheckInvariants(ctx context.Context, campaignID string) (vaxbook.InvariantReport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var rep vaxbook.InvariantReport
	if err := s.check(ctx); err != nil {
		return rep, err
	}
	example := func(format string, args ...any) {
		if len(rep.Examples) < 10 {
			rep.Examples = append(rep.Examples, fmt.Sprintf(format, args...))
		}
	}
	taken := map[quotaKey]int{}
	perDose := map[activeKey]int{}
	dose1 := map[int64]bool{}
	var dose2 []*vaxbook.Booking
	ids := make([]int64, 0)
	for id, b := range s.bookings {
		if b.CampaignID == campaignID && b.Status == vaxbook.BookingActive {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		b := s.bookings[id]
		rep.ActiveBookings++
		taken[quotaKey{b.SlotID, b.Cohort}]++
		perDose[activeKey{b.PersonID, campaignID, b.Dose}]++
		switch b.Dose {
		case 1:
			dose1[b.PersonID] = true
		case 2:
			dose2 = append(dose2, b)
		}
	}
	for _, id := range s.sortedSlotsLocked(campaignID) {
		for _, c := range s.slotCohorts[id] {
			k := quotaKey{id, c}
			r := s.quotas[k]
			rep.QuotaRows++
			if r.booked > r.capacity || r.booked < 0 {
				rep.OverCapacity++
				example("slot %d cohort %d: booked %d of capacity %d", id, c, r.booked, r.capacity)
			}
			if r.booked != taken[k] {
				rep.CounterMismatch++
				example("slot %d cohort %d: booked %d but %d active bookings", id, c, r.booked, taken[k])
			}
			delete(taken, k)
		}
	}
	for k, n := range taken { // bookings pointing at rows that do not exist
		rep.CounterMismatch++
		example("slot %d cohort %d: %d active bookings but no quota row", k.slot, k.cohort, n)
	}
	for k, n := range perDose {
		if n > 1 {
			rep.DoubleBooked++
			example("person %d dose %d: %d active bookings", k.person, k.dose, n)
		}
	}
	if c, ok := s.campaigns[campaignID]; ok && c.Doses == 2 {
		for _, b := range dose2 {
			if !dose1[b.PersonID] {
				rep.OrphanDose2++
				example("booking %d: dose 2 of person %d without an active dose 1", b.ID, b.PersonID)
			}
		}
	}
	return rep, nil
}

// ---- CampaignStore ----

// Campaigns returns every campaign ordered by id.
func (s *Store) Campaigns(ctx context.Context) ([]vaxbook.Campaign, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out := make([]vaxbook.Campaign, 0, len(s.campaigns))
	for _, c := range s.campaigns {
		cc, err := cloneCampaign(c)
		if err != nil {
			return nil, err
		}
		out = append(out, cc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Campaign returns one campaign (CodeNotFound if unknown).
func (s *Store) Campaign(ctx context.Context, id string) (vaxbook.Campaign, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return vaxbook.Campaign{}, err
	}
	c, ok := s.campaigns[id]
	if !ok {
		return vaxbook.Campaign{}, vaxbook.Errorf(vaxbook.CodeNotFound, "campaign %q not found", id)
	}
	return cloneCampaign(c)
}

// ShiftCampaign replaces the campaign and moves its slots by delta.
func (s *Store) ShiftCampaign(ctx context.Context, c vaxbook.Campaign, delta time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	if _, ok := s.campaigns[c.ID]; !ok {
		return vaxbook.Errorf(vaxbook.CodeNotFound, "campaign %q not found", c.ID)
	}
	cc, err := cloneCampaign(c)
	if err != nil {
		return err
	}
	s.campaigns[c.ID] = cc
	for _, id := range s.campSlots[c.ID] {
		sl := s.slots[id]
		sl.StartsAt = sl.StartsAt.Add(delta)
		s.slots[id] = sl
	}
	return nil
}

// cloneCampaign deep-copies a campaign (it holds maps and slices) so that
// callers never share memory with the store.
func cloneCampaign(c vaxbook.Campaign) (vaxbook.Campaign, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return vaxbook.Campaign{}, fmt.Errorf("inmem: copy campaign %q: %w", c.ID, err)
	}
	var out vaxbook.Campaign
	if err := json.Unmarshal(b, &out); err != nil {
		return vaxbook.Campaign{}, fmt.Errorf("inmem: copy campaign %q: %w", c.ID, err)
	}
	return out, nil
}
