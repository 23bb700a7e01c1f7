package campaign_test

import (
	"strings"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/campaign"
)

var kst = time.FixedZone("KST", 9*60*60)

func mustLoad(t testing.TB, name string) vaxbook.Campaign {
	t.Helper()
	c, err := campaign.Load(name)
	if err != nil {
		t.Fatalf("Load(%q): %v", name, err)
	}
	return c
}

func mustParse(t testing.TB, js string) vaxbook.Campaign {
	t.Helper()
	c, err := campaign.Parse([]byte(js))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func rfc(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type checkCase struct {
	name   string
	birth  string
	nat    vaxbook.Nationality
	at     string
	code   vaxbook.Code
	window string // window id, "" for none
}

func runCheckCases(t *testing.T, c vaxbook.Campaign, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nat := tc.nat
			if nat == "" {
				nat = vaxbook.National
			}
			d := campaign.Check(c, vaxbook.MustDate(tc.birth), nat, rfc(t, tc.at))
			if d.Code != tc.code {
				t.Fatalf("code = %s, want %s (message %q)", d.Code, tc.code, d.Message)
			}
			if d.Eligible != (tc.code == vaxbook.CodeEligible) {
				t.Errorf("eligible = %v with code %s", d.Eligible, d.Code)
			}
			got := ""
			if d.Window != nil {
				got = d.Window.ID
			}
			if got != tc.window {
				t.Errorf("window = %q, want %q", got, tc.window)
			}
			if d.Message == "" || strings.Contains(d.Message, "\n") {
				t.Errorf("message %q: want one sentence", d.Message)
			}
			if d.Window != nil {
				closes := d.Window.Closes.In(kst).Format("2006-01-02 at 15:04 KST")
				if !strings.Contains(d.Message, closes) {
					t.Errorf("message %q does not state the window's end %s", d.Message, closes)
				}
			}
		})
	}
}

// TestCheck18to49 covers the edges of the built-in kr-2021-18-49 campaign.
func TestCheck18to49(t *testing.T) {
	const (
		open = "open-2021-08-19"
		r09  = "rotation-2021-08-09"
		r10  = "rotation-2021-08-10"
		r11  = "rotation-2021-08-11"
		r18  = "rotation-2021-08-18"
	)
	runCheckCases(t, mustLoad(t, "kr-2021-18-49"), []checkCase{
		// Born on a 9th, 19th, 29th: Aug 9 20:00 KST – Aug 10 18:00 KST.
		{"29th before campaign", "1985-03-29", "", "2021-08-01T00:00:00+09:00", vaxbook.CodeNotOpenYet, r09},
		{"29th second before", "1985-03-29", "", "2021-08-09T19:59:59+09:00", vaxbook.CodeNotOpenYet, r09},
		{"29th nanosecond before", "1985-03-29", "", "2021-08-09T19:59:59.999999999+09:00", vaxbook.CodeNotOpenYet, r09},
		{"29th at opening", "1985-03-29", "", "2021-08-09T20:00:00+09:00", vaxbook.CodeEligible, r09},
		{"29th at opening in Z", "1985-03-29", "", "2021-08-09T11:00:00Z", vaxbook.CodeEligible, r09},
		{"29th at opening in -05:00", "1985-03-29", "", "2021-08-09T06:00:00-05:00", vaxbook.CodeEligible, r09},
		{"29th second before in -05:00", "1985-03-29", "", "2021-08-09T05:59:59-05:00", vaxbook.CodeNotOpenYet, r09},
		{"29th at opening in +14:00", "1985-03-29", "", "2021-08-10T01:00:00+14:00", vaxbook.CodeEligible, r09},
		{"29th at opening in -12:00", "1985-03-29", "", "2021-08-08T23:00:00-12:00", vaxbook.CodeEligible, r09},
		{"29th at opening in +05:30", "1985-03-29", "", "2021-08-09T16:30:00+05:30", vaxbook.CodeEligible, r09},
		{"29th second before close", "1985-03-29", "", "2021-08-10T17:59:59+09:00", vaxbook.CodeEligible, r09},
		{"29th at close", "1985-03-29", "", "2021-08-10T18:00:00+09:00", vaxbook.CodeNotOpenYet, open},
		{"29th at close in Z", "1985-03-29", "", "2021-08-10T09:00:00Z", vaxbook.CodeNotOpenYet, open},
		{"29th during digit 0's day", "1985-03-29", "", "2021-08-10T20:00:00+09:00", vaxbook.CodeOtherDay, open},
		{"9th during digit 2's day", "1990-07-09", "", "2021-08-12T23:00:00+09:00", vaxbook.CodeOtherDay, open},
		{"19th at opening", "2001-11-19", "", "2021-08-09T20:00:00+09:00", vaxbook.CodeEligible, r09},
		// Born on a 10th, 20th, 30th: Aug 10.
		{"30th at opening", "1980-04-30", "", "2021-08-10T20:00:00+09:00", vaxbook.CodeEligible, r10},
		{"30th on Aug 9", "1980-04-30", "", "2021-08-09T21:00:00+09:00", vaxbook.CodeOtherDay, r10},
		{"30th in the gap before", "1980-04-30", "", "2021-08-10T19:00:00+09:00", vaxbook.CodeNotOpenYet, r10},
		{"20th second before", "1999-01-20", "", "2021-08-10T19:59:59+09:00", vaxbook.CodeNotOpenYet, r10},
		// Born on the 31st, 1st, 11th, 21st: Aug 11.
		{"31st at opening", "1975-12-31", "", "2021-08-11T20:00:00+09:00", vaxbook.CodeEligible, r11},
		{"31st second before", "1975-12-31", "", "2021-08-11T19:59:59+09:00", vaxbook.CodeNotOpenYet, r11},
		{"31st on Aug 10", "1975-12-31", "", "2021-08-10T22:00:00+09:00", vaxbook.CodeOtherDay, r11},
		{"1st at opening", "1995-06-01", "", "2021-08-11T11:00:00Z", vaxbook.CodeEligible, r11},
		{"31st at close", "1975-12-31", "", "2021-08-12T18:00:00+09:00", vaxbook.CodeNotOpenYet, open},
		// Feb 29 birthdays: digit 9.
		{"Feb 29 1988 on Aug 9", "1988-02-29", "", "2021-08-09T20:30:00+09:00", vaxbook.CodeEligible, r09},
		{"Feb 29 1972 on Aug 9", "1972-02-29", "", "2021-08-10T00:00:00+09:00", vaxbook.CodeEligible, r09},
		{"Feb 29 2000 during digit 8's day", "2000-02-29", "", "2021-08-19T12:00:00+09:00", vaxbook.CodeOtherDay, open},
		// Born on the 8th: the last rotation day, then the open window.
		{"8th at opening", "1983-09-08", "", "2021-08-18T20:00:00+09:00", vaxbook.CodeEligible, r18},
		{"8th second before close", "1983-09-08", "", "2021-08-19T17:59:59+09:00", vaxbook.CodeEligible, r18},
		{"8th at close", "1983-09-08", "", "2021-08-19T18:00:00+09:00", vaxbook.CodeNotOpenYet, open},
		// The open window for the whole group.
		{"open second before", "1983-09-05", "", "2021-08-19T19:59:59+09:00", vaxbook.CodeNotOpenYet, open},
		{"open at opening", "1983-09-05", "", "2021-08-19T20:00:00+09:00", vaxbook.CodeEligible, open},
		{"open at opening in Z", "1983-09-05", "", "2021-08-19T11:00:00Z", vaxbook.CodeEligible, open},
		{"open second before close", "1983-09-05", "", "2021-09-18T17:59:59+09:00", vaxbook.CodeEligible, open},
		{"open at close", "1983-09-05", "", "2021-09-18T18:00:00+09:00", vaxbook.CodeClosed, open},
		{"open at close in -05:00", "1983-09-05", "", "2021-09-18T04:00:00-05:00", vaxbook.CodeClosed, open},
		{"second before close in -05:00", "1983-09-05", "", "2021-09-18T03:59:59-05:00", vaxbook.CodeEligible, open},
		{"long after", "1983-09-05", "", "2022-01-01T00:00:00Z", vaxbook.CodeClosed, open},
		// Group ends and nationalities.
		{"born day before group", "1971-12-31", "", "2021-08-11T20:00:00+09:00", vaxbook.CodeNotInGroup, ""},
		{"born first day of group", "1972-01-01", "", "2021-08-11T20:00:00+09:00", vaxbook.CodeEligible, r11},
		{"born last day of group", "2003-12-31", "", "2021-08-11T20:00:00+09:00", vaxbook.CodeEligible, r11},
		{"born day after group", "2004-01-01", "", "2021-08-11T20:00:00+09:00", vaxbook.CodeNotInGroup, ""},
		{"too old in open window", "1950-05-05", "", "2021-08-25T12:00:00+09:00", vaxbook.CodeNotInGroup, ""},
		{"foreigner eligible", "1990-05-15", vaxbook.RegisteredAlien, "2021-08-15T20:00:00+09:00", vaxbook.CodeEligible, "rotation-2021-08-15"},
		{"foreigner other day", "1990-05-15", vaxbook.RegisteredAlien, "2021-08-14T20:00:00+09:00", vaxbook.CodeOtherDay, "rotation-2021-08-15"},
		{"foreigner out of group", "2005-05-15", vaxbook.RegisteredAlien, "2021-08-15T20:00:00+09:00", vaxbook.CodeNotInGroup, ""},
		{"unknown nationality", "1990-05-15", "US", "2021-08-15T20:00:00+09:00", vaxbook.CodeNotInGroup, ""},
	})
}

// TestCheckSupportFund covers the built-in kr-2021-support-fund campaign:
// Mon 1·6, Tue 2·7, Wed 3·8, Thu 4·9, Fri 5·0, then open to all.
func TestCheckSupportFund(t *testing.T) {
	const open = "open-2021-09-13"
	runCheckCases(t, mustLoad(t, "kr-2021-support-fund"), []checkCase{
		{"1981 Monday", "1981-05-05", "", "2021-09-06T09:00:00+09:00", vaxbook.CodeEligible, "rotation-2021-09-06-mon"},
		{"1986 Monday second before", "1986-05-05", "", "2021-09-06T08:59:59+09:00", vaxbook.CodeNotOpenYet, "rotation-2021-09-06-mon"},
		{"1986 Monday last second", "1986-05-05", "", "2021-09-06T23:59:59+09:00", vaxbook.CodeEligible, "rotation-2021-09-06-mon"},
		{"1986 Tuesday", "1986-05-05", "", "2021-09-07T10:00:00+09:00", vaxbook.CodeOtherDay, open},
		{"1986 Tuesday midnight", "1986-05-05", "", "2021-09-07T00:00:00+09:00", vaxbook.CodeNotOpenYet, open},
		{"1992 Tuesday", "1992-02-29", "", "2021-09-07T09:00:00+09:00", vaxbook.CodeEligible, "rotation-2021-09-07-tue"},
		{"1998 Wednesday", "1998-12-31", "", "2021-09-08T00:00:00Z", vaxbook.CodeEligible, "rotation-2021-09-08-wed"},
		{"1979 Thursday", "1979-01-01", "", "2021-09-09T12:00:00+09:00", vaxbook.CodeEligible, "rotation-2021-09-09-thu"},
		{"1990 Friday", "1990-10-10", "", "2021-09-10T23:00:00+09:00", vaxbook.CodeEligible, "rotation-2021-09-10-fri"},
		{"1990 on Monday", "1990-10-10", "", "2021-09-06T09:00:00+09:00", vaxbook.CodeOtherDay, "rotation-2021-09-10-fri"},
		{"1995 Friday", "1995-10-10", "", "2021-09-10T09:00:00+09:00", vaxbook.CodeEligible, "rotation-2021-09-10-fri"},
		{"weekend", "1995-10-10", "", "2021-09-11T12:00:00+09:00", vaxbook.CodeNotOpenYet, open},
		{"open to all", "1961-10-10", "", "2021-09-13T09:00:00+09:00", vaxbook.CodeEligible, open},
		{"closed", "1961-10-10", "", "2021-10-29T18:00:00+09:00", vaxbook.CodeClosed, open},
		{"minor", "2003-01-01", "", "2021-09-13T09:00:00+09:00", vaxbook.CodeNotInGroup, ""},
		{"last adult", "2002-12-31", "", "2021-09-07T09:00:00+09:00", vaxbook.CodeEligible, "rotation-2021-09-07-tue"},
	})
}

// weekdayCampaign has a week-long rotation window for people born on a day
// ending in 1 on Mondays and Wednesdays only, and an open window that
// overlaps the rotation for those born on a day ending in 2.
const weekdayCampaign = `{
  "id": "weekday-test",
  "time_zone": "Asia/Seoul",
  "group": {"born_from": "1950-01-01", "born_to": "2010-12-31", "nationalities": ["KR"]},
  "windows": [
    {"id": "week", "kind": "rotation", "opens": "2021-08-09T00:00:00+09:00", "closes": "2021-08-16T00:00:00+09:00",
     "who": {"kind": "all", "all": [{"kind": "weekdays", "weekdays": ["mon", "wed"]}, {"kind": "birth_day_digit", "digits": [1]}]}},
    {"id": "short", "kind": "rotation", "opens": "2021-08-09T00:00:00+09:00", "closes": "2021-08-10T00:00:00+09:00",
     "who": {"kind": "birth_day_digit", "digits": [2]}},
    {"id": "long", "kind": "open", "opens": "2021-08-09T00:00:00+09:00", "closes": "2021-08-20T00:00:00+09:00",
     "who": {"kind": "birth_day_digit", "digits": [2]}}
  ],
  "vaccination": {"from": "2021-08-20", "to": "2021-08-30"},
  "doses": 1,
  "quota": {"cohort": "none"}
}`

func TestCheckWeekdaysAndOverlap(t *testing.T) {
	c := mustParse(t, weekdayCampaign)
	runCheckCases(t, c, []checkCase{
		{"monday", "1990-01-11", "", "2021-08-09T10:00:00+09:00", vaxbook.CodeEligible, "week"},
		// Sunday 15:30 UTC is Monday 00:30 in Seoul: the campaign's zone decides.
		{"monday in Seoul, sunday in UTC", "1990-01-11", "", "2021-08-08T15:30:00Z", vaxbook.CodeEligible, "week"},
		{"tuesday waits for wednesday", "1990-01-11", "", "2021-08-10T10:00:00+09:00", vaxbook.CodeOtherDay, "week"},
		{"wednesday", "1990-01-11", "", "2021-08-11T23:59:59+09:00", vaxbook.CodeEligible, "week"},
		{"after last wednesday", "1990-01-11", "", "2021-08-12T00:00:00+09:00", vaxbook.CodeClosed, "week"},
		{"two windows: the one closing last", "1990-01-12", "", "2021-08-09T10:00:00+09:00", vaxbook.CodeEligible, "long"},
		{"nobody's window", "1990-01-13", "", "2021-08-09T10:00:00+09:00", vaxbook.CodeClosed, ""},
	})
	d := campaign.Check(c, vaxbook.MustDate("1990-01-11"), vaxbook.National, rfc(t, "2021-08-10T10:00:00+09:00"))
	want := "Booking is open now for other people; your booking window opens on 2021-08-11 at 00:00 KST and closes on 2021-08-16 at 00:00 KST (on Monday and Wednesday only)."
	if d.Message != want {
		t.Errorf("message\n got %q\nwant %q", d.Message, want)
	}
	ws := campaign.WindowsFor(c, vaxbook.MustDate("1990-01-11"), vaxbook.National)
	if len(ws) != 1 || ws[0].ID != "week" {
		t.Errorf("WindowsFor = %v, want [week]", ids(ws))
	}
}

func TestCheckMessages(t *testing.T) {
	c := mustLoad(t, "kr-2021-18-49")
	tests := []struct {
		birth, at, want string
	}{
		{"1985-03-15", "2021-08-15T20:30:00+09:00", "You may book now: your booking window opened on 2021-08-15 at 20:00 KST and closes on 2021-08-16 at 18:00 KST."},
		{"1985-03-15", "2021-08-01T00:00:00Z", "Your booking window opens on 2021-08-15 at 20:00 KST and closes on 2021-08-16 at 18:00 KST."},
		{"1985-03-15", "2021-08-12T20:30:00+09:00", "Booking is open now for other people; your booking window opens on 2021-08-15 at 20:00 KST and closes on 2021-08-16 at 18:00 KST."},
		{"1985-03-15", "2021-09-30T00:00:00Z", "Booking is over for you: your last booking window opened on 2021-08-19 at 20:00 KST and closed on 2021-09-18 at 18:00 KST."},
		{"1971-03-15", "2021-08-15T20:30:00+09:00", "This campaign is for people born from 1972-01-01 to 2003-12-31; a birth date of 1971-03-15 is outside it."},
	}
	for _, tc := range tests {
		d := campaign.Check(c, vaxbook.MustDate(tc.birth), vaxbook.National, rfc(t, tc.at))
		if d.Message != tc.want {
			t.Errorf("Check(%s, %s).Message\n got %q\nwant %q", tc.birth, tc.at, d.Message, tc.want)
		}
	}
}

func ids(ws []vaxbook.Window) []string {
	var s []string
	for _, w := range ws {
		s = append(s, w.ID)
	}
	return s
}

func TestWindowsFor(t *testing.T) {
	c := mustLoad(t, "kr-2021-18-49")
	tests := []struct {
		birth string
		nat   vaxbook.Nationality
		want  []string
	}{
		{"1985-03-29", vaxbook.National, []string{"rotation-2021-08-09", "open-2021-08-19"}},
		{"1985-03-31", vaxbook.RegisteredAlien, []string{"rotation-2021-08-11", "open-2021-08-19"}},
		{"2003-12-20", vaxbook.National, []string{"rotation-2021-08-10", "open-2021-08-19"}},
		{"2004-01-01", vaxbook.National, nil},
		{"1985-03-29", "US", nil},
	}
	for _, tc := range tests {
		got := ids(campaign.WindowsFor(c, vaxbook.MustDate(tc.birth), tc.nat))
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("WindowsFor(%s, %s) = %v, want %v", tc.birth, tc.nat, got, tc.want)
		}
	}
}
