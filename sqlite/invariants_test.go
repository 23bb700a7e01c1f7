package sqlite

import (
	"context"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/storetest"
)

// TestCheckInvariantsDetects breaks each invariant behind the store's back
// (raw SQL on the writer, constraints disabled where they would stop it)
// and checks that CheckInvariants reports it.
func TestCheckInvariantsDetects(t *testing.T) {
	at := time.Date(2021, 8, 9, 20, 0, 0, 0, storetest.KST)
	tests := []struct {
		name    string
		corrupt []string
		want    vaxbook.InvariantReport
	}{
		{name: "healthy", want: vaxbook.InvariantReport{ActiveBookings: 4}},
		{name: "counter above the rows", corrupt: []string{
			`UPDATE quota SET booked = booked + 1 WHERE slot_id = 1002 AND cohort = 0`,
		}, want: vaxbook.InvariantReport{ActiveBookings: 4, CounterMismatch: 1}},
		{name: "dose 1 cancelled behind the counters", corrupt: []string{
			`UPDATE booking SET status = 'cancelled' WHERE person_id = 1 AND dose = 1`,
		}, want: vaxbook.InvariantReport{ActiveBookings: 3, CounterMismatch: 1, OrphanDose2: 1}},
		{name: "over capacity", corrupt: []string{
			`PRAGMA ignore_check_constraints = 1`,
			`UPDATE quota SET booked = capacity + 1 WHERE slot_id = 1003 AND cohort = 5`,
			`PRAGMA ignore_check_constraints = 0`,
		}, want: vaxbook.InvariantReport{ActiveBookings: 4, OverCapacity: 1, CounterMismatch: 1}},
		{name: "double booked", corrupt: []string{
			`DROP INDEX booking_active`,
			`INSERT INTO booking (person_id, campaign_id, dose, slot_id, cohort, status, version, created_at, updated_at)
				SELECT person_id, campaign_id, dose, slot_id, cohort, status, version, created_at, updated_at FROM booking WHERE person_id = 2 AND dose = 1`,
			`UPDATE quota SET booked = booked + 1 WHERE slot_id = 1001 AND cohort = 2`,
		}, want: vaxbook.InvariantReport{ActiveBookings: 5, DoubleBooked: 1}},
		{name: "booking from a missing row", corrupt: []string{
			`PRAGMA foreign_keys = 0`,
			`UPDATE booking SET cohort = 10 WHERE person_id = 2 AND dose = 1`, // slot 1001 has no pool row
			`PRAGMA foreign_keys = 1`,
		}, want: vaxbook.InvariantReport{ActiveBookings: 4, CounterMismatch: 2}}, // (1001, 2) and the missing row
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openTemp(t)
			ctx := context.Background()
			f := storetest.NewFixture()
			if err := db.Load(ctx, f.Dataset()); err != nil {
				t.Fatal(err)
			}
			// Person 1 takes (1001, 1), person 2 (1001, 2), both with dose 2 in 2001.
			for _, m := range []vaxbook.Mutation{
				storetest.BookTwo(1, 1001, at, 1),
				storetest.BookTwo(2, 1001, at, 2),
			} {
				outs, err := db.Apply(ctx, []vaxbook.Mutation{m})
				if err != nil || outs[0].Err != nil {
					t.Fatalf("book: %v %+v", err, outs)
				}
			}
			for _, q := range tc.corrupt {
				if _, err := db.w.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			rep, err := db.CheckInvariants(ctx, storetest.CampaignID)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.QuotaRows = int64(len(f.QuotasOf(storetest.CampaignID)))
			got := rep
			got.Examples = nil
			if got.QuotaRows != tc.want.QuotaRows || got.ActiveBookings != tc.want.ActiveBookings ||
				got.OverCapacity != tc.want.OverCapacity || got.CounterMismatch != tc.want.CounterMismatch ||
				got.DoubleBooked != tc.want.DoubleBooked || got.OrphanDose2 != tc.want.OrphanDose2 {
				t.Fatalf("report %+v\nwant %+v", rep, tc.want)
			}
			if rep.OK() != (tc.corrupt == nil) || (tc.corrupt != nil && len(rep.Examples) == 0) {
				t.Fatalf("OK() = %v with examples %q", rep.OK(), rep.Examples)
			}
		})
	}
}
