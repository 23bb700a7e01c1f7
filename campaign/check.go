package campaign

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"vaxbook"
)

// InGroup reports whether a person with this birth date and nationality
// belongs to the campaign's eligible group.
func InGroup(c vaxbook.Campaign, birth vaxbook.Date, nat vaxbook.Nationality) bool {
	if birth.Before(c.Group.BornFrom) || birth.After(c.Group.BornTo) {
		return false
	}
	return slices.Contains(c.Group.Nationalities, nat)
}

// WindowsFor returns the windows whose predicate can select the person (at
// some instant inside the window), ordered by Opens (then Closes, then file
// order). It returns nil for a person outside the group.
func WindowsFor(c vaxbook.Campaign, birth vaxbook.Date, nat vaxbook.Nationality) []vaxbook.Window {
	if !InGroup(c, birth, nat) {
		return nil
	}
	loc := location(c)
	var ws []vaxbook.Window
	for _, w := range c.Windows {
		if canSelect(w, birth, loc) {
			ws = append(ws, w)
		}
	}
	slices.SortStableFunc(ws, func(a, b vaxbook.Window) int {
		if k := a.Opens.Compare(b.Opens); k != 0 {
			return k
		}
		return a.Closes.Compare(b.Closes)
	})
	return ws
}

// Check decides whether the person may book at instant at. Only the instant
// matters, not the offset it is written in. Window ends are exclusive. The
// codes, in order of precedence:
//
//   - not_in_group: birth date outside Group.BornFrom…BornTo or nationality not
//     listed. Window is nil.
//   - eligible: a window containing at selects the person at at. Window is
//     that window; if several do, the one that closes last.
//   - closed: no window selects the person at or after at. Window is the
//     person's window that closed last (nil if no window ever selects them).
//   - other_day: some window is open at at, but for other people. Window is
//     the person's next window (the one they will be selected by first).
//   - not_open_yet: no window is open at at. Window is the person's next one.
//
// Message is one English sentence stating the person's window in the
// campaign's time zone.
func Check(c vaxbook.Campaign, birth vaxbook.Date, nat vaxbook.Nationality, at time.Time) vaxbook.Decision {
	if !InGroup(c, birth, nat) {
		return vaxbook.Decision{Code: vaxbook.CodeNotInGroup, Message: notInGroupMessage(c, birth, nat)}
	}
	loc := location(c)
	wd := at.In(loc).Weekday()

	// eligible: the selecting window that closes last.
	cur := -1
	for i, w := range c.Windows {
		if w.Contains(at) && sets(w.Who, wd).has(birth) && (cur < 0 || w.Closes.After(c.Windows[cur].Closes)) {
			cur = i
		}
	}
	if cur >= 0 {
		w := c.Windows[cur]
		return vaxbook.Decision{
			Eligible: true, Code: vaxbook.CodeEligible, Window: &w,
			Message: fmt.Sprintf("You may book now: your booking window opened on %s and closes on %s%s.",
				when(w.Opens, loc), when(w.Closes, loc), daysNote(w, birth)),
		}
	}

	// The person's next window: the one that selects them soonest (ties:
	// the one that closes last).
	next, nextAt := -1, time.Time{}
	for i, w := range c.Windows {
		t, ok := nextStart(w, birth, at, loc)
		if !ok {
			continue
		}
		if next < 0 || t.Before(nextAt) || (t.Equal(nextAt) && w.Closes.After(c.Windows[next].Closes)) {
			next, nextAt = i, t
		}
	}
	if next < 0 {
		last := -1
		for i, w := range c.Windows {
			if !canSelect(w, birth, loc) {
				continue
			}
			if last < 0 || w.Closes.After(c.Windows[last].Closes) ||
				(w.Closes.Equal(c.Windows[last].Closes) && w.Opens.After(c.Windows[last].Opens)) {
				last = i
			}
		}
		if last < 0 {
			return vaxbook.Decision{Code: vaxbook.CodeClosed, Message: "No booking window of this campaign is for you."}
		}
		w := c.Windows[last]
		return vaxbook.Decision{
			Code: vaxbook.CodeClosed, Window: &w,
			Message: fmt.Sprintf("Booking is over for you: your last booking window opened on %s and closed on %s.",
				when(w.Opens, loc), when(w.Closes, loc)),
		}
	}
	w := c.Windows[next]
	d := vaxbook.Decision{Code: vaxbook.CodeNotOpenYet, Window: &w}
	prefix := "Your booking window opens"
	if openForSomeone(c, at, wd) {
		d.Code = vaxbook.CodeOtherDay
		prefix = "Booking is open now for other people; your booking window opens"
	}
	d.Message = fmt.Sprintf("%s on %s and closes on %s%s.", prefix, when(nextAt, loc), when(w.Closes, loc), daysNote(w, birth))
	return d
}

// openForSomeone reports whether some window open at `at` selects anybody
// at that instant.
func openForSomeone(c vaxbook.Campaign, at time.Time, wd time.Weekday) bool {
	for _, w := range c.Windows {
		if w.Contains(at) && !sets(w.Who, wd).empty() {
			return true
		}
	}
	return false
}

// when formats an instant for people: "2021-08-15 at 20:00 KST".
func when(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02 at 15:04 MST")
}

// daysNote says on which weekdays a weekday-restricted window is for the
// person: " (on Monday and Wednesday only)".
func daysNote(w vaxbook.Window, birth vaxbook.Date) string {
	days := selectedWeekdays(w, birth)
	if days == nil || len(days) == 7 {
		return ""
	}
	names := make([]string, len(days))
	for i, d := range days {
		names[i] = d.String()
	}
	list := names[0]
	if n := len(names); n > 1 {
		list = strings.Join(names[:n-1], ", ") + " and " + names[n-1]
	}
	return " (on " + list + " only)"
}

func notInGroupMessage(c vaxbook.Campaign, birth vaxbook.Date, nat vaxbook.Nationality) string {
	if birth.Before(c.Group.BornFrom) || birth.After(c.Group.BornTo) {
		return fmt.Sprintf("This campaign is for people born from %s to %s; a birth date of %s is outside it.",
			c.Group.BornFrom, c.Group.BornTo, birth)
	}
	nats := make([]string, len(c.Group.Nationalities))
	for i, n := range c.Group.Nationalities {
		nats[i] = string(n)
	}
	return fmt.Sprintf("This campaign is for people of nationality %s; %q is not among them.", strings.Join(nats, " or "), nat)
}
