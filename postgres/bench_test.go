package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/internal/testdb"
	"vaxbook/storetest"
)

// Shape of BenchmarkApply.
const (
	benchSlots     = 20000 // dose-1 slots, each paired with a dose-2 slot
	benchBatch     = 256   // mutations per group-commit batch
	benchWriters   = 4     // goroutines calling group-commit Apply
	benchNaive     = 32    // goroutines calling the naive design
	benchRounds    = 4     // the two designs alternate this many times
	benchCampaign  = "bench"
	benchFirstSlot = 100001
)

// benchDataset is a two-dose campaign with benchSlots slot pairs whose rows
// never fill up, so every booking succeeds and both designs do the same
// work: two conditional quota updates and two inserted bookings each.
func benchDataset(people int) vaxbook.Dataset {
	d := vaxbook.Dataset{
		Campaigns: []vaxbook.Campaign{storetest.KoreaCampaign(benchCampaign)},
		Regions:   storetest.NewFixture().Regions,
		Clinics:   storetest.NewFixture().Clinics,
	}
	start := time.Date(2021, 8, 26, 9, 0, 0, 0, storetest.KST)
	for i := range int64(benchSlots) {
		id := benchFirstSlot + i
		at := start.Add(time.Duration(i) * time.Hour)
		d.Slots = append(d.Slots,
			vaxbook.Slot{ID: id, CampaignID: benchCampaign, ClinicID: 101 + i%3, StartsAt: at},
			vaxbook.Slot{ID: id + benchSlots, CampaignID: benchCampaign, ClinicID: 101 + i%3, StartsAt: at.AddDate(0, 0, 28)})
		for c := range vaxbook.Cohorts {
			d.Quotas = append(d.Quotas, vaxbook.Quota{SlotID: id, Cohort: c, Capacity: 1 << 30})
		}
		d.Quotas = append(d.Quotas, vaxbook.Quota{SlotID: id + benchSlots, Cohort: vaxbook.CohortDose2, Capacity: 1 << 30})
	}
	d.People = func(yield func(vaxbook.Person, error) bool) {
		for id := int64(1); id <= int64(people); id++ {
			if !yield(storetest.NewPerson(id), nil) {
				return
			}
		}
	}
	return d
}

// benchBooking is person p's two-dose booking in a random slot of their
// cohort.
func benchBooking(rng *rand.Rand, p int64, at time.Time) vaxbook.Mutation {
	slot := benchFirstSlot + rng.Int64N(benchSlots)
	return vaxbook.Mutation{
		Kind: vaxbook.MutationBook, PersonID: p, CampaignID: benchCampaign, At: at,
		IdempotencyKey: fmt.Sprintf("k%d", p), RequestHash: "h",
		Legs: []vaxbook.Leg{
			{Dose: 1, SlotID: slot, Cohorts: []int{int(p % 10)}},
			{Dose: 2, SlotID: slot + benchSlots, Cohorts: []int{vaxbook.CohortDose2}},
		},
	}
}

// runBookings books n new people through apply from g goroutines, each
// sending batches of size batch, and returns the elapsed time.
func runBookings(b *testing.B, apply func(context.Context, []vaxbook.Mutation) ([]vaxbook.Outcome, error),
	next *atomic.Int64, n, g, batch int) time.Duration {
	b.Helper()
	var (
		left = atomic.Int64{}
		wg   sync.WaitGroup
		fail atomic.Value
	)
	left.Store(int64(n))
	at := time.Date(2021, 8, 19, 20, 0, 0, 0, storetest.KST)
	start := time.Now()
	for w := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(next.Load())))
			muts := make([]vaxbook.Mutation, 0, batch)
			for {
				k := min(int64(batch), left.Add(-int64(batch))+int64(batch))
				if k <= 0 {
					return
				}
				muts = muts[:0]
				for range k {
					muts = append(muts, benchBooking(rng, next.Add(1), at))
				}
				outs, err := apply(context.Background(), muts)
				if err != nil {
					fail.Store(err)
					return
				}
				for _, o := range outs {
					if o.Err != nil {
						fail.Store(o.Err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, ok := fail.Load().(error); ok {
		b.Fatal(err)
	}
	return elapsed
}

// BenchmarkApply compares, in one run against one PostgreSQL server
// (fsync=on, synchronous_commit=on), group-commit Apply (benchWriters
// goroutines, batches of benchBatch) with the naive
// one-transaction-per-booking design (benchNaive goroutines). Each design
// books b.N people (two-dose bookings with an idempotency key); the two
// alternate in benchRounds rounds so that drift of a shared machine hits
// both. Metrics: group-bookings/s, naive-bookings/s and their ratio.
//
//	go test -run '^$' -bench BenchmarkApply -benchtime 20000x ./postgres/
func BenchmarkApply(b *testing.B) {
	url := testdb.Postgres(b)
	ctx := context.Background()
	group, err := Open(ctx, url, Options{MaxConns: benchWriters + 1, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer group.Close()
	naive, err := Open(ctx, url, Options{MaxConns: benchNaive + 1, NaiveApply: true, SkipMigrate: true, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer naive.Close()
	if err := group.Load(ctx, benchDataset(2*b.N+benchBatch+benchNaive+2*benchBatch*benchWriters)); err != nil {
		b.Fatal(err)
	}
	var (
		next             atomic.Int64
		tGroup, tNaive   time.Duration
		perRound         = max(b.N/benchRounds, 1)
		nGroup, nNaive   int
		batchesPerWriter = benchBatch
	)
	// Warm both pools and plan caches.
	runBookings(b, group.Apply, &next, benchBatch, 1, benchBatch)
	runBookings(b, naive.Apply, &next, benchNaive, benchNaive, 1)
	b.ResetTimer()
	for range benchRounds {
		tGroup += runBookings(b, group.Apply, &next, perRound, benchWriters, batchesPerWriter)
		nGroup += perRound
		tNaive += runBookings(b, naive.Apply, &next, perRound, benchNaive, 1)
		nNaive += perRound
	}
	b.StopTimer()
	g := float64(nGroup) / tGroup.Seconds()
	n := float64(nNaive) / tNaive.Seconds()
	b.ReportMetric(g, "group-bookings/s")
	b.ReportMetric(n, "naive-bookings/s")
	b.ReportMetric(g/n, "ratio")
	rep, err := group.CheckInvariants(ctx, benchCampaign)
	if err != nil {
		b.Fatal(err)
	}
	if !rep.OK() || rep.ActiveBookings != int64(2*(nGroup+nNaive+benchBatch+benchNaive)) {
		b.Fatalf("after the benchmark: %+v, want OK and %d active bookings", rep, 2*(nGroup+nNaive+benchBatch+benchNaive))
	}
}

// BenchmarkLoadPeople streams b.N people into an empty store with COPY
// (one Load, one transaction).
//
//	go test -run '^$' -bench LoadPeople -benchtime 1000000x ./postgres/
func BenchmarkLoadPeople(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, testdb.Postgres(b), Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	people := func(yield func(vaxbook.Person, error) bool) {
		for id := int64(1); id <= int64(b.N); id++ {
			if !yield(storetest.NewPerson(id), nil) {
				return
			}
		}
	}
	b.ResetTimer()
	if err := db.Load(ctx, vaxbook.Dataset{People: people}); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "people/s")
}
