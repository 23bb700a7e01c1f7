package campaign

import (
	"strings"
	"time"

	"vaxbook"
)

// A predicate, evaluated on a given weekday, reduces to a set of allowed
// last digits of the birth day and a set of allowed last digits of the birth
// year (bit i set ⇔ digit i allowed). "all" intersects; "weekdays" allows
// everything or nothing depending on the weekday. This makes evaluation
// cheap and lets Validate ask whether two predicates can select the same
// person on the same day.
type digitSets struct{ day, year uint16 }

const allDigits uint16 = 1<<10 - 1

func (s digitSets) empty() bool { return s.day == 0 || s.year == 0 }

func (s digitSets) and(t digitSets) digitSets { return digitSets{s.day & t.day, s.year & t.year} }

func (s digitSets) has(birth vaxbook.Date) bool {
	return s.day&(1<<(birth.Day%10)) != 0 && s.year&(1<<(lastDigit(birth.Year))) != 0
}

func lastDigit(n int) int {
	d := n % 10
	if d < 0 {
		d = -d
	}
	return d
}

// weekdayNames maps the weekday names of campaign files to time.Weekday.
var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// sets evaluates p on weekday wd. Unknown kinds, digits and weekday names
// select nobody (Validate rejects them).
func sets(p vaxbook.Predicate, wd time.Weekday) digitSets {
	switch p.Kind {
	case vaxbook.PredicateAny:
		return digitSets{allDigits, allDigits}
	case vaxbook.PredicateBirthDayDigit:
		return digitSets{digitMask(p.Digits), allDigits}
	case vaxbook.PredicateBirthYearDigit:
		return digitSets{allDigits, digitMask(p.Digits)}
	case vaxbook.PredicateWeekdays:
		for _, n := range p.Weekdays {
			if d, ok := weekdayNames[strings.ToLower(n)]; ok && d == wd {
				return digitSets{allDigits, allDigits}
			}
		}
		return digitSets{}
	case vaxbook.PredicateAll:
		s := digitSets{allDigits, allDigits}
		for _, q := range p.All {
			s = s.and(sets(q, wd))
		}
		return s
	}
	return digitSets{}
}

func digitMask(digits []int) uint16 {
	var m uint16
	for _, d := range digits {
		if d >= 0 && d <= 9 {
			m |= 1 << d
		}
	}
	return m
}

// usesWeekdays reports whether p depends on the instant.
func usesWeekdays(p vaxbook.Predicate) bool {
	if p.Kind == vaxbook.PredicateWeekdays {
		return true
	}
	for _, q := range p.All {
		if usesWeekdays(q) {
			return true
		}
	}
	return false
}

// selects reports whether window w's predicate selects the person at t.
func selects(w vaxbook.Window, birth vaxbook.Date, t time.Time, loc *time.Location) bool {
	return sets(w.Who, t.In(loc).Weekday()).has(birth)
}

// weekdaysIn returns the weekdays (bit wd) that occur in [from, to) in loc.
func weekdaysIn(from, to time.Time, loc *time.Location) uint8 {
	var m uint8
	for i, t := 0, from; i < 8 && t.Before(to); i++ {
		m |= 1 << t.In(loc).Weekday()
		t = nextMidnight(t, loc)
	}
	return m
}

// nextMidnight returns the start of the calendar day after t's, in loc.
func nextMidnight(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}

// canSelect reports whether w's predicate selects the person at some
// instant inside w.
func canSelect(w vaxbook.Window, birth vaxbook.Date, loc *time.Location) bool {
	if !usesWeekdays(w.Who) {
		return sets(w.Who, time.Sunday).has(birth)
	}
	days := weekdaysIn(w.Opens, w.Closes, loc)
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		if days&(1<<wd) != 0 && sets(w.Who, wd).has(birth) {
			return true
		}
	}
	return false
}

// nextStart returns the first instant at or after `at` inside w at which w
// selects the person.
func nextStart(w vaxbook.Window, birth vaxbook.Date, at time.Time, loc *time.Location) (time.Time, bool) {
	t := w.Opens
	if at.After(t) {
		t = at
	}
	for i := 0; i < 8 && t.Before(w.Closes); i++ {
		if selects(w, birth, t, loc) {
			return t, true
		}
		if !usesWeekdays(w.Who) {
			break
		}
		t = nextMidnight(t, loc)
	}
	return time.Time{}, false
}

// selectedWeekdays returns the weekdays on which w can select the person,
// or nil when the predicate does not depend on the weekday.
func selectedWeekdays(w vaxbook.Window, birth vaxbook.Date) []time.Weekday {
	if !usesWeekdays(w.Who) {
		return nil
	}
	var days []time.Weekday
	for wd := time.Monday; wd <= time.Monday+6; wd++ {
		if sets(w.Who, wd%7).has(birth) {
			days = append(days, wd%7)
		}
	}
	return days
}
