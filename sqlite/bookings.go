package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"vaxbook"
)

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

// QuotaChanges implements vaxbook.BookingStore. Changes older than the
// log keeps are answered with every row of the campaign.
func (db *DB) QuotaChanges(ctx context.Context, campaignID string, since int64) ([]vaxbook.Quota, int64, error) {
	var seq, keptFrom int64
	var out []vaxbook.Quota
	err := db.readTx(ctx, "quota changes", func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT seq, kept_from FROM quota_clock WHERE id = 1`).Scan(&seq, &keptFrom); err != nil {
			return internal("quota changes", err)
		}
		if seq <= since {
			return nil
		}
		q, args := `SELECT q.slot_id, q.cohort, q.capacity, q.booked
			FROM slot s JOIN quota q ON q.slot_id = s.id WHERE s.campaign_id = ?`, []any{campaignID}
		if since+1 >= keptFrom {
			q, args = `SELECT DISTINCT q.slot_id, q.cohort, q.capacity, q.booked
				FROM quota_change c JOIN slot s ON s.id = c.slot_id AND s.campaign_id = ?
				JOIN quota q ON q.slot_id = c.slot_id AND q.cohort = c.cohort
				WHERE c.seq > ?`, []any{campaignID, since}
		}
		rows, err := tx.QueryContext(ctx, q, args...)
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

// idemChunk bounds the stored outcomes one statement forgets, so that a
// sweep shares the writer with bookings in short turns.
const idemChunk = 2000

// DeleteIdempotencyBefore implements vaxbook.BookingStore, a chunk per
// group write.
func (db *DB) DeleteIdempotencyBefore(ctx context.Context, t time.Time) (int, error) {
	total := 0
	for {
		var n int64
		err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM idempotency WHERE (person_id, key) IN
				(SELECT person_id, key FROM idempotency WHERE created_at < ? LIMIT ?)`, micros(t), idemChunk)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, internal("delete idempotency", err)
		}
		total += int(n)
		if n < idemChunk {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, internal("delete idempotency", err)
		}
	}
}
