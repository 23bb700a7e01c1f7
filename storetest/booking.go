package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"vaxbook"
)

// Instants used by the booking suites.
var (
	t0 = time.Date(2021, 8, 9, 20, 0, 0, 0, KST)
	t1 = time.Date(2021, 8, 9, 21, 30, 15, 123456000, KST)
	t2 = time.Date(2021, 8, 20, 8, 0, 0, 0, KST)
)

type row = [2]int64

// RunBooking checks BookingStore: book, change, cancel, idempotency,
// batches, Quotas/QuotaChanges and CheckInvariants.
func RunBooking(t *testing.T, open Opener) {
	t.Run("Book", func(t *testing.T) { runBook(t, open) })
	t.Run("Change", func(t *testing.T) { runChange(t, open) })
	t.Run("Cancel", func(t *testing.T) { runCancel(t, open) })
	t.Run("Idempotency", func(t *testing.T) { runIdempotency(t, open) })
	t.Run("IdempotencyRetention", func(t *testing.T) { runIdempotencyRetention(t, open) })
	t.Run("Batch", func(t *testing.T) { runBatch(t, open) })
	t.Run("Invalid", func(t *testing.T) { runInvalid(t, open) })
	t.Run("QuotaChanges", func(t *testing.T) { runQuotaChanges(t, open) })
	t.Run("Invariants", func(t *testing.T) { runInvariants(t, open) })
}

func runBook(t *testing.T, open Opener) {
	s, _ := Loaded(t, open)
	const p = 3
	o := mustApply(t, s, BookTwo(p, FirstDose1Slot, t1, Cohort(p)))
	if len(o.Bookings) != 2 || o.Replayed {
		t.Fatalf("book outcome %s replayed=%v, want two bookings", fmtBookings(o.Bookings), o.Replayed)
	}
	want := []vaxbook.Booking{
		{ID: o.Bookings[0].ID, PersonID: p, CampaignID: CampaignID, Dose: 1, SlotID: FirstDose1Slot, Cohort: Cohort(p),
			Status: vaxbook.BookingActive, Version: 1, CreatedAt: t1, UpdatedAt: t1},
		{ID: o.Bookings[1].ID, PersonID: p, CampaignID: CampaignID, Dose: 2, SlotID: Dose2Of(FirstDose1Slot), Cohort: vaxbook.CohortDose2,
			Status: vaxbook.BookingActive, Version: 1, CreatedAt: t1, UpdatedAt: t1},
	}
	sameBookings(t, o.Bookings, want)
	if want[0].ID <= 0 || want[1].ID <= 0 || want[0].ID == want[1].ID {
		t.Fatalf("booking ids %d, %d: want distinct positive ids", want[0].ID, want[1].ID)
	}
	for _, b := range want {
		got, err := s.Booking(ctxT(t), b.ID)
		if err != nil {
			t.Fatalf("Booking(%d): %v", b.ID, err)
		}
		sameBookings(t, []vaxbook.Booking{got}, []vaxbook.Booking{b})
	}
	got, err := s.Bookings(ctxT(t), p, CampaignID)
	if err != nil {
		t.Fatal(err)
	}
	sameBookings(t, got, want)
	if got, err := s.Bookings(ctxT(t), p, PoolCampaignID); err != nil || len(got) != 0 {
		t.Fatalf("Bookings of the other campaign = %v, %v; want none", got, err)
	}
	_, err = s.Booking(ctxT(t), 987654321)
	WantCode(t, err, vaxbook.CodeNotFound)
	wantBooked(t, s, CampaignID, map[row]int{
		{FirstDose1Slot, int64(Cohort(p))}: 1, {Dose2Of(FirstDose1Slot), vaxbook.CohortDose2}: 1,
		{FirstDose1Slot, int64(Cohort(p) + 1)}: 0,
	})

	t.Run("already booked", func(t *testing.T) {
		snap := takeSnapshot(t, s, p)
		refused(t, s, BookTwo(p, FirstDose1Slot+1, t2, Cohort(p)), vaxbook.CodeAlreadyBooked)
		// Also when the slot is full: already_booked is checked first.
		refused(t, s, BookTwo(p, NoDose2Slot, t2, Cohort(p)), vaxbook.CodeAlreadyBooked)
		snap.mustEqual(t, takeSnapshot(t, s, p))
	})
	t.Run("first listed cohort with room", func(t *testing.T) {
		// TightSlot has one place per cohort: person 4 takes cohort 4's.
		mustApply(t, s, BookTwo(4, TightSlot, t1, 4))
		o := mustApply(t, s, BookTwo(14, TightSlot, t1, 4, 5, 6))
		if o.Bookings[0].Cohort != 5 {
			t.Fatalf("dose 1 took cohort %d, want 5 (4 is full)", o.Bookings[0].Cohort)
		}
		wantBooked(t, s, CampaignID, map[row]int{{TightSlot, 4}: 1, {TightSlot, 5}: 1, {TightSlot, 6}: 0,
			{Dose2Of(TightSlot), vaxbook.CohortDose2}: 2})
	})
	t.Run("slot full", func(t *testing.T) {
		snap := takeSnapshot(t, s, 24)
		refused(t, s, BookTwo(24, TightSlot, t1, 4), vaxbook.CodeSlotFull)
		refused(t, s, BookTwo(24, TightSlot, t1, 4, 5), vaxbook.CodeSlotFull)
		refused(t, s, BookTwo(24, 555555, t1, 4), vaxbook.CodeSlotFull) // no such slot: no room
		snap.mustEqual(t, takeSnapshot(t, s, 24))
	})
	t.Run("dose 2 unavailable", func(t *testing.T) {
		snap := takeSnapshot(t, s, 5)
		refused(t, s, BookTwo(5, NoDose2Slot, t1, 5), vaxbook.CodeDose2Unavailable)
		snap.mustEqual(t, takeSnapshot(t, s, 5))
		if n := bookedOf(t, s, CampaignID, NoDose2Slot, 5); n != 0 {
			t.Fatalf("refused dose 1 left booked=%d", n)
		}
	})
	t.Run("one dose, pooled row", func(t *testing.T) {
		m := vaxbook.Mutation{Kind: vaxbook.MutationBook, PersonID: 6, CampaignID: PoolCampaignID, At: t2,
			Legs: []vaxbook.Leg{{Dose: 1, SlotID: PoolSlot, Cohorts: []int{vaxbook.CohortPool}}}}
		o := mustApply(t, s, m)
		if len(o.Bookings) != 1 || o.Bookings[0].Cohort != vaxbook.CohortPool || o.Bookings[0].CampaignID != PoolCampaignID {
			t.Fatalf("pooled booking %s", fmtBookings(o.Bookings))
		}
		// The same person may hold a booking in each campaign.
		mustApply(t, s, BookTwo(6, FirstDose1Slot, t2, 6))
		q, _ := quotaMap(t, s, PoolCampaignID)
		if q[row{PoolSlot, vaxbook.CohortPool}].Booked != 1 {
			t.Fatalf("pool row booked %d, want 1", q[row{PoolSlot, vaxbook.CohortPool}].Booked)
		}
		for k := 1; k < PoolCapacity; k++ {
			m.PersonID = int64(6 + 10*k)
			mustApply(t, s, m)
		}
		m.PersonID = 36
		refused(t, s, m, vaxbook.CodeSlotFull)
	})
}

func runChange(t *testing.T, open Opener) {
	s, _ := Loaded(t, open)
	const p = 7
	first := mustApply(t, s, BookTwo(p, FirstDose1Slot, t0, p)).Bookings
	d1, d2 := first[0], first[1]

	o := mustApply(t, s, ChangeTwo(p, d1.ID, FirstDose1Slot+1, t1, p))
	want := []vaxbook.Booking{d1, d2}
	want[0].SlotID, want[0].Version, want[0].UpdatedAt = FirstDose1Slot+1, 2, t1
	want[1].SlotID, want[1].Version, want[1].UpdatedAt = Dose2Of(FirstDose1Slot+1), 2, t1
	sameBookings(t, o.Bookings, want)
	got, err := s.Bookings(ctxT(t), p, CampaignID)
	if err != nil {
		t.Fatal(err)
	}
	sameBookings(t, got, want)
	wantBooked(t, s, CampaignID, map[row]int{
		{FirstDose1Slot, p}: 0, {Dose2Of(FirstDose1Slot), vaxbook.CohortDose2}: 0,
		{FirstDose1Slot + 1, p}: 1, {Dose2Of(FirstDose1Slot + 1), vaxbook.CohortDose2}: 1,
	})

	// Named by its dose-2 booking, with a new cohort: both move.
	o = mustApply(t, s, ChangeTwo(p, d2.ID, FirstDose1Slot+2, t2, 3, p))
	want[0].SlotID, want[0].Cohort, want[0].Version, want[0].UpdatedAt = FirstDose1Slot+2, 3, 3, t2
	want[1].SlotID, want[1].Version, want[1].UpdatedAt = Dose2Of(FirstDose1Slot+2), 3, t2
	sameBookings(t, o.Bookings, want)
	wantBooked(t, s, CampaignID, map[row]int{{FirstDose1Slot + 1, p}: 0, {FirstDose1Slot + 2, 3}: 1, {FirstDose1Slot + 2, p}: 0})

	t.Run("refusals change nothing", func(t *testing.T) {
		mustApply(t, s, BookTwo(17, TightSlot, t0, 7)) // fills (TightSlot, 7)
		other := mustApply(t, s, BookTwo(27, FirstDose1Slot, t0, 7)).Bookings
		mustApply(t, s, Cancel(37, CampaignID, mustApply(t, s, BookTwo(37, FirstDose1Slot, t0, 7)).Bookings[0].ID, t0))
		cancelled, err := s.Bookings(ctxT(t), 37, CampaignID)
		if err != nil {
			t.Fatal(err)
		}
		pool := mustApply(t, s, vaxbook.Mutation{Kind: vaxbook.MutationBook, PersonID: p, CampaignID: PoolCampaignID, At: t0,
			Legs: []vaxbook.Leg{{Dose: 1, SlotID: PoolSlot, Cohorts: []int{vaxbook.CohortPool}}}}).Bookings
		snap := takeSnapshot(t, s, p, 17, 27, 37)
		tests := []struct {
			name string
			m    vaxbook.Mutation
			code vaxbook.Code
		}{
			{"slot full", ChangeTwo(p, d1.ID, TightSlot, t2, 7), vaxbook.CodeSlotFull},
			{"dose 2 unavailable", ChangeTwo(p, d1.ID, NoDose2Slot, t2, 7), vaxbook.CodeDose2Unavailable},
			{"someone else's booking", ChangeTwo(p, other[0].ID, FirstDose1Slot+3, t2, 7), vaxbook.CodeNotYourBooking},
			{"unknown booking", ChangeTwo(p, 987654321, FirstDose1Slot+3, t2, 7), vaxbook.CodeNotFound},
			{"booking of another campaign", ChangeTwo(p, pool[0].ID, FirstDose1Slot+3, t2, 7), vaxbook.CodeNotFound},
			{"cancelled booking", ChangeTwo(37, cancelled[0].ID, FirstDose1Slot+3, t2, 7), vaxbook.CodeBookingCancelled},
			{"legs do not match the active doses", func() vaxbook.Mutation {
				m := ChangeTwo(p, d1.ID, FirstDose1Slot+3, t2, 7)
				m.Legs = m.Legs[:1]
				return m
			}(), vaxbook.CodeInvalid},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				refused(t, s, tc.m, tc.code)
				snap.mustEqual(t, takeSnapshot(t, s, p, 17, 27, 37))
			})
		}
	})
	t.Run("within a full slot", func(t *testing.T) {
		// (TightSlot, 8) has one place: its holder may still move within it.
		b := mustApply(t, s, BookTwo(8, TightSlot, t0, 8)).Bookings
		o := mustApply(t, s, ChangeTwo(8, b[0].ID, TightSlot, t1, 8))
		if o.Bookings[0].Version != 2 || o.Bookings[0].SlotID != TightSlot {
			t.Fatalf("change within a full slot: %s", fmtBookings(o.Bookings))
		}
		wantBooked(t, s, CampaignID, map[row]int{{TightSlot, 8}: 1})
	})
}

func runCancel(t *testing.T, open Opener) {
	s, _ := Loaded(t, open)
	const p = 9
	b := mustApply(t, s, BookTwo(p, FirstDose1Slot, t0, p)).Bookings
	o := mustApply(t, s, Cancel(p, CampaignID, b[1].ID, t1))
	want := slices.Clone(b)
	for i := range want {
		want[i].Status, want[i].Version, want[i].UpdatedAt = vaxbook.BookingCancelled, 2, t1
	}
	sameBookings(t, o.Bookings, want)
	wantBooked(t, s, CampaignID, map[row]int{{FirstDose1Slot, p}: 0, {Dose2Of(FirstDose1Slot), vaxbook.CohortDose2}: 0})
	c, err := s.Counts(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.ActiveBookings != 0 {
		t.Fatalf("ActiveBookings = %d after cancel", c.ActiveBookings)
	}

	// Booking again after a cancel makes new rows; Bookings lists all by dose then id.
	again := mustApply(t, s, BookTwo(p, FirstDose1Slot+1, t2, p)).Bookings
	if again[0].ID == b[0].ID || again[1].ID == b[1].ID {
		t.Fatalf("re-booking reused cancelled rows: %s", fmtBookings(again))
	}
	all, err := s.Bookings(ctxT(t), p, CampaignID)
	if err != nil {
		t.Fatal(err)
	}
	sameBookings(t, all, []vaxbook.Booking{want[0], again[0], want[1], again[1]})

	other := mustApply(t, s, BookTwo(19, FirstDose1Slot, t0, 9)).Bookings
	snap := takeSnapshot(t, s, p, 19)
	refused(t, s, Cancel(p, CampaignID, b[0].ID, t2), vaxbook.CodeBookingCancelled)
	refused(t, s, Cancel(p, CampaignID, other[0].ID, t2), vaxbook.CodeNotYourBooking)
	refused(t, s, Cancel(p, CampaignID, 987654321, t2), vaxbook.CodeNotFound)
	refused(t, s, Cancel(p, PoolCampaignID, again[0].ID, t2), vaxbook.CodeNotFound)
	snap.mustEqual(t, takeSnapshot(t, s, p, 19))
}

func runIdempotency(t *testing.T, open Opener) {
	s, _ := Loaded(t, open)
	keyed := func(m vaxbook.Mutation, key, hash string) vaxbook.Mutation {
		m.IdempotencyKey, m.RequestHash = key, hash
		return m
	}
	const p = 10
	first := mustApply(t, s, keyed(BookTwo(p, FirstDose1Slot, t0, 0), "k1", "h1"))
	if first.Replayed {
		t.Fatal("first outcome marked Replayed")
	}
	again := mustApply(t, s, keyed(BookTwo(p, FirstDose1Slot, t1, 0), "k1", "h1"))
	if !again.Replayed {
		t.Fatal("retry not marked Replayed")
	}
	sameBookings(t, again.Bookings, first.Bookings)
	wantBooked(t, s, CampaignID, map[row]int{{FirstDose1Slot, 0}: 1})

	snap := takeSnapshot(t, s, p)
	o := refused(t, s, keyed(BookTwo(p, FirstDose1Slot+1, t1, 0), "k1", "h2"), vaxbook.CodeIdempotencyReused)
	if o.Replayed {
		t.Fatal("idempotency_key_reused marked Replayed")
	}
	snap.mustEqual(t, takeSnapshot(t, s, p))

	t.Run("first result even after later changes", func(t *testing.T) {
		mustApply(t, s, Cancel(p, CampaignID, first.Bookings[0].ID, t1))
		o := mustApply(t, s, keyed(BookTwo(p, FirstDose1Slot, t2, 0), "k1", "h1"))
		if !o.Replayed {
			t.Fatal("retry after cancel not Replayed")
		}
		sameBookings(t, o.Bookings, first.Bookings)
		bs, err := s.Bookings(ctxT(t), p, CampaignID)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			if b.Status != vaxbook.BookingCancelled {
				t.Fatalf("a replay re-booked: %s", fmtBookings(bs))
			}
		}
	})
	t.Run("refusals replay", func(t *testing.T) {
		const q = 11
		m := keyed(BookTwo(q, NoDose2Slot, t0, 1), "k2", "h1")
		o1 := refused(t, s, m, vaxbook.CodeDose2Unavailable)
		o2 := refused(t, s, m, vaxbook.CodeDose2Unavailable)
		if o1.Replayed || !o2.Replayed {
			t.Fatalf("Replayed %v then %v, want false then true", o1.Replayed, o2.Replayed)
		}
		if vaxbook.ErrorMessage(o1.Err) != vaxbook.ErrorMessage(o2.Err) {
			t.Fatalf("replayed message %q, first %q", vaxbook.ErrorMessage(o2.Err), vaxbook.ErrorMessage(o1.Err))
		}
		// A different request under a new key goes through.
		mustApply(t, s, keyed(BookTwo(q, FirstDose1Slot, t0, 1), "k3", "h1"))
	})
	t.Run("keys are per person", func(t *testing.T) {
		o := mustApply(t, s, keyed(BookTwo(12, FirstDose1Slot, t0, 2), "k1", "other-hash"))
		if o.Replayed || o.Bookings[0].PersonID != 12 {
			t.Fatalf("person 12 got person %d's outcome (replayed %v)", p, o.Replayed)
		}
	})
	t.Run("no key, no idempotency", func(t *testing.T) {
		mustApply(t, s, BookTwo(13, FirstDose1Slot, t0, 3))
		refused(t, s, BookTwo(13, FirstDose1Slot, t0, 3), vaxbook.CodeAlreadyBooked)
	})
	t.Run("replay only", func(t *testing.T) {
		only := func(m vaxbook.Mutation) vaxbook.Mutation { m.ReplayOnly = true; return m }
		o := mustApply(t, s, only(keyed(BookTwo(p, FirstDose1Slot, t2, 0), "k1", "h1")))
		if !o.Replayed {
			t.Fatal("replay-only of a stored key not Replayed")
		}
		sameBookings(t, o.Bookings, first.Bookings)
		refused(t, s, only(keyed(BookTwo(p, FirstDose1Slot+1, t2, 0), "k1", "h2")), vaxbook.CodeIdempotencyReused)

		const q = 16
		snap := takeSnapshot(t, s, q)
		for _, m := range []vaxbook.Mutation{
			only(keyed(BookTwo(q, FirstDose1Slot+5, t0, 6), "k5", "h")),
			only(BookTwo(q, FirstDose1Slot+5, t0, 6)),
		} {
			o := apply1(t, s, m)
			if !errors.Is(o.Err, vaxbook.ErrNoReplay) || o.Replayed {
				t.Fatalf("replay-only of an unknown key: %+v, want ErrNoReplay", o)
			}
		}
		snap.mustEqual(t, takeSnapshot(t, s, q))
		// The key was not taken: the real request goes through.
		if o := mustApply(t, s, keyed(BookTwo(q, FirstDose1Slot+5, t0, 6), "k5", "h")); o.Replayed {
			t.Fatal("the first real request under the key was marked Replayed")
		}
	})
	t.Run("replay within one batch", func(t *testing.T) {
		m := keyed(BookTwo(15, FirstDose1Slot+4, t0, 5), "k4", "h")
		outs, err := s.Apply(ctxT(t), []vaxbook.Mutation{m, m})
		if err != nil {
			t.Fatal(err)
		}
		if outs[0].Err != nil || outs[1].Err != nil || outs[0].Replayed || !outs[1].Replayed {
			t.Fatalf("outcomes %+v", outs)
		}
		sameBookings(t, outs[1].Bookings, outs[0].Bookings)
		wantBooked(t, s, CampaignID, map[row]int{{FirstDose1Slot + 4, 5}: 1})
	})
}

func runBatch(t *testing.T, open Opener) {
	s, _ := Loaded(t, open)
	pre := mustApply(t, s, BookTwo(16, FirstDose1Slot, t0, 6)).Bookings
	other := mustApply(t, s, BookTwo(26, FirstDose1Slot, t0, 6)).Bookings
	muts := []vaxbook.Mutation{
		BookTwo(13, FirstDose1Slot+1, t1, 3),                         // 0 ok
		BookTwo(13, FirstDose1Slot+2, t1, 3),                         // 1 already booked (by 0)
		BookTwo(14, NoDose2Slot, t1, 4),                              // 2 dose 2 unavailable
		Cancel(16, CampaignID, pre[0].ID, t1),                        // 3 ok
		BookTwo(16, FirstDose1Slot+3, t1, 6),                         // 4 ok: same person, after the cancel
		Cancel(16, CampaignID, other[0].ID, t1),                      // 5 not your booking
		BookTwo(20, TightSlot, t1, 0),                                // 6 ok: (TightSlot, 0) has one place
		BookTwo(30, TightSlot, t1, 0),                                // 7 slot full
		BookTwo(40, TightSlot, t1, 0),                                // 8 slot full
		ChangeTwo(16, pre[0].ID, FirstDose1Slot+5, t1, 6),            // 9 booking cancelled (by 3)
		BookTwo(15, FirstDose1Slot+1, t1, 5),                         // 10 ok
		{Kind: "teleport", PersonID: 17, CampaignID: CampaignID},     // 11 invalid
		BookTwo(17, FirstDose1Slot+1, t1, 7),                         // 12 ok
		ChangeTwo(13, 987654321, FirstDose1Slot+1, t1, 3),            // 13 not found
		Cancel(26, CampaignID, other[1].ID, t1),                      // 14 ok: via the dose-2 booking
		BookTwo(26, TightSlot, t1, 0),                                // 15 slot full (taken by 6)
		BookTwo(26, TightSlot, t1, 1),                                // 16 ok
		BookTwo(36, Dose2Of(FirstDose1Slot), t1, vaxbook.CohortPool), // 17 slot full: no such row
	}
	wantCodes := []vaxbook.Code{"", vaxbook.CodeAlreadyBooked, vaxbook.CodeDose2Unavailable, "", "", vaxbook.CodeNotYourBooking,
		"", vaxbook.CodeSlotFull, vaxbook.CodeSlotFull, vaxbook.CodeBookingCancelled, "", vaxbook.CodeInvalid, "",
		vaxbook.CodeNotFound, "", vaxbook.CodeSlotFull, "", vaxbook.CodeSlotFull}
	outs, err := s.Apply(ctxT(t), muts)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(outs) != len(muts) {
		t.Fatalf("%d outcomes for %d mutations", len(outs), len(muts))
	}
	for i, o := range outs {
		if got := vaxbook.ErrorCode(o.Err); got != wantCodes[i] {
			t.Errorf("mutation %d (%s person %d): code %q (%v), want %q", i, muts[i].Kind, muts[i].PersonID, got, o.Err, wantCodes[i])
		}
		if (o.Err == nil) != (len(o.Bookings) > 0) {
			t.Errorf("mutation %d: err %v with bookings %s", i, o.Err, fmtBookings(o.Bookings))
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	wantBooked(t, s, CampaignID, map[row]int{
		{FirstDose1Slot + 1, 3}: 1, {FirstDose1Slot + 2, 3}: 0, {NoDose2Slot, 4}: 0,
		{FirstDose1Slot, 6}: 0, {FirstDose1Slot + 3, 6}: 1, {TightSlot, 0}: 1, {TightSlot, 1}: 1,
		{FirstDose1Slot + 1, 5}: 1, {FirstDose1Slot + 1, 7}: 1, {FirstDose1Slot + 5, 6}: 0,
		{Dose2Of(FirstDose1Slot), vaxbook.CohortDose2}:     0,
		{Dose2Of(FirstDose1Slot + 1), vaxbook.CohortDose2}: 3,
		{Dose2Of(TightSlot), vaxbook.CohortDose2}:          2,
		{Dose2Of(NoDose2Slot), vaxbook.CohortDose2}:        0,
	})
	rep, err := s.CheckInvariants(ctxT(t), CampaignID)
	if err != nil {
		t.Fatal(err)
	}
	// Active: 13, 16 (new), 20, 15, 17, 26 (new) → 6 people × 2 doses.
	if !rep.OK() || rep.ActiveBookings != 12 {
		t.Fatalf("CheckInvariants = %+v, want OK with 12 active bookings", rep)
	}
}

func runInvalid(t *testing.T, open Opener) {
	s, _ := Loaded(t, open)
	snap := takeSnapshot(t, s, 1)
	tests := []struct {
		name string
		m    vaxbook.Mutation
	}{
		{"unknown kind", vaxbook.Mutation{Kind: "upgrade", PersonID: 1, CampaignID: CampaignID, At: t0}},
		{"book without legs", vaxbook.Mutation{Kind: vaxbook.MutationBook, PersonID: 1, CampaignID: CampaignID, At: t0}},
		{"change without legs", vaxbook.Mutation{Kind: vaxbook.MutationChange, PersonID: 1, CampaignID: CampaignID, BookingID: 1, At: t0}},
		{"cancel without booking id", vaxbook.Mutation{Kind: vaxbook.MutationCancel, PersonID: 1, CampaignID: CampaignID, At: t0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			refused(t, s, tc.m, vaxbook.CodeInvalid)
			snap.mustEqual(t, takeSnapshot(t, s, 1))
		})
	}
	t.Run("unknown person or campaign", func(t *testing.T) {
		refused(t, s, BookTwo(People+1000, FirstDose1Slot, t0, 1), vaxbook.CodeNotFound)
		m := BookTwo(1, FirstDose1Slot, t0, 1)
		m.CampaignID = "no-such-campaign"
		refused(t, s, m, vaxbook.CodeNotFound)
		snap.mustEqual(t, takeSnapshot(t, s, 1))
	})
	outs, err := s.Apply(ctxT(t), nil)
	if err != nil || len(outs) != 0 {
		t.Fatalf("Apply(nil) = %v, %v; want no outcomes, no error", outs, err)
	}
}

func runQuotaChanges(t *testing.T, open Opener) {
	s, f := Loaded(t, open)
	var rows []vaxbook.Quota
	seq0, err := s.Quotas(ctxT(t), CampaignID, func(q vaxbook.Quota) error {
		rows = append(rows, q)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows, f.QuotasOf(CampaignID)) {
		t.Fatalf("Quotas(%s) = %d rows, differ from the %d loaded (order: slot, cohort)", CampaignID, len(rows), len(f.QuotasOf(CampaignID)))
	}
	changes, seq, err := s.QuotaChanges(ctxT(t), CampaignID, seq0)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 0 || seq < seq0 {
		t.Fatalf("QuotaChanges with nothing changed = %v, seq %d (from %d)", changes, seq, seq0)
	}

	mustApply(t, s, BookTwo(1, FirstDose1Slot, t0, 1))
	changes, seq1, err := s.QuotaChanges(ctxT(t), CampaignID, seq0)
	if err != nil {
		t.Fatal(err)
	}
	wantRows(t, changes, []vaxbook.Quota{
		{SlotID: FirstDose1Slot, Cohort: 1, Capacity: DoseCapacity, Booked: 1},
		{SlotID: Dose2Of(FirstDose1Slot), Cohort: vaxbook.CohortDose2, Capacity: Dose2Capacity, Booked: 1},
	})
	if seq1 <= seq0 {
		t.Fatalf("sequence did not advance: %d after %d", seq1, seq0)
	}
	if changes, s2, err := s.QuotaChanges(ctxT(t), CampaignID, seq1); err != nil || len(changes) != 0 || s2 < seq1 {
		t.Fatalf("QuotaChanges(seq1) = %v, %d, %v; want nothing new", changes, s2, err)
	}

	// Another campaign's change is not reported for this one.
	mustApply(t, s, vaxbook.Mutation{Kind: vaxbook.MutationBook, PersonID: 2, CampaignID: PoolCampaignID, At: t0,
		Legs: []vaxbook.Leg{{Dose: 1, SlotID: PoolSlot, Cohorts: []int{vaxbook.CohortPool}}}})
	changes, seq2, err := s.QuotaChanges(ctxT(t), CampaignID, seq1)
	if err != nil || len(changes) != 0 {
		t.Fatalf("QuotaChanges after another campaign's booking = %v, %v; want none", changes, err)
	}
	pc, _, err := s.QuotaChanges(ctxT(t), PoolCampaignID, seq1)
	if err != nil {
		t.Fatal(err)
	}
	wantRows(t, pc, []vaxbook.Quota{{SlotID: PoolSlot, Cohort: vaxbook.CohortPool, Capacity: PoolCapacity, Booked: 1}})

	// A change and a cancel: every row touched is reported with its current value.
	b, err := s.Bookings(ctxT(t), 1, CampaignID)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, ChangeTwo(1, b[0].ID, FirstDose1Slot+1, t1, 1))
	mustApply(t, s, BookTwo(3, FirstDose1Slot+2, t1, 3))
	changes, seq3, err := s.QuotaChanges(ctxT(t), CampaignID, seq2)
	if err != nil {
		t.Fatal(err)
	}
	wantRows(t, changes, []vaxbook.Quota{
		{SlotID: FirstDose1Slot, Cohort: 1, Capacity: DoseCapacity, Booked: 0},
		{SlotID: FirstDose1Slot + 1, Cohort: 1, Capacity: DoseCapacity, Booked: 1},
		{SlotID: FirstDose1Slot + 2, Cohort: 3, Capacity: DoseCapacity, Booked: 1},
		{SlotID: Dose2Of(FirstDose1Slot), Cohort: vaxbook.CohortDose2, Capacity: Dose2Capacity, Booked: 0},
		{SlotID: Dose2Of(FirstDose1Slot + 1), Cohort: vaxbook.CohortDose2, Capacity: Dose2Capacity, Booked: 1},
		{SlotID: Dose2Of(FirstDose1Slot + 2), Cohort: vaxbook.CohortDose2, Capacity: Dose2Capacity, Booked: 1},
	})
	if seq3 <= seq2 {
		t.Fatalf("sequence did not advance: %d after %d", seq3, seq2)
	}
	// A fresh Quotas read reflects everything and its seq is current.
	m, qseq := quotaMap(t, s, CampaignID)
	if m[row{FirstDose1Slot + 1, 1}].Booked != 1 || qseq < seq3 {
		t.Fatalf("Quotas after changes: row %+v, seq %d (changes at %d)", m[row{FirstDose1Slot + 1, 1}], qseq, seq3)
	}
	if changes, _, err := s.QuotaChanges(ctxT(t), CampaignID, qseq); err != nil || len(changes) != 0 {
		t.Fatalf("QuotaChanges(Quotas' seq) = %v, %v; want none", changes, err)
	}
}

// wantRows checks that got holds every row of want (at its current value);
// extra rows are allowed only if they are of the same campaign and match
// the store (checked by the caller's later reads), so here they must at
// least not contradict want.
func wantRows(t *testing.T, got, want []vaxbook.Quota) {
	t.Helper()
	idx := map[row]vaxbook.Quota{}
	for _, q := range got {
		idx[row{q.SlotID, int64(q.Cohort)}] = q
	}
	for _, w := range want {
		g, ok := idx[row{w.SlotID, int64(w.Cohort)}]
		if !ok || g != w {
			t.Fatalf("QuotaChanges = %+v\nwant (at least) %+v", got, want)
		}
	}
}

func runInvariants(t *testing.T, open Opener) {
	s, f := Loaded(t, open)
	rep, err := s.CheckInvariants(ctxT(t), CampaignID)
	if err != nil {
		t.Fatal(err)
	}
	want := vaxbook.InvariantReport{QuotaRows: int64(len(f.QuotasOf(CampaignID)))}
	if !rep.OK() || rep.QuotaRows != want.QuotaRows || rep.ActiveBookings != 0 {
		t.Fatalf("CheckInvariants of a fresh store = %+v, want %+v", rep, want)
	}
	for p := int64(1); p <= 10; p++ {
		mustApply(t, s, BookTwo(p, FirstDose1Slot+p%4, t0, Cohort(p)))
	}
	b, err := s.Bookings(ctxT(t), 3, CampaignID)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, Cancel(3, CampaignID, b[0].ID, t1))
	rep, err = s.CheckInvariants(ctxT(t), CampaignID)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.ActiveBookings != 18 || rep.QuotaRows != want.QuotaRows {
		t.Fatalf("CheckInvariants = %+v, want OK, 18 active bookings, %d quota rows", rep, want.QuotaRows)
	}
	rep, err = s.CheckInvariants(ctxT(t), PoolCampaignID)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.ActiveBookings != 0 || rep.QuotaRows != int64(len(f.QuotasOf(PoolCampaignID))) {
		t.Fatalf("CheckInvariants(%s) = %+v", PoolCampaignID, rep)
	}
}

// runIdempotencyRetention: outcomes stored before the cut-off are
// forgotten (a retry is then a new request), later ones still replay.
func runIdempotencyRetention(t *testing.T, open Opener) {
	s, _ := Loaded(t, open)
	keyed := func(m vaxbook.Mutation, key string) vaxbook.Mutation {
		m.IdempotencyKey, m.RequestHash = key, "h"
		return m
	}
	only := func(m vaxbook.Mutation) vaxbook.Mutation { m.ReplayOnly = true; return m }
	mustApply(t, s, keyed(BookTwo(20, FirstDose1Slot, t0, 0), "old"))
	refused(t, s, keyed(BookTwo(21, NoDose2Slot, t0, 1), "old-refusal"), vaxbook.CodeDose2Unavailable)
	recent := mustApply(t, s, keyed(BookTwo(22, FirstDose1Slot, t2, 2), "recent"))
	// More than an adapter deletes in one statement (2,000): refusals
	// under their own keys, all stored at t0.
	const many = 4100
	var retries []vaxbook.Mutation
	for i := range many {
		retries = append(retries, keyed(BookTwo(20, FirstDose1Slot, t0, 0), fmt.Sprintf("retry-%d", i)))
	}
	outs, err := s.Apply(ctxT(t), retries)
	if err != nil || vaxbook.ErrorCode(outs[many-1].Err) != vaxbook.CodeAlreadyBooked {
		t.Fatalf("Apply of %d keyed retries: %v (last outcome %+v)", many, err, outs[many-1])
	}

	n, err := s.DeleteIdempotencyBefore(ctxT(t), t1)
	if err != nil || n != 2+many {
		t.Fatalf("DeleteIdempotencyBefore(t1) = %d, %v; want %d (every outcome and refusal stored at t0)", n, err, 2+many)
	}
	snap := takeSnapshot(t, s, 20)
	if o := apply1(t, s, only(keyed(BookTwo(20, FirstDose1Slot, t2, 0), "old"))); !errors.Is(o.Err, vaxbook.ErrNoReplay) {
		t.Fatalf("replay-only of a forgotten key: %+v, want ErrNoReplay", o)
	}
	snap.mustEqual(t, takeSnapshot(t, s, 20))
	// The same request again is a new one: person 20 already holds the booking.
	if o := refused(t, s, keyed(BookTwo(20, FirstDose1Slot, t2, 0), "old"), vaxbook.CodeAlreadyBooked); o.Replayed {
		t.Fatal("a forgotten key's retry was marked Replayed")
	}
	o := mustApply(t, s, keyed(BookTwo(22, FirstDose1Slot, t2, 2), "recent"))
	if !o.Replayed {
		t.Fatal("an outcome stored after the cut-off was forgotten")
	}
	sameBookings(t, o.Bookings, recent.Bookings)
	if n, err := s.DeleteIdempotencyBefore(ctxT(t), t1); err != nil || n != 0 {
		t.Fatalf("second DeleteIdempotencyBefore(t1) = %d, %v; want 0", n, err)
	}
}
