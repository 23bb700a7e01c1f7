package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"vaxbook"
)

// scanBooking reads the bookingCols of one row.
func scanBooking(row pgx.Row) (vaxbook.Booking, error) {
	var (
		b            vaxbook.Booking
		dose, cohort int16
		status       string
		version      int32
	)
	err := row.Scan(&b.ID, &b.PersonID, &b.CampaignID, &dose, &b.SlotID, &cohort, &status, &version, &b.CreatedAt, &b.UpdatedAt)
	if err != nil {
		return vaxbook.Booking{}, err
	}
	b.Dose, b.Cohort, b.Status, b.Version = int(dose), int(cohort), vaxbook.BookingStatus(status), int(version)
	b.CreatedAt, b.UpdatedAt = b.CreatedAt.UTC(), b.UpdatedAt.UTC()
	return b, nil
}

// Booking returns one booking (CodeNotFound if there is none).
func (db *DB) Booking(ctx context.Context, id int64) (vaxbook.Booking, error) {
	b, err := scanBooking(db.pool.QueryRow(ctx, `SELECT `+bookingCols+` FROM booking WHERE id = $1`, id))
	if err != nil {
		return vaxbook.Booking{}, notFound(err, "booking %d not found", id)
	}
	return b, nil
}

// Bookings returns a person's bookings of a campaign, active and cancelled,
// ordered by dose then id.
func (db *DB) Bookings(ctx context.Context, personID int64, campaignID string) ([]vaxbook.Booking, error) {
	if !validText(campaignID) {
		return []vaxbook.Booking{}, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT `+bookingCols+` FROM booking
WHERE person_id = $1 AND campaign_id = $2 ORDER BY dose, id`, personID, campaignID)
	if err != nil {
		return nil, fmt.Errorf("postgres: bookings: %w", err)
	}
	bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (vaxbook.Booking, error) { return scanBooking(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: bookings: %w", err)
	}
	return bs, nil
}

// Change sequence numbers.
//
// A node keeps its availability index current by polling QuotaChanges. Every
// transaction that changes quota counters also appends one quota_change row
// per campaign naming the rows it changed, stamped with the transaction's
// id (pg_current_xact_id()). A plain sequence would lose changes: numbers
// are drawn when a transaction writes, not when it commits, so a poll can
// see number 12 committed while 11 is still in flight and never come back
// for 11. Instead the sequence number handed to callers is the xmin of a
// snapshot taken before the read: every transaction with a smaller id had
// finished by then, so its entries were seen; entries of transactions at or
// above it are read again by the next poll. A poll returns the rows' values
// as of its own snapshot (never the values an entry saw: a re-read older
// entry would otherwise put an old value back), so repeating a row is
// harmless.
//
// The feed is pruned after Options.ChangeRetention; a caller whose sequence
// number is older than the pruned horizon gets every row of the campaign,
// which is still "at least every row changed".
const (
	sqlSnapshotXmin = `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint`
	quotaCols       = `slot_id, cohort, capacity, booked`

	// One statement, so one snapshot for the horizon, the entries and the
	// rows; the horizon comes back even when nothing changed. The rows are
	// found by one index probe each (the array's duplicates are dropped by
	// the index scan).
	sqlQuotaChanges = `SELECT h.xid, q.slot_id, q.cohort, q.capacity, q.booked
FROM quota_change_pruned h
LEFT JOIN quota q ON h.xid < $2 AND q.campaign_id = $1 AND q.id = ANY(ARRAY(
	SELECT unnest(c.quota_ids) FROM quota_change c WHERE c.campaign_id = $1 AND c.xid >= $2))`
)

func scanQuota(row pgx.Row) (vaxbook.Quota, error) {
	var (
		q      vaxbook.Quota
		cohort int16
	)
	if err := row.Scan(&q.SlotID, &cohort, &q.Capacity, &q.Booked); err != nil {
		return vaxbook.Quota{}, err
	}
	q.Cohort = int(cohort)
	return q, nil
}

// Quotas calls fn for every quota row of the campaign, ordered by slot then
// cohort, and returns the change sequence number the read reflects (to pass
// to QuotaChanges).
func (db *DB) Quotas(ctx context.Context, campaignID string, fn func(vaxbook.Quota) error) (int64, error) {
	var seq int64
	// The xmin is taken before the rows are read: a transaction the read does
	// not see has an id at or above the read's xmin, itself at or above seq.
	if err := db.pool.QueryRow(ctx, sqlSnapshotXmin).Scan(&seq); err != nil {
		return 0, fmt.Errorf("postgres: quotas: %w", err)
	}
	if !validText(campaignID) {
		return seq, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT `+quotaCols+` FROM quota WHERE campaign_id = $1 ORDER BY id`, campaignID)
	if err != nil {
		return 0, fmt.Errorf("postgres: quotas: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		q, err := scanQuota(rows)
		if err != nil {
			return 0, fmt.Errorf("postgres: quotas: %w", err)
		}
		if err := fn(q); err != nil {
			return 0, err
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("postgres: quotas: %w", err)
	}
	return seq, nil
}

// QuotaChanges returns the quota rows of the campaign changed by
// transactions at or after seq (see "Change sequence numbers"), with their
// current values, in any order, and the sequence number to pass next time.
// It costs one round trip, an index range scan of the feed (one entry per
// batch) and one index probe per changed row; only a caller older than the
// pruned horizon costs a scan of the campaign's quota rows.
func (db *DB) QuotaChanges(ctx context.Context, campaignID string, seq int64) ([]vaxbook.Quota, int64, error) {
	var (
		next, horizon int64
		qs            []vaxbook.Quota
		pb            pgx.Batch
	)
	if !validText(campaignID) {
		campaignID = "" // no campaign has it: no entries
	}
	pb.Queue(sqlSnapshotXmin).QueryRow(func(row pgx.Row) error { return row.Scan(&next) })
	pb.Queue(sqlQuotaChanges, campaignID, seq).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				slot             *int64
				cohort           *int16
				capacity, booked *int32
			)
			if err := rows.Scan(&horizon, &slot, &cohort, &capacity, &booked); err != nil {
				return err
			}
			if slot != nil {
				qs = append(qs, vaxbook.Quota{SlotID: *slot, Cohort: int(*cohort), Capacity: int(*capacity), Booked: int(*booked)})
			}
		}
		return rows.Err()
	})
	if err := db.pool.SendBatch(ctx, &pb).Close(); err != nil {
		return nil, 0, fmt.Errorf("postgres: quota changes: %w", err)
	}
	next = max(next, seq)
	if horizon >= seq && campaignID != "" {
		// Entries the caller needs may be pruned: every row, read after
		// the xmin above was taken.
		qs = qs[:0]
		if _, err := db.Quotas(ctx, campaignID, func(q vaxbook.Quota) error { qs = append(qs, q); return nil }); err != nil {
			return nil, 0, err
		}
	}
	return qs, next, nil
}

// PruneQuotaChanges deletes the entries of the quota change feed written
// more than olderThan ago (by the database's clock) and raises the pruned
// horizon, so that a poll from before it reloads the whole campaign. It
// returns how many entries it deleted. Nodes call it in the background (see
// Options.ChangeRetention); several nodes pruning at once is harmless.
func (db *DB) PruneQuotaChanges(ctx context.Context, olderThan time.Duration) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `WITH d AS (
	DELETE FROM quota_change WHERE at < now() - $1 * interval '1 microsecond' RETURNING xid),
u AS (
	UPDATE quota_change_pruned SET xid = greatest(xid, (SELECT max(xid) FROM d)) WHERE EXISTS (SELECT 1 FROM d))
SELECT count(*) FROM d`, olderThan.Microseconds()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: prune quota changes: %w", err)
	}
	return n, nil
}

// idemChunk bounds the stored outcomes one statement forgets, so that a
// sweep holds its row locks briefly.
const idemChunk = 2000

// DeleteIdempotencyBefore implements vaxbook.BookingStore, a chunk per
// statement (ctid = ANY(ARRAY(…)) is a TID scan of the rows the index
// found).
func (db *DB) DeleteIdempotencyBefore(ctx context.Context, t time.Time) (int, error) {
	total := 0
	for {
		tag, err := db.pool.Exec(ctx, `DELETE FROM idempotency WHERE ctid = ANY(ARRAY(
			SELECT ctid FROM idempotency WHERE created_at < $1 LIMIT $2))`, ts(t), idemChunk)
		if err != nil {
			return total, fmt.Errorf("postgres: delete idempotency: %w", err)
		}
		n := int(tag.RowsAffected())
		total += n
		if n < idemChunk {
			return total, nil
		}
	}
}
