package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"vaxbook"
)

// CheckInvariants counts, from the database itself, the violations of the
// booking invariants for one campaign (DESIGN.md §5). It reads a consistent
// snapshot (one REPEATABLE READ transaction) and scans the campaign's quota
// and booking rows: an audit, not a hot-path call.
func (db *DB) CheckInvariants(ctx context.Context, campaignID string) (vaxbook.InvariantReport, error) {
	var r vaxbook.InvariantReport
	if !validText(campaignID) {
		return r, nil
	}
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return r, fmt.Errorf("postgres: check invariants: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	const active = `SELECT slot_id, cohort, count(*) AS n FROM booking
	WHERE campaign_id = $1 AND status = 'active' GROUP BY slot_id, cohort`
	err = tx.QueryRow(ctx, `SELECT
	(SELECT count(*) FROM quota WHERE campaign_id = $1),
	(SELECT count(*) FROM booking WHERE campaign_id = $1 AND status = 'active'),
	(SELECT count(*) FROM quota WHERE campaign_id = $1 AND (booked > capacity OR booked < 0)),
	(SELECT count(*) FROM (SELECT * FROM quota WHERE campaign_id = $1) q FULL JOIN (`+active+`) b ON b.slot_id = q.slot_id AND b.cohort = q.cohort
	 WHERE coalesce(q.booked, -1) <> coalesce(b.n, 0)),
	(SELECT count(*) FROM (SELECT 1 FROM booking WHERE campaign_id = $1 AND status = 'active'
	 GROUP BY person_id, dose HAVING count(*) > 1) d),
	(SELECT count(*) FROM booking b WHERE b.campaign_id = $1 AND b.status = 'active' AND b.dose = 2
	 AND NOT EXISTS (SELECT 1 FROM booking a WHERE a.person_id = b.person_id AND a.campaign_id = b.campaign_id
	 AND a.dose = 1 AND a.status = 'active'))`, campaignID).Scan(
		&r.QuotaRows, &r.ActiveBookings, &r.OverCapacity, &r.CounterMismatch, &r.DoubleBooked, &r.OrphanDose2)
	if err != nil {
		return r, fmt.Errorf("postgres: check invariants: %w", err)
	}
	if r.OK() {
		return r, nil
	}
	rows, err := tx.Query(ctx, `(SELECT format('slot %s cohort %s: booked %s of capacity %s', slot_id, cohort, booked, capacity)
	FROM quota WHERE campaign_id = $1 AND (booked > capacity OR booked < 0) ORDER BY slot_id, cohort LIMIT 5)
UNION ALL
(SELECT format('slot %s cohort %s: counter %s but %s active bookings', coalesce(q.slot_id, b.slot_id), coalesce(q.cohort, b.cohort),
	coalesce(q.booked::text, 'missing'), coalesce(b.n, 0))
	FROM (SELECT * FROM quota WHERE campaign_id = $1) q FULL JOIN (`+active+`) b ON b.slot_id = q.slot_id AND b.cohort = q.cohort
	WHERE coalesce(q.booked, -1) <> coalesce(b.n, 0)
	ORDER BY 1 LIMIT 5)
UNION ALL
(SELECT format('person %s dose %s: %s active bookings', person_id, dose, count(*)) FROM booking
	WHERE campaign_id = $1 AND status = 'active' GROUP BY person_id, dose HAVING count(*) > 1 ORDER BY person_id LIMIT 5)
UNION ALL
(SELECT format('booking %s: active dose 2 of person %s without an active dose 1', b.id, b.person_id) FROM booking b
	WHERE b.campaign_id = $1 AND b.status = 'active' AND b.dose = 2 AND NOT EXISTS (SELECT 1 FROM booking a
	WHERE a.person_id = b.person_id AND a.campaign_id = b.campaign_id AND a.dose = 1 AND a.status = 'active')
	ORDER BY b.id LIMIT 5)`, campaignID)
	if err != nil {
		return r, fmt.Errorf("postgres: check invariants: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return r, fmt.Errorf("postgres: check invariants: %w", err)
		}
		r.Examples = append(r.Examples, s)
	}
	if err := rows.Err(); err != nil {
		return r, fmt.Errorf("postgres: check invariants: %w", err)
	}
	return r, nil
}
