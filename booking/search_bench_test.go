package booking

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/seed"
)

// The search benchmark's country: seed's 14,000 clinics over the 250
// districts, each with two dose-1 slots a day (10:00 and 14:00) on 40
// dose-1 days, each paired with its dose-2 slot 28 days later: 1,120,000
// dose-1 slots, 2,240,000 slots, 12,320,000 quota rows.
const (
	benchSearchDays = 40
	benchSlotsADay  = 2
)

// genSource generates the catalog on the fly (a Store would hold 12 M quota
// rows in memory twice).
type genSource struct {
	regions []vaxbook.Region
	clinics []vaxbook.Clinic
	c       vaxbook.Campaign
}

func (g *genSource) Regions(context.Context) ([]vaxbook.Region, error) { return g.regions, nil }
func (g *genSource) Clinics(context.Context) ([]vaxbook.Clinic, error) { return g.clinics, nil }

func (g *genSource) dose1Count() int64 {
	return int64(len(g.clinics) * benchSearchDays * benchSlotsADay)
}

// slot returns dose-1 slot i (0-based) of the generated supply.
func (g *genSource) slot(i int64) vaxbook.Slot {
	per := int64(benchSearchDays * benchSlotsADay)
	ci, rest := i/per, i%per
	day, k := rest/benchSlotsADay, rest%benchSlotsADay
	at := g.c.Vaccination.From.AddDays(int(day)).In(kst).Add(time.Duration(10+4*k) * time.Hour)
	return vaxbook.Slot{ID: i + 1, CampaignID: g.c.ID, ClinicID: g.clinics[ci].ID, StartsAt: at}
}

func (g *genSource) Slots(_ context.Context, _ string, fn func(vaxbook.Slot) error) error {
	n := g.dose1Count()
	for i := range n {
		if err := fn(g.slot(i)); err != nil {
			return err
		}
	}
	for i := range n {
		s := g.slot(i)
		s.ID += n
		s.StartsAt = s.StartsAt.AddDate(0, 0, g.c.DoseIntervalDays)
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}

func (g *genSource) Quotas(_ context.Context, _ string, fn func(vaxbook.Quota) error) (int64, error) {
	n := g.dose1Count()
	for i := range n {
		for c := range vaxbook.Cohorts {
			if err := fn(vaxbook.Quota{SlotID: i + 1, Cohort: c, Capacity: 2}); err != nil {
				return 0, err
			}
		}
	}
	for i := range n {
		if err := fn(vaxbook.Quota{SlotID: n + i + 1, Cohort: vaxbook.CohortDose2, Capacity: 2 * vaxbook.Cohorts}); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

var benchIndex = sync.OnceValues(func() (*index, error) {
	c, err := campaign.Load("kr-2021-18-49")
	if err != nil {
		return nil, err
	}
	// 40 dose-1 days: stretch the vaccination range.
	c.Vaccination.To = c.Vaccination.From.AddDays(benchSearchDays + c.DoseIntervalDays - 1)
	cfg := seed.DefaultConfig()
	cfg.People = 1
	g, err := seed.NewGenerator(cfg, c)
	if err != nil {
		return nil, err
	}
	clinics, err := g.Clinics()
	if err != nil {
		return nil, err
	}
	src := &genSource{regions: g.Regions(), clinics: clinics, c: c}
	ix, _, err := load(context.Background(), src, c)
	if err != nil {
		return nil, err
	}
	// Book about a third of the dose-1 places, unevenly (some clinic-days full).
	rng := rand.New(rand.NewPCG(7, 7))
	for si := range ix.slots {
		s := &ix.slots[si]
		if s.day < 0 || rng.IntN(3) != 0 {
			continue
		}
		full := rng.IntN(4) == 0
		for k := range vaxbook.Cohorts {
			if full || rng.IntN(2) == 0 {
				ix.addBooked(s.id, k, 2)
				ix.addBooked(ix.slots[s.pair].id, vaxbook.CohortDose2, 2)
			}
		}
	}
	return ix, nil
})

// benchQueries returns query makers: by 시군구 and near a point (a clinic's
// neighbourhood or a district centroid, seven of which lie at sea).
func benchQueries(ix *index) map[string]func(rng *rand.Rand) Query {
	at := time.Date(2021, 8, 12, 21, 0, 0, 0, kst) // rotation: per-cohort rows
	near := func(radius float64) func(rng *rand.Rand) Query {
		return func(rng *rand.Rand) Query {
			var p LatLng
			if rng.IntN(4) == 0 {
				r := ix.regions[rng.IntN(len(ix.regions))]
				p = LatLng{r.Lat, r.Lng}
			} else {
				c := ix.clinics[rng.IntN(len(ix.clinics))]
				p = LatLng{c.Lat + (rng.Float64()-0.5)*0.04, c.Lng + (rng.Float64()-0.5)*0.04}
			}
			return Query{Near: &p, RadiusKm: radius, Available: true, Cohort: rng.IntN(10), At: at}
		}
	}
	return map[string]func(rng *rand.Rand) Query{
		"sigungu": func(rng *rand.Rand) Query {
			return Query{Sigungu: ix.regions[rng.IntN(len(ix.regions))].SigunguCode, Available: true, Cohort: rng.IntN(10), At: at}
		},
		"near-5km":  near(DefaultRadiusKm),
		"near-20km": near(20),
	}
}

// bruteScan is the baseline without any index: every clinic is tested, and
// the remaining places of the matching ones are summed from their slots'
// quota rows (no clinic-day aggregates).
func bruteScan(ix *index, q Query) Result {
	col := ix.col(q.Cohort, q.At)
	first := ix.firstDay(q.At)
	r := q.RadiusKm
	if r == 0 {
		r = DefaultRadiusKm
	}
	type hit struct {
		ci   int
		dist float64
		days []int
	}
	var hits []hit
	var e [aggCols]int32
	for ci := range ix.clinics {
		c := &ix.clinics[ci]
		if q.Sigungu != "" && c.SigunguCode != q.Sigungu {
			continue
		}
		var d float64
		if q.Near != nil {
			if d = DistanceKm(*q.Near, LatLng{c.Lat, c.Lng}); d > r {
				continue
			}
		}
		days := make([]int, len(ix.days))
		sum := 0
		for _, si := range ix.byStart[ix.clinicStart[ci]:ix.clinicStart[ci+1]] {
			s := &ix.slots[si]
			if s.day < int32(first) {
				continue
			}
			ix.effective(int(si), &e)
			days[s.day] += int(e[col])
			sum += int(e[col])
		}
		if q.Available && sum <= 0 {
			continue
		}
		hits = append(hits, hit{ci, d, days})
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if a.dist != b.dist {
			if a.dist < b.dist {
				return -1
			}
			return 1
		}
		return cmp64(ix.clinics[a.ci].ID, ix.clinics[b.ci].ID)
	})
	res := Result{Total: len(hits)}
	for _, h := range hits[:min(len(hits), DefaultLimit)] {
		v := ClinicView{Clinic: ix.clinics[h.ci].Clinic}
		for d, n := range h.days {
			v.Days = append(v.Days, DayView{Date: ix.days[d], Remaining: n})
			v.Remaining += n
		}
		res.Clinics = append(res.Clinics, v)
	}
	return res
}

// BenchmarkSearch reports p50/p99 latency of Search on 14,000 clinics × 40
// days (sub-benchmark "index") and, in the same run, of a scan without
// indexes ("brute") for the same kind of query.
//
//	go test -run '^$' -bench Search -benchtime 20000x ./booking
func BenchmarkSearch(b *testing.B) {
	ix, err := benchIndex()
	if err != nil {
		b.Fatal(err)
	}
	qs := benchQueries(ix)
	for _, name := range []string{"sigungu", "near-5km", "near-20km"} {
		for _, impl := range []string{"index", "brute"} {
			b.Run(name+"/"+impl, func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				lat := make([]time.Duration, 0, b.N)
				found := 0
				b.ResetTimer()
				for range b.N {
					q := qs[name](rng)
					start := time.Now()
					var res Result
					if impl == "index" {
						if res, err = ix.search(q); err != nil {
							b.Fatal(err)
						}
					} else {
						res = bruteScan(ix, q)
					}
					lat = append(lat, time.Since(start))
					found += res.Total
				}
				b.StopTimer()
				slices.Sort(lat)
				pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) / 1e3 }
				b.ReportMetric(pct(0.50), "p50-µs")
				b.ReportMetric(pct(0.99), "p99-µs")
				b.ReportMetric(float64(found)/float64(b.N), "clinics/query")
			})
		}
	}
}

// TestBruteScanAgreesWithSearch keeps the benchmark's baseline honest on a
// small country.
func TestBruteScanAgreesWithSearch(t *testing.T) {
	store, k := openCountry(t, spec{Clinics: 60, Days: 3, Hours: []int{9, 14}, Cap: 2, People: 10})
	ix, _, err := load(context.Background(), store, k.c)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for _, q := range k.data.Quotas {
		if rng.IntN(3) == 0 {
			ix.addBooked(q.SlotID, q.Cohort, int32(rng.IntN(q.Capacity+1)))
		}
	}
	for name, mk := range benchQueries(ix) {
		for range 50 {
			q := mk(rng)
			want := bruteScan(ix, q)
			got, err := ix.search(q)
			if err != nil {
				t.Fatal(err)
			}
			if got.Total != want.Total || len(got.Clinics) != len(want.Clinics) {
				t.Fatalf("%s %+v: total %d/%d, brute %d/%d", name, q, got.Total, len(got.Clinics), want.Total, len(want.Clinics))
			}
			for i := range got.Clinics {
				if got.Clinics[i].ID != want.Clinics[i].ID || got.Clinics[i].Remaining != want.Clinics[i].Remaining {
					t.Fatalf("%s: clinic %d: %+v vs %+v", name, i, got.Clinics[i].Clinic, want.Clinics[i].Clinic)
				}
			}
		}
	}
}
