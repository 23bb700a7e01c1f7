package sqlite

import (
	"context"
	"slices"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/storetest"
)

// TestQuotaLogPruning shrinks the quota change log and checks that a reader
// within the kept history gets only the rows changed since, and a reader
// from before it gets every row of the campaign (a full resync), never less.
func TestQuotaLogPruning(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	db.quotaLogKeep, db.quotaLogPruneEvery = 4, 2
	f := storetest.NewFixture()
	if err := db.Load(ctx, f.Dataset()); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2021, 8, 19, 20, 0, 0, 0, storetest.KST)
	var seqs []int64
	for p := int64(1); p <= 10; p++ {
		outs, err := db.Apply(ctx, []vaxbook.Mutation{storetest.BookTwo(p, storetest.FirstDose1Slot+p%8, at, storetest.Cohort(p))})
		if err != nil || outs[0].Err != nil {
			t.Fatalf("book %d: %v %+v", p, err, outs)
		}
		seq, err := db.Quotas(ctx, storetest.CampaignID, func(vaxbook.Quota) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	var logRows, keptFrom int64
	if err := db.w.QueryRow(`SELECT (SELECT COUNT(*) FROM quota_change), (SELECT kept_from FROM quota_clock)`).Scan(&logRows, &keptFrom); err != nil {
		t.Fatal(err)
	}
	if logRows > 2*(4+2) || keptFrom <= 1 {
		t.Fatalf("log not pruned: %d rows, kept from %d", logRows, keptFrom)
	}
	// Within the kept history: exactly the rows of the last booking (person 10).
	changes, _, err := db.QuotaChanges(ctx, storetest.CampaignID, seqs[8])
	if err != nil {
		t.Fatal(err)
	}
	slot := storetest.FirstDose1Slot + 10%8
	slices.SortFunc(changes, func(a, b vaxbook.Quota) int { return int(a.SlotID - b.SlotID) })
	if len(changes) != 2 || changes[0].SlotID != slot || changes[1].SlotID != storetest.Dose2Of(slot) {
		t.Fatalf("changes since the 9th commit = %+v, want the two rows of slot %d and its pair", changes, slot)
	}
	// From before the kept history: every row, current values.
	changes, seq, err := db.QuotaChanges(ctx, storetest.CampaignID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != len(f.QuotasOf(storetest.CampaignID)) || seq != seqs[9] {
		t.Fatalf("resync returned %d rows at %d, want %d rows at %d", len(changes), seq, len(f.QuotasOf(storetest.CampaignID)), seqs[9])
	}
	booked := 0
	for _, q := range changes {
		booked += q.Booked
	}
	if booked != 20 {
		t.Fatalf("resync rows hold %d booked places, want 20", booked)
	}
}
