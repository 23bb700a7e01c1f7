package seed_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vaxbook"
	"vaxbook/inmem"
	"vaxbook/pii"
	"vaxbook/seed"
	"vaxbook/sqlite"
)

// Run is tested against every store that can run here without a server;
// PostgreSQL shares the Loader contract (storetest).
func stores(t *testing.T) map[string]func(t *testing.T) vaxbook.Store {
	return map[string]func(t *testing.T) vaxbook.Store{
		"inmem": func(t *testing.T) vaxbook.Store {
			s := inmem.New()
			t.Cleanup(func() { s.Close() })
			return s
		},
		"sqlite": func(t *testing.T) vaxbook.Store {
			db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "v.db"), sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		},
	}
}

func smallPlan(t *testing.T) seed.Plan {
	cfg := seed.DefaultConfig()
	cfg.People = 2000
	cfg.Clinics = 260
	return seed.Plan{Config: cfg, Campaign: loadCampaign(t, "kr-2021-18-49"), Keys: pii.DemoKeys()}
}

func counts(t *testing.T, s vaxbook.Store) vaxbook.StoreCounts {
	t.Helper()
	c, err := s.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func peopleFile(t *testing.T, body string) *seed.PeopleImport {
	t.Helper()
	path := filepath.Join(t.TempDir(), "people.csv")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chk, err := seed.CheckPeople(f, "people.csv", loadCampaign(t, "kr-2021-18-49"))
	if err != nil {
		t.Fatal(err)
	}
	return &seed.PeopleImport{Name: "people.csv", Open: func() (io.ReadCloser, error) { return os.Open(path) }, Check: chk}
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			plan := smallPlan(t)
			rep, err := seed.Run(ctx, s, plan)
			if err != nil {
				t.Fatal(err)
			}
			c := counts(t, s)
			want := vaxbook.StoreCounts{Campaigns: 1, Regions: 250, Clinics: 260, Slots: rep.Slots, Quotas: rep.Quotas, People: 2000}
			if c != want || rep.People != 2000 || rep.Clinics != 260 || rep.Slots == 0 {
				t.Fatalf("counts %+v, report %+v; want %+v", c, rep, want)
			}
			// The registry finds a generated person by the blind index of the CI
			// the identity provider regenerates from the id alone.
			g, _ := seed.NewGenerator(plan.Config, plan.Campaign)
			cit := g.Citizen(1234)
			p, err := s.PersonByCIHash(ctx, plan.Keys.BlindIndex(cit.CI))
			if err != nil || p.ID != 1234 || p.BirthDate != cit.BirthDate {
				t.Fatalf("PersonByCIHash = %+v, %v", p, err)
			}
			if n, err := plan.Keys.Open(p.NameSealed, pii.PersonAAD(p.ID)); err != nil || n != cit.Name {
				t.Errorf("stored name opens to %q, %v; want %q", n, err, cit.Name)
			}

			// Not empty: refused without --force, nothing changes.
			if _, err := seed.Run(ctx, s, plan); vaxbook.ErrorCode(err) != vaxbook.CodeConflict || !strings.Contains(err.Error(), "--force") {
				t.Fatalf("second run: err = %v, want conflict naming --force", err)
			}
			// --force with nothing missing adds nothing.
			plan.Force = true
			if rep, err := seed.Run(ctx, s, plan); err != nil || (rep != seed.Report{Eligible: rep.Eligible}) {
				t.Fatalf("forced rerun: %+v, %v; want nothing added", rep, err)
			}
			if got := counts(t, s); got != c {
				t.Fatalf("forced rerun changed counts: %+v", got)
			}

			// --force with a second campaign: its supply at the existing clinics.
			fund := plan
			fund.Campaign = loadCampaign(t, "kr-2021-support-fund")
			rep, err = seed.Run(ctx, s, fund)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Campaigns != 1 || rep.Regions != 0 || rep.Clinics != 0 || rep.People != 0 || rep.Slots == 0 {
				t.Fatalf("second campaign: %+v", rep)
			}
			seen := map[int64]bool{}
			if err := s.Slots(ctx, fund.Campaign.ID, func(sl vaxbook.Slot) error {
				if sl.ID <= c.Slots {
					t.Fatalf("slot id %d of the new campaign collides with the first's", sl.ID)
				}
				seen[sl.ClinicID] = true
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(seen) != 260 {
				t.Errorf("second campaign has slots at %d clinics, want 260", len(seen))
			}
			c = counts(t, s)

			// --force with imported clinics: ids after the existing ones, with slots.
			clinics, err := seed.ReadClinics(open2(t, "clinics_good.csv"), "clinics_good.csv", 1)
			if err != nil {
				t.Fatal(err)
			}
			imp := plan
			imp.Clinics = clinics
			rep, err = seed.Run(ctx, s, imp)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Clinics != 2 || rep.Slots == 0 || rep.Campaigns != 0 {
				t.Fatalf("clinic import: %+v", rep)
			}
			all, _ := s.Clinics(ctx)
			if last := all[len(all)-1]; last.ID != 262 || last.Name != "압해의원" {
				t.Errorf("last clinic %+v", last)
			}
			c = counts(t, s)

			// --force with imported people: appended after the existing ones.
			imp = plan
			imp.People = peopleFile(t, "ci,birth_date,nationality,name,phone,sigungu_code\nCI-NEW-1,1990-01-31,KR,김똠,010-1234-5678,11010\n")
			if rep, err = seed.Run(ctx, s, imp); err != nil || rep.People != 1 {
				t.Fatalf("people import: %+v, %v", rep, err)
			}
			if p, err := s.PersonByCIHash(ctx, plan.Keys.BlindIndex("CI-NEW-1")); err != nil || p.ID != 2001 {
				t.Fatalf("imported person: %+v, %v", p, err)
			}
			c = counts(t, s)

			// An import whose CI is already registered: Load fails, nothing changes.
			imp.People = peopleFile(t, "ci,birth_date,nationality,name,phone,sigungu_code\nCI-NEW-2,1991-01-31,KR,이하나,,11010\n"+cit.CI+",1990-01-31,KR,김민준,,11010\n")
			if _, err := seed.Run(ctx, s, imp); err == nil {
				t.Fatal("import of an already registered CI succeeded")
			}
			if got := counts(t, s); got != c {
				t.Fatalf("failed import changed counts: %+v → %+v", c, got)
			}
			if _, err := s.PersonByCIHash(ctx, plan.Keys.BlindIndex("CI-NEW-2")); vaxbook.ErrorCode(err) != vaxbook.CodeNotInRegistry {
				t.Errorf("half-imported: CI-NEW-2 lookup err = %v", err)
			}
		})
	}
}

func TestRunImportsIntoEmptyStore(t *testing.T) {
	ctx := context.Background()
	s := stores(t)["sqlite"](t)
	plan := smallPlan(t)
	var err error
	if plan.Clinics, err = seed.ReadClinics(open2(t, "clinics_good.csv"), "clinics_good.csv", 1); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join("testdata", "people_good.csv"))
	plan.People = peopleFile(t, string(data))
	rep, err := seed.Run(ctx, s, plan)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Clinics != 2 || rep.People != 3 || rep.Eligible != 2 {
		t.Fatalf("report %+v", rep)
	}
	// Supply for 2 eligible people × 1.1 = 2 places over 10 days.
	var places int
	if _, err := s.Quotas(ctx, plan.Campaign.ID, func(q vaxbook.Quota) error {
		if q.Cohort != vaxbook.CohortDose2 {
			places += q.Capacity
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if places != 2 {
		t.Errorf("%d dose-1 places, want 2", places)
	}
	p, err := s.PersonByID(ctx, 3)
	if err != nil || !bytes.Equal(p.CIHash, plan.Keys.BlindIndex("CI-C")) {
		t.Fatalf("person 3: %+v, %v", p, err)
	}
}

func TestRunRefusesBadPlans(t *testing.T) {
	s := stores(t)["inmem"](t)
	plan := smallPlan(t)
	plan.Keys = nil
	if _, err := seed.Run(context.Background(), s, plan); vaxbook.ErrorCode(err) != vaxbook.CodeInvalid {
		t.Errorf("no keys: %v", err)
	}
	plan = smallPlan(t)
	plan.Config.People = 0
	if _, err := seed.Run(context.Background(), s, plan); vaxbook.ErrorCode(err) != vaxbook.CodeInvalid {
		t.Errorf("no people: %v", err)
	}
	if c := counts(t, s); (c != vaxbook.StoreCounts{}) {
		t.Errorf("refused plans wrote %+v", c)
	}
}

func open2(t *testing.T, name string) io.Reader {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}
