package seed_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/pii"
	"vaxbook/seed"
)

func TestClinics(t *testing.T) {
	g := generator(t, seed.DefaultConfig(), "kr-2021-18-49")
	clinics, err := g.Clinics()
	if err != nil {
		t.Fatal(err)
	}
	if len(clinics) != seed.DefaultClinics {
		t.Fatalf("%d clinics, want %d", len(clinics), seed.DefaultClinics)
	}
	land, err := seed.LoadLand()
	if err != nil {
		t.Fatal(err)
	}
	regions, _ := seed.Regions()
	region := map[string]vaxbook.Region{}
	for _, r := range regions {
		region[r.SigunguCode] = r
	}
	perDistrict := map[string]int{}
	names := map[string]bool{}
	vaccines := map[string]int{}
	for i, c := range clinics {
		if c.ID != int64(i+1) {
			t.Fatalf("clinic %d has id %d", i+1, c.ID)
		}
		r, ok := region[c.SigunguCode]
		if !ok || r.SidoCode != c.SidoCode {
			t.Fatalf("clinic %d: district %s / sido %s", c.ID, c.SigunguCode, c.SidoCode)
		}
		perDistrict[c.SigunguCode]++
		// On land: inside the clinic's own district, 150 m from its edge.
		if !land.InsideBy(c.SigunguCode, c.Lat, c.Lng, 150) {
			t.Errorf("clinic %d %s (%s) at %v,%v is not on land inside its district", c.ID, c.Name, r.SigunguKo, c.Lat, c.Lng)
		}
		// Near the district: within 25 km of the centroid (unless the
		// centroid is at sea: then near a town centre, checked by land_test).
		if d := km(c.Lat, c.Lng, r.Lat, r.Lng); d > 25 && !atSea[c.SigunguCode] {
			t.Errorf("clinic %d is %.0f km from its district's centroid", c.ID, d)
		}
		key := c.SigunguCode + "/" + c.Name
		if names[key] {
			t.Errorf("clinic name %q twice in %s", c.Name, r.SigunguKo)
		}
		names[key] = true
		if !strings.HasSuffix(c.Name, "의원") && !strings.HasSuffix(c.Name, "내과") && !strings.HasSuffix(c.Name, "병원") && !strings.HasSuffix(c.Name, "예방접종센터") && !strings.Contains(c.Name, "호점") {
			t.Errorf("clinic %d name %q", c.ID, c.Name)
		}
		if !strings.HasPrefix(c.Address, r.SidoKo+" ") {
			t.Errorf("clinic %d address %q not in %s", c.ID, c.Address, r.SidoKo)
		}
		if c.Phone == "" || c.Phone[0] != '0' {
			t.Errorf("clinic %d phone %q", c.ID, c.Phone)
		}
		vaccines[c.Vaccine]++
	}
	if len(perDistrict) != 250 {
		t.Errorf("clinics in %d districts, want all 250", len(perDistrict))
	}
	if len(vaccines) != 2 || vaccines["pfizer"] < 5000 || vaccines["moderna"] < 5000 {
		t.Errorf("vaccines %v", vaccines)
	}
	// Proportional to population (after the one-per-district floor).
	for code, n := range perDistrict {
		want := 1 + float64(seed.DefaultClinics-250)*g.DistrictShare(code)
		if math.Abs(float64(n)-want) > 1 {
			t.Errorf("district %s has %d clinics, want %.1f", code, n, want)
		}
	}
	// The seven districts whose centroid is at sea still have clinics, on land.
	for code := range atSea {
		if perDistrict[code] == 0 {
			t.Errorf("no clinic in %s", code)
		}
	}
	// Deterministic.
	again, _ := generator(t, seed.DefaultConfig(), "kr-2021-18-49").Clinics()
	for i := range clinics {
		if clinics[i] != again[i] {
			t.Fatalf("clinic %d differs between runs", i+1)
		}
	}
}

var atSea = map[string]bool{"23320": true, "31092": true, "36020": true, "36460": true, "36480": true, "38060": true, "38350": true}

func km(lat1, lng1, lat2, lng2 float64) float64 {
	const r = 6371.0088
	p1, p2 := lat1*math.Pi/180, lat2*math.Pi/180
	dp, dl := p2-p1, (lng2-lng1)*math.Pi/180
	a := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * r * math.Asin(math.Sqrt(a))
}

// supplyCheck verifies the supply model for one campaign and returns the
// dose-1 capacity per (day, cohort).
func supplyCheck(t *testing.T, g *seed.Generator, clinics []vaxbook.Clinic, slots []vaxbook.Slot, quotas []vaxbook.Quota) {
	t.Helper()
	c := g.Campaign()
	loc, err := campaign.Location(c)
	if err != nil {
		t.Fatal(err)
	}
	dose1 := campaign.Dose1Dates(c)
	clinicIDs := map[int64]bool{}
	for _, cl := range clinics {
		clinicIDs[cl.ID] = true
	}
	type ck struct {
		clinic int64
		at     int64
	}
	slotAt := map[ck]vaxbook.Slot{}
	byID := map[int64]vaxbook.Slot{}
	for i, s := range slots {
		if s.ID != int64(i+1) {
			t.Fatalf("slot %d has id %d", i+1, s.ID)
		}
		if i > 0 {
			p := slots[i-1]
			if s.StartsAt.Before(p.StartsAt) || s.StartsAt.Equal(p.StartsAt) && s.ClinicID <= p.ClinicID {
				t.Fatalf("slots %d and %d not ordered by (starts_at, clinic)", p.ID, s.ID)
			}
		}
		if s.CampaignID != c.ID || !clinicIDs[s.ClinicID] {
			t.Fatalf("slot %d: campaign %q clinic %d", s.ID, s.CampaignID, s.ClinicID)
		}
		local := s.StartsAt.In(loc)
		if local.Minute() != 0 || local.Hour() < seed.FirstHour || local.Hour() > seed.LastHour {
			t.Fatalf("slot %d starts at %v local", s.ID, local)
		}
		if !c.Vaccination.Contains(vaxbook.DateOf(local)) {
			t.Fatalf("slot %d on %v, outside the vaccination dates", s.ID, local)
		}
		slotAt[ck{s.ClinicID, s.StartsAt.Unix()}] = s
		byID[s.ID] = s
	}
	cap1 := map[int64]int{}
	cap2 := map[int64]int{}
	hasRows := map[int64]bool{}
	type dc struct {
		day    vaxbook.Date
		cohort int
	}
	byDayCohort := map[dc]int{}
	byDay := map[vaxbook.Date]int{}
	byCohort := map[int]int{}
	byClinic := map[int64]int{}
	total := 0
	for i, q := range quotas {
		if i > 0 {
			p := quotas[i-1]
			if q.SlotID < p.SlotID || q.SlotID == p.SlotID && q.Cohort <= p.Cohort {
				t.Fatalf("quota rows not ordered at %d", i)
			}
		}
		s, ok := byID[q.SlotID]
		if !ok {
			t.Fatalf("quota row of unknown slot %d", q.SlotID)
		}
		if q.Booked != 0 || q.Capacity < 0 {
			t.Fatalf("quota row %+v", q)
		}
		hasRows[q.SlotID] = true
		day := vaxbook.DateOf(s.StartsAt.In(loc))
		switch {
		case q.Cohort == vaxbook.CohortDose2:
			cap2[q.SlotID] += q.Capacity
		case q.Cohort >= 0 && q.Cohort <= vaxbook.CohortPool:
			if !dose1.Contains(day) {
				t.Fatalf("dose-1 row on %v, outside dose-1 dates %v…%v", day, dose1.From, dose1.To)
			}
			cap1[q.SlotID] += q.Capacity
			byDayCohort[dc{day, q.Cohort}] += q.Capacity
			byDay[day] += q.Capacity
			byCohort[q.Cohort] += q.Capacity
			byClinic[s.ClinicID] += q.Capacity
			total += q.Capacity
		default:
			t.Fatalf("quota row with cohort %d", q.Cohort)
		}
	}
	for _, s := range slots {
		if !hasRows[s.ID] {
			t.Errorf("slot %d has no quota rows", s.ID)
		}
	}
	// Total ≈ SupplyFactor × eligible people.
	want := int(math.Round(g.Config().SupplyFactor * float64(g.Eligible())))
	if total != want {
		t.Errorf("dose-1 capacity %d, want %d (%.2f × %d)", total, want, g.Config().SupplyFactor, g.Eligible())
	}
	// Every dose-1 day equal (±1); every cohort equal per day and overall (±1).
	spread := func(what string, m map[int]int, keys []int) {
		t.Helper()
		lo, hi := math.MaxInt, math.MinInt
		for _, k := range keys {
			lo, hi = min(lo, m[k]), max(hi, m[k])
		}
		if hi-lo > 1 {
			t.Errorf("%s: from %d to %d, want equal ±1", what, lo, hi)
		}
	}
	days := g.Dose1Days()
	dayTotals := map[int]int{}
	var dayKeys []int
	for i, d := range days {
		dayTotals[i] = byDay[d]
		dayKeys = append(dayKeys, i)
	}
	spread("capacity per day", dayTotals, dayKeys)
	if len(days) != dose1.From.DaysUntil(dose1.To)+1 {
		t.Errorf("%d dose-1 days", len(days))
	}
	if c.Quota.Cohort != vaxbook.CohortNone {
		cohorts := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
		spread("capacity per cohort", byCohort, cohorts)
		for _, d := range days {
			m := map[int]int{}
			for _, k := range cohorts {
				m[k] = byDayCohort[dc{d, k}]
			}
			spread("capacity per cohort on "+d.String(), m, cohorts)
		}
		if byCohort[vaxbook.CohortPool] != 0 {
			t.Error("pool row with a cohort policy")
		}
	} else if byCohort[vaxbook.CohortPool] != total {
		t.Errorf("policy none: pool rows hold %d of %d", byCohort[vaxbook.CohortPool], total)
	}
	// Clinics get capacity in proportion to their district's share.
	inDistrict := map[string]int{}
	for _, cl := range clinics {
		inDistrict[cl.SigunguCode]++
	}
	for _, cl := range clinics {
		exact := float64(total) * g.DistrictShare(cl.SigunguCode) / float64(inDistrict[cl.SigunguCode])
		if math.Abs(float64(byClinic[cl.ID])-exact) > 1.0001 {
			t.Errorf("clinic %d got %d places, exact share %.2f", cl.ID, byClinic[cl.ID], exact)
			break
		}
	}
	// Slots of a clinic-day hold ≥ 10 places unless the clinic-day has one slot.
	type cd struct {
		clinic int64
		day    vaxbook.Date
	}
	perClinicDay := map[cd][]int{}
	for id, n := range cap1 {
		s := byID[id]
		k := cd{s.ClinicID, vaxbook.DateOf(s.StartsAt.In(loc))}
		perClinicDay[k] = append(perClinicDay[k], n)
	}
	for k, caps := range perClinicDay {
		if len(caps) > 1 {
			for _, n := range caps {
				if n < seed.MinSlotPlaces {
					t.Fatalf("clinic %d on %v: %d slots, one with %d places", k.clinic, k.day, len(caps), n)
				}
			}
		}
	}
	// Dose 2: each dose-1 slot has a partner at the same clinic, same local
	// time, DoseIntervalDays later, whose dose-2 row holds its capacity.
	if c.Doses == 2 {
		paired := map[int64]int{}
		for id, n := range cap1 {
			s := byID[id]
			local := s.StartsAt.In(loc)
			at2 := time.Date(local.Year(), local.Month(), local.Day()+c.DoseIntervalDays, local.Hour(), 0, 0, 0, loc)
			p, ok := slotAt[ck{s.ClinicID, at2.Unix()}]
			if !ok {
				t.Fatalf("dose-1 slot %d has no dose-2 slot at %v", id, at2)
			}
			paired[p.ID] += n
		}
		if len(paired) != len(cap2) {
			t.Errorf("%d slots with dose-2 rows, %d paired", len(cap2), len(paired))
		}
		for id, n := range paired {
			if cap2[id] != n {
				t.Errorf("slot %d: dose-2 row %d, paired dose-1 capacity %d", id, cap2[id], n)
			}
		}
	} else if len(cap2) != 0 {
		t.Errorf("one-dose campaign has %d dose-2 rows", len(cap2))
	}
}

func TestSupply(t *testing.T) {
	small := seed.DefaultConfig()
	small.People = 60_000
	small.Clinics = 400
	base := loadCampaign(t, "kr-2021-18-49")

	// Dose-1 and dose-2 dates overlap: a 60-day campaign with 21 days between doses.
	overlap := base
	overlap.Vaccination = vaxbook.DateRange{From: vaxbook.MustDate("2021-08-26"), To: vaxbook.MustDate("2021-10-24")}
	overlap.DoseIntervalDays = 21
	pooled := base
	pooled.Quota.Cohort = vaxbook.CohortNone

	tests := []struct {
		name  string
		cfg   seed.Config
		camp  vaxbook.Campaign
		check func(t *testing.T, slots []vaxbook.Slot, quotas []vaxbook.Quota)
	}{
		{name: "default 18-49", cfg: seed.DefaultConfig(), camp: base, check: func(t *testing.T, slots []vaxbook.Slot, quotas []vaxbook.Quota) {
			// 1 M people, 14 k clinics, 10 dose-1 days: ~7 places a clinic-day, one slot each.
			if n := len(slots); n != 2*14_000*10 {
				t.Errorf("%d slots, want 280,000 (one dose-1 and one dose-2 per clinic-day)", n)
			}
		}},
		{name: "fewer clinics", cfg: small, camp: base},
		{name: "heavy", cfg: func() seed.Config { c := small; c.People = 600_000; return c }(), camp: base, check: func(t *testing.T, slots []vaxbook.Slot, quotas []vaxbook.Quota) {
			// ~160 places a clinic-day: spread over all 9 hours.
			if n := len(slots); n < 2*400*10*8 {
				t.Errorf("%d slots, want most clinic-days to use all 9 hours", n)
			}
		}},
		{name: "overlapping dose dates", cfg: small, camp: overlap},
		{name: "pooled quota", cfg: small, camp: pooled},
		{name: "support fund (one dose, birth-year digit)", cfg: small, camp: loadCampaign(t, "kr-2021-support-fund")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := seed.NewGenerator(tc.cfg, tc.camp)
			if err != nil {
				t.Fatal(err)
			}
			clinics, err := g.Clinics()
			if err != nil {
				t.Fatal(err)
			}
			slots, quotas := g.Supply(clinics)
			supplyCheck(t, g, clinics, slots, quotas)
			if tc.check != nil {
				tc.check(t, slots, quotas)
			}
		})
	}
}

// Supply works for any clinics (imported ones): districts without clinics
// give their share to the others.
func TestSupplyForImportedClinics(t *testing.T) {
	g := generator(t, seed.DefaultConfig(), "kr-2021-18-49")
	clinics := []vaxbook.Clinic{
		{ID: 1, SidoCode: "11", SigunguCode: "11010", Vaccine: "pfizer"},
		{ID: 2, SidoCode: "11", SigunguCode: "11010", Vaccine: "moderna"},
		{ID: 3, SidoCode: "39", SigunguCode: "39010", Vaccine: "pfizer"},
	}
	slots, quotas := g.SupplyFor(clinics, 30_000)
	supplyCheck2 := func() int {
		n := 0
		for _, q := range quotas {
			if q.Cohort < vaxbook.CohortDose2 {
				n += q.Capacity
			}
		}
		return n
	}
	if got := supplyCheck2(); got != 33_000 {
		t.Errorf("capacity %d, want 33,000", got)
	}
	if len(slots) == 0 {
		t.Fatal("no slots")
	}
	if s, q := g.SupplyFor(nil, 1000); s != nil || q != nil {
		t.Error("supply without clinics")
	}
}

func TestDataset(t *testing.T) {
	cfg := seed.DefaultConfig()
	cfg.People = 3000
	cfg.Clinics = 300
	g := generator(t, cfg, "kr-2021-18-49")
	d, err := g.Dataset(pii.DemoKeys())
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Campaigns) != 1 || d.Campaigns[0].ID != "kr-2021-18-49" || len(d.Regions) != 250 || len(d.Clinics) != 300 || len(d.Slots) == 0 || len(d.Quotas) == 0 {
		t.Fatalf("dataset: %d campaigns, %d regions, %d clinics, %d slots, %d quotas", len(d.Campaigns), len(d.Regions), len(d.Clinics), len(d.Slots), len(d.Quotas))
	}
	n := 0
	for p, err := range d.People {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if p.ID != int64(n) {
			t.Fatalf("person %d has id %d", n, p.ID)
		}
	}
	if n != 3000 {
		t.Errorf("%d people", n)
	}
}
