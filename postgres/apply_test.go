package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/internal/testdb"
	"vaxbook/storetest"
)

// loaded opens a fresh store with the storetest fixture.
func loaded(t *testing.T, opts Options) *DB {
	t.Helper()
	db := openTest(t, opts)
	if err := db.Load(t.Context(), storetest.NewFixture().Dataset()); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestMigrateConcurrently starts several nodes on one empty database at
// once: the advisory lock makes exactly one of them apply each migration.
func TestMigrateConcurrently(t *testing.T) {
	url := testdb.Postgres(t)
	const nodes = 6
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	dbs := make([]*DB, nodes)
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = Open(t.Context(), url, Options{MaxConns: 2, Logger: quietLogger()})
		}()
	}
	wg.Wait()
	for i := range nodes {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
		defer dbs[i].Close()
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var n, v int
	if err := dbs[0].pool.QueryRow(t.Context(), `SELECT count(*), max(version) FROM schema_migration`).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || v != ms[len(ms)-1].version {
		t.Fatalf("schema_migration has %d rows up to version %d, want %d up to %d", n, v, len(ms), ms[len(ms)-1].version)
	}
	// A database newer than the binary is refused.
	if _, err := dbs[0].pool.Exec(t.Context(), `INSERT INTO schema_migration (version, name) VALUES (9999, 'future.sql')`); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(t.Context(), url, Options{Logger: quietLogger()}); err == nil {
		db.Close()
		t.Fatal("Open of a database with a newer schema succeeded")
	}
}

// TestOpenBadURL: a malformed URL is a clear error, not a panic.
func TestOpenBadURL(t *testing.T) {
	for _, u := range []string{"postgres://%zz", "postgres://127.0.0.1:1/x?connect_timeout=1"} {
		if db, err := Open(t.Context(), u, Options{}); err == nil {
			db.Close()
			t.Fatalf("Open(%q) succeeded", u)
		}
	}
}

// TestQuotaChangesOutOfOrderCommit is the case a plain sequence gets wrong:
// a transaction that started writing first commits last. The poll between
// the two commits must not move past it.
func TestQuotaChangesOutOfOrderCommit(t *testing.T) {
	ctx := t.Context()
	db := loaded(t, Options{})
	_, seq0 := quotaState(t, db)

	// Slow writer: takes a transaction id now, writes and commits later,
	// exactly as Apply writes (counter update plus a feed entry).
	slow, err := db.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(context.WithoutCancel(ctx))
	if _, err := slow.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	// Fast writer: books and commits while the slow one is open.
	out, err := db.Apply(ctx, []vaxbook.Mutation{storetest.BookTwo(1, storetest.FirstDose1Slot, time.Now(), 1)})
	if err != nil || out[0].Err != nil {
		t.Fatalf("Apply: %v %v", err, out)
	}
	changes, seq1, err := db.QuotaChanges(ctx, storetest.CampaignID, seq0)
	if err != nil {
		t.Fatal(err)
	}
	if !hasRow(changes, storetest.FirstDose1Slot, 1, 1) {
		t.Fatalf("the fast writer's change is missing: %v", changes)
	}
	// Now the slow writer changes another row and commits.
	qid := quotaID(storetest.FirstDose1Slot+1, 2)
	var n int
	if err := slow.QueryRow(ctx, sqlWriteQuotas, []int64{qid}, []int32{1}).Scan(&n); err != nil || n != 1 {
		t.Fatalf("slow writer: %d rows, %v", n, err)
	}
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	changes, _, err = db.QuotaChanges(ctx, storetest.CampaignID, seq1)
	if err != nil {
		t.Fatal(err)
	}
	if !hasRow(changes, storetest.FirstDose1Slot+1, 2, 1) {
		t.Fatalf("QuotaChanges(%d) missed the change committed late by an older transaction: %v", seq1, changes)
	}
}

// TestQuotaChangesAfterPrune: a poll from before the pruned horizon gets
// every row of the campaign; a poll after it only the new changes.
func TestQuotaChangesAfterPrune(t *testing.T) {
	ctx := t.Context()
	db := loaded(t, Options{ChangeRetention: -1})
	_, seq0 := quotaState(t, db)
	at := time.Date(2021, 8, 19, 20, 0, 0, 0, storetest.KST)
	for p := int64(1); p <= 3; p++ {
		if out, err := db.Apply(ctx, []vaxbook.Mutation{storetest.BookTwo(p, storetest.FirstDose1Slot, at, int(p))}); err != nil || out[0].Err != nil {
			t.Fatalf("Apply: %v %v", err, out)
		}
	}
	_, seq1 := quotaState(t, db)
	n, err := db.PruneQuotaChanges(ctx, 0)
	if err != nil || n != 3 {
		t.Fatalf("PruneQuotaChanges = %d, %v; want 3 entries", n, err)
	}
	all := storetest.NewFixture().QuotasOf(storetest.CampaignID)
	changes, _, err := db.QuotaChanges(ctx, storetest.CampaignID, seq0)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != len(all) || !hasRow(changes, storetest.FirstDose1Slot, 3, 1) {
		t.Fatalf("poll from before the prune: %d rows, want all %d with current values", len(changes), len(all))
	}
	changes, _, err = db.QuotaChanges(ctx, storetest.CampaignID, seq1)
	if err != nil || len(changes) != 0 {
		t.Fatalf("poll from after the pruned entries = %v, %v; want nothing", changes, err)
	}
}

// TestQuotaChangesConcurrent: while writers book, a poller following the
// feed ends with exactly the store's rows — no change is ever missed.
func TestQuotaChangesConcurrent(t *testing.T) {
	ctx := t.Context()
	db := openTest(t, Options{})
	if err := db.Load(ctx, storetest.RushDatasetSized(400, 20, 2, 40)); err != nil {
		t.Fatal(err)
	}
	index := map[[2]int64]int{}
	seq, err := db.Quotas(ctx, storetest.RushCampaign, func(q vaxbook.Quota) error {
		index[[2]int64{q.SlotID, int64(q.Cohort)}] = q.Booked
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			at := time.Date(2021, 8, 19, 20, 0, 0, 0, storetest.KST)
			for i := 0; i < 25; i++ {
				var muts []vaxbook.Mutation
				for k := range 4 {
					p := int64(w*100 + i*4 + k + 1)
					m := storetest.BookTwo(p, storetest.RushFirstSlot+rng.Int64N(20), at, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
					m.CampaignID = storetest.RushCampaign
					muts = append(muts, m)
				}
				if _, err := db.Apply(ctx, muts); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	poll := func() {
		changes, next, err := db.QuotaChanges(ctx, storetest.RushCampaign, seq)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range changes {
			index[[2]int64{q.SlotID, int64(q.Cohort)}] = q.Booked
		}
		seq = next
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			poll()
		}
	}
	poll() // after the last commit
	if t.Failed() {
		return
	}
	if _, err := db.Quotas(ctx, storetest.RushCampaign, func(q vaxbook.Quota) error {
		if got := index[[2]int64{q.SlotID, int64(q.Cohort)}]; got != q.Booked {
			return fmt.Errorf("row (%d, %d): the poller has booked %d, the store %d", q.SlotID, q.Cohort, got, q.Booked)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func quotaState(t *testing.T, db *DB) (map[int64]vaxbook.Quota, int64) {
	t.Helper()
	m := map[int64]vaxbook.Quota{}
	seq, err := db.Quotas(t.Context(), storetest.CampaignID, func(q vaxbook.Quota) error {
		m[quotaID(q.SlotID, q.Cohort)] = q
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, seq
}

func hasRow(qs []vaxbook.Quota, slot int64, cohort, booked int) bool {
	return slices.ContainsFunc(qs, func(q vaxbook.Quota) bool {
		return q.SlotID == slot && q.Cohort == cohort && q.Booked == booked
	})
}

// TestApplyMatchesNaive applies the same random mutations through group
// commit (in batches) and through the naive design (one transaction each)
// on two stores: every outcome and the final quota rows must agree, so the
// benchmark compares two implementations of the same semantics.
func TestApplyMatchesNaive(t *testing.T) {
	ctx := t.Context()
	group := loaded(t, Options{})
	naive := loaded(t, Options{NaiveApply: true})
	rng := rand.New(rand.NewPCG(2021, 8))
	at := time.Date(2021, 8, 19, 20, 0, 0, 0, storetest.KST)
	// Booking ids differ between the stores (group commit reserves ids per
	// batch); mutations name bookings by (person, dose) and each store maps
	// that to its own id.
	type pd struct{ person, dose int64 }
	ids := [2]map[pd]int64{{}, {}}
	idOf := func(s int, p int64, dose int64) int64 {
		if id, ok := ids[s][pd{p, dose}]; ok {
			return id
		}
		return 987654321
	}
	norm := func(o vaxbook.Outcome) string {
		s := fmt.Sprintf("%s replayed=%v:", vaxbook.ErrorCode(o.Err), o.Replayed)
		for _, b := range o.Bookings {
			s += fmt.Sprintf(" [p%d d%d s%d c%d %s v%d]", b.PersonID, b.Dose, b.SlotID, b.Cohort, b.Status, b.Version)
		}
		return s
	}
	type spec struct {
		kind          vaxbook.MutationKind
		person, dose1 int64
		refDose       int64
		cohorts       []int
		key           string
	}
	randomSpec := func() spec {
		sp := spec{person: 1 + rng.Int64N(12), dose1: storetest.FirstDose1Slot + rng.Int64N(12), refDose: 1 + rng.Int64N(2)}
		switch rng.IntN(6) {
		case 0, 1, 2:
			sp.kind = vaxbook.MutationBook
		case 3, 4:
			sp.kind = vaxbook.MutationChange
		default:
			sp.kind = vaxbook.MutationCancel
		}
		if rng.IntN(2) == 0 {
			sp.cohorts = []int{storetest.Cohort(sp.person)}
		} else {
			sp.cohorts = []int{rng.IntN(10), rng.IntN(10)}
		}
		if rng.IntN(3) == 0 {
			sp.key = fmt.Sprintf("k%d", rng.IntN(4))
		}
		return sp
	}
	build := func(s int, sp spec) vaxbook.Mutation {
		var m vaxbook.Mutation
		switch sp.kind {
		case vaxbook.MutationBook:
			m = storetest.BookTwo(sp.person, sp.dose1, at, sp.cohorts...)
		case vaxbook.MutationChange:
			m = storetest.ChangeTwo(sp.person, idOf(s, sp.person, sp.refDose), sp.dose1, at, sp.cohorts...)
		default:
			m = storetest.Cancel(sp.person, storetest.CampaignID, idOf(s, sp.person, sp.refDose), at)
		}
		if sp.key != "" {
			m.IdempotencyKey, m.RequestHash = sp.key, fmt.Sprintf("%s-%d-%d", sp.kind, sp.dose1, sp.refDose)
		}
		return m
	}
	for round := range 12 {
		specs := make([]spec, 1+rng.IntN(24))
		for i := range specs {
			specs[i] = randomSpec()
		}
		var outs [2][]vaxbook.Outcome
		for s, db := range []*DB{group, naive} {
			muts := make([]vaxbook.Mutation, len(specs))
			for i, sp := range specs {
				muts[i] = build(s, sp)
			}
			o, err := db.Apply(ctx, muts)
			if err != nil {
				t.Fatalf("round %d, store %d: %v", round, s, err)
			}
			outs[s] = o
			for _, out := range o {
				for _, b := range out.Bookings {
					if b.Status == vaxbook.BookingActive && !out.Replayed {
						ids[s][pd{b.PersonID, int64(b.Dose)}] = b.ID
					}
				}
			}
		}
		for i := range specs {
			if g, n := norm(outs[0][i]), norm(outs[1][i]); g != n {
				t.Fatalf("round %d, mutation %d (%+v):\n group commit %s\n naive        %s", round, i, specs[i], g, n)
			}
		}
	}
	gq, _ := quotaState(t, group)
	nq, _ := quotaState(t, naive)
	for k, q := range gq {
		if nq[k] != q {
			t.Fatalf("quota row %+v in group commit, %+v in naive", q, nq[k])
		}
	}
	for _, db := range []*DB{group, naive} {
		rep, err := db.CheckInvariants(ctx, storetest.CampaignID)
		if err != nil || !rep.OK() {
			t.Fatalf("CheckInvariants = %+v, %v", rep, err)
		}
	}
}

// TestApplyRetriesAfterConcurrentInsert: another node commits an active
// booking for the same person and dose while this batch is being applied.
// The unique index stops the batch; Apply retries it and the mutation is
// refused with already_booked, its neighbour still booked.
func TestApplyRetriesAfterConcurrentInsert(t *testing.T) {
	ctx := t.Context()
	db := loaded(t, Options{})
	other, err := db.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(context.WithoutCancel(ctx))
	at := time.Date(2021, 8, 19, 20, 0, 0, 0, storetest.KST)
	if _, err := other.Exec(ctx, `INSERT INTO booking (person_id, campaign_id, dose, slot_id, cohort, status, version, created_at, updated_at)
VALUES (5, $1, 1, $2, 5, 'active', 1, $3, $3)`, storetest.CampaignID, storetest.FirstDose1Slot+5, at); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, `UPDATE quota SET booked = booked + 1 WHERE id = $1`, quotaID(storetest.FirstDose1Slot+5, 5)); err != nil {
		t.Fatal(err)
	}
	type result struct {
		outs []vaxbook.Outcome
		err  error
	}
	res := make(chan result, 1)
	go func() {
		outs, err := db.Apply(ctx, []vaxbook.Mutation{
			storetest.BookTwo(6, storetest.FirstDose1Slot, at, 6),
			storetest.BookTwo(5, storetest.FirstDose1Slot, at, 5),
		})
		res <- result{outs, err}
	}()
	// Commit once the batch waits on our uncommitted row.
	waitFor(t, func() bool {
		var n int
		_ = db.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
		return n > 0
	})
	if err := other.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.err != nil {
		t.Fatalf("Apply: %v", r.err)
	}
	if r.outs[0].Err != nil || vaxbook.ErrorCode(r.outs[1].Err) != vaxbook.CodeAlreadyBooked {
		t.Fatalf("outcomes %v, %v; want booked, already_booked", r.outs[0].Err, r.outs[1].Err)
	}
	bs, err := db.Bookings(ctx, 5, storetest.CampaignID)
	if err != nil || len(bs) != 1 {
		t.Fatalf("person 5 has %d bookings (%v), want the one committed by the other node", len(bs), err)
	}
}

// waitFor waits until cond holds, failing the test after a deadline.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		<-tick.C
	}
}

// TestCheckInvariantsDetects breaks each invariant behind the store's back
// (dropping the constraints that forbid it) and expects the audit to count it.
func TestCheckInvariantsDetects(t *testing.T) {
	ctx := t.Context()
	db := loaded(t, Options{})
	at := time.Date(2021, 8, 19, 20, 0, 0, 0, storetest.KST)
	for p := int64(1); p <= 4; p++ {
		if out, err := db.Apply(ctx, []vaxbook.Mutation{storetest.BookTwo(p, storetest.FirstDose1Slot+p, at, int(p))}); err != nil || out[0].Err != nil {
			t.Fatalf("Apply: %v %v", err, out)
		}
	}
	for _, sql := range []string{
		`ALTER TABLE quota DROP CONSTRAINT quota_within_capacity`,
		`DROP INDEX booking_person`,
		// over capacity (and so a counter mismatch too)
		fmt.Sprintf(`UPDATE quota SET booked = capacity + 5 WHERE id = %d`, quotaID(storetest.FirstDose1Slot+1, 1)),
		// a second active dose 1 for person 2 (the counter follows, so only double booking)
		fmt.Sprintf(`INSERT INTO booking (person_id, campaign_id, dose, slot_id, cohort, status, version, created_at, updated_at)
			VALUES (2, '%s', 1, %d, 2, 'active', 1, now(), now())`, storetest.CampaignID, storetest.FirstDose1Slot+9),
		fmt.Sprintf(`UPDATE quota SET booked = booked + 1 WHERE id = %d`, quotaID(storetest.FirstDose1Slot+9, 2)),
		// person 3's dose 1 cancelled behind the store's back: an orphan dose 2 and a counter mismatch
		`UPDATE booking SET status = 'cancelled' WHERE person_id = 3 AND dose = 1`,
	} {
		if _, err := db.pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	rep, err := db.CheckInvariants(ctx, storetest.CampaignID)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.OverCapacity != 1 || rep.CounterMismatch != 2 || rep.DoubleBooked != 1 || rep.OrphanDose2 != 1 {
		t.Fatalf("CheckInvariants = %+v, want 1 over capacity, 2 counter mismatches, 1 double booking, 1 orphan dose 2", rep)
	}
	if len(rep.Examples) != 5 {
		t.Fatalf("examples %q, want one per violation (5)", rep.Examples)
	}
}

// TestNotText: strings PostgreSQL cannot hold as text (invalid UTF-8, NUL)
// name nothing; they are answered as such, never as a failed query.
func TestNotText(t *testing.T) {
	ctx := t.Context()
	db := loaded(t, Options{})
	at := time.Date(2021, 8, 19, 20, 0, 0, 0, storetest.KST)
	bad := storetest.BookTwo(1, storetest.FirstDose1Slot, at, 1)
	bad.CampaignID = "kr\xff"
	badKey := storetest.BookTwo(2, storetest.FirstDose1Slot, at, 2)
	badKey.IdempotencyKey, badKey.RequestHash = "\xfe\xff", "h"
	nulKey := storetest.BookTwo(3, storetest.FirstDose1Slot, at, 3)
	nulKey.IdempotencyKey, nulKey.RequestHash = "a\x00b", "h\x00"
	for _, opts := range []*DB{db, loaded(t, Options{NaiveApply: true})} {
		outs, err := opts.Apply(ctx, []vaxbook.Mutation{bad, badKey, nulKey, nulKey})
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if vaxbook.ErrorCode(outs[0].Err) != vaxbook.CodeNotFound || vaxbook.ErrorCode(outs[1].Err) != vaxbook.CodeInvalid ||
			outs[2].Err != nil || !outs[3].Replayed {
			t.Fatalf("outcomes %v / %v / %v / replayed %v", outs[0].Err, outs[1].Err, outs[2].Err, outs[3].Replayed)
		}
	}
	if _, err := db.Session(ctx, "\xff"); vaxbook.ErrorCode(err) != vaxbook.CodeNotSignedIn {
		t.Fatalf("Session of a non-UTF-8 id: %v", err)
	}
	if _, err := db.Campaign(ctx, "a\x00"); vaxbook.ErrorCode(err) != vaxbook.CodeNotFound {
		t.Fatalf("Campaign with NUL: %v", err)
	}
	if bs, err := db.Bookings(ctx, 1, "\xff"); err != nil || len(bs) != 0 {
		t.Fatalf("Bookings: %v %v", bs, err)
	}
	if qs, _, err := db.QuotaChanges(ctx, "\xff", 0); err != nil || len(qs) != 0 {
		t.Fatalf("QuotaChanges: %v %v", qs, err)
	}
}
