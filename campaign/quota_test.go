package campaign_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"vaxbook"
	"vaxbook/campaign"
)

func TestCohortAndPooling(t *testing.T) {
	adults := mustLoad(t, "kr-2021-18-49")
	fund := mustLoad(t, "kr-2021-support-fund")
	none := mustParse(t, weekdayCampaign)
	all := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, vaxbook.CohortPool}
	tests := []struct {
		name   string
		c      vaxbook.Campaign
		birth  string
		at     string
		cohort int
		pooled bool
		rows   []int
	}{
		{"day digit 9 (29th)", adults, "1985-03-29", "2021-08-09T20:00:00+09:00", 9, false, []int{9}},
		{"day digit 0 (30th)", adults, "1985-03-30", "2021-08-10T20:00:00+09:00", 0, false, []int{0}},
		{"day digit 1 (31st)", adults, "1985-03-31", "2021-08-11T20:00:00+09:00", 1, false, []int{1}},
		{"Feb 29", adults, "1988-02-29", "2021-08-19T19:59:59+09:00", 9, false, []int{9}},
		{"pooled at pool_from", adults, "1988-02-29", "2021-08-19T20:00:00+09:00", 9, true, all},
		{"pooled at pool_from in Z", adults, "1988-02-29", "2021-08-19T11:00:00Z", 9, true, all},
		{"year digit 1", fund, "1981-12-30", "2021-09-06T09:00:00+09:00", 1, false, []int{1}},
		{"year digit 0", fund, "1990-12-30", "2021-09-10T09:00:00+09:00", 0, false, []int{0}},
		{"year digit pooled", fund, "1990-12-30", "2021-09-13T09:00:00+09:00", 0, true, all},
		{"no cohorts", none, "1990-01-11", "2021-08-09T10:00:00+09:00", vaxbook.CohortPool, true, all},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, at := vaxbook.MustDate(tc.birth), rfc(t, tc.at)
			if got := campaign.Cohort(tc.c, b); got != tc.cohort {
				t.Errorf("Cohort = %d, want %d", got, tc.cohort)
			}
			if got := campaign.Pooled(tc.c, at); got != tc.pooled {
				t.Errorf("Pooled = %v, want %v", got, tc.pooled)
			}
			got := campaign.Dose1Cohorts(tc.c, b, at)
			if !slices.Equal(got, tc.rows) {
				t.Errorf("Dose1Cohorts = %v, want %v", got, tc.rows)
			}
			if slices.Contains(got, vaxbook.CohortDose2) {
				t.Errorf("Dose1Cohorts includes the dose-2 row")
			}
		})
	}
}

func TestDose1Dates(t *testing.T) {
	tests := []struct {
		c        vaxbook.Campaign
		from, to string
	}{
		{mustLoad(t, "kr-2021-18-49"), "2021-08-26", "2021-09-04"}, // Oct 2 − 28 days
		{mustLoad(t, "kr-2021-support-fund"), "2021-09-06", "2021-10-29"},
	}
	for _, tc := range tests {
		got := campaign.Dose1Dates(tc.c)
		if got.From.String() != tc.from || got.To.String() != tc.to {
			t.Errorf("%s: Dose1Dates = %s…%s, want %s…%s", tc.c.ID, got.From, got.To, tc.from, tc.to)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	if err := os.WriteFile(good, []byte(baseCampaign), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(strings.Replace(baseCampaign, `"Asia/Seoul"`, `""`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, arg string
		id        string
		code      vaxbook.Code
		msg       string
	}{
		{"built-in", "kr-2021-18-49", "kr-2021-18-49", "", ""},
		{"other built-in", "kr-2021-support-fund", "kr-2021-support-fund", "", ""},
		{"file", good, "test", "", ""},
		{"invalid file", bad, "", vaxbook.CodeInvalid, "time_zone: missing"},
		{"unknown name", "kr-2020", "", vaxbook.CodeNotFound, `unknown campaign "kr-2020": not a built-in (kr-2021-18-49, kr-2021-support-fund) and no such file`},
		{"missing file", filepath.Join(dir, "nope.json"), "", vaxbook.CodeNotFound, "no such file"},
		{"empty", "", "", vaxbook.CodeInvalid, "no campaign named"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := campaign.Load(tc.arg)
			if tc.code == "" {
				if err != nil || c.ID != tc.id {
					t.Fatalf("Load(%q) = %q, %v; want %q", tc.arg, c.ID, err, tc.id)
				}
				return
			}
			var ve *vaxbook.Error
			if !errors.As(err, &ve) || ve.Code != tc.code {
				t.Fatalf("Load(%q) error %v, want code %s", tc.arg, err, tc.code)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Load(%q) error %q, want it to contain %q", tc.arg, err, tc.msg)
			}
		})
	}
}

func TestLocation(t *testing.T) {
	c := mustLoad(t, "kr-2021-18-49")
	a, err := campaign.Location(c)
	if err != nil || a.String() != "Asia/Seoul" {
		t.Fatalf("Location = %v, %v", a, err)
	}
	if b, _ := campaign.Location(c); b != a {
		t.Errorf("Location is not cached")
	}
	for _, zone := range []string{"", "Mars/Olympus", "Local"} {
		c.TimeZone = zone
		if _, err := campaign.Location(c); err == nil || !strings.Contains(err.Error(), "time_zone") {
			t.Errorf("Location(%q) error = %v, want a time_zone problem", zone, err)
		}
	}
}
