package campaign_test

import (
	"testing"
	"time"

	"pgregory.net/rapid"

	"vaxbook"
	"vaxbook/campaign"
)

// fataler is what both *testing.T and *rapid.T offer.
type fataler interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// firstRotation returns the rotation window that opens first.
func firstRotation(t fataler, c vaxbook.Campaign) vaxbook.Window {
	t.Helper()
	var first *vaxbook.Window
	for i, w := range c.Windows {
		if w.Kind == vaxbook.WindowRotation && (first == nil || w.Opens.Before(first.Opens)) {
			first = &c.Windows[i]
		}
	}
	if first == nil {
		t.Fatal("no rotation window")
	}
	return *first
}

// checkDemoShift asserts everything DemoShift promises for one `now`.
func checkDemoShift(t fataler, c vaxbook.Campaign, now time.Time, person vaxbook.Date) {
	t.Helper()
	d := campaign.DemoShift(c, now)
	s := campaign.Shift(c, d)
	orig, w := firstRotation(t, c), firstRotation(t, s)
	if !w.Contains(now) {
		t.Fatalf("now %s: shifted first window %s – %s does not contain now (delta %s)", now, w.Opens, w.Closes, d)
	}
	dec := campaign.Check(s, person, vaxbook.National, now)
	if dec.Code != vaxbook.CodeEligible || dec.Window.ID != orig.ID {
		t.Fatalf("now %s: Check on the shifted campaign = %s %v, want eligible in %s", now, dec.Code, dec.Window, orig.ID)
	}
	// Is a whole-day shift possible? Try the candidates around now.
	whole := false
	base := now.Sub(orig.Opens) / campaign.Day
	for k := base - 2; k <= base+2; k++ {
		if (vaxbook.Window{Opens: orig.Opens.Add(k * campaign.Day), Closes: orig.Closes.Add(k * campaign.Day)}).Contains(now) {
			whole = true
		}
	}
	if whole {
		if d%campaign.Day != 0 {
			t.Fatalf("now %s: delta %s is not whole days although a whole-day shift fits", now, d)
		}
		if age := now.Sub(w.Opens); age < 0 || age >= campaign.Day {
			t.Fatalf("now %s: the window opened %s before now, want within the last day", now, age)
		}
		return
	}
	lead := now.Sub(w.Opens)
	if lead < campaign.DemoLead || lead >= campaign.DemoLead+time.Minute {
		t.Fatalf("now %s (in a gap): window opened %s before now, want %s plus less than a minute", now, lead, campaign.DemoLead)
	}
	if w.Opens.Second() != 0 || w.Opens.Nanosecond() != 0 {
		t.Fatalf("now %s: shifted window opens at %s, want a whole minute", now, w.Opens)
	}
	// The delta is a whole-day shift (opening the window later today) moved
	// earlier by no more than the daily gap plus the lead.
	early := -(d % campaign.Day)
	if early < 0 {
		early += campaign.Day
	}
	if gap := campaign.Day - orig.Closes.Sub(orig.Opens); early <= 0 || early > gap+campaign.DemoLead+time.Minute {
		t.Fatalf("now %s: delta %s is a whole-day shift moved earlier by %s, want at most the gap %s plus %s", now, d, early, gap, campaign.DemoLead)
	}
}

// TestDemoShiftTimesOfDay tries DemoShift at every 7 minutes and 13 seconds
// of two days, and at the seconds around the daily gap of kr-2021-18-49.
func TestDemoShiftTimesOfDay(t *testing.T) {
	c := mustLoad(t, "kr-2021-18-49")
	person := vaxbook.MustDate("1990-01-29") // digit 9: the first rotation day
	start := time.Date(2026, time.March, 10, 0, 0, 0, 0, kst)
	for at := start; at.Before(start.Add(2 * campaign.Day)); at = at.Add(7*time.Minute + 13*time.Second) {
		checkDemoShift(t, c, at, person)
	}
	tests := []struct {
		now       string
		wholeDays bool
		opens     string // shifted first window, in KST
	}{
		{"2026-03-10T17:59:59+09:00", true, "2026-03-09T20:00:00+09:00"},
		{"2026-03-10T18:00:00+09:00", false, "2026-03-10T17:50:00+09:00"},
		{"2026-03-10T18:00:30+09:00", false, "2026-03-10T17:50:00+09:00"},
		{"2026-03-10T19:00:00+09:00", false, "2026-03-10T18:50:00+09:00"},
		{"2026-03-10T19:59:59+09:00", false, "2026-03-10T19:49:00+09:00"},
		{"2026-03-10T10:59:59Z", false, "2026-03-10T19:49:00+09:00"},
		{"2026-03-10T05:59:59-05:00", false, "2026-03-10T19:49:00+09:00"},
		{"2026-03-10T20:00:00+09:00", true, "2026-03-10T20:00:00+09:00"},
		{"2026-03-10T20:05:00+09:00", true, "2026-03-10T20:00:00+09:00"},
		{"2026-03-10T11:00:00Z", true, "2026-03-10T20:00:00+09:00"},
		{"2026-03-10T23:59:59+09:00", true, "2026-03-10T20:00:00+09:00"},
		{"2026-03-11T00:00:00+09:00", true, "2026-03-10T20:00:00+09:00"},
		{"2026-03-11T09:00:00+09:00", true, "2026-03-10T20:00:00+09:00"},
		{"2021-08-09T20:00:00+09:00", true, "2021-08-09T20:00:00+09:00"},
		{"2021-08-09T21:00:00+09:00", true, "2021-08-09T20:00:00+09:00"},
		{"2019-01-01T12:00:00+09:00", true, "2018-12-31T20:00:00+09:00"},
	}
	for _, tc := range tests {
		now := rfc(t, tc.now)
		checkDemoShift(t, c, now, person)
		d := campaign.DemoShift(c, now)
		if (d%campaign.Day == 0) != tc.wholeDays {
			t.Errorf("DemoShift(%s) = %s, want whole days %v", tc.now, d, tc.wholeDays)
		}
		if got := firstRotation(t, campaign.Shift(c, d)).Opens.In(kst).Format(time.RFC3339); got != tc.opens {
			t.Errorf("DemoShift(%s): first window opens %s, want %s", tc.now, got, tc.opens)
		}
	}
}

func TestDemoShiftProperty(t *testing.T) {
	for _, tc := range []struct{ name, person string }{
		{"kr-2021-18-49", "1990-01-29"},
		{"kr-2021-support-fund", "1981-01-01"},
	} {
		c := mustLoad(t, tc.name)
		t.Run(tc.name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				from := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
				to := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
				now := time.Unix(rapid.Int64Range(from, to).Draw(t, "unix"), int64(rapid.IntRange(0, 999_999_999).Draw(t, "ns")))
				now = now.In(time.FixedZone("", rapid.IntRange(-12*4, 14*4).Draw(t, "quarters")*15*60))
				checkDemoShift(t, c, now, vaxbook.MustDate(tc.person))
			})
		})
	}
}

func TestShiftKeepsOriginal(t *testing.T) {
	c := mustParse(t, weekdayCampaign)
	s := campaign.Shift(c, 2*campaign.Day)
	if got := c.Windows[0].Who.All[0].Weekdays; got[0] != "mon" || got[1] != "wed" {
		t.Fatalf("Shift changed the original's weekdays: %v", got)
	}
	if got := s.Windows[0].Who.All[0].Weekdays; got[0] != "wed" || got[1] != "fri" {
		t.Fatalf("shifted weekdays = %v, want [wed fri]", got)
	}
	if !s.Windows[0].Opens.Equal(c.Windows[0].Opens.Add(2 * campaign.Day)) {
		t.Fatalf("opens not moved")
	}
	// The same person on the same (shifted) moment gets the same answer.
	for _, at := range []string{"2021-08-09T10:00:00+09:00", "2021-08-10T10:00:00+09:00", "2021-08-11T10:00:00+09:00", "2021-08-12T10:00:00+09:00"} {
		a := rfc(t, at)
		want := campaign.Check(c, vaxbook.MustDate("1990-01-11"), vaxbook.National, a)
		got := campaign.Check(s, vaxbook.MustDate("1990-01-11"), vaxbook.National, a.Add(2*campaign.Day))
		if got.Code != want.Code {
			t.Errorf("at %s: shifted %s, original %s", at, got.Code, want.Code)
		}
	}
	if s.Vaccination.From != vaxbook.MustDate("2021-08-22") || c.Vaccination.From != vaxbook.MustDate("2021-08-20") {
		t.Errorf("vaccination from: shifted %s, original %s", s.Vaccination.From, c.Vaccination.From)
	}
	tests := []struct {
		delta time.Duration
		days  int
	}{
		{0, 0}, {11 * time.Hour, 0}, {12 * time.Hour, 1}, {20 * time.Hour, 1}, {-11 * time.Hour, 0},
		{-13 * time.Hour, -1}, {-36 * time.Hour, -2}, {-35 * time.Hour, -1}, {1000 * campaign.Day, 1000},
	}
	for _, tc := range tests {
		if got := campaign.Shift(c, tc.delta).Vaccination.From; got != c.Vaccination.From.AddDays(tc.days) {
			t.Errorf("Shift(%s) moved dates to %s, want by %d days", tc.delta, got, tc.days)
		}
	}
}

// TestOpeningShift: the shifted campaign's first rotation day opens at the
// given second, nobody may book a moment before it, and its people may at
// it.
func TestOpeningShift(t *testing.T) {
	person := vaxbook.MustDate("1990-01-29") // digit 9: the first rotation day
	for _, opens := range []string{"2026-11-23T22:35:17Z", "2026-03-10T18:30:00+09:00", "2021-08-09T20:00:00+09:00"} {
		t.Run(opens, func(t *testing.T) {
			c := mustLoad(t, "kr-2021-18-49")
			at := rfc(t, opens)
			s := campaign.Shift(c, campaign.OpeningShift(c, at))
			if got := firstRotation(t, s).Opens; !got.Equal(at) {
				t.Fatalf("first rotation window opens %s, want %s", got, at)
			}
			if dec := campaign.Check(s, person, vaxbook.National, at.Add(-time.Second)); dec.Code == vaxbook.CodeEligible {
				t.Fatalf("a second before the opening: %s", dec.Code)
			}
			if dec := campaign.Check(s, person, vaxbook.National, at); dec.Code != vaxbook.CodeEligible {
				t.Fatalf("at the opening: %s, want eligible", dec.Code)
			}
		})
	}
}
