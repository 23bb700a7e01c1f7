package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"vaxbook"
)

// refusal is a mutation refused by the rules (as opposed to a failure of
// the batch).
type refusal = *vaxbook.Error

// storedOutcome is what the idempotency table keeps.
type storedOutcome struct {
	Bookings []vaxbook.Booking `json:"bookings,omitempty"`
	Code     vaxbook.Code      `json:"code,omitempty"`
	Message  string            `json:"message,omitempty"`
}

// applyTx is the state of one Apply transaction.
type applyTx struct {
	ctx     context.Context
	tx      *sql.Tx
	seq     int64 // the quota change sequence number this commit writes
	touched bool  // a quota row was written
}

// Apply implements vaxbook.BookingStore: one transaction for the batch, a
// savepoint per mutation so that a refused mutation changes nothing.
func (db *DB) Apply(ctx context.Context, muts []vaxbook.Mutation) ([]vaxbook.Outcome, error) {
	outs := make([]vaxbook.Outcome, len(muts))
	if len(muts) == 0 {
		return outs, nil
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, internal("apply: begin", err)
	}
	defer tx.Rollback()
	a := &applyTx{ctx: ctx, tx: tx}
	if err := tx.QueryRowContext(ctx, `SELECT seq FROM quota_clock WHERE id = 1`).Scan(&a.seq); err != nil {
		return nil, internal("apply: read quota clock", err)
	}
	a.seq++
	for i := range muts {
		if outs[i], err = a.apply(&muts[i]); err != nil {
			return nil, err
		}
	}
	if a.touched {
		if _, err := tx.ExecContext(ctx, `UPDATE quota_clock SET seq = ? WHERE id = 1`, a.seq); err != nil {
			return nil, internal("apply: advance quota clock", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, internal("apply: commit", err)
	}
	return outs, nil
}

// apply runs one mutation. The error is for the batch; refusals are in the
// outcome.
func (a *applyTx) apply(m *vaxbook.Mutation) (vaxbook.Outcome, error) {
	ctx, tx := a.ctx, a.tx
	if m.IdempotencyKey != "" {
		var hash, body string
		err := tx.QueryRowContext(ctx, `SELECT request_hash, outcome FROM idempotency WHERE person_id = ? AND key = ?`,
			m.PersonID, m.IdempotencyKey).Scan(&hash, &body)
		switch {
		case err == nil && hash != m.RequestHash:
			return vaxbook.Outcome{Err: vaxbook.Errorf(vaxbook.CodeIdempotencyReused,
				"this Idempotency-Key was already used for a different request")}, nil
		case err == nil:
			var so storedOutcome
			if err := json.Unmarshal([]byte(body), &so); err != nil {
				return vaxbook.Outcome{}, internal("apply: stored outcome", err)
			}
			o := vaxbook.Outcome{Bookings: so.Bookings, Replayed: true}
			if so.Code != "" {
				o.Err = &vaxbook.Error{Code: so.Code, Message: so.Message}
			}
			return o, nil
		case !errors.Is(err, sql.ErrNoRows):
			return vaxbook.Outcome{}, internal("apply: idempotency lookup", err)
		}
	}
	if r := validate(m); r != nil {
		return vaxbook.Outcome{Err: r}, nil
	}
	if _, err := tx.ExecContext(ctx, `SAVEPOINT m`); err != nil {
		return vaxbook.Outcome{}, internal("apply: savepoint", err)
	}
	var (
		bookings []vaxbook.Booking
		ref      refusal
		err      error
	)
	switch m.Kind {
	case vaxbook.MutationBook:
		bookings, ref, err = a.book(m)
	case vaxbook.MutationChange:
		bookings, ref, err = a.change(m)
	case vaxbook.MutationCancel:
		bookings, ref, err = a.cancel(m)
	}
	if err != nil {
		return vaxbook.Outcome{}, err
	}
	if ref != nil {
		if _, err := tx.ExecContext(ctx, `ROLLBACK TO m`); err != nil {
			return vaxbook.Outcome{}, internal("apply: rollback to savepoint", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `RELEASE m`); err != nil {
		return vaxbook.Outcome{}, internal("apply: release savepoint", err)
	}
	o := vaxbook.Outcome{Bookings: bookings}
	so := storedOutcome{Bookings: bookings}
	if ref != nil {
		o = vaxbook.Outcome{Err: ref}
		so = storedOutcome{Code: ref.Code, Message: ref.Message}
	}
	if m.IdempotencyKey != "" {
		body, err := json.Marshal(so)
		if err != nil {
			return vaxbook.Outcome{}, internal("apply: encode outcome", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO idempotency (person_id, key, request_hash, outcome, created_at) VALUES (?, ?, ?, ?, ?)`,
			m.PersonID, m.IdempotencyKey, m.RequestHash, string(body), micros(m.At)); err != nil {
			return vaxbook.Outcome{}, internal("apply: store outcome", err)
		}
	}
	return o, nil
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

// active returns the person's active bookings of the campaign in dose order.
func (a *applyTx) active(personID int64, campaignID string) ([]vaxbook.Booking, error) {
	rows, err := a.tx.QueryContext(a.ctx, `SELECT id, dose, slot_id, cohort, version, created_at, updated_at
		FROM booking WHERE person_id = ? AND campaign_id = ? AND status = 'active' ORDER BY dose`, personID, campaignID)
	if err != nil {
		return nil, internal("apply: active bookings", err)
	}
	defer rows.Close()
	var out []vaxbook.Booking
	for rows.Next() {
		b := vaxbook.Booking{PersonID: personID, CampaignID: campaignID, Status: vaxbook.BookingActive}
		var created, updated int64
		if err := rows.Scan(&b.ID, &b.Dose, &b.SlotID, &b.Cohort, &b.Version, &created, &updated); err != nil {
			return nil, internal("apply: active bookings", err)
		}
		b.CreatedAt, b.UpdatedAt = instant(created), instant(updated)
		out = append(out, b)
	}
	return out, internal("apply: active bookings", rows.Err())
}

// take takes one place for leg from the first listed cohort row with room;
// it returns the cohort, or -1 if none has room.
func (a *applyTx) take(l vaxbook.Leg) (int, error) {
	for _, c := range l.Cohorts {
		res, err := a.tx.ExecContext(a.ctx, `UPDATE quota SET booked = booked + 1, seq = ?
			WHERE slot_id = ? AND cohort = ? AND booked < capacity`, a.seq, l.SlotID, c)
		if err != nil {
			return 0, internal("apply: take place", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return 0, internal("apply: take place", err)
		} else if n == 1 {
			a.touched = true
			return c, nil
		}
	}
	return -1, nil
}

// give returns the place of b to its row.
func (a *applyTx) give(b vaxbook.Booking) error {
	res, err := a.tx.ExecContext(a.ctx, `UPDATE quota SET booked = booked - 1, seq = ? WHERE slot_id = ? AND cohort = ?`,
		a.seq, b.SlotID, b.Cohort)
	if err != nil {
		return internal("apply: return place", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return internal("apply: return place", fmt.Errorf("booking %d: quota row (%d, %d) missing (%v)", b.ID, b.SlotID, b.Cohort, err))
	}
	a.touched = true
	return nil
}

// takeLegs takes a place for every leg, or refuses.
func (a *applyTx) takeLegs(legs []vaxbook.Leg) ([]int, refusal, error) {
	cohorts := make([]int, len(legs))
	for i, l := range legs {
		c, err := a.take(l)
		if err != nil {
			return nil, nil, err
		}
		if c < 0 {
			if i == 0 {
				return nil, vaxbook.Errorf(vaxbook.CodeSlotFull, "no place left in this slot"), nil
			}
			return nil, vaxbook.Errorf(vaxbook.CodeDose2Unavailable, "no place left for dose %d at the paired time", l.Dose), nil
		}
		cohorts[i] = c
	}
	return cohorts, nil, nil
}

func (a *applyTx) book(m *vaxbook.Mutation) ([]vaxbook.Booking, refusal, error) {
	act, err := a.active(m.PersonID, m.CampaignID)
	if err != nil {
		return nil, nil, err
	}
	for _, b := range act {
		for _, l := range m.Legs {
			if l.Dose == b.Dose {
				return nil, vaxbook.Errorf(vaxbook.CodeAlreadyBooked, "you already have a booking for dose %d", b.Dose), nil
			}
		}
	}
	cohorts, ref, err := a.takeLegs(m.Legs)
	if ref != nil || err != nil {
		return nil, ref, err
	}
	at := micros(m.At)
	for i, l := range m.Legs {
		res, err := a.tx.ExecContext(a.ctx, `INSERT INTO booking (person_id, campaign_id, dose, slot_id, cohort, status, version, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 'active', 1, ?, ?)`, m.PersonID, m.CampaignID, l.Dose, l.SlotID, cohorts[i], at, at)
		if err != nil {
			return nil, nil, internal("apply: insert booking", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return nil, nil, internal("apply: insert booking", err)
		}
		act = append(act, vaxbook.Booking{ID: id, PersonID: m.PersonID, CampaignID: m.CampaignID, Dose: l.Dose,
			SlotID: l.SlotID, Cohort: cohorts[i], Status: vaxbook.BookingActive, Version: 1,
			CreatedAt: instant(at), UpdatedAt: instant(at)})
	}
	sortByDose(act)
	return act, nil, nil
}

// owned checks that m.BookingID is an active booking of m's person and
// campaign, and returns the person's active bookings of the campaign.
func (a *applyTx) owned(m *vaxbook.Mutation) ([]vaxbook.Booking, refusal, error) {
	var person int64
	var campaign, status string
	err := a.tx.QueryRowContext(a.ctx, `SELECT person_id, campaign_id, status FROM booking WHERE id = ?`, m.BookingID).
		Scan(&person, &campaign, &status)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && campaign != m.CampaignID) {
		return nil, vaxbook.Errorf(vaxbook.CodeNotFound, "no booking %d in this campaign", m.BookingID), nil
	}
	if err != nil {
		return nil, nil, internal("apply: booking lookup", err)
	}
	if person != m.PersonID {
		return nil, vaxbook.Errorf(vaxbook.CodeNotYourBooking, "booking %d is not yours", m.BookingID), nil
	}
	if status != string(vaxbook.BookingActive) {
		return nil, vaxbook.Errorf(vaxbook.CodeBookingCancelled, "booking %d was cancelled", m.BookingID), nil
	}
	act, err := a.active(m.PersonID, m.CampaignID)
	return act, nil, err
}

func (a *applyTx) change(m *vaxbook.Mutation) ([]vaxbook.Booking, refusal, error) {
	act, ref, err := a.owned(m)
	if ref != nil || err != nil {
		return nil, ref, err
	}
	if len(act) != len(m.Legs) {
		return nil, vaxbook.Errorf(vaxbook.CodeInvalid, "a change must move every active dose (%d), not %d", len(act), len(m.Legs)), nil
	}
	for i := range act { // both in dose order
		if act[i].Dose != m.Legs[i].Dose {
			return nil, vaxbook.Errorf(vaxbook.CodeInvalid, "a change must move every active dose"), nil
		}
	}
	for _, b := range act {
		if err := a.give(b); err != nil {
			return nil, nil, err
		}
	}
	cohorts, ref, err := a.takeLegs(m.Legs)
	if ref != nil || err != nil {
		return nil, ref, err
	}
	at := micros(m.At)
	for i := range act {
		b := &act[i]
		if _, err := a.tx.ExecContext(a.ctx, `UPDATE booking SET slot_id = ?, cohort = ?, version = version + 1, updated_at = ? WHERE id = ?`,
			m.Legs[i].SlotID, cohorts[i], at, b.ID); err != nil {
			return nil, nil, internal("apply: move booking", err)
		}
		b.SlotID, b.Cohort, b.Version, b.UpdatedAt = m.Legs[i].SlotID, cohorts[i], b.Version+1, instant(at)
	}
	return act, nil, nil
}

func (a *applyTx) cancel(m *vaxbook.Mutation) ([]vaxbook.Booking, refusal, error) {
	act, ref, err := a.owned(m)
	if ref != nil || err != nil {
		return nil, ref, err
	}
	at := micros(m.At)
	for i := range act {
		b := &act[i]
		if err := a.give(*b); err != nil {
			return nil, nil, err
		}
		if _, err := a.tx.ExecContext(a.ctx, `UPDATE booking SET status = 'cancelled', version = version + 1, updated_at = ? WHERE id = ?`,
			at, b.ID); err != nil {
			return nil, nil, internal("apply: cancel booking", err)
		}
		b.Status, b.Version, b.UpdatedAt = vaxbook.BookingCancelled, b.Version+1, instant(at)
	}
	return act, nil, nil
}

func sortByDose(bs []vaxbook.Booking) {
	for i := 1; i < len(bs); i++ {
		for j := i; j > 0 && bs[j].Dose < bs[j-1].Dose; j-- {
			bs[j], bs[j-1] = bs[j-1], bs[j]
		}
	}
}

const bookingColumns = `id, person_id, campaign_id, dose, slot_id, cohort, status, version, created_at, updated_at`

func scanBooking(row interface{ Scan(...any) error }) (vaxbook.Booking, error) {
	var b vaxbook.Booking
	var status string
	var created, updated int64
	err := row.Scan(&b.ID, &b.PersonID, &b.CampaignID, &b.Dose, &b.SlotID, &b.Cohort, &status, &b.Version, &created, &updated)
	b.Status, b.CreatedAt, b.UpdatedAt = vaxbook.BookingStatus(status), instant(created), instant(updated)
	return b, err
}

// Booking implements vaxbook.BookingStore.
func (db *DB) Booking(ctx context.Context, id int64) (vaxbook.Booking, error) {
	b, err := scanBooking(db.r.QueryRowContext(ctx, `SELECT `+bookingColumns+` FROM booking WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return b, vaxbook.Errorf(vaxbook.CodeNotFound, "no booking %d", id)
	}
	return b, internal("booking", err)
}

// Bookings implements vaxbook.BookingStore.
func (db *DB) Bookings(ctx context.Context, personID int64, campaignID string) ([]vaxbook.Booking, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+bookingColumns+` FROM booking
		WHERE person_id = ? AND campaign_id = ? ORDER BY dose, id`, personID, campaignID)
	if err != nil {
		return nil, internal("bookings", err)
	}
	defer rows.Close()
	var out []vaxbook.Booking
	for rows.Next() {
		b, err := scanBooking(rows)
		if err != nil {
			return nil, internal("bookings", err)
		}
		out = append(out, b)
	}
	return out, internal("bookings", rows.Err())
}

// readTx runs fn in one read transaction (one WAL snapshot).
func (db *DB) readTx(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return internal(what, err)
	}
	defer tx.Rollback()
	return fn(tx)
}

func scanQuotas(rows *sql.Rows, fn func(vaxbook.Quota) error) error {
	defer rows.Close()
	for rows.Next() {
		var q vaxbook.Quota
		if err := rows.Scan(&q.SlotID, &q.Cohort, &q.Capacity, &q.Booked); err != nil {
			return internal("quotas", err)
		}
		if err := fn(q); err != nil {
			return err
		}
	}
	return internal("quotas", rows.Err())
}

// Quotas implements vaxbook.BookingStore.
func (db *DB) Quotas(ctx context.Context, campaignID string, fn func(vaxbook.Quota) error) (int64, error) {
	var seq int64
	err := db.readTx(ctx, "quotas", func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT seq FROM quota_clock WHERE id = 1`).Scan(&seq); err != nil {
			return internal("quotas", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT q.slot_id, q.cohort, q.capacity, q.booked
			FROM slot s JOIN quota q ON q.slot_id = s.id WHERE s.campaign_id = ? ORDER BY q.slot_id, q.cohort`, campaignID)
		if err != nil {
			return internal("quotas", err)
		}
		return scanQuotas(rows, fn)
	})
	return seq, err
}

// QuotaChanges implements vaxbook.BookingStore.
func (db *DB) QuotaChanges(ctx context.Context, campaignID string, since int64) ([]vaxbook.Quota, int64, error) {
	var seq int64
	var out []vaxbook.Quota
	err := db.readTx(ctx, "quota changes", func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT seq FROM quota_clock WHERE id = 1`).Scan(&seq); err != nil {
			return internal("quota changes", err)
		}
		if seq <= since {
			return nil
		}
		rows, err := tx.QueryContext(ctx, `SELECT q.slot_id, q.cohort, q.capacity, q.booked
			FROM quota q JOIN slot s ON s.id = q.slot_id WHERE q.seq > ? AND s.campaign_id = ?`, since, campaignID)
		if err != nil {
			return internal("quota changes", err)
		}
		return scanQuotas(rows, func(q vaxbook.Quota) error {
			out = append(out, q)
			return nil
		})
	})
	return out, max(seq, since), err
}

// CheckInvariants implements vaxbook.Auditor, counting from the database in
// one snapshot.
func (db *DB) CheckInvariants(ctx context.Context, campaignID string) (vaxbook.InvariantReport, error) {
	var r vaxbook.InvariantReport
	err := db.readTx(ctx, "check invariants", func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT
			(SELECT COUNT(*) FROM quota q JOIN slot s ON s.id = q.slot_id WHERE s.campaign_id = ?1),
			(SELECT COUNT(*) FROM booking WHERE campaign_id = ?1 AND status = 'active')`, campaignID).
			Scan(&r.QuotaRows, &r.ActiveBookings); err != nil {
			return internal("check invariants", err)
		}
		checks := []struct {
			count *int64
			query string
		}{
			{&r.OverCapacity, `SELECT 'quota row (' || q.slot_id || ', ' || q.cohort || ') booked ' || q.booked || ' of ' || q.capacity
				FROM quota q JOIN slot s ON s.id = q.slot_id
				WHERE s.campaign_id = ?1 AND (q.booked > q.capacity OR q.booked < 0)`},
			{&r.CounterMismatch, `WITH taken AS (
					SELECT slot_id, cohort, COUNT(*) AS n FROM booking
					WHERE campaign_id = ?1 AND status = 'active' GROUP BY slot_id, cohort)
				SELECT 'quota row (' || q.slot_id || ', ' || q.cohort || ') booked ' || q.booked || ', active bookings ' || COALESCE(t.n, 0)
				FROM quota q JOIN slot s ON s.id = q.slot_id
				LEFT JOIN taken t ON t.slot_id = q.slot_id AND t.cohort = q.cohort
				WHERE s.campaign_id = ?1 AND q.booked <> COALESCE(t.n, 0)
				UNION ALL
				SELECT 'active bookings ' || t.n || ' from missing quota row (' || t.slot_id || ', ' || t.cohort || ')'
				FROM taken t WHERE NOT EXISTS (SELECT 1 FROM quota q WHERE q.slot_id = t.slot_id AND q.cohort = t.cohort)`},
			{&r.DoubleBooked, `SELECT 'person ' || person_id || ' dose ' || dose || ': ' || COUNT(*) || ' active bookings'
				FROM booking WHERE campaign_id = ?1 AND status = 'active'
				GROUP BY person_id, dose HAVING COUNT(*) > 1`},
			{&r.OrphanDose2, `SELECT 'person ' || b.person_id || ': active dose ' || b.dose || ' booking ' || b.id || ' without an active dose 1'
				FROM booking b WHERE b.campaign_id = ?1 AND b.status = 'active' AND b.dose > 1
				AND NOT EXISTS (SELECT 1 FROM booking d WHERE d.person_id = b.person_id AND d.campaign_id = b.campaign_id
					AND d.dose = 1 AND d.status = 'active')`},
		}
		for _, c := range checks {
			rows, err := tx.QueryContext(ctx, c.query, campaignID)
			if err != nil {
				return internal("check invariants", err)
			}
			for rows.Next() {
				var ex string
				if err := rows.Scan(&ex); err != nil {
					rows.Close()
					return internal("check invariants", err)
				}
				*c.count++
				if len(r.Examples) < 20 {
					r.Examples = append(r.Examples, ex)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return internal("check invariants", err)
			}
		}
		return nil
	})
	return r, err
}
