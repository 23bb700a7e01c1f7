package vaxbook

import (
	"time"
)

// Campaign is a national booking campaign described as data: who may book,
// when (windows with predicates), what can be booked (vaccination dates,
// doses) and how supply is shared (quota policy). Campaigns are loaded from
// JSON files (see package campaign and the campaigns/ directory); every time
// is absolute (RFC 3339 with an offset) and TimeZone says how to show times
// to people.
type Campaign struct {
	ID       string            `json:"id"`
	Title    map[string]string `json:"title"`     // by language tag: "ko", "en"
	TimeZone string            `json:"time_zone"` // IANA name, e.g. "Asia/Seoul"
	Group    Group             `json:"group"`
	Windows  []Window          `json:"windows"`
	// Vaccination is the inclusive range of appointment dates (in TimeZone).
	Vaccination DateRange `json:"vaccination"`
	// Doses is 1 or 2. With 2, booking dose 1 also books dose 2 at the same
	// clinic and time of day, DoseIntervalDays later.
	Doses            int         `json:"doses"`
	DoseIntervalDays int         `json:"dose_interval_days,omitempty"`
	Quota            QuotaPolicy `json:"quota"`
	// PreQueue is how long before a window opens people may join its
	// pre-queue (default 30 minutes when zero).
	PreQueue Duration `json:"pre_queue,omitempty"`
}

// Group is the eligible population.
type Group struct {
	BornFrom      Date          `json:"born_from"` // inclusive
	BornTo        Date          `json:"born_to"`   // inclusive
	Nationalities []Nationality `json:"nationalities"`
}

// DateRange is an inclusive range of dates.
type DateRange struct {
	From Date `json:"from"`
	To   Date `json:"to"`
}

// Contains reports whether d is within r.
func (r DateRange) Contains(d Date) bool { return !d.Before(r.From) && !d.After(r.To) }

// Window is a period [Opens, Closes) during which the people matching Who may
// book (and change and cancel). Windows may overlap.
type Window struct {
	ID     string    `json:"id"`
	Kind   string    `json:"kind"` // WindowRotation or WindowOpen
	Opens  time.Time `json:"opens"`
	Closes time.Time `json:"closes"` // exclusive
	Who    Predicate `json:"who"`
}

// Window kinds.
const (
	WindowRotation = "rotation" // a rotation day: one cohort, quotas by cohort
	WindowOpen     = "open"     // late booking / changes for the whole group, pooled quotas
)

// Contains reports whether instant t is inside the window.
func (w Window) Contains(t time.Time) bool { return !t.Before(w.Opens) && t.Before(w.Closes) }

// Predicate selects people (and, with weekdays, instants). Kinds:
//
//	any               everyone in the group
//	birth_day_digit   last digit of the birth day ∈ Digits (born on the 9th, 19th, 29th → 9)
//	birth_year_digit  last digit of the birth year ∈ Digits
//	weekdays          the instant's weekday (in the campaign's time zone) ∈ Weekdays
//	all               every predicate in All holds
type Predicate struct {
	Kind     string      `json:"kind"`
	Digits   []int       `json:"digits,omitempty"`
	Weekdays []string    `json:"weekdays,omitempty"` // "mon" … "sun"
	All      []Predicate `json:"all,omitempty"`
}

// Predicate kinds.
const (
	PredicateAny            = "any"
	PredicateBirthDayDigit  = "birth_day_digit"
	PredicateBirthYearDigit = "birth_year_digit"
	PredicateWeekdays       = "weekdays"
	PredicateAll            = "all"
)

// QuotaPolicy says how each slot's capacity is shared. With Cohort set, the
// capacity of every dose-1 slot is split evenly over the Cohorts cohorts (the
// cohort of a person is the last digit given by Cohort); from PoolFrom on, a
// booking may take a place from any cohort's remainder. Cancelled places go
// back to the row they were taken from.
type QuotaPolicy struct {
	Cohort   string    `json:"cohort"` // "birth_day_digit", "birth_year_digit" or "none"
	PoolFrom time.Time `json:"pool_from"`
}

// Quota cohort rules.
const (
	CohortBirthDayDigit  = "birth_day_digit"
	CohortBirthYearDigit = "birth_year_digit"
	CohortNone           = "none"
)

// Quota rows of a slot, by cohort number:
//
//	0–9          dose-1 places of one rotation cohort (the person's birth digit)
//	CohortPool   dose-1 places of no cohort (campaigns with Quota.Cohort "none")
//	CohortDose2  places reserved for dose 2 of people who booked dose 1
//	             DoseIntervalDays earlier at the same clinic and time of day
//
// A dose-1 booking takes from its cohort's row during the rotation and from
// any of rows 0–CohortPool once pooled; a dose-2 booking only from CohortDose2.
const (
	Cohorts     = 10
	CohortPool  = 10
	CohortDose2 = 11
)

// Decision is the eligibility of one person at one instant.
type Decision struct {
	Eligible bool    `json:"eligible"`
	Code     Code    `json:"code"`
	Window   *Window `json:"window,omitempty"` // the window that applies or will apply (nil for not_in_group)
	Message  string  `json:"message"`
}

// Duration is a time.Duration that reads and writes as "30m", "1h30m".
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
