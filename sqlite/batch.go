package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"vaxbook"
)

// readBatch reads everything the mutations can touch (step 1 of Apply) and
// returns it with the current quota change sequence number.
func (db *DB) readBatch(ctx context.Context, tx *sql.Tx, muts []vaxbook.Mutation) (*batch, int64, error) {
	b := &batch{
		campaigns: map[string]bool{},
		people:    map[int64]bool{},
		idem:      map[idemKey]*idemEntry{},
		active:    map[personCampaign][]*bk{},
		byID:      map[int64]*bk{},
		quota:     map[quotaKey]*quotaRow{},
	}
	var seq int64
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT seq FROM quota_clock WHERE id = 1), (SELECT COALESCE(MAX(id), 0) FROM booking)`).
		Scan(&seq, &b.nextID); err != nil {
		return nil, 0, internal("apply: read clock", err)
	}
	b.nextID++

	keys, pcs, people, ids := rowset{cols: 2}, rowset{cols: 2}, rowset{cols: 1}, rowset{cols: 1}
	seenPC := map[personCampaign]bool{}
	for i := range muts {
		m := &muts[i]
		if m.IdempotencyKey != "" && utf8.ValidString(m.IdempotencyKey) {
			keys.add(m.PersonID, m.IdempotencyKey)
		}
		pc := personCampaign{m.PersonID, m.CampaignID}
		if !seenPC[pc] {
			seenPC[pc] = true
			pcs.add(m.PersonID, m.CampaignID)
		}
		if _, seen := b.people[m.PersonID]; !seen {
			b.people[m.PersonID] = false // until the query finds them
			people.add(m.PersonID)
		}
		if m.BookingID != 0 {
			ids.add(m.BookingID)
		}
	}

	rows, err := tx.QueryContext(ctx, `SELECT id FROM campaign`)
	if err != nil {
		return nil, 0, internal("apply: read campaigns", err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, 0, internal("apply: read campaigns", err)
		}
		b.campaigns[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, internal("apply: read campaigns", err)
	}
	if err := db.queryRows(ctx, tx, "people", people, func(v string) string {
		return `WITH k(id) AS (VALUES ` + v + `) SELECT p.id FROM k CROSS JOIN person AS p ON p.id = k.id`
	}, func(r *sql.Rows) error {
		var id int64
		err := r.Scan(&id)
		b.people[id] = true
		return err
	}); err != nil {
		return nil, 0, err
	}
	if err := db.queryRows(ctx, tx, "idempotency", keys, func(v string) string {
		return `WITH k(p, key) AS (VALUES ` + v + `) SELECT i.person_id, i.key, i.request_hash, i.outcome
			FROM k CROSS JOIN idempotency AS i ON i.person_id = k.p AND i.key = k.key`
	}, func(r *sql.Rows) error {
		var k idemKey
		var e idemEntry
		var body string
		if err := r.Scan(&k.person, &k.key, &e.hash, &body); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(body), &e.outcome); err != nil {
			return fmt.Errorf("stored outcome of person %d: %w", k.person, err)
		}
		b.idem[k] = &e
		return nil
	}); err != nil {
		return nil, 0, err
	}
	scanBk := func(r *sql.Rows) (*bk, error) {
		x := &bk{}
		var status string
		var created, updated int64
		err := r.Scan(&x.ID, &x.PersonID, &x.CampaignID, &x.Dose, &x.SlotID, &x.Cohort, &status, &x.Version, &created, &updated)
		x.Status, x.CreatedAt, x.UpdatedAt = vaxbook.BookingStatus(status), instant(created), instant(updated)
		return x, err
	}
	if err := db.queryRows(ctx, tx, "active bookings", pcs, func(v string) string {
		return `WITH k(p, c) AS (VALUES ` + v + `) SELECT ` + bookingColumnsOf("b") + `
			FROM k CROSS JOIN booking AS b ON b.person_id = k.p AND b.campaign_id = k.c AND b.status = 'active'`
	}, func(r *sql.Rows) error {
		x, err := scanBk(r)
		if err != nil || b.byID[x.ID] != nil { // padding repeats rows
			return err
		}
		b.byID[x.ID] = x
		pc := personCampaign{x.PersonID, x.CampaignID}
		b.active[pc] = append(b.active[pc], x)
		return nil
	}); err != nil {
		return nil, 0, err
	}
	for _, list := range b.active {
		slices.SortFunc(list, func(x, y *bk) int { return x.Dose - y.Dose })
	}
	if err := db.queryRows(ctx, tx, "bookings", ids, func(v string) string {
		return `WITH k(id) AS (VALUES ` + v + `) SELECT ` + bookingColumnsOf("b") + `
			FROM k CROSS JOIN booking AS b ON b.id = k.id`
	}, func(r *sql.Rows) error {
		x, err := scanBk(r)
		if err == nil && b.byID[x.ID] == nil {
			b.byID[x.ID] = x
		}
		return err
	}); err != nil {
		return nil, 0, err
	}

	// Quota rows: every row of every slot a leg names or an active booking
	// holds (the rows of a slot are adjacent in the primary key, so one
	// range read per slot beats a probe per candidate cohort). A key
	// missing from b.quota afterwards is a row that does not exist.
	slotIDs := rowset{cols: 1}
	seenSlot := map[int64]bool{}
	addSlot := func(id int64) {
		if !seenSlot[id] {
			seenSlot[id] = true
			slotIDs.add(id)
		}
	}
	for i := range muts {
		for _, l := range muts[i].Legs {
			addSlot(l.SlotID)
		}
	}
	for _, list := range b.active {
		for _, x := range list {
			addSlot(x.SlotID)
		}
	}
	if err := db.queryRows(ctx, tx, "quota rows", slotIDs, func(v string) string {
		return `WITH k(s) AS (VALUES ` + v + `) SELECT q.slot_id, q.cohort, q.capacity, q.booked
			FROM k CROSS JOIN quota AS q ON q.slot_id = k.s`
	}, func(r *sql.Rows) error {
		var k quotaKey
		q := &quotaRow{}
		err := r.Scan(&k.slot, &k.cohort, &q.capacity, &q.booked)
		q.read = q.booked
		b.quota[k] = q
		return err
	}); err != nil {
		return nil, 0, err
	}
	return b, seq, nil
}

// bookingColumnsOf lists the booking columns qualified by alias.
func bookingColumnsOf(alias string) string {
	return alias + ".id, " + alias + ".person_id, " + alias + ".campaign_id, " + alias + ".dose, " + alias + ".slot_id, " +
		alias + ".cohort, " + alias + ".status, " + alias + ".version, " + alias + ".created_at, " + alias + ".updated_at"
}

// apply runs one mutation against the in-memory copy (step 2 of Apply).
func (b *batch) apply(m *vaxbook.Mutation) vaxbook.Outcome {
	var ik idemKey
	if m.IdempotencyKey != "" {
		if !utf8.ValidString(m.IdempotencyKey) {
			return vaxbook.Outcome{Err: vaxbook.Errorf(vaxbook.CodeInvalid, "the Idempotency-Key must be UTF-8 text")}
		}
		ik = idemKey{m.PersonID, m.IdempotencyKey}
		if e := b.idem[ik]; e != nil {
			if e.hash != m.RequestHash {
				return vaxbook.Outcome{Err: vaxbook.Errorf(vaxbook.CodeIdempotencyReused,
					"this Idempotency-Key was already used for a different request")}
			}
			o := vaxbook.Outcome{Bookings: slices.Clone(e.outcome.Bookings), Replayed: true}
			if e.outcome.Code != "" {
				o.Err = &vaxbook.Error{Code: e.outcome.Code, Message: e.outcome.Message}
			}
			return o
		}
	}
	if m.ReplayOnly {
		return vaxbook.Outcome{Err: vaxbook.ErrNoReplay}
	}
	if r := validate(m); r != nil {
		return vaxbook.Outcome{Err: r}
	}
	var (
		out []vaxbook.Booking
		ref refusal
	)
	switch {
	case !b.campaigns[m.CampaignID]:
		ref = vaxbook.Errorf(vaxbook.CodeNotFound, "no campaign %q", m.CampaignID)
	case !b.people[m.PersonID]:
		ref = vaxbook.Errorf(vaxbook.CodeNotFound, "no person %d", m.PersonID)
	case m.Kind == vaxbook.MutationBook:
		out, ref = b.book(m)
	case m.Kind == vaxbook.MutationChange:
		out, ref = b.change(m)
	default:
		out, ref = b.cancel(m)
	}
	if m.IdempotencyKey != "" {
		e := &idemEntry{hash: m.RequestHash, isNew: true, at: micros(m.At), outcome: storedOutcome{Bookings: out}}
		if ref != nil {
			e.outcome = storedOutcome{Code: ref.Code, Message: ref.Message}
		}
		b.idem[ik] = e
	}
	if ref != nil {
		return vaxbook.Outcome{Err: ref}
	}
	return vaxbook.Outcome{Bookings: out}
}

// validate refuses malformed mutations.
func validate(m *vaxbook.Mutation) refusal {
	switch m.Kind {
	case vaxbook.MutationBook, vaxbook.MutationChange:
		if len(m.Legs) == 0 {
			return vaxbook.Errorf(vaxbook.CodeInvalid, "a %s needs at least one leg", m.Kind)
		}
		if m.Kind == vaxbook.MutationChange && m.BookingID == 0 {
			return vaxbook.Errorf(vaxbook.CodeInvalid, "a change needs a booking id")
		}
		for i, l := range m.Legs {
			if l.Dose < 1 || (i > 0 && l.Dose <= m.Legs[i-1].Dose) {
				return vaxbook.Errorf(vaxbook.CodeInvalid, "legs must be in increasing dose order from 1")
			}
		}
	case vaxbook.MutationCancel:
		if m.BookingID == 0 {
			return vaxbook.Errorf(vaxbook.CodeInvalid, "a cancel needs a booking id")
		}
	default:
		return vaxbook.Errorf(vaxbook.CodeInvalid, "unknown mutation kind %q", m.Kind)
	}
	return nil
}

// takeLegs takes one place per leg from the first listed row with room, or
// refuses and takes nothing.
func (b *batch) takeLegs(legs []vaxbook.Leg) ([]int, refusal) {
	cohorts := make([]int, len(legs))
	for i, l := range legs {
		took := false
		for _, c := range l.Cohorts {
			if q := b.quota[quotaKey{l.SlotID, c}]; q != nil && !q.missing && q.booked < q.capacity { // nil: no such row
				q.booked++
				cohorts[i], took = c, true
				break
			}
		}
		if !took {
			for j := range i { // undo
				b.quota[quotaKey{legs[j].SlotID, cohorts[j]}].booked--
			}
			if i == 0 {
				return nil, vaxbook.Errorf(vaxbook.CodeSlotFull, "no place left in this slot")
			}
			return nil, vaxbook.Errorf(vaxbook.CodeDose2Unavailable, "no place left for dose %d at the paired time", l.Dose)
		}
	}
	return cohorts, nil
}

func snapshot(list []*bk) []vaxbook.Booking {
	out := make([]vaxbook.Booking, len(list))
	for i, x := range list {
		out[i] = x.Booking
	}
	return out
}

func (b *batch) book(m *vaxbook.Mutation) ([]vaxbook.Booking, refusal) {
	pc := personCampaign{m.PersonID, m.CampaignID}
	act := b.active[pc]
	for _, x := range act {
		for _, l := range m.Legs {
			if l.Dose == x.Dose {
				return nil, vaxbook.Errorf(vaxbook.CodeAlreadyBooked, "you already have a booking for dose %d", x.Dose)
			}
		}
	}
	cohorts, ref := b.takeLegs(m.Legs)
	if ref != nil {
		return nil, ref
	}
	at := instant(micros(m.At))
	for i, l := range m.Legs {
		x := &bk{isNew: true, Booking: vaxbook.Booking{ID: b.nextID, PersonID: m.PersonID, CampaignID: m.CampaignID,
			Dose: l.Dose, SlotID: l.SlotID, Cohort: cohorts[i], Status: vaxbook.BookingActive, Version: 1,
			CreatedAt: at, UpdatedAt: at}}
		b.nextID++
		b.byID[x.ID] = x
		b.inserted = append(b.inserted, x)
		act = append(act, x)
	}
	slices.SortStableFunc(act, func(x, y *bk) int { return x.Dose - y.Dose })
	b.active[pc] = act
	return snapshot(act), nil
}

// owned checks that m.BookingID is an active booking of m's person and
// campaign and returns the person's active bookings of the campaign.
func (b *batch) owned(m *vaxbook.Mutation) ([]*bk, refusal) {
	x := b.byID[m.BookingID]
	switch {
	case x == nil || x.CampaignID != m.CampaignID:
		return nil, vaxbook.Errorf(vaxbook.CodeNotFound, "no booking %d in this campaign", m.BookingID)
	case x.PersonID != m.PersonID:
		return nil, vaxbook.Errorf(vaxbook.CodeNotYourBooking, "booking %d is not yours", m.BookingID)
	case x.Status != vaxbook.BookingActive:
		return nil, vaxbook.Errorf(vaxbook.CodeBookingCancelled, "booking %d was cancelled", m.BookingID)
	}
	return b.active[personCampaign{m.PersonID, m.CampaignID}], nil
}

func (b *batch) give(list []*bk, sign int) {
	for _, x := range list {
		k := quotaKey{x.SlotID, x.Cohort}
		q := b.quota[k]
		if q == nil { // a booking without its quota row: writing it fails the batch
			q = &quotaRow{missing: true}
			b.quota[k] = q
		}
		q.booked -= sign
	}
}

func (b *batch) change(m *vaxbook.Mutation) ([]vaxbook.Booking, refusal) {
	act, ref := b.owned(m)
	if ref != nil {
		return nil, ref
	}
	if len(act) != len(m.Legs) {
		return nil, vaxbook.Errorf(vaxbook.CodeInvalid, "a change must move every active dose (%d), not %d", len(act), len(m.Legs))
	}
	for i := range act { // both in dose order
		if act[i].Dose != m.Legs[i].Dose {
			return nil, vaxbook.Errorf(vaxbook.CodeInvalid, "a change must move every active dose")
		}
	}
	b.give(act, 1)
	cohorts, ref := b.takeLegs(m.Legs)
	if ref != nil {
		b.give(act, -1) // take the old places back
		return nil, ref
	}
	at := instant(micros(m.At))
	for i, x := range act {
		x.SlotID, x.Cohort, x.Version, x.UpdatedAt = m.Legs[i].SlotID, cohorts[i], x.Version+1, at
		x.dirty = !x.isNew
	}
	return snapshot(act), nil
}

func (b *batch) cancel(m *vaxbook.Mutation) ([]vaxbook.Booking, refusal) {
	act, ref := b.owned(m)
	if ref != nil {
		return nil, ref
	}
	b.give(act, 1)
	at := instant(micros(m.At))
	for _, x := range act {
		x.Status, x.Version, x.UpdatedAt = vaxbook.BookingCancelled, x.Version+1, at
		x.dirty = !x.isNew
	}
	delete(b.active, personCampaign{m.PersonID, m.CampaignID})
	return snapshot(act), nil
}

// write stores the net effect of the batch (step 3 of Apply). Updates of
// existing bookings go first: they only ever deactivate or move rows, so the
// inserts after them cannot meet a stale active row in the unique index.
func (b *batch) write(ctx context.Context, db *DB, tx *sql.Tx, seq int64) error {
	upd := rowset{cols: 6}
	for _, x := range b.byID {
		if x.dirty {
			upd.add(x.ID, x.SlotID, x.Cohort, string(x.Status), x.Version, micros(x.UpdatedAt))
		}
	}
	if err := db.execRows(ctx, tx, "update bookings", upd, func(v string) string {
		return `WITH v(id, slot_id, cohort, status, version, updated_at) AS (VALUES ` + v + `)
			UPDATE booking SET slot_id = v.slot_id, cohort = v.cohort, status = v.status, version = v.version, updated_at = v.updated_at
			FROM v WHERE booking.id = v.id`
	}); err != nil {
		return err
	}
	ins := rowset{cols: 10}
	for _, x := range b.inserted {
		ins.add(x.ID, x.PersonID, x.CampaignID, x.Dose, x.SlotID, x.Cohort, string(x.Status), x.Version, micros(x.CreatedAt), micros(x.UpdatedAt))
	}
	if err := db.execRows(ctx, tx, "insert bookings", ins, func(v string) string {
		return `INSERT INTO booking (id, person_id, campaign_id, dose, slot_id, cohort, status, version, created_at, updated_at) VALUES ` + v
	}); err != nil {
		return err
	}
	// Conditional: the row must hold what was read and the new value must
	// fit its capacity.
	qs, log := rowset{cols: 4}, rowset{cols: 3}
	for k, q := range b.quota {
		if q != nil && q.booked != q.read {
			qs.add(k.slot, k.cohort, q.read, q.booked)
			log.add(seq, k.slot, k.cohort)
		}
	}
	if err := db.execRows(ctx, tx, "update quotas", qs, func(v string) string {
		return `WITH v(slot_id, cohort, old, new) AS (VALUES ` + v + `)
			UPDATE quota SET booked = v.new FROM v
			WHERE quota.slot_id = v.slot_id AND quota.cohort = v.cohort
			AND quota.booked = v.old AND v.new BETWEEN 0 AND quota.capacity`
	}); err != nil {
		return err
	}
	if qs.n() > 0 {
		if err := db.execRows(ctx, tx, "log quota changes", log, func(v string) string {
			return `INSERT INTO quota_change (seq, slot_id, cohort) VALUES ` + v
		}); err != nil {
			return err
		}
		clock, args := `UPDATE quota_clock SET seq = ? WHERE id = 1`, []any{seq}
		if keep := db.quotaLogKeep; seq%db.quotaLogPruneEvery == 0 && seq > keep {
			if _, err := tx.ExecContext(ctx, `DELETE FROM quota_change WHERE seq <= ?`, seq-keep); err != nil {
				return internal("apply: prune quota log", err)
			}
			clock, args = `UPDATE quota_clock SET seq = ?, kept_from = ? WHERE id = 1`, []any{seq, seq - keep + 1}
		}
		if _, err := tx.ExecContext(ctx, clock, args...); err != nil {
			return internal("apply: advance quota clock", err)
		}
	}
	idem := rowset{cols: 5}
	for k, e := range b.idem {
		if e.isNew {
			idem.add(k.person, k.key, e.hash, string(appendOutcome(nil, e.outcome)), e.at)
		}
	}
	return db.execRows(ctx, tx, "store outcomes", idem, func(v string) string {
		return `INSERT INTO idempotency (person_id, key, request_hash, outcome, created_at) VALUES ` + v
	})
}

// The quota change log keeps the changes of the last quotaLogKeep commits
// that changed quotas, pruned every quotaLogPruneEvery of them (at a rush's
// hundred commits a second, ten seconds: far more than a cluster node's
// refresh interval). Tests set smaller values on the DB.
const (
	quotaLogKeep       = 1024
	quotaLogPruneEvery = 128
)

// appendOutcome encodes o as JSON, as json.Marshal would (storedOutcome and
// vaxbook.Booking field names), without reflection: it runs for every
// idempotent mutation.
func appendOutcome(buf []byte, o storedOutcome) []byte {
	buf = append(buf, '{')
	if len(o.Bookings) > 0 {
		buf = append(buf, `"bookings":[`...)
		for i, x := range o.Bookings {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `{"id":`...)
			buf = strconv.AppendInt(buf, x.ID, 10)
			buf = append(buf, `,"person_id":`...)
			buf = strconv.AppendInt(buf, x.PersonID, 10)
			buf = append(buf, `,"campaign_id":`...)
			buf = appendJSONString(buf, x.CampaignID)
			buf = append(buf, `,"dose":`...)
			buf = strconv.AppendInt(buf, int64(x.Dose), 10)
			buf = append(buf, `,"slot_id":`...)
			buf = strconv.AppendInt(buf, x.SlotID, 10)
			buf = append(buf, `,"cohort":`...)
			buf = strconv.AppendInt(buf, int64(x.Cohort), 10)
			buf = append(buf, `,"status":`...)
			buf = appendJSONString(buf, string(x.Status))
			buf = append(buf, `,"version":`...)
			buf = strconv.AppendInt(buf, int64(x.Version), 10)
			buf = append(buf, `,"created_at":"`...)
			buf = x.CreatedAt.AppendFormat(buf, time.RFC3339Nano)
			buf = append(buf, `","updated_at":"`...)
			buf = x.UpdatedAt.AppendFormat(buf, time.RFC3339Nano)
			buf = append(buf, `"}`...)
		}
		buf = append(buf, ']')
	}
	if o.Code != "" {
		if len(o.Bookings) > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `"code":`...)
		buf = appendJSONString(buf, string(o.Code))
		buf = append(buf, `,"message":`...)
		buf = appendJSONString(buf, o.Message)
	}
	return append(buf, '}')
}

func appendJSONString(buf []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(buf, q...)
}
