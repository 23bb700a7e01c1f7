package inmem

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"vaxbook"
)

// Load adds a dataset. It validates everything (unique ids, references,
// quota bounds) and reads the whole People sequence before it changes
// anything, so an error leaves the store as it was.
func (s *Store) Load(ctx context.Context, d vaxbook.Dataset) error {
	// People are read outside the lock: the sequence may be slow or fail.
	var people []vaxbook.Person
	if d.People != nil {
		for p, err := range d.People {
			if err != nil {
				return fmt.Errorf("inmem: load people: %w", err)
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("inmem: load: %w", err)
			}
			people = append(people, clonePerson(p))
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	bad := func(format string, args ...any) error {
		return &vaxbook.Error{Code: vaxbook.CodeInvalid, Message: "load: " + fmt.Sprintf(format, args...)}
	}

	campaigns := map[string]vaxbook.Campaign{}
	for _, c := range d.Campaigns {
		if c.ID == "" {
			return bad("campaign without an id")
		}
		if _, dup := s.campaigns[c.ID]; dup {
			return bad("campaign %q already exists", c.ID)
		}
		if _, dup := campaigns[c.ID]; dup {
			return bad("campaign %q listed twice", c.ID)
		}
		cc, err := cloneCampaign(c)
		if err != nil {
			return err
		}
		campaigns[c.ID] = cc
	}
	regions := map[string]vaxbook.Region{}
	for _, r := range d.Regions {
		if r.SigunguCode == "" {
			return bad("region without a 시군구 code")
		}
		_, dup1 := s.regions[r.SigunguCode]
		_, dup2 := regions[r.SigunguCode]
		if dup1 || dup2 {
			return bad("region %s listed twice", r.SigunguCode)
		}
		regions[r.SigunguCode] = r
	}
	clinics := map[int64]vaxbook.Clinic{}
	for _, c := range d.Clinics {
		if c.ID <= 0 {
			return bad("clinic id %d: must be positive", c.ID)
		}
		_, dup1 := s.clinics[c.ID]
		_, dup2 := clinics[c.ID]
		if dup1 || dup2 {
			return bad("clinic %d listed twice", c.ID)
		}
		clinics[c.ID] = c
	}
	slotsIn := map[int64]vaxbook.Slot{}
	for _, sl := range d.Slots {
		if sl.ID <= 0 {
			return bad("slot id %d: must be positive", sl.ID)
		}
		_, dup1 := s.slots[sl.ID]
		_, dup2 := slotsIn[sl.ID]
		if dup1 || dup2 {
			return bad("slot %d listed twice", sl.ID)
		}
		_, c1 := s.clinics[sl.ClinicID]
		_, c2 := clinics[sl.ClinicID]
		if !c1 && !c2 {
			return bad("slot %d: clinic %d does not exist", sl.ID, sl.ClinicID)
		}
		_, k1 := s.campaigns[sl.CampaignID]
		_, k2 := campaigns[sl.CampaignID]
		if !k1 && !k2 {
			return bad("slot %d: campaign %q does not exist", sl.ID, sl.CampaignID)
		}
		slotsIn[sl.ID] = sl
	}
	quotasIn := map[quotaKey]vaxbook.Quota{}
	for _, q := range d.Quotas {
		k := quotaKey{q.SlotID, q.Cohort}
		_, s1 := s.slots[q.SlotID]
		_, s2 := slotsIn[q.SlotID]
		if !s1 && !s2 {
			return bad("quota of slot %d: the slot does not exist", q.SlotID)
		}
		if q.Cohort < 0 || q.Cohort > vaxbook.CohortDose2 {
			return bad("quota of slot %d: cohort %d out of range", q.SlotID, q.Cohort)
		}
		if q.Capacity < 0 || q.Booked < 0 || q.Booked > q.Capacity {
			return bad("quota of slot %d cohort %d: need 0 ≤ booked (%d) ≤ capacity (%d)", q.SlotID, q.Cohort, q.Booked, q.Capacity)
		}
		_, dup1 := s.quotas[k]
		_, dup2 := quotasIn[k]
		if dup1 || dup2 {
			return bad("quota of slot %d cohort %d listed twice", q.SlotID, q.Cohort)
		}
		quotasIn[k] = q
	}
	peopleIn := map[int64]bool{}
	ciIn := map[string]bool{}
	for _, p := range people {
		if p.ID <= 0 {
			return bad("person id %d: must be positive", p.ID)
		}
		if _, dup := s.people[p.ID]; dup || peopleIn[p.ID] {
			return bad("person %d listed twice", p.ID)
		}
		peopleIn[p.ID] = true
		if len(p.CIHash) > 0 {
			ci := string(p.CIHash)
			if _, dup := s.peopleByCI[ci]; dup || ciIn[ci] {
				return bad("person %d: CI hash already used by another person", p.ID)
			}
			ciIn[ci] = true
		}
	}

	// Everything checked: commit.
	for id, c := range campaigns {
		s.campaigns[id] = c
	}
	for code, r := range regions {
		s.regions[code] = r
	}
	for id, c := range clinics {
		s.clinics[id] = c
	}
	for _, sl := range d.Slots {
		s.slots[sl.ID] = sl
		s.campSlots[sl.CampaignID] = append(s.campSlots[sl.CampaignID], sl.ID)
		s.campSlotsDirty[sl.CampaignID] = true
	}
	for _, q := range d.Quotas {
		s.quotas[quotaKey{q.SlotID, q.Cohort}] = &quotaRow{capacity: q.Capacity, booked: q.Booked}
		s.slotCohorts[q.SlotID] = append(s.slotCohorts[q.SlotID], q.Cohort)
	}
	for _, q := range d.Quotas {
		slices.Sort(s.slotCohorts[q.SlotID])
	}
	for _, p := range people {
		s.people[p.ID] = p
		if len(p.CIHash) > 0 {
			s.peopleByCI[string(p.CIHash)] = p.ID
		}
	}
	return nil
}

// Counts reports table sizes.
func (s *Store) Counts(ctx context.Context) (vaxbook.StoreCounts, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return vaxbook.StoreCounts{}, err
	}
	return vaxbook.StoreCounts{
		Campaigns:      int64(len(s.campaigns)),
		Regions:        int64(len(s.regions)),
		Clinics:        int64(len(s.clinics)),
		Slots:          int64(len(s.slots)),
		Quotas:         int64(len(s.quotas)),
		People:         int64(len(s.people)),
		ActiveBookings: int64(len(s.active)),
	}, nil
}

// ---- SessionStore ----

// CreateSession stores a new session (CodeConflict if the id exists).
func (s *Store) CreateSession(ctx context.Context, sess vaxbook.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	if sess.ID == "" {
		return vaxbook.InvalidParam("id", "a session needs an id")
	}
	if _, ok := s.sessions[sess.ID]; ok {
		return vaxbook.Errorf(vaxbook.CodeConflict, "session id already in use")
	}
	s.sessions[sess.ID] = sess
	return nil
}

// Session returns a session (CodeNotSignedIn if there is none).
func (s *Store) Session(ctx context.Context, id string) (vaxbook.Session, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return vaxbook.Session{}, err
	}
	sess, ok := s.sessions[id]
	if !ok {
		return vaxbook.Session{}, vaxbook.Errorf(vaxbook.CodeNotSignedIn, "no such session")
	}
	return sess, nil
}

// TouchSession sets the session's LastSeen.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	sess, ok := s.sessions[id]
	if !ok {
		return vaxbook.Errorf(vaxbook.CodeNotSignedIn, "no such session")
	}
	sess.LastSeen = at
	s.sessions[id] = sess
	return nil
}

// DeleteSession removes a session; removing a missing one is not an error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	delete(s.sessions, id)
	return nil
}

// DeleteSessionsBefore removes sessions last seen before t.
func (s *Store) DeleteSessionsBefore(ctx context.Context, t time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	n := 0
	for id, sess := range s.sessions {
		if sess.LastSeen.Before(t) {
			delete(s.sessions, id)
			n++
		}
	}
	return n, nil
}

// ---- DeviceLockStore ----

// AcquireDeviceLock stores l unless an unexpired lock holds its key, and
// returns the lock that holds after the call.
func (s *Store) AcquireDeviceLock(ctx context.Context, l vaxbook.DeviceLock, now time.Time) (vaxbook.DeviceLock, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return vaxbook.DeviceLock{}, err
	}
	k := lockKey{l.PersonID, l.CampaignID, l.WindowID}
	if cur, ok := s.locks[k]; ok && cur.Expires.After(now) {
		return cur, nil
	}
	s.locks[k] = l
	return l, nil
}

// DeviceLock returns the lock for the key (CodeNotFound if none).
func (s *Store) DeviceLock(ctx context.Context, personID int64, campaignID, windowID string) (vaxbook.DeviceLock, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return vaxbook.DeviceLock{}, err
	}
	l, ok := s.locks[lockKey{personID, campaignID, windowID}]
	if !ok {
		return vaxbook.DeviceLock{}, vaxbook.Errorf(vaxbook.CodeNotFound, "no device lock for person %d", personID)
	}
	return l, nil
}

// ReleaseDeviceLock removes the lock (CodeNotFound if none).
func (s *Store) ReleaseDeviceLock(ctx context.Context, personID int64, campaignID, windowID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	k := lockKey{personID, campaignID, windowID}
	if _, ok := s.locks[k]; !ok {
		return vaxbook.Errorf(vaxbook.CodeNotFound, "no device lock for person %d", personID)
	}
	delete(s.locks, k)
	return nil
}

// ---- AuditLog ----

// Audit appends an entry; the store assigns its ID.
func (s *Store) Audit(ctx context.Context, e vaxbook.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	e.ID = int64(len(s.audit)) + 1
	s.audit = append(s.audit, e)
	return nil
}

// AuditEntries returns up to limit entries with ID < before (0: from the
// newest), newest first.
func (s *Store) AuditEntries(ctx context.Context, before int64, limit int) ([]vaxbook.AuditEntry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return []vaxbook.AuditEntry{}, nil
	}
	end := len(s.audit) // entries[i].ID == i+1
	if before > 0 && before-1 < int64(end) {
		end = int(before - 1)
	}
	out := make([]vaxbook.AuditEntry, 0, min(limit, end))
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, s.audit[i])
	}
	return out, nil
}

// SetProviderSwitch stores an operator's switch of a provider.
func (s *Store) SetProviderSwitch(ctx context.Context, sw vaxbook.ProviderSwitch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	s.switches[sw.Provider] = sw
	return nil
}

// ProviderSwitches returns every stored switch, ordered by provider.
func (s *Store) ProviderSwitches(ctx context.Context) ([]vaxbook.ProviderSwitch, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out := make([]vaxbook.ProviderSwitch, 0, len(s.switches))
	for _, sw := range s.switches {
		out = append(out, sw)
	}
	slices.SortFunc(out, func(a, b vaxbook.ProviderSwitch) int { return strings.Compare(a.Provider, b.Provider) })
	return out, nil
}
