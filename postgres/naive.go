package postgres

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"vaxbook"
)

// applyNaive is the baseline the benchmark measures group commit against:
// the textbook design where every booking is its own transaction and every
// step is its own statement (look up, conditional update, insert, read
// back). Its outcomes are the same as Apply's (the tests check it), but a
// batch is not atomic: each mutation commits on its own, so when an error is
// returned the mutations before the failing one are already committed.
func (db *DB) applyNaive(ctx context.Context, muts []vaxbook.Mutation) ([]vaxbook.Outcome, error) {
	outs := make([]vaxbook.Outcome, len(muts))
	for i, m := range muts {
		for attempt := 0; ; attempt++ {
			out, err := db.naiveOne(ctx, m)
			if err == nil {
				outs[i] = out
				break
			}
			if !retryable(err) || attempt >= db.opts.MaxRetries || ctx.Err() != nil {
				return nil, fmt.Errorf("postgres: naive apply: %w", err)
			}
			if err := backoff(ctx, attempt); err != nil {
				return nil, fmt.Errorf("postgres: naive apply: %w", err)
			}
		}
	}
	return outs, nil
}

// naiveOne runs one mutation in its own transaction.
func (db *DB) naiveOne(ctx context.Context, m vaxbook.Mutation) (out vaxbook.Outcome, err error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return vaxbook.Outcome{}, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if m.IdempotencyKey != "" {
		if !utf8.ValidString(m.IdempotencyKey) {
			return vaxbook.Outcome{Err: errKey()}, tx.Commit(ctx)
		}
		var (
			hash []byte
			enc  []byte
		)
		err := tx.QueryRow(ctx, `SELECT request_hash, outcome FROM idempotency WHERE person_id = $1 AND key = $2`,
			m.PersonID, []byte(m.IdempotencyKey)).Scan(&hash, &enc)
		switch {
		case err == nil:
			if string(hash) != m.RequestHash {
				return vaxbook.Outcome{Err: errKeyReused()}, tx.Commit(ctx)
			}
			out, err := decodeOutcome(enc)
			if err != nil {
				return vaxbook.Outcome{}, err
			}
			return out, tx.Commit(ctx)
		case !errors.Is(err, pgx.ErrNoRows):
			return vaxbook.Outcome{}, err
		}
	}
	if m.ReplayOnly {
		return vaxbook.Outcome{Err: vaxbook.ErrNoReplay}, tx.Commit(ctx)
	}
	if err := validate(m); err != nil {
		return vaxbook.Outcome{Err: err}, tx.Commit(ctx)
	}
	var campaignOK, personOK bool
	if validText(m.CampaignID) {
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM campaign WHERE id = $1), EXISTS (SELECT 1 FROM person WHERE id = $2)`,
			m.CampaignID, m.PersonID).Scan(&campaignOK, &personOK); err != nil {
			return vaxbook.Outcome{}, err
		}
	}
	n := naive{tx: tx, m: m}
	switch {
	case !campaignOK:
		out = vaxbook.Outcome{Err: errNoCampaign(m.CampaignID)}
	case !personOK:
		out = vaxbook.Outcome{Err: errNoPerson(m.PersonID)}
	case m.Kind == vaxbook.MutationBook:
		out, err = n.book(ctx)
	case m.Kind == vaxbook.MutationChange:
		out, err = n.change(ctx)
	case m.Kind == vaxbook.MutationCancel:
		out, err = n.cancel(ctx)
	}
	if err != nil {
		return vaxbook.Outcome{}, err
	}
	if out.Err != nil && len(n.undo) > 0 {
		// A refusal changes nothing: give back what the steps before took.
		for _, u := range n.undo {
			if _, err := tx.Exec(ctx, `UPDATE quota SET booked = booked - $2 WHERE id = $1`,
				quotaID(u.slot, int(u.cohort)), u.delta); err != nil {
				return vaxbook.Outcome{}, err
			}
		}
	}
	if out.Err == nil && len(n.undo) > 0 {
		ids := make([]int64, len(n.undo))
		for i, u := range n.undo {
			ids[i] = quotaID(u.slot, int(u.cohort))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO quota_change (campaign_id, quota_ids) VALUES ($1, $2)`, m.CampaignID, ids); err != nil {
			return vaxbook.Outcome{}, err
		}
	}
	if m.IdempotencyKey != "" && vaxbook.ErrorCode(out.Err) != vaxbook.CodeInvalid {
		enc, err := encodeOutcome(out)
		if err != nil {
			return vaxbook.Outcome{}, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO idempotency (person_id, key, request_hash, outcome, created_at)
VALUES ($1, $2, $3, $4, $5)`, m.PersonID, []byte(m.IdempotencyKey), []byte(m.RequestHash), enc, ts(m.At)); err != nil {
			return vaxbook.Outcome{}, err
		}
	}
	return out, tx.Commit(ctx)
}

type undoStep struct {
	slot   int64
	cohort int16
	delta  int
}

// naive runs one mutation statement by statement.
type naive struct {
	tx   pgx.Tx
	m    vaxbook.Mutation
	undo []undoStep
}

// quota changes one quota row by delta if it stays within [0, capacity]
// and reports whether it did.
func (n *naive) quota(ctx context.Context, slot int64, cohort int, delta int) (bool, error) {
	if cohort < 0 || cohort > 15 {
		return false, nil // no such row
	}
	tag, err := n.tx.Exec(ctx, `UPDATE quota SET booked = booked + $2
WHERE id = $1 AND campaign_id = $3 AND booked + $2 BETWEEN 0 AND capacity`,
		quotaID(slot, cohort), delta, n.m.CampaignID)
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	n.undo = append(n.undo, undoStep{slot, int16(cohort), delta})
	return true, nil
}

// take books a place for every leg; on refusal the caller undoes.
func (n *naive) take(ctx context.Context) ([]place, error, error) {
	ps := make([]place, len(n.m.Legs))
	for i, l := range n.m.Legs {
		found := false
		for _, c := range l.Cohorts {
			ok, err := n.quota(ctx, l.SlotID, c, +1)
			if err != nil {
				return nil, nil, err
			}
			if ok {
				ps[i] = place{l.SlotID, c}
				found = true
				break
			}
		}
		if !found {
			return nil, errNoRoom(i, l), nil
		}
	}
	return ps, nil, nil
}

func (n *naive) insert(ctx context.Context, dose int, p place) error {
	_, err := n.tx.Exec(ctx, `INSERT INTO booking (person_id, campaign_id, dose, slot_id, cohort, status, version, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, 'active', 1, $6, $6)`, n.m.PersonID, n.m.CampaignID, int16(dose), p.slot, int16(p.cohort), ts(n.m.At))
	return err
}

// active returns the person's active bookings of the campaign, locked.
func (n *naive) active(ctx context.Context) ([]vaxbook.Booking, error) {
	rows, err := n.tx.Query(ctx, `SELECT `+bookingCols+` FROM booking
WHERE person_id = $1 AND campaign_id = $2 AND status = 'active' ORDER BY dose, id FOR UPDATE`, n.m.PersonID, n.m.CampaignID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (vaxbook.Booking, error) { return scanBooking(r) })
}

func (n *naive) result(ctx context.Context) (vaxbook.Outcome, error) {
	bs, err := n.active(ctx)
	if err != nil {
		return vaxbook.Outcome{}, err
	}
	return vaxbook.Outcome{Bookings: bs}, nil
}

func (n *naive) book(ctx context.Context) (vaxbook.Outcome, error) {
	doses := make([]int16, len(n.m.Legs))
	for i, l := range n.m.Legs {
		doses[i] = int16(l.Dose)
	}
	var dose int16
	err := n.tx.QueryRow(ctx, `SELECT dose FROM booking
WHERE person_id = $1 AND campaign_id = $2 AND status = 'active' AND dose = ANY($3) ORDER BY dose LIMIT 1`,
		n.m.PersonID, n.m.CampaignID, doses).Scan(&dose)
	if err == nil {
		return vaxbook.Outcome{Err: errAlreadyBooked(int(dose))}, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return vaxbook.Outcome{}, err
	}
	ps, refusal, err := n.take(ctx)
	if err != nil || refusal != nil {
		return vaxbook.Outcome{Err: refusal}, err
	}
	for i, l := range n.m.Legs {
		if err := n.insert(ctx, l.Dose, ps[i]); err != nil {
			return vaxbook.Outcome{}, err
		}
	}
	return n.result(ctx)
}

// target locks and checks the booking the change or cancel names.
func (n *naive) target(ctx context.Context) (error, error) {
	b, err := scanBooking(n.tx.QueryRow(ctx, `SELECT `+bookingCols+` FROM booking WHERE id = $1 FOR UPDATE`, n.m.BookingID))
	if errors.Is(err, pgx.ErrNoRows) {
		return checkTarget(n.m, nil), nil
	}
	if err != nil {
		return nil, err
	}
	return checkTarget(n.m, &b), nil
}

func (n *naive) change(ctx context.Context) (vaxbook.Outcome, error) {
	if refusal, err := n.target(ctx); err != nil || refusal != nil {
		return vaxbook.Outcome{Err: refusal}, err
	}
	act, err := n.active(ctx)
	if err != nil {
		return vaxbook.Outcome{}, err
	}
	ptrs := make([]*vaxbook.Booking, len(act))
	for i := range act {
		ptrs[i] = &act[i]
	}
	moving, refusal := matchLegs(n.m, ptrs)
	if refusal != nil {
		return vaxbook.Outcome{Err: refusal}, nil
	}
	for _, b := range moving {
		if _, err := n.quota(ctx, b.SlotID, b.Cohort, -1); err != nil {
			return vaxbook.Outcome{}, err
		}
	}
	ps, refusal, err := n.take(ctx)
	if err != nil || refusal != nil {
		return vaxbook.Outcome{Err: refusal}, err
	}
	for i, b := range moving {
		if _, err := n.tx.Exec(ctx, `UPDATE booking SET slot_id = $2, cohort = $3, version = version + 1, updated_at = $4 WHERE id = $1`,
			b.ID, ps[i].slot, int16(ps[i].cohort), ts(n.m.At)); err != nil {
			return vaxbook.Outcome{}, err
		}
	}
	return n.result(ctx)
}

func (n *naive) cancel(ctx context.Context) (vaxbook.Outcome, error) {
	if refusal, err := n.target(ctx); err != nil || refusal != nil {
		return vaxbook.Outcome{Err: refusal}, err
	}
	act, err := n.active(ctx)
	if err != nil {
		return vaxbook.Outcome{}, err
	}
	for _, b := range act {
		if _, err := n.quota(ctx, b.SlotID, b.Cohort, -1); err != nil {
			return vaxbook.Outcome{}, err
		}
	}
	rows, err := n.tx.Query(ctx, `UPDATE booking SET status = 'cancelled', version = version + 1, updated_at = $3
WHERE person_id = $1 AND campaign_id = $2 AND status = 'active' RETURNING `+bookingCols, n.m.PersonID, n.m.CampaignID, ts(n.m.At))
	if err != nil {
		return vaxbook.Outcome{}, err
	}
	bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (vaxbook.Booking, error) { return scanBooking(r) })
	if err != nil {
		return vaxbook.Outcome{}, err
	}
	sortBookings(bs)
	return vaxbook.Outcome{Bookings: bs}, nil
}
