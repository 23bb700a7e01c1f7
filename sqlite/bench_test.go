package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"iter"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/storetest"
)

// benchCountry is a synthetic dataset of the given size: clinics, slots
// (dose-1 slots with cohort rows 0–9 of capacity perRow; with pairs, a
// dose-2 slot per dose-1 slot with a CohortDose2 row of capacity 10×perRow)
// and people generated on the fly.
func benchCountry(clinics, dose1Slots int, pairs bool, perRow int, people int) vaxbook.Dataset {
	c := storetest.KoreaCampaign(storetest.CampaignID)
	d := vaxbook.Dataset{Campaigns: []vaxbook.Campaign{c}, Regions: storetest.NewFixture().Regions}
	for i := range clinics {
		d.Clinics = append(d.Clinics, vaxbook.Clinic{ID: int64(i + 1), Name: fmt.Sprintf("clinic %d", i+1), SidoCode: "11",
			SigunguCode: "11010", Address: "address", Lat: 37.5, Lng: 127, Vaccine: "pfizer"})
	}
	base := time.Date(2021, 8, 26, 9, 0, 0, 0, storetest.KST)
	for i := range dose1Slots {
		id := int64(i + 1)
		at := base.Add(time.Duration(i/clinics) * time.Hour)
		d.Slots = append(d.Slots, vaxbook.Slot{ID: id, CampaignID: c.ID, ClinicID: int64(i%clinics + 1), StartsAt: at})
		for cohort := range vaxbook.Cohorts {
			d.Quotas = append(d.Quotas, vaxbook.Quota{SlotID: id, Cohort: cohort, Capacity: perRow})
		}
	}
	if pairs {
		for i := range dose1Slots {
			id := int64(i + 1)
			d.Slots = append(d.Slots, vaxbook.Slot{ID: id + int64(dose1Slots), CampaignID: c.ID, ClinicID: int64(i%clinics + 1),
				StartsAt: d.Slots[i].StartsAt.AddDate(0, 0, 28)})
			d.Quotas = append(d.Quotas, vaxbook.Quota{SlotID: id + int64(dose1Slots), Cohort: vaxbook.CohortDose2, Capacity: 10 * perRow})
		}
	}
	d.People = benchPeople(people)
	return d
}

func benchPeople(n int) iter.Seq2[vaxbook.Person, error] {
	return func(yield func(vaxbook.Person, error) bool) {
		var buf [8]byte
		for i := 1; i <= n; i++ {
			binary.BigEndian.PutUint64(buf[:], uint64(i))
			h := sha256.Sum256(buf[:])
			p := vaxbook.Person{ID: int64(i), CIHash: h[:], Nationality: vaxbook.National, Sigungu: "11010",
				BirthDate:  vaxbook.Date{Year: 1972 + i%32, Month: time.Month(1 + i%12), Day: 1 + i%28},
				NameSealed: h[:24], PhoneSealed: h[8:28]}
			if !yield(p, nil) {
				return
			}
		}
	}
}

func openBench(b *testing.B, opts Options) *DB {
	b.Helper()
	opts.Logger = quiet
	db, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkLoad loads 1,000,000 people, 14,000 clinics, 150,000 slots and
// 1,500,000 quota rows in one Load (the bound: ≤ 30 s). Run with
// -benchtime=1x.
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		db := openBench(b, Options{})
		d := benchCountry(14000, 150000, false, 10, 1_000_000)
		b.StartTimer()
		start := time.Now()
		if err := db.Load(context.Background(), d); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/load")
		c, err := db.Counts(context.Background())
		if err != nil || c.People != 1_000_000 || c.Quotas != 1_500_000 || c.Slots != 150_000 || c.Clinics != 14_000 {
			b.Fatalf("after Load: %+v, %v", c, err)
		}
	}
}

// applyWorkload books people first..first+n-1 (each into slot p·7919 mod
// slots, cohort p/slots mod 10, with the paired dose-2 slot if twoLeg), batch
// mutations per Apply, each batch in slot order as the engine sends it.
func applyWorkload(b *testing.B, db *DB, first, n, batch, slots int, twoLeg bool) (wall, cpu time.Duration) {
	b.Helper()
	ctx := context.Background()
	at := time.Date(2021, 8, 19, 20, 0, 0, 0, storetest.KST)
	muts := make([]vaxbook.Mutation, 0, batch)
	start, cpu0 := time.Now(), cpuTime()
	flush := func() {
		slices.SortFunc(muts, func(x, y vaxbook.Mutation) int { return int(x.Legs[0].SlotID - y.Legs[0].SlotID) })
		outs, err := db.Apply(ctx, muts)
		if err != nil {
			b.Fatal(err)
		}
		for i, o := range outs {
			if o.Err != nil {
				b.Fatalf("mutation %d (person %d): %v", i, muts[i].PersonID, o.Err)
			}
		}
		muts = muts[:0]
	}
	for p := first; p < first+n; p++ {
		slot := int64(p*7919%slots + 1)
		m := vaxbook.Mutation{Kind: vaxbook.MutationBook, PersonID: int64(p), CampaignID: storetest.CampaignID, At: at,
			IdempotencyKey: fmt.Sprintf("k%d", p), RequestHash: "h",
			Legs: []vaxbook.Leg{{Dose: 1, SlotID: slot, Cohorts: []int{p / slots % 10}}}}
		if twoLeg {
			m.Legs = append(m.Legs, vaxbook.Leg{Dose: 2, SlotID: slot + int64(slots), Cohorts: []int{vaxbook.CohortDose2}})
		}
		muts = append(muts, m)
		if len(muts) == batch {
			flush()
		}
	}
	if len(muts) > 0 {
		flush()
	}
	return time.Since(start), cpuTime() - cpu0
}

// cpuTime is the CPU time (user + system) this process has used: on a
// shared machine it says more about the cost of a workload than the wall
// clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkApply measures Apply throughput (mutations/s, each an idempotent
// book) with group commit (256 mutations per transaction, one- and two-leg)
// against the baseline of one mutation per transaction, in the same run on
// the same database. Metrics: mutations/s of each, and the ratios. Run with
// -benchtime=1x (each iteration is a fixed workload).
func BenchmarkApply(b *testing.B) {
	for _, sync := range []string{SyncFull, SyncNormal} {
		b.Run("sync="+sync, func(b *testing.B) {
			const (
				slots     = 2000
				baseline  = 2000
				batched   = 256 * 200
				batchSize = 256
			)
			for b.Loop() {
				b.StopTimer()
				db := openBench(b, Options{Synchronous: sync})
				if err := db.Load(context.Background(), benchCountry(200, slots, true, 20, baseline+2*batched)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				one, oneCPU := applyWorkload(b, db, 1, baseline, 1, slots, true)
				leg1, leg1CPU := applyWorkload(b, db, baseline+1, batched, batchSize, slots, false)
				leg2, leg2CPU := applyWorkload(b, db, baseline+batched+1, batched, batchSize, slots, true)
				rOne := float64(baseline) / one.Seconds()
				r1 := float64(batched) / leg1.Seconds()
				r2 := float64(batched) / leg2.Seconds()
				b.ReportMetric(rOne, "1-per-tx-muts/s")
				b.ReportMetric(r1, "batch256-1leg-muts/s")
				b.ReportMetric(r2, "batch256-2leg-muts/s")
				b.ReportMetric(r2/rOne, "ratio-2leg/1-per-tx")
				b.ReportMetric(float64(oneCPU.Microseconds())/baseline, "1-per-tx-cpu-µs/mut")
				b.ReportMetric(float64(leg1CPU.Microseconds())/batched, "batch256-1leg-cpu-µs/mut")
				b.ReportMetric(float64(leg2CPU.Microseconds())/batched, "batch256-2leg-cpu-µs/mut")
				rep, err := db.CheckInvariants(context.Background(), storetest.CampaignID)
				if err != nil || !rep.OK() || rep.ActiveBookings != int64(2*baseline+batched+2*batched) {
					b.Fatalf("after the benchmark: %+v, %v", rep, err)
				}
			}
		})
	}
}
