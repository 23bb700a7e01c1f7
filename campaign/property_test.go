package campaign_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"vaxbook"
	"vaxbook/campaign"
)

// refDecision is what the reference implementation decides.
type refDecision struct {
	code           vaxbook.Code
	opens, closes  time.Time // zero for not_in_group
	rotationWindow bool
}

// ref18to49 decides kr-2021-18-49 directly from the rule text, without the
// campaign file or any code of package campaign:
//
//	born 1972-01-01 … 2003-12-31, KR or FOREIGN. Aug 9–18, 2021: day D opens
//	at 20:00 KST for people whose birth-day last digit equals D's last digit
//	and closes at 18:00 KST the next day. Then Aug 19 20:00 – Sep 18 18:00 KST
//	for everyone in the group. Ends are exclusive.
//
// It is slow on purpose: it lists every window and looks at each.
func ref18to49(birthY, birthM, birthD int, nat string, at time.Time) refDecision {
	seoul := time.FixedZone("KST", 9*60*60) // Korea has had no daylight saving since 1988
	born := birthY*10000 + birthM*100 + birthD
	if born < 19720101 || born > 20031231 || (nat != "KR" && nat != "FOREIGN") {
		return refDecision{code: vaxbook.CodeNotInGroup}
	}
	type window struct {
		opens, closes time.Time
		everyone      bool
		digit         int
	}
	var all []window
	for day := 9; day <= 18; day++ {
		all = append(all, window{
			opens:  time.Date(2021, time.August, day, 20, 0, 0, 0, seoul),
			closes: time.Date(2021, time.August, day+1, 18, 0, 0, 0, seoul),
			digit:  day % 10,
		})
	}
	all = append(all, window{
		opens:    time.Date(2021, time.August, 19, 20, 0, 0, 0, seoul),
		closes:   time.Date(2021, time.September, 18, 18, 0, 0, 0, seoul),
		everyone: true,
	})
	inside := func(w window) bool { return !at.Before(w.opens) && at.Before(w.closes) }
	forMe := func(w window) bool { return w.everyone || w.digit == birthD%10 }

	var mine []window
	for _, w := range all {
		if forMe(w) {
			mine = append(mine, w)
		}
	}
	if len(mine) != 2 {
		panic(fmt.Sprintf("reference: %d windows for one person", len(mine)))
	}
	for _, w := range mine {
		if inside(w) {
			return refDecision{vaxbook.CodeEligible, w.opens, w.closes, !w.everyone}
		}
	}
	for _, w := range mine { // mine is in time order
		if at.Before(w.opens) {
			code := vaxbook.CodeNotOpenYet
			for _, o := range all {
				if inside(o) {
					code = vaxbook.CodeOtherDay
				}
			}
			return refDecision{code, w.opens, w.closes, !w.everyone}
		}
	}
	last := mine[len(mine)-1]
	return refDecision{vaxbook.CodeClosed, last.opens, last.closes, !last.everyone}
}

// boundaries are instants where the answer of ref18to49 changes.
func boundaries() []time.Time {
	seoul := time.FixedZone("KST", 9*60*60)
	var b []time.Time
	for day := 9; day <= 19; day++ {
		b = append(b, time.Date(2021, time.August, day, 20, 0, 0, 0, seoul), time.Date(2021, time.August, day, 18, 0, 0, 0, seoul))
	}
	return append(b, time.Date(2021, time.September, 18, 18, 0, 0, 0, seoul))
}

// genBirth draws a birth date that exists, inside and outside the group.
func genBirth(t *rapid.T) vaxbook.Date {
	y := rapid.IntRange(1965, 2010).Draw(t, "year")
	m := rapid.IntRange(1, 12).Draw(t, "month")
	days := time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
	d := rapid.OneOf(rapid.IntRange(1, days), rapid.IntRange(max(1, days-3), days)).Draw(t, "day")
	return vaxbook.Date{Year: y, Month: time.Month(m), Day: d}
}

// genInstant draws an instant from Aug 1 to Sep 30 2021 (often right at or
// next to a boundary) written in a random offset from -12:00 to +14:00.
func genInstant(t *rapid.T) time.Time {
	var at time.Time
	if rapid.Bool().Draw(t, "near a boundary") {
		b := rapid.SampledFrom(boundaries()).Draw(t, "boundary")
		at = b.Add(time.Duration(rapid.SampledFrom([]int{-1, 0, 0, 1}).Draw(t, "seconds off")) * time.Second)
		at = at.Add(time.Duration(rapid.SampledFrom([]int{0, 0, -1}).Draw(t, "ns off")))
	} else {
		from := time.Date(2021, time.August, 1, 0, 0, 0, 0, time.UTC).Unix()
		to := time.Date(2021, time.October, 1, 0, 0, 0, 0, time.UTC).Unix()
		at = time.Unix(rapid.Int64Range(from, to-1).Draw(t, "unix"), 0)
	}
	quarter := rapid.IntRange(-12*4, 14*4).Draw(t, "offset in quarter hours")
	name := rapid.SampledFrom([]string{"", "X", "KST"}).Draw(t, "zone name")
	return at.In(time.FixedZone(name, quarter*15*60))
}

func TestCheckAgainstReference(t *testing.T) {
	c := mustLoad(t, "kr-2021-18-49")
	rapid.Check(t, func(t *rapid.T) {
		b := genBirth(t)
		nat := rapid.SampledFrom([]string{"KR", "FOREIGN", "KR", "FOREIGN", "US", ""}).Draw(t, "nationality")
		// Many instants per person: boundaries are where bugs live.
		for range 40 {
			checkOne(t, c, b, nat, genInstant(t))
		}
	})
}

func checkOne(t *rapid.T, c vaxbook.Campaign, b vaxbook.Date, nat string, at time.Time) {
	got := campaign.Check(c, b, vaxbook.Nationality(nat), at)
	want := ref18to49(b.Year, int(b.Month), b.Day, nat, at)
	if got.Code != want.code {
		t.Fatalf("Check(%s, %s, %s) = %s, reference says %s (message %q)", b, nat, at.Format(time.RFC3339Nano), got.Code, want.code, got.Message)
	}
	if got.Eligible != (want.code == vaxbook.CodeEligible) {
		t.Fatalf("eligible = %v with code %s", got.Eligible, got.Code)
	}
	if want.code == vaxbook.CodeNotInGroup {
		if got.Window != nil {
			t.Fatalf("not_in_group with window %+v", got.Window)
		}
		return
	}
	if got.Window == nil {
		t.Fatalf("code %s without a window", got.Code)
	}
	if !got.Window.Opens.Equal(want.opens) || !got.Window.Closes.Equal(want.closes) {
		t.Fatalf("Check(%s, %s, %s) window %s – %s, reference %s – %s", b, nat, at.Format(time.RFC3339Nano),
			got.Window.Opens, got.Window.Closes, want.opens, want.closes)
	}
	if (got.Window.Kind == vaxbook.WindowRotation) != want.rotationWindow {
		t.Fatalf("window kind %s, reference rotation=%v", got.Window.Kind, want.rotationWindow)
	}
	closes := want.closes.Format("2006-01-02 at 15:04 KST")
	if !strings.Contains(got.Message, closes) {
		t.Fatalf("message %q does not state the end %s", got.Message, closes)
	}
	// Same instant, other offset: same answer.
	again := campaign.Check(c, b, vaxbook.Nationality(nat), at.UTC())
	if again.Code != got.Code || again.Message != got.Message {
		t.Fatalf("UTC instant gives %s %q, offset %s gives %s %q", again.Code, again.Message, at.Format("-07:00"), got.Code, got.Message)
	}
}

func TestShiftProperty(t *testing.T) {
	for _, name := range campaign.Builtins() {
		c := mustLoad(t, name)
		t.Run(name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				var d time.Duration
				if rapid.Bool().Draw(t, "whole days") {
					d = time.Duration(rapid.IntRange(-4000, 4000).Draw(t, "days")) * campaign.Day
				} else {
					d = time.Duration(rapid.Int64Range(-int64(10*365*campaign.Day), int64(10*365*campaign.Day)).Draw(t, "delta"))
				}
				s := campaign.Shift(c, d)
				if err := campaign.Validate(s); err != nil {
					t.Fatalf("Shift(%s) is invalid: %v", d, err)
				}
				b := genBirth(t)
				nat := rapid.SampledFrom([]vaxbook.Nationality{vaxbook.National, vaxbook.RegisteredAlien}).Draw(t, "nationality")
				var at time.Time
				if name == "kr-2021-18-49" {
					at = genInstant(t)
				} else {
					from := time.Date(2021, time.September, 1, 0, 0, 0, 0, time.UTC).Unix()
					at = time.Unix(rapid.Int64Range(from, from+70*24*3600).Draw(t, "unix"), 0)
				}
				want := campaign.Check(c, b, nat, at)
				got := campaign.Check(s, b, nat, at.Add(d))
				if got.Code != want.Code {
					t.Fatalf("Check(Shift(c, %s), %s, t+d) = %s, Check(c, %s, t) = %s", d, b, got.Code, b, want.Code)
				}
				if (got.Window == nil) != (want.Window == nil) {
					t.Fatalf("window presence differs")
				}
				if got.Window != nil && (got.Window.ID != want.Window.ID || !got.Window.Opens.Equal(want.Window.Opens.Add(d))) {
					t.Fatalf("window %s at %s, want %s at %s", got.Window.ID, got.Window.Opens, want.Window.ID, want.Window.Opens.Add(d))
				}
				days := int(d.Round(campaign.Day) / campaign.Day)
				if s.Vaccination.From != c.Vaccination.From.AddDays(days) || s.Vaccination.To != c.Vaccination.To.AddDays(days) {
					t.Fatalf("vaccination %v, want moved by %d days", s.Vaccination, days)
				}
				if s.Group.BornFrom != c.Group.BornFrom || s.Group.BornTo != c.Group.BornTo {
					t.Fatalf("Shift moved the group")
				}
				if !s.Quota.PoolFrom.Equal(c.Quota.PoolFrom.Add(d)) {
					t.Fatalf("pool_from %s, want %s", s.Quota.PoolFrom, c.Quota.PoolFrom.Add(d))
				}
			})
		})
	}
}
