package storetest

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vaxbook"
)

// Shape of the concurrency suite: Goroutines goroutines, each owning
// PeoplePerGoroutine people, book (two legs) into RushSlots dose-1 slots of
// one cohort place each (10 places per slot) whose dose-2 rows hold
// RushDose2Capacity places, in batches of 1–6 mutations, and cancel some of
// what they booked.
const (
	Goroutines         = 200
	PeoplePerGoroutine = 3
	RushSlots          = 10
	RushDose2Capacity  = 8
	// RushCampaign is the campaign of RushDataset; its dose-1 slots are
	// RushFirstSlot, RushFirstSlot+1, …, each paired with Dose2Of(id).
	RushCampaign  = "rush"
	RushFirstSlot = 5001
	rushRounds    = 3
)

// RushDataset is the concurrency suite's data: a two-dose campaign with
// RushSlots small slot pairs and Goroutines×PeoplePerGoroutine people (ids
// from 1).
func RushDataset() vaxbook.Dataset {
	return RushDatasetSized(Goroutines*PeoplePerGoroutine, RushSlots, 1, RushDose2Capacity)
}

// RushDatasetSized is RushDataset with other sizes: people people, slots
// dose-1 slots with cohort rows 0–9 of perCohort places each, and dose-2
// rows of dose2 places.
func RushDatasetSized(people, slots, perCohort, dose2 int) vaxbook.Dataset {
	c := KoreaCampaign(RushCampaign)
	f := NewFixture()
	d := vaxbook.Dataset{
		Campaigns: []vaxbook.Campaign{c},
		Regions:   f.Regions[:1],
		Clinics:   f.Clinics[:1],
	}
	base := time.Date(2021, 8, 26, 9, 0, 0, 0, KST)
	for i := range int64(slots) {
		id := RushFirstSlot + i
		at := base.Add(time.Duration(i) * time.Hour)
		d.Slots = append(d.Slots, vaxbook.Slot{ID: id, CampaignID: RushCampaign, ClinicID: 101, StartsAt: at})
		for cohort := 0; cohort < vaxbook.Cohorts; cohort++ {
			d.Quotas = append(d.Quotas, vaxbook.Quota{SlotID: id, Cohort: cohort, Capacity: perCohort})
		}
	}
	for i := range int64(slots) {
		id := RushFirstSlot + i
		d.Slots = append(d.Slots, vaxbook.Slot{ID: Dose2Of(id), CampaignID: RushCampaign, ClinicID: 101,
			StartsAt: base.Add(time.Duration(i)*time.Hour).AddDate(0, 0, 28)})
		d.Quotas = append(d.Quotas, vaxbook.Quota{SlotID: Dose2Of(id), Cohort: vaxbook.CohortDose2, Capacity: dose2})
	}
	var ps []vaxbook.Person
	for id := int64(1); id <= int64(people); id++ {
		ps = append(ps, NewPerson(id))
	}
	d.People = PeopleSeq(ps)
	return d
}

// RunConcurrency hammers Apply from many goroutines, then audits the store
// through CheckInvariants and through the public reads.
func RunConcurrency(t *testing.T, open Opener) {
	s := open(t)
	if err := s.Load(ctxT(t), RushDataset()); err != nil {
		t.Fatal(err)
	}
	var (
		booked, cancelled, refusedFull, replays atomic.Int64
		wg                                      sync.WaitGroup
		errs                                    = make(chan error, Goroutines)
		mu                                      sync.Mutex
		active                                  = map[int64]int64{} // person → dose-1 booking id, as the goroutines saw it
	)
	for g := range Goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			mine := map[int64]int64{} // person → dose-1 booking id
			at := time.Date(2021, 8, 19, 20, 0, 0, 0, KST)
			for round := range rushRounds {
				n := 1 + rng.IntN(6)
				muts := make([]vaxbook.Mutation, 0, n)
				for k := range n {
					p := int64(g*PeoplePerGoroutine + 1 + rng.IntN(PeoplePerGoroutine))
					if id, ok := mine[p]; ok && rng.IntN(3) == 0 {
						muts = append(muts, Cancel(p, RushCampaign, id, at))
						continue
					}
					slot := RushFirstSlot + int64(rng.IntN(RushSlots))
					var cohorts []int
					if rng.IntN(2) == 0 {
						cohorts = []int{Cohort(p)}
					} else {
						cohorts = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
					}
					m := BookTwo(p, slot, at, cohorts...)
					m.CampaignID = RushCampaign
					if k == 0 && round == 0 && g%5 == 0 {
						m.IdempotencyKey, m.RequestHash = fmt.Sprintf("g%d", g), "h"
						muts = append(muts, m, m) // a retry inside the same batch
						continue
					}
					muts = append(muts, m)
				}
				outs, err := s.Apply(ctxT(t), muts)
				if err != nil {
					errs <- fmt.Errorf("goroutine %d: Apply: %w", g, err)
					return
				}
				if len(outs) != len(muts) {
					errs <- fmt.Errorf("goroutine %d: %d outcomes for %d mutations", g, len(outs), len(muts))
					return
				}
				for i, o := range outs {
					m := muts[i]
					switch {
					case o.Replayed:
						replays.Add(1)
					case o.Err == nil && m.Kind == vaxbook.MutationBook:
						if len(o.Bookings) != 2 {
							errs <- fmt.Errorf("goroutine %d: book returned %d bookings", g, len(o.Bookings))
							return
						}
						booked.Add(1)
						mine[m.PersonID] = o.Bookings[0].ID
					case o.Err == nil && m.Kind == vaxbook.MutationCancel:
						cancelled.Add(1)
						delete(mine, m.PersonID)
					default:
						switch vaxbook.ErrorCode(o.Err) {
						case vaxbook.CodeSlotFull, vaxbook.CodeDose2Unavailable:
							refusedFull.Add(1)
						case vaxbook.CodeAlreadyBooked, vaxbook.CodeBookingCancelled:
						default:
							errs <- fmt.Errorf("goroutine %d: %s for person %d: unexpected %v", g, m.Kind, m.PersonID, o.Err)
							return
						}
					}
				}
			}
			mu.Lock()
			for p, id := range mine {
				active[p] = id
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	net := booked.Load() - cancelled.Load()
	t.Logf("booked %d, cancelled %d, refused for lack of room %d, replays %d, active %d",
		booked.Load(), cancelled.Load(), refusedFull.Load(), replays.Load(), net)
	if refusedFull.Load() == 0 {
		t.Fatal("no mutation was refused for lack of room: the suite did not reach capacity")
	}
	if replays.Load() == 0 {
		t.Fatal("no idempotent retry was replayed")
	}

	rep, err := s.CheckInvariants(ctxT(t), RushCampaign)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.ActiveBookings != 2*net {
		t.Fatalf("CheckInvariants = %+v, want OK and %d active bookings (2 × (booked − cancelled))", rep, 2*net)
	}
	if int64(len(active)) != net {
		t.Fatalf("goroutines hold %d active bookings, outcomes say %d", len(active), net)
	}

	// Audit through the public reads: every row's booked equals the active
	// bookings taken from it and never exceeds its capacity.
	taken := map[row]int{}
	for p := int64(1); p <= Goroutines*PeoplePerGoroutine; p++ {
		bs, err := s.Bookings(ctxT(t), p, RushCampaign)
		if err != nil {
			t.Fatal(err)
		}
		var d1 int64
		n := 0
		for _, b := range bs {
			if b.Status != vaxbook.BookingActive {
				continue
			}
			n++
			taken[row{b.SlotID, int64(b.Cohort)}]++
			if b.Dose == 1 {
				d1 = b.ID
			}
		}
		if want := active[p]; d1 != want || (n != 0 && n != 2) {
			t.Fatalf("person %d: store has dose-1 booking %d (%d active rows), outcomes say %d", p, d1, n, want)
		}
	}
	var sum int64
	if _, err := s.Quotas(ctxT(t), RushCampaign, func(q vaxbook.Quota) error {
		if q.Booked < 0 || q.Booked > q.Capacity {
			return fmt.Errorf("row (%d, %d): booked %d of %d", q.SlotID, q.Cohort, q.Booked, q.Capacity)
		}
		if q.Booked != taken[row{q.SlotID, int64(q.Cohort)}] {
			return fmt.Errorf("row (%d, %d): booked %d, active bookings %d", q.SlotID, q.Cohort, q.Booked, taken[row{q.SlotID, int64(q.Cohort)}])
		}
		sum += int64(q.Booked)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if sum != 2*net {
		t.Fatalf("sum of booked = %d, want %d", sum, 2*net)
	}
}
