package campaign

import (
	"time"

	"vaxbook"
)

// Cohort returns the quota row of the person's dose-1 places during the
// rotation: the last digit of the birth day (Quota.Cohort "birth_day_digit")
// or of the birth year ("birth_year_digit"), 0–9; vaxbook.CohortPool for
// "none".
func Cohort(c vaxbook.Campaign, birth vaxbook.Date) int {
	switch c.Quota.Cohort {
	case vaxbook.CohortBirthDayDigit:
		return birth.Day % 10
	case vaxbook.CohortBirthYearDigit:
		return lastDigit(birth.Year)
	}
	return vaxbook.CohortPool
}

// Pooled reports whether, at instant at, the cohorts' remainders are pooled
// (at is not before Quota.PoolFrom). Always true for cohort rule "none".
func Pooled(c vaxbook.Campaign, at time.Time) bool {
	if c.Quota.Cohort == vaxbook.CohortNone || c.Quota.Cohort == "" {
		return true
	}
	return !at.Before(c.Quota.PoolFrom)
}

// Dose1Cohorts returns the quota rows a dose-1 booking made at instant at may
// take a place from: [Cohort] before pooling; once pooled, every row
// 0…vaxbook.CohortPool in ascending order (never vaxbook.CohortDose2). The
// engine decides the order in which it tries them.
func Dose1Cohorts(c vaxbook.Campaign, birth vaxbook.Date, at time.Time) []int {
	if !Pooled(c, at) {
		return []int{Cohort(c, birth)}
	}
	rows := make([]int, vaxbook.CohortPool+1)
	for r := range rows {
		rows[r] = r
	}
	return rows
}

// Dose1Dates returns the dates a dose-1 appointment may fall on: the
// vaccination range, minus its last DoseIntervalDays days with two doses (so
// that dose 2 also falls inside the range).
func Dose1Dates(c vaxbook.Campaign) vaxbook.DateRange {
	r := c.Vaccination
	if c.Doses == 2 {
		r.To = r.To.AddDays(-c.DoseIntervalDays)
	}
	return r
}
