package campaign

import (
	"maps"
	"slices"
	"strings"
	"time"

	"vaxbook"
)

// Day is the length of the whole days Shift and DemoShift count in.
const Day = 24 * time.Hour

// Shift returns a copy of c with every instant (window opens and closes,
// quota pool_from) moved by delta, and every date of the vaccination range
// moved by delta's whole days, rounded to the nearest day (+20h moves dates by
// one day, −11h by none). Weekday predicates are rotated by the same number of
// days so that they keep selecting the same moments of the shifted windows.
// The group's birth-date range does not move: it says who, not when.
//
// For a whole-day delta in a zone without daylight-saving changes in between,
// Check(Shift(c, delta), b, n, t+delta) decides exactly as Check(c, b, n, t).
// The result shares nothing with c.
func Shift(c vaxbook.Campaign, delta time.Duration) vaxbook.Campaign {
	days := roundDays(delta)
	s := c
	s.Title = maps.Clone(c.Title)
	s.Group.Nationalities = slices.Clone(c.Group.Nationalities)
	s.Windows = make([]vaxbook.Window, len(c.Windows))
	for i, w := range c.Windows {
		w.Opens = moveInstant(w.Opens, delta)
		w.Closes = moveInstant(w.Closes, delta)
		w.Who = shiftPredicate(w.Who, days)
		s.Windows[i] = w
	}
	if c.Windows == nil {
		s.Windows = nil
	}
	s.Quota.PoolFrom = moveInstant(c.Quota.PoolFrom, delta)
	if !c.Vaccination.From.IsZero() {
		s.Vaccination.From = c.Vaccination.From.AddDays(days)
	}
	if !c.Vaccination.To.IsZero() {
		s.Vaccination.To = c.Vaccination.To.AddDays(days)
	}
	return s
}

func moveInstant(t time.Time, delta time.Duration) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Add(delta)
}

// roundDays returns delta in whole days, rounded to the nearest (halves away
// from zero).
func roundDays(delta time.Duration) int {
	return int(delta.Round(Day) / Day)
}

var weekdayOrder = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func shiftPredicate(p vaxbook.Predicate, days int) vaxbook.Predicate {
	q := p
	q.Digits = slices.Clone(p.Digits)
	if p.Weekdays != nil {
		q.Weekdays = make([]string, len(p.Weekdays))
		for i, n := range p.Weekdays {
			q.Weekdays[i] = n
			if d, ok := weekdayNames[strings.ToLower(n)]; ok {
				q.Weekdays[i] = weekdayOrder[((int(d)+days)%7+7)%7]
			}
		}
	}
	if p.All != nil {
		q.All = make([]vaxbook.Predicate, len(p.All))
		for i, a := range p.All {
			q.All[i] = shiftPredicate(a, days)
		}
	}
	return q
}

// OpeningShift returns the delta that, applied with Shift, makes the
// campaign's first rotation window (the first window of any kind if there
// is none) open at opens: a rehearsal's opening second, with nothing open
// before it.
func OpeningShift(c vaxbook.Campaign, opens time.Time) time.Duration {
	first := firstWindow(c)
	if first == nil {
		return 0
	}
	return opens.Sub(first.Opens)
}

// firstWindow is the rotation window that opens first, or the first window
// of any kind if there is none; nil for a campaign without windows.
func firstWindow(c vaxbook.Campaign) *vaxbook.Window {
	var first *vaxbook.Window
	for _, kind := range []string{vaxbook.WindowRotation, ""} {
		for i := range c.Windows {
			w := &c.Windows[i]
			if (kind == "" || w.Kind == kind) && (first == nil || w.Opens.Before(first.Opens)) {
				first = w
			}
		}
		if first != nil {
			return first
		}
	}
	return nil
}

// DemoLead is how long before `now` DemoShift makes the first rotation window
// open when `now` falls in a gap between windows.
const DemoLead = 10 * time.Minute

// DemoShift returns the delta that, applied with Shift, puts `now` inside
// the campaign's first rotation window (the rotation window that opens first;
// the first window of any kind if there is none), so that a demo started at
// any time has a rotation day open.
//
// The delta is a whole number of days whenever that is possible, so that
// windows still open and close at their usual local times (20:00 and 18:00
// KST for kr-2021-18-49); the window is then the one that opened within the
// last day. When `now` falls in a daily gap between windows (18:00–20:00 KST
// there), the delta is the whole-day shift that would open the window later
// today, moved earlier by the smallest amount that makes it open at least
// DemoLead (10 minutes) before `now`, at a whole minute.
func DemoShift(c vaxbook.Campaign, now time.Time) time.Duration {
	first := firstWindow(c)
	if first == nil {
		return 0
	}
	since := now.Sub(first.Opens)
	k := since / Day
	if since%Day < 0 {
		k-- // floor, also before the window
	}
	if d := k * Day; now.Before(first.Closes.Add(d)) {
		return d
	}
	// In the gap: open the window DemoLead before now, at a whole minute.
	length := first.Closes.Sub(first.Opens)
	if length <= DemoLead+time.Minute {
		return now.Sub(first.Opens)
	}
	opens := now.Add(-DemoLead).Truncate(time.Minute)
	return opens.Sub(first.Opens)
}
