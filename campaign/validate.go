package campaign

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"vaxbook"
)

// Validate returns nil for a usable campaign, or errors.Join of every
// problem found, one per line, each naming where it is (a field path such as
// `windows[3] "rotation-2021-08-12".closes`) and what is wrong:
//
//   - id missing; time_zone missing or unknown;
//   - group: a date missing, born_from after born_to, no nationality, a
//     nationality other than KR or FOREIGN;
//   - windows: none; an id missing or used twice; a kind other than rotation
//     or open; opens or closes missing; closes not after opens; a predicate
//     of unknown kind, with digits outside 0–9, unknown weekday names, empty
//     lists, fields its kind does not use, or that selects nobody;
//   - two rotation windows that overlap in time and can select the same
//     person (open windows may overlap anything);
//   - doses other than 1 or 2; two doses without a positive
//     dose_interval_days;
//   - vaccination: a date missing, from after to, or no dose-1 date left once
//     the dose interval is kept free at the end;
//   - quota: a cohort rule other than birth_day_digit, birth_year_digit or
//     none; a cohort rule other than none without pool_from;
//   - pre_queue negative.
func Validate(c vaxbook.Campaign) error {
	var v validator
	if strings.TrimSpace(c.ID) == "" {
		v.add("id: missing; give the campaign a name such as \"kr-2021-18-49\"")
	}
	loc, err := loadLocation(c.TimeZone)
	if err != nil {
		v.add(err.Error())
		loc = location(c)
	}
	v.group(c.Group)
	v.windows(c, loc)
	v.doses(c)
	v.quota(c.Quota)
	if c.PreQueue < 0 {
		v.addf("pre_queue: %s is negative", time.Duration(c.PreQueue))
	}
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) add(msg string) { v.errs = append(v.errs, errors.New(msg)) }

func (v *validator) addf(format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf(format, args...))
}

func (v *validator) group(g vaxbook.Group) {
	if g.BornFrom.IsZero() {
		v.add("group.born_from: missing; give the first birth date of the group (YYYY-MM-DD)")
	}
	if g.BornTo.IsZero() {
		v.add("group.born_to: missing; give the last birth date of the group (YYYY-MM-DD)")
	}
	if !g.BornFrom.IsZero() && !g.BornTo.IsZero() && g.BornFrom.After(g.BornTo) {
		v.addf("group: born_from %s is after born_to %s", g.BornFrom, g.BornTo)
	}
	if len(g.Nationalities) == 0 {
		v.add("group.nationalities: empty; list \"KR\", \"FOREIGN\" or both")
	}
	for i, n := range g.Nationalities {
		if n != vaxbook.National && n != vaxbook.RegisteredAlien {
			v.addf("group.nationalities[%d]: unknown nationality %q; want \"KR\" or \"FOREIGN\"", i, n)
		}
	}
}

func windowName(i int, w vaxbook.Window) string {
	if w.ID == "" {
		return fmt.Sprintf("windows[%d]", i)
	}
	return fmt.Sprintf("windows[%d] %q", i, w.ID)
}

func (v *validator) windows(c vaxbook.Campaign, loc *time.Location) {
	if len(c.Windows) == 0 {
		v.add("windows: none; a campaign needs at least one booking window")
		return
	}
	seen := map[string]int{}
	usable := make([]bool, len(c.Windows)) // times and predicate are sound
	for i, w := range c.Windows {
		name := windowName(i, w)
		switch {
		case strings.TrimSpace(w.ID) == "":
			v.addf("%s.id: missing", name)
		default:
			if j, dup := seen[w.ID]; dup {
				v.addf("%s.id: also the id of windows[%d]; window ids must be unique", name, j)
			} else {
				seen[w.ID] = i
			}
		}
		switch w.Kind {
		case vaxbook.WindowRotation, vaxbook.WindowOpen:
		case "":
			v.addf("%s.kind: missing; want \"rotation\" or \"open\"", name)
		default:
			v.addf("%s.kind: unknown kind %q; want \"rotation\" or \"open\"", name, w.Kind)
		}
		ok := true
		if w.Opens.IsZero() {
			v.addf("%s.opens: missing; give an RFC 3339 time with offset", name)
			ok = false
		}
		if w.Closes.IsZero() {
			v.addf("%s.closes: missing; give an RFC 3339 time with offset", name)
			ok = false
		}
		if ok && !w.Closes.After(w.Opens) {
			v.addf("%s: closes %s is not after opens %s; a window must end after it opens",
				name, w.Closes.Format(time.RFC3339), w.Opens.Format(time.RFC3339))
			ok = false
		}
		n := len(v.errs)
		v.predicate(name+".who", w.Who)
		if len(v.errs) == n {
			if nobody(w.Who) {
				v.addf("%s.who: selects nobody (the conditions under \"all\" contradict each other)", name)
			}
		} else {
			ok = false
		}
		usable[i] = ok
	}
	gs := groupSets(c.Group)
	for i, a := range c.Windows {
		if !usable[i] || a.Kind != vaxbook.WindowRotation {
			continue
		}
		for j := i + 1; j < len(c.Windows); j++ {
			b := c.Windows[j]
			if !usable[j] || b.Kind != vaxbook.WindowRotation {
				continue
			}
			from, to := later(a.Opens, b.Opens), earlier(a.Closes, b.Closes)
			if !from.Before(to) {
				continue
			}
			days := weekdaysIn(from, to, loc)
			for wd := time.Sunday; wd <= time.Saturday; wd++ {
				if days&(1<<wd) == 0 {
					continue
				}
				if s := sets(a.Who, wd).and(sets(b.Who, wd)).and(gs); !s.empty() {
					v.addf("%s and %s: rotation windows overlap from %s to %s and can both select %s; "+
						"rotation windows must not overlap for the same person (make one of them \"open\")",
						windowName(i, a), windowName(j, b), from.In(loc).Format(time.RFC3339), to.In(loc).Format(time.RFC3339), describe(s))
					break
				}
			}
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// describe says which people a digit set selects.
func describe(s digitSets) string {
	var parts []string
	if s.day != allDigits {
		parts = append(parts, "people born on a day ending in "+digitList(s.day))
	}
	if s.year != allDigits {
		parts = append(parts, "people born in a year ending in "+digitList(s.year))
	}
	if len(parts) == 0 {
		return "everyone"
	}
	return strings.Join(parts, " and ")
}

func digitList(m uint16) string {
	var ds []string
	for d := 0; d <= 9; d++ {
		if m&(1<<d) != 0 {
			ds = append(ds, fmt.Sprint(d))
		}
	}
	if len(ds) == 1 {
		return ds[0]
	}
	return strings.Join(ds[:len(ds)-1], ", ") + " or " + ds[len(ds)-1]
}

// groupSets returns the birth digits that occur in the group (all digits
// unless the range is short).
func groupSets(g vaxbook.Group) digitSets {
	s := digitSets{allDigits, allDigits}
	if g.BornFrom.IsZero() || g.BornTo.IsZero() || g.BornFrom.After(g.BornTo) {
		return s
	}
	if g.BornTo.Year-g.BornFrom.Year < 9 {
		s.year = 0
		for y := g.BornFrom.Year; y <= g.BornTo.Year; y++ {
			s.year |= 1 << lastDigit(y)
		}
	}
	if g.BornFrom.DaysUntil(g.BornTo) < 40 {
		s.day = 0
		for d := g.BornFrom; !d.After(g.BornTo); d = d.AddDays(1) {
			s.day |= 1 << (d.Day % 10)
		}
	}
	return s
}

// nobody reports whether p selects no one on any weekday.
func nobody(p vaxbook.Predicate) bool {
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		if !sets(p, wd).empty() {
			return false
		}
	}
	return true
}

var predicateKinds = []string{
	vaxbook.PredicateAny, vaxbook.PredicateBirthDayDigit, vaxbook.PredicateBirthYearDigit,
	vaxbook.PredicateWeekdays, vaxbook.PredicateAll,
}

func (v *validator) predicate(where string, p vaxbook.Predicate) {
	kinds := strings.Join(predicateKinds, ", ")
	if p.Kind == "" {
		v.addf("%s.kind: missing; want one of %s", where, kinds)
		return
	}
	if !slices.Contains(predicateKinds, p.Kind) {
		v.addf("%s.kind: unknown predicate %q; want one of %s", where, p.Kind, kinds)
		return
	}
	digits := p.Kind == vaxbook.PredicateBirthDayDigit || p.Kind == vaxbook.PredicateBirthYearDigit
	if !digits && p.Digits != nil {
		v.addf("%s.digits: not used by predicate %q; remove it or change the kind", where, p.Kind)
	}
	if p.Kind != vaxbook.PredicateWeekdays && p.Weekdays != nil {
		v.addf("%s.weekdays: not used by predicate %q; remove it or change the kind", where, p.Kind)
	}
	if p.Kind != vaxbook.PredicateAll && p.All != nil {
		v.addf("%s.all: not used by predicate %q; remove it or change the kind", where, p.Kind)
	}
	switch p.Kind {
	case vaxbook.PredicateBirthDayDigit, vaxbook.PredicateBirthYearDigit:
		if len(p.Digits) == 0 {
			v.addf("%s.digits: empty; list the last digits (0–9) this window is for", where)
		}
		for i, d := range p.Digits {
			if d < 0 || d > 9 {
				v.addf("%s.digits[%d]: %d is not a digit 0–9", where, i, d)
			}
		}
	case vaxbook.PredicateWeekdays:
		if len(p.Weekdays) == 0 {
			v.addf("%s.weekdays: empty; list days such as \"mon\", \"tue\"", where)
		}
		for i, n := range p.Weekdays {
			if _, ok := weekdayNames[n]; !ok {
				v.addf("%s.weekdays[%d]: unknown weekday %q; want one of %s", where, i, n, strings.Join(weekdayOrder, ", "))
			}
		}
	case vaxbook.PredicateAll:
		if len(p.All) == 0 {
			v.addf("%s.all: empty; list the predicates that must all hold", where)
		}
		for i, q := range p.All {
			v.predicate(fmt.Sprintf("%s.all[%d]", where, i), q)
		}
	}
}

func (v *validator) doses(c vaxbook.Campaign) {
	switch c.Doses {
	case 1:
	case 2:
		if c.DoseIntervalDays <= 0 {
			v.addf("dose_interval_days: %d; with 2 doses give the days between them (positive, e.g. 28)", c.DoseIntervalDays)
		}
	default:
		v.addf("doses: %d; want 1 or 2", c.Doses)
	}
	r := c.Vaccination
	if r.From.IsZero() {
		v.add("vaccination.from: missing; give the first vaccination date (YYYY-MM-DD)")
	}
	if r.To.IsZero() {
		v.add("vaccination.to: missing; give the last vaccination date (YYYY-MM-DD)")
	}
	if r.From.IsZero() || r.To.IsZero() {
		return
	}
	if r.From.After(r.To) {
		v.addf("vaccination: from %s is after to %s", r.From, r.To)
		return
	}
	if c.Doses == 2 && c.DoseIntervalDays > 0 {
		if d := Dose1Dates(c); d.From.After(d.To) {
			v.addf("vaccination: %s…%s leaves no dose-1 date: dose 2 comes %d days after dose 1 and must fall on or before %s",
				r.From, r.To, c.DoseIntervalDays, r.To)
		}
	}
}

var cohortRules = []string{vaxbook.CohortBirthDayDigit, vaxbook.CohortBirthYearDigit, vaxbook.CohortNone}

func (v *validator) quota(q vaxbook.QuotaPolicy) {
	switch {
	case q.Cohort == "":
		v.addf("quota.cohort: missing; want one of %s", strings.Join(cohortRules, ", "))
	case !slices.Contains(cohortRules, q.Cohort):
		v.addf("quota.cohort: unknown cohort rule %q; want one of %s", q.Cohort, strings.Join(cohortRules, ", "))
	case q.Cohort != vaxbook.CohortNone && q.PoolFrom.IsZero():
		v.addf("quota.pool_from: missing; with cohort rule %q say when the cohorts' remainders pool (RFC 3339)", q.Cohort)
	}
}
