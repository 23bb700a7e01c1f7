package seed_test

import (
	"encoding/base64"
	"errors"
	"math"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/encoding/korean"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/pii"
	"vaxbook/seed"
)

func loadCampaign(t testing.TB, name string) vaxbook.Campaign {
	t.Helper()
	c, err := campaign.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func generator(t testing.TB, cfg seed.Config, camp string) *seed.Generator {
	t.Helper()
	g, err := seed.NewGenerator(cfg, loadCampaign(t, camp))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestRegionsAndSidos(t *testing.T) {
	regions, err := seed.Regions()
	if err != nil {
		t.Fatal(err)
	}
	if len(regions) != 250 {
		t.Fatalf("%d regions, want 250", len(regions))
	}
	for i := 1; i < len(regions); i++ {
		if regions[i-1].SigunguCode >= regions[i].SigunguCode {
			t.Fatalf("regions not ordered by code at %d", i)
		}
	}
	if r := regions[0]; r.SigunguCode != "11010" || r.SigunguKo != "종로구" || r.SidoEn != "Seoul" || r.Lat != 37.5949 {
		t.Errorf("first region = %+v", r)
	}
	regions[0].SigunguKo = "changed"
	if again, _ := seed.Regions(); again[0].SigunguKo != "종로구" {
		t.Error("Regions returns shared memory")
	}
	sidos, err := seed.Sidos()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	codes := map[string]bool{}
	for _, s := range sidos {
		total += s.Population
		codes[s.Code] = true
	}
	if len(sidos) != 17 || total != 51_638_809 {
		t.Errorf("%d sidos, population %d; want 17 and 51,638,809", len(sidos), total)
	}
	for _, r := range regions {
		if !codes[r.SidoCode] {
			t.Errorf("region %s has unknown sido %s", r.SigunguCode, r.SidoCode)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	c := loadCampaign(t, "kr-2021-18-49")
	tests := []struct {
		name  string
		edit  func(*seed.Config)
		param string
	}{
		{"zero people", func(c *seed.Config) { c.People = 0 }, "people"},
		{"too many people", func(c *seed.Config) { c.People = seed.MaxPeople + 1 }, "people"},
		{"fewer clinics than districts", func(c *seed.Config) { c.Clinics = 249 }, "clinics"},
		{"no supply", func(c *seed.Config) { c.SupplyFactor = 0 }, "supply-factor"},
		{"NaN supply", func(c *seed.Config) { c.SupplyFactor = math.NaN() }, "supply-factor"},
		{"negative foreigners", func(c *seed.Config) { c.ForeignShare = -0.1 }, "foreign-share"},
		{"everyone out of group", func(c *seed.Config) { c.OutOfGroupShare = 1 }, "out-of-group-share"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := seed.DefaultConfig()
			tc.edit(&cfg)
			_, err := seed.NewGenerator(cfg, c)
			var e *vaxbook.Error
			if !errors.As(err, &e) || e.Code != vaxbook.CodeInvalid || e.Param != tc.param {
				t.Fatalf("err = %v, want invalid_argument on %s", err, tc.param)
			}
		})
	}
	bad := c
	bad.Group.BornTo = bad.Group.BornFrom.AddDays(-1)
	if _, err := seed.NewGenerator(seed.DefaultConfig(), bad); vaxbook.ErrorCode(err) != vaxbook.CodeInvalid {
		t.Errorf("empty group range: err = %v", err)
	}
}

func TestCitizenDeterministic(t *testing.T) {
	a := generator(t, seed.DefaultConfig(), "kr-2021-18-49")
	b := generator(t, seed.DefaultConfig(), "kr-2021-18-49")
	other := seed.DefaultConfig()
	other.Seed = 2
	o := generator(t, other, "kr-2021-18-49")
	// A campaign moved in time keeps its group, hence its people.
	shifted, err := seed.NewGenerator(seed.DefaultConfig(), campaign.Shift(loadCampaign(t, "kr-2021-18-49"), 1000*campaign.Day))
	if err != nil {
		t.Fatal(err)
	}
	same := 0
	for id := int64(1); id <= 2000; id++ {
		ca, cb := a.Citizen(id), b.Citizen(id)
		if ca != cb {
			t.Fatalf("citizen %d differs between identical generators:\n%+v\n%+v", id, ca, cb)
		}
		if cs := shifted.Citizen(id); cs != ca {
			t.Fatalf("citizen %d differs after shifting the campaign", id)
		}
		if ca.ID != id {
			t.Fatalf("citizen %d has id %d", id, ca.ID)
		}
		co := o.Citizen(id)
		if co.CI == ca.CI {
			t.Fatalf("citizen %d has the same CI under another seed", id)
		}
		if co.Name == ca.Name && co.BirthDate == ca.BirthDate {
			same++
		}
	}
	if same > 20 {
		t.Errorf("%d of 2000 people identical under another seed", same)
	}

	// Concurrent use gives the same people (run with -race).
	want := make([]seed.Citizen, 500)
	for i := range want {
		want[i] = a.Citizen(int64(i + 1))
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range want {
				if got := a.Citizen(int64(i + 1)); got != want[i] {
					t.Errorf("concurrent Citizen(%d) differs", i+1)
					return
				}
			}
		}()
	}
	wg.Wait()
}

var (
	phoneRE   = regexp.MustCompile(`^010-[2-9]\d{3}-\d{4}$`)
	foreignRE = regexp.MustCompile(`^[A-Z][A-Z-]*( [A-Z][A-Z-]*)+$`)
	hangulRE  = regexp.MustCompile(`^\p{Hangul}{2,5}$`)
)

// inKSX1001 reports whether every syllable of s is among the 2,350 Hangul of
// KS X 1001 (CP949 lead bytes 0xB0–0xC8 with trail ≥ 0xA1).
func inKSX1001(s string) bool {
	enc := korean.EUCKR.NewEncoder()
	for _, r := range s {
		b, err := enc.String(string(r))
		if err != nil || len(b) != 2 || b[0] < 0xB0 || b[0] > 0xC8 || b[1] < 0xA1 {
			return false
		}
	}
	return true
}

func TestPopulation(t *testing.T) {
	const n = 200_000
	camp := loadCampaign(t, "kr-2021-18-49")
	g, err := seed.NewGenerator(seed.DefaultConfig(), camp)
	if err != nil {
		t.Fatal(err)
	}
	regions, _ := seed.Regions()
	sidoOf := map[string]string{}
	for _, r := range regions {
		sidoOf[r.SigunguCode] = r.SidoCode
	}
	sidos, _ := seed.Sidos()

	bySido := map[string]int{}
	byDistrict := map[string]int{}
	foreign, outOld, outYoung, rare, kim := 0, 0, 0, 0, 0
	days := map[int]int{}
	digits := [10]int{}
	years := map[int]int{}
	feb29 := 0
	cis := map[string]bool{}
	for id := int64(1); id <= n; id++ {
		c := g.Citizen(id)
		bySido[sidoOf[c.Sigungu]]++
		byDistrict[c.Sigungu]++
		if sidoOf[c.Sigungu] == "" {
			t.Fatalf("citizen %d lives in unknown district %q", id, c.Sigungu)
		}
		switch {
		case c.BirthDate.Before(camp.Group.BornFrom):
			outOld++
		case c.BirthDate.After(camp.Group.BornTo):
			outYoung++
		default:
			days[c.BirthDate.Day]++
			digits[c.BirthDate.Day%10]++
			years[c.BirthDate.Year]++
			if c.BirthDate.Month == 2 && c.BirthDate.Day == 29 {
				feb29++
			}
		}
		if _, err := vaxbook.ParseDate(c.BirthDate.String()); err != nil {
			t.Fatalf("citizen %d: impossible birth date %v", id, c.BirthDate)
		}
		if !phoneRE.MatchString(c.Phone) {
			t.Fatalf("citizen %d: phone %q", id, c.Phone)
		}
		if len(c.CI) != 88 {
			t.Fatalf("citizen %d: CI of %d characters", id, len(c.CI))
		}
		if id <= 20_000 {
			if raw, err := base64.StdEncoding.DecodeString(c.CI); err != nil || len(raw) != 64 {
				t.Fatalf("citizen %d: CI is not base64 of 64 bytes", id)
			}
			if cis[c.CI] {
				t.Fatalf("citizen %d: duplicate CI", id)
			}
			cis[c.CI] = true
		}
		if c.Nationality == vaxbook.RegisteredAlien {
			foreign++
			if !foreignRE.MatchString(c.Name) {
				t.Fatalf("foreigner %d has name %q", id, c.Name)
			}
		} else {
			if c.Nationality != vaxbook.National {
				t.Fatalf("citizen %d: nationality %q", id, c.Nationality)
			}
			if !hangulRE.MatchString(c.Name) {
				t.Fatalf("citizen %d has name %q", id, c.Name)
			}
			if !inKSX1001(c.Name) {
				rare++
			}
			if strings.HasPrefix(c.Name, "김") {
				kim++
			}
		}
	}
	share := func(k int) float64 { return float64(k) / n }
	near := func(what string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s: %.4f, want %.4f ± %.4f", what, got, want, tol)
		}
	}
	var pop float64
	for _, s := range sidos {
		pop += float64(s.Population)
	}
	for _, s := range sidos {
		near("share of "+s.En, share(bySido[s.Code]), float64(s.Population)/pop, 0.004)
	}
	if len(byDistrict) != 250 {
		t.Errorf("people live in %d districts, want all 250", len(byDistrict))
	}
	near("registered foreigners", share(foreign), 0.04, 0.003)
	near("out of the age group", share(outOld+outYoung), 0.08, 0.004)
	if outOld < n/100 || outYoung < n/200 {
		t.Errorf("out of group: %d older, %d younger; want both", outOld, outYoung)
	}
	near("surname 김 among nationals", float64(kim)/float64(n-foreign), 0.215, 0.01)
	near("names outside KS X 1001", float64(rare)/float64(n-foreign), 0.005, 0.0015)
	for d := 1; d <= 31; d++ {
		if days[d] == 0 {
			t.Errorf("nobody in the group born on day %d", d)
		}
	}
	if feb29 == 0 {
		t.Error("nobody born on 29 February")
	}
	inGroup := n - outOld - outYoung
	// Birth-day digits (the rotation cohorts) follow the calendar: digit 1
	// has the 1st, 11th, 21st and 31st, digit 0 lacks 30 February…
	calendar := [10]float64{}
	for d := camp.Group.BornFrom; !d.After(camp.Group.BornTo); d = d.AddDays(1) {
		calendar[d.Day%10]++
	}
	var calTotal float64
	for _, x := range calendar {
		calTotal += x
	}
	for dg := 0; dg < 10; dg++ {
		near("birth-day digit "+string(rune('0'+dg)), float64(digits[dg])/float64(inGroup), calendar[dg]/calTotal, 0.004)
	}
	for y := 1972; y <= 2003; y++ {
		if years[y] == 0 {
			t.Errorf("nobody born in %d", y)
		}
	}
	// The 1970s boom outnumbers the early-2000s births.
	if years[1975] <= years[2002] {
		t.Errorf("born 1975: %d, born 2002: %d; want the 1970s larger", years[1975], years[2002])
	}
}

func TestRareSyllablesAreOutsideKSX1001(t *testing.T) {
	g := generator(t, seed.DefaultConfig(), "kr-2021-18-49")
	found := 0
	for id := int64(1); id <= 100_000 && found < 5; id++ {
		c := g.Citizen(id)
		if c.Nationality == vaxbook.National && !inKSX1001(c.Name) {
			found++
			t.Logf("citizen %d: %s", id, c.Name)
		}
	}
	if found < 5 {
		t.Errorf("found %d names with rare syllables in 100,000 people", found)
	}
	for _, s := range []string{"김민준", "이서연", "박지훈"} {
		if !inKSX1001(s) {
			t.Errorf("%s should be inside KS X 1001", s)
		}
	}
}

func TestNoForeignersWhenShareZero(t *testing.T) {
	cfg := seed.DefaultConfig()
	cfg.ForeignShare = 0
	cfg.OutOfGroupShare = 0
	g := generator(t, cfg, "kr-2021-18-49")
	c := loadCampaign(t, "kr-2021-18-49")
	for id := int64(1); id <= 20_000; id++ {
		p := g.Citizen(id)
		if p.Nationality != vaxbook.National || !campaign.InGroup(c, p.BirthDate, p.Nationality) {
			t.Fatalf("citizen %d: %+v, want a national in the group", id, p)
		}
	}
	if e := g.Eligible(); e != cfg.People {
		t.Errorf("Eligible = %d, want %d", e, cfg.People)
	}
}

func TestSupportFundGroup(t *testing.T) {
	// A group born 1900–2002: nobody older exists, so everyone out of the
	// group is younger; nobody is born before 1921 (the population table).
	c := loadCampaign(t, "kr-2021-support-fund")
	g := generator(t, seed.DefaultConfig(), "kr-2021-support-fund")
	out := 0
	for id := int64(1); id <= 20_000; id++ {
		p := g.Citizen(id)
		if p.BirthDate.Year < 1921 {
			t.Fatalf("citizen %d born %v", id, p.BirthDate)
		}
		if !campaign.InGroup(c, p.BirthDate, p.Nationality) {
			out++
			if !p.BirthDate.After(c.Group.BornTo) {
				t.Fatalf("citizen %d born %v is out of the group but not younger", id, p.BirthDate)
			}
		}
	}
	if f := float64(out) / 20_000; math.Abs(f-0.08) > 0.01 {
		t.Errorf("out of group %.3f, want 0.08", f)
	}
}

func TestPeopleStream(t *testing.T) {
	cfg := seed.DefaultConfig()
	cfg.People = 10_000
	g := generator(t, cfg, "kr-2021-18-49")
	keys := pii.DemoKeys()
	want := int64(101)
	for p, err := range g.People(keys, 101, 9_000) {
		if err != nil {
			t.Fatal(err)
		}
		if p.ID != want {
			t.Fatalf("person id %d, want %d", p.ID, want)
		}
		want++
		if p.ID%997 != 0 {
			continue
		}
		c := g.Citizen(p.ID)
		if string(p.CIHash) != string(keys.BlindIndex(c.CI)) {
			t.Fatalf("person %d: CIHash is not the blind index of the CI", p.ID)
		}
		name, err := keys.Open(p.NameSealed, pii.PersonAAD(p.ID))
		if err != nil || name != c.Name {
			t.Fatalf("person %d: name opens to %q, %v; want %q", p.ID, name, err, c.Name)
		}
		phone, err := keys.Open(p.PhoneSealed, pii.PersonAAD(p.ID))
		if err != nil || phone != c.Phone {
			t.Fatalf("person %d: phone opens to %q, %v", p.ID, phone, err)
		}
		if p.BirthDate != c.BirthDate || p.Nationality != c.Nationality || p.Sigungu != c.Sigungu {
			t.Fatalf("person %d does not match citizen", p.ID)
		}
		if strings.Contains(string(p.NameSealed), c.Name) {
			t.Fatalf("person %d: name in clear", p.ID)
		}
	}
	if want != 9_001 {
		t.Fatalf("stream ended at %d, want 9000", want-1)
	}
	// Stopping early leaves no goroutine behind.
	before := runtime.NumGoroutine()
	n := 0
	for range g.People(keys, 1, 10_000) {
		n++
		if n == 3000 {
			break
		}
	}
	// Workers have returned (People waits for them); let them finish exiting.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d goroutines after an early stop, %d before", after, before)
	}
	for range g.People(keys, 5, 4) {
		t.Fatal("empty range yields")
	}
}
