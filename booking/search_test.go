package booking

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"vaxbook"
	"vaxbook/campaign"
)

// bruteSearch answers q by scanning every clinic and every slot of the
// dataset, with booked counts from booked (slot, cohort) → n. It shares
// nothing with the index but DistanceKm.
type bruteWorld struct {
	k      *country
	booked map[[2]int64]int
}

func (w *bruteWorld) rowRemaining(slot int64, cohort int) int {
	for _, q := range w.k.data.Quotas {
		if q.SlotID == slot && q.Cohort == cohort {
			return max(0, q.Capacity-w.booked[[2]int64{slot, int64(cohort)}])
		}
	}
	return 0
}

// offer is what dose-1 slot s offers to the column (cohort, or -1 total).
func (w *bruteWorld) offer(s vaxbook.Slot, col int) int {
	d2 := 0
	if p, ok := w.k.dose2Of[s.ID]; ok {
		d2 = w.rowRemaining(p, vaxbook.CohortDose2)
	}
	if col >= 0 {
		return min(w.rowRemaining(s.ID, col), d2)
	}
	total := 0
	for c := 0; c <= vaxbook.CohortPool; c++ {
		total += w.rowRemaining(s.ID, c)
	}
	return min(total, d2)
}

type bruteClinic struct {
	id   int64
	dist float64
	days []int
}

func (w *bruteWorld) search(q Query) []bruteClinic {
	c := w.k.c
	dates := campaign.Dose1Dates(c)
	col := q.Cohort
	if col < 0 || campaign.Pooled(c, q.At) {
		col = -1
	}
	radius := q.RadiusKm
	if radius == 0 {
		radius = DefaultRadiusKm
	}
	today := vaxbook.Date{}
	if !q.At.IsZero() {
		today = vaxbook.DateOf(q.At.In(kst))
	}
	var out []bruteClinic
	for _, cl := range w.k.data.Clinics {
		if q.Sigungu != "" && cl.SigunguCode != q.Sigungu {
			continue
		}
		if q.Vaccine != "" && !strings.EqualFold(cl.Vaccine, q.Vaccine) {
			continue
		}
		if q.Q != "" && !strings.Contains(strings.ToLower(cl.Name), strings.ToLower(q.Q)) {
			continue
		}
		bc := bruteClinic{id: cl.ID}
		if q.Near != nil {
			bc.dist = DistanceKm(*q.Near, LatLng{cl.Lat, cl.Lng})
			if bc.dist > radius {
				continue
			}
		}
		sum := 0
		for d := dates.From; !d.After(dates.To); d = d.AddDays(1) {
			n := 0
			if today.IsZero() || !d.Before(today) {
				for _, s := range w.k.data.Slots {
					if s.ClinicID == cl.ID && vaxbook.DateOf(s.StartsAt.In(kst)) == d {
						n += w.offer(s, col)
					}
				}
			}
			bc.days = append(bc.days, n)
			if q.Date.IsZero() || q.Date == d {
				sum += n
			}
		}
		if q.Available && sum <= 0 {
			continue
		}
		out = append(out, bc)
	}
	slices.SortStableFunc(out, func(a, b bruteClinic) int {
		if q.Near != nil && a.dist != b.dist {
			if a.dist < b.dist {
				return -1
			}
			return 1
		}
		return cmp64(a.id, b.id)
	})
	return out
}

// allPages follows the cursors to the end.
func allPages(t *rapid.T, e *Engine, q Query) ([]ClinicView, int) {
	var got []ClinicView
	total := -1
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatalf("more than 1000 pages")
		}
		res, err := e.Search(q)
		if err != nil {
			t.Fatalf("search %+v: %v", q, err)
		}
		if total >= 0 && res.Total != total {
			t.Fatalf("total changed between pages: %d then %d", total, res.Total)
		}
		total = res.Total
		if len(res.Clinics) > max(q.Limit, DefaultLimit) || (res.NextCursor != "" && len(res.Clinics) == 0) {
			t.Fatalf("page of %d clinics for limit %d", len(res.Clinics), q.Limit)
		}
		got = append(got, res.Clinics...)
		if res.NextCursor == "" {
			return got, total
		}
		q.Cursor = res.NextCursor
	}
}

// TestSearchMatchesBruteForce compares Search, page by page, with a full
// scan over random countries, availability and queries, including circles
// centred on the seven district centroids that lie at sea and radii that
// end exactly on a clinic.
func TestSearchMatchesBruteForce(t *testing.T) {
	c := testCampaign(t)
	dates := campaign.Dose1Dates(c)
	rapid.Check(t, func(t *rapid.T) {
		sp := spec{
			Clinics: rapid.IntRange(1, 160).Draw(t, "clinics"),
			Days:    rapid.IntRange(1, 3).Draw(t, "days"),
			Hours:   []int{9, 14}[:rapid.IntRange(1, 2).Draw(t, "hours")],
			Cap:     rapid.IntRange(1, 3).Draw(t, "cap"),
			Spread:  rapid.Float64Range(0.001, 0.6).Draw(t, "spread"),
			Seed:    rapid.Uint64().Draw(t, "seed"),
		}
		k := buildCountry(c, sp)
		// Some clinics share a position (distance ties).
		for i := 6; i < len(k.data.Clinics); i += 7 {
			k.data.Clinics[i].Lat, k.data.Clinics[i].Lng = k.data.Clinics[i-1].Lat, k.data.Clinics[i-1].Lng
		}
		store, _ := openDataset(t, k)
		e, err := New(context.Background(), store, c, Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()

		w := &bruteWorld{k: k, booked: map[[2]int64]int{}}
		for range rapid.IntRange(0, 60).Draw(t, "writes") {
			q := rapid.SampledFrom(k.data.Quotas).Draw(t, "row")
			n := rapid.IntRange(0, q.Capacity).Draw(t, "booked")
			key := [2]int64{q.SlotID, int64(q.Cohort)}
			if !e.ix.addBooked(q.SlotID, q.Cohort, int32(n-w.booked[key])) {
				t.Fatalf("row %v unknown to the index", key)
			}
			w.booked[key] = n
		}

		q := Query{
			Limit:     rapid.IntRange(0, 25).Draw(t, "limit"),
			Cohort:    rapid.IntRange(-1, vaxbook.CohortPool).Draw(t, "cohort"),
			Available: rapid.IntRange(0, 2).Draw(t, "available") == 0,
			Vaccine:   rapid.SampledFrom([]string{"", "", "", "pfizer", "MODERNA", "astra"}).Draw(t, "vaccine"),
			Q:         rapid.SampledFrom([]string{"", "", "", "", "해운대", "의원", "CLINIC", "1", "구 연세 2", "none"}).Draw(t, "q"),
		}
		if rapid.IntRange(0, 2).Draw(t, "bySigungu") == 0 {
			q.Sigungu = rapid.SampledFrom(testRegions).Draw(t, "sigungu").SigunguCode
		}
		switch rapid.IntRange(0, 6).Draw(t, "near") {
		case 1: // a district centroid (seven of them at sea)
			r := rapid.SampledFrom(testRegions).Draw(t, "centroid")
			q.Near = &LatLng{r.Lat, r.Lng}
		case 2: // a clinic's own position
			cl := rapid.SampledFrom(k.data.Clinics).Draw(t, "at-clinic")
			q.Near = &LatLng{cl.Lat, cl.Lng}
		case 3: // anywhere around Korea
			q.Near = &LatLng{rapid.Float64Range(33, 39).Draw(t, "lat"), rapid.Float64Range(124, 131).Draw(t, "lng")}
		case 4, 5, 6: // a circle whose edge passes exactly through a clinic of the district
			ri := rapid.IntRange(0, min(len(testRegions), len(k.data.Clinics))-1).Draw(t, "edge-region")
			r := testRegions[ri]
			q.Near = &LatLng{r.Lat, r.Lng}
			ci := ri + len(testRegions)*rapid.IntRange(0, (len(k.data.Clinics)-1-ri)/len(testRegions)).Draw(t, "edge-clinic")
			cl := k.data.Clinics[ci]
			if d := DistanceKm(*q.Near, LatLng{cl.Lat, cl.Lng}); d > 0 && d <= MaxRadiusKm {
				q.RadiusKm = d
			}
		}
		if q.Near != nil && q.RadiusKm == 0 && rapid.Bool().Draw(t, "radius") {
			q.RadiusKm = rapid.Float64Range(0.001, MaxRadiusKm).Draw(t, "radius_km")
		}
		if rapid.Bool().Draw(t, "byDate") {
			q.Date = dates.From.AddDays(rapid.IntRange(0, dates.From.DaysUntil(dates.To)).Draw(t, "date"))
		}
		q.At = rapid.SampledFrom([]time.Time{{}, day9Open, poolOpen, dates.From.AddDays(1).In(kst).Add(12 * time.Hour)}).Draw(t, "at")

		want := w.search(q)
		got, total := allPages(t, e, q)
		if total != len(want) || len(got) != len(want) {
			t.Fatalf("query %+v: total %d, %d clinics over the pages; brute force finds %d", q, total, len(got), len(want))
		}
		for i := range want {
			g := got[i]
			if g.ID != want[i].id {
				t.Fatalf("query %+v: result %d is clinic %d, want %d", q, i, g.ID, want[i].id)
			}
			if q.Near != nil && (g.DistanceKm == nil || *g.DistanceKm != want[i].dist) {
				t.Fatalf("clinic %d: distance %v, want %v", g.ID, g.DistanceKm, want[i].dist)
			}
			sum := 0
			for d, n := range want[i].days {
				if g.Days[d].Remaining != n {
					t.Fatalf("query %+v: clinic %d day %s: %d remaining, want %d", q, g.ID, g.Days[d].Date, g.Days[d].Remaining, n)
				}
				if q.Date.IsZero() || q.Date == g.Days[d].Date {
					sum += n
				}
			}
			if g.Remaining != sum {
				t.Fatalf("clinic %d: Remaining %d, want %d", g.ID, g.Remaining, sum)
			}
		}
	})
}

// TestGridNeverMissesAtTheEdge puts clinics just inside and just outside
// circles of many radii around the sea centroids, in every direction.
func TestGridNeverMissesAtTheEdge(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		center := rapid.SampledFrom(testRegions).Draw(t, "center")
		c := LatLng{center.Lat, center.Lng}
		r := rapid.Float64Range(0.01, MaxRadiusKm).Draw(t, "r")
		var clinics []clinicRec
		for i := range 64 {
			bearing := float64(i) / 64 * 2 * math.Pi
			for _, f := range []float64{1 - 1e-9, 1 + 1e-9, 0.5, 1} {
				p := destination(c, bearing, r*f)
				clinics = append(clinics, clinicRec{Clinic: vaxbook.Clinic{ID: int64(len(clinics) + 1), Lat: p.Lat, Lng: p.Lng}})
			}
		}
		g := newGrid(clinics)
		seen := map[int32]bool{}
		g.near(c, r, func(ci int32) { seen[ci] = true }, func() {
			for i := range clinics {
				seen[int32(i)] = true
			}
		})
		for i, cl := range clinics {
			if DistanceKm(c, LatLng{cl.Lat, cl.Lng}) <= r && !seen[int32(i)] {
				t.Fatalf("clinic at %v (%.9f km of %.9f) missed by the grid", cl.Clinic, DistanceKm(c, LatLng{cl.Lat, cl.Lng}), r)
			}
		}
	})
}

// destination is the point at distance km and bearing (radians) from p.
func destination(p LatLng, bearing, km float64) LatLng {
	const rad = math.Pi / 180
	d := km / earthRadiusKm
	lat1, lng1 := p.Lat*rad, p.Lng*rad
	lat2 := math.Asin(math.Sin(lat1)*math.Cos(d) + math.Cos(lat1)*math.Sin(d)*math.Cos(bearing))
	lng2 := lng1 + math.Atan2(math.Sin(bearing)*math.Sin(d)*math.Cos(lat1), math.Cos(d)-math.Sin(lat1)*math.Sin(lat2))
	return LatLng{lat2 / rad, lng2 / rad}
}

func TestSearch(t *testing.T) {
	store, k := openCountry(t, spec{Clinics: 40, Days: 2, Hours: []int{9, 10}, Cap: 1, People: 100})
	e := newEngine(t, store, k.c, Config{})
	first := k.c.Vaccination.From
	haeundae := &LatLng{35.1937, 129.1536}
	// Book clinic 3 (해운대구) full for cohort 9 on the first day.
	for i, s := range k.dose1 {
		if s.ClinicID == 3 && vaxbook.DateOf(s.StartsAt.In(kst)) == first {
			must[Confirmation](t)(e.Book(context.Background(), newPerson(int64(9+10*i)), s.ID, "", day9Open))
		}
	}
	ids := func(r Result) []int64 {
		var out []int64
		for _, c := range r.Clinics {
			out = append(out, c.ID)
		}
		return out
	}
	cases := []struct {
		name  string
		q     Query
		ids   []int64
		total int
		code  vaxbook.Code
		param string
	}{
		{name: "by 시군구", q: Query{Sigungu: "21090", Cohort: -1}, ids: []int64{3, 13, 23, 33}, total: 4},
		{name: "by name, Korean", q: Query{Q: "해운대구 연세 13 ", Cohort: -1}, ids: []int64{13}, total: 1},
		{name: "by vaccine", q: Query{Sigungu: "21090", Vaccine: "Moderna", Cohort: -1}, ids: nil, total: 0},
		{name: "available for cohort 9 on the first day", q: Query{Sigungu: "21090", Date: first, Available: true, Cohort: 9, At: day9Open}, ids: []int64{13, 23, 33}, total: 3},
		{name: "pooled, cohort 9 sees the others' rows", q: Query{Sigungu: "21090", Date: first, Available: true, Cohort: 9, At: poolOpen}, ids: []int64{3, 13, 23, 33}, total: 4},
		{name: "limit and total", q: Query{Limit: 2, Cohort: -1}, ids: []int64{1, 2}, total: 40},
		{name: "near, by distance", q: Query{Near: haeundae, RadiusKm: 50, Cohort: -1, Limit: 100}, total: 4},
		{name: "unknown 시군구", q: Query{Sigungu: "99999"}, code: vaxbook.CodeInvalid, param: "sigungu"},
		{name: "radius too large", q: Query{Near: haeundae, RadiusKm: 51}, code: vaxbook.CodeInvalid, param: "radius_km"},
		{name: "radius without near", q: Query{RadiusKm: 5}, code: vaxbook.CodeInvalid, param: "radius_km"},
		{name: "latitude out of range", q: Query{Near: &LatLng{91, 0}}, code: vaxbook.CodeInvalid, param: "near"},
		{name: "NaN", q: Query{Near: &LatLng{math.NaN(), 0}}, code: vaxbook.CodeInvalid, param: "near"},
		{name: "date not a dose-1 date", q: Query{Date: vaxbook.MustDate("2021-09-30")}, code: vaxbook.CodeInvalid, param: "date"},
		{name: "limit too large", q: Query{Limit: 101}, code: vaxbook.CodeInvalid, param: "limit"},
		{name: "negative limit", q: Query{Limit: -1}, code: vaxbook.CodeInvalid, param: "limit"},
		{name: "garbage cursor", q: Query{Cursor: "!!"}, code: vaxbook.CodeInvalid, param: "cursor"},
		{name: "near cursor on an id query", q: Query{Cursor: cursor{near: true, dist: 1, id: 2}.String()}, code: vaxbook.CodeInvalid, param: "cursor"},
		{name: "cohort out of range", q: Query{Cohort: vaxbook.CohortDose2}, code: vaxbook.CodeInvalid, param: "cohort"},
		{name: "name filter too long", q: Query{Q: strings.Repeat("가", 101)}, code: vaxbook.CodeInvalid, param: "q"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.Search(tc.q)
			if tc.code != "" {
				wantCode(t, err, tc.code)
				var ve *vaxbook.Error
				if !errorAs(err, &ve) || ve.Param != tc.param {
					t.Fatalf("error %v: param %q, want %q", err, ve.Param, tc.param)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Total != tc.total || (tc.ids != nil && !slices.Equal(ids(res), tc.ids)) || (tc.ids == nil && tc.q.Near == nil && len(res.Clinics) != 0) {
				t.Fatalf("got %v (total %d), want %v (total %d)", ids(res), res.Total, tc.ids, tc.total)
			}
			if tc.q.Near != nil {
				for i := 1; i < len(res.Clinics); i++ {
					if *res.Clinics[i].DistanceKm < *res.Clinics[i-1].DistanceKm {
						t.Fatalf("not sorted by distance: %v", ids(res))
					}
				}
			}
		})
	}

	// Clinic and Slots views.
	v := must[ClinicView](t)(e.Clinic(3))
	if len(v.Days) != len(e.ix.days) || v.Days[0].Date != first || v.Days[0].Remaining != 2*10-2 {
		t.Fatalf("clinic 3: %+v", v.Days[:2])
	}
	_, err := e.Clinic(999)
	wantCode(t, err, vaxbook.CodeNotFound)
	slots := must[[]SlotView](t)(e.Slots(3, first, 9, day9Open))
	if len(slots) != 2 || slots[0].Remaining != 0 || slots[0].Dose2 == nil || !slots[0].Dose2.StartsAt.Equal(slots[0].StartsAt.AddDate(0, 0, 28)) {
		t.Fatalf("slots: %+v", slots)
	}
	if s := must[[]SlotView](t)(e.Slots(3, first, 8, day9Open)); s[0].Remaining != 1 {
		t.Fatalf("cohort 8: %+v", s)
	}
	if s := must[[]SlotView](t)(e.Slots(3, first, -1, slots[0].StartsAt)); s[0].Remaining != 0 || s[1].Remaining != 9 {
		t.Fatalf("at 09:00 the 09:00 slot is gone: %+v", s)
	}
	_, err = e.Slots(3, vaxbook.MustDate("2021-10-01"), 9, day9Open)
	wantCode(t, err, vaxbook.CodeInvalid)
	_, err = e.Slots(999, first, 9, day9Open)
	wantCode(t, err, vaxbook.CodeNotFound)
	if len(e.Regions()) != len(testRegions) || e.Campaign().ID != k.c.ID {
		t.Fatal("Regions or Campaign")
	}
}
