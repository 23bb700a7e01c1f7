package seed

import (
	"cmp"
	"math"
	"slices"
	"time"

	"vaxbook"
	"vaxbook/campaign"
)

// Opening hours of the generated slots (local time, the campaign's zone):
// hourly starts from FirstHour to LastHour inclusive.
const (
	FirstHour = 9
	LastHour  = 17
	hours     = LastHour - FirstHour + 1
)

// MinSlotPlaces is the fewest places a clinic-day's capacity is split into
// per slot (so that a slot can be shared by the 10 rotation cohorts); a
// clinic-day with less than that has one slot.
const MinSlotPlaces = 10

// Eligible returns the expected number of generated people in the
// campaign's group: People × (1 − out-of-group share) × the share of
// allowed nationalities.
func (g *Generator) Eligible() int {
	return g.EligibleOf(g.cfg.People)
}

// EligibleOf is Eligible for a population of n generated people.
func (g *Generator) EligibleOf(n int) int {
	nat := 0.0
	for _, x := range g.camp.Group.Nationalities {
		switch x {
		case vaxbook.National:
			nat += 1 - g.cfg.ForeignShare
		case vaxbook.RegisteredAlien:
			nat += g.cfg.ForeignShare
		}
	}
	return int(math.Round(float64(n) * (1 - g.oog) * nat))
}

// Dose1Days returns the dates dose-1 slots are created on (see
// campaign.Dose1Dates).
func (g *Generator) Dose1Days() []vaxbook.Date {
	r := campaign.Dose1Dates(g.camp)
	var out []vaxbook.Date
	for d := r.From; !d.After(r.To); d = d.AddDays(1) {
		out = append(out, d)
	}
	return out
}

// Supply is SupplyFor(clinics, Eligible()).
func (g *Generator) Supply(clinics []vaxbook.Clinic) ([]vaxbook.Slot, []vaxbook.Quota) {
	return g.SupplyFor(clinics, g.Eligible())
}

// SupplyFor creates the campaign's slots and quota rows at the given clinics
// for a group of eligible people (the model the booking engine relies on):
//
//   - Total dose-1 capacity is round(SupplyFactor × eligible), divided evenly
//     over the dose-1 days (days differ by at most one place) and, each day,
//     over the clinics in proportion to their district's population share
//     divided by the number of the given clinics in that district (largest
//     remainder, carrying each clinic's rounding over to the next day, so a
//     clinic's total stays within one place of its exact share).
//   - A clinic-day's capacity C is spread over min(9, max(1, C/10)) hourly
//     slots between 09:00 and 17:00 local time (evenly spaced, at an offset
//     drawn per clinic and day); slots get C/n places, the first C mod n one
//     more. Only slots with capacity are created.
//   - Each dose-1 slot gets quota rows: with a cohort policy, rows 0–9 with
//     floor(C/10) places each and the C mod 10 remaining places given to the
//     next cohorts in a rotation that runs across all slots in id order (so
//     national totals per cohort, and per cohort and day, differ by at most
//     one); with policy "none", one CohortPool row of C.
//   - Two-dose campaigns: each dose-1 slot has a dose-2 slot at the same
//     clinic, DoseIntervalDays later at the same local time (created unless a
//     slot is already there) whose CohortDose2 row holds the dose-1 slot's C.
//
// Slot ids are 1…n ordered by (StartsAt, ClinicID); quota rows are ordered
// by slot, then cohort, with Booked 0.
func (g *Generator) SupplyFor(clinics []vaxbook.Clinic, eligible int) ([]vaxbook.Slot, []vaxbook.Quota) {
	days := g.Dose1Days()
	if len(days) == 0 || len(clinics) == 0 {
		return nil, nil
	}
	total := int(math.Round(g.cfg.SupplyFactor * float64(max(eligible, 0))))
	perDay := apportion(total, slices.Repeat([]float64{1}, len(days)), 0)

	inDistrict := map[string]int{}
	for _, c := range clinics {
		inDistrict[c.SigunguCode]++
	}
	w := make([]float64, len(clinics))
	for i, c := range clinics {
		share := g.DistrictShare(c.SigunguCode)
		if share == 0 {
			share = 1 / float64(len(g.regions))
		}
		w[i] = share / float64(inDistrict[c.SigunguCode])
	}

	type slot struct {
		clinic int64
		at     time.Time
		dose1  int // places for dose 1 (0: a dose-2-only slot)
		dose2  int // places reserved for dose 2
	}
	var slots []*slot
	type key struct {
		clinic int64
		unix   int64
	}
	byKey := map[key]*slot{}
	carry := make([]float64, len(clinics))
	for di, day := range days {
		caps := apportionCarry(perDay[di], w, carry, di*len(clinics)/len(days))
		for ci, c := range clinics {
			cap := caps[ci]
			if cap <= 0 {
				continue
			}
			n := min(hours, max(1, cap/MinSlotPlaces))
			off := int(mix64(g.cfg.Seed^streamHours^uint64(c.ID)<<20^uint64(di)) % hours)
			for k := 0; k < n; k++ {
				h := FirstHour + (off+k*hours/n)%hours
				s := &slot{clinic: c.ID, at: time.Date(day.Year, day.Month, day.Day, h, 0, 0, 0, g.loc), dose1: cap / n}
				if k < cap%n {
					s.dose1++
				}
				slots = append(slots, s)
				byKey[key{c.ID, s.at.Unix()}] = s
			}
		}
	}
	if g.camp.Doses == 2 {
		for _, s := range slots[:len(slots):len(slots)] {
			if s.dose1 == 0 {
				continue
			}
			y, m, d := s.at.Date()
			at2 := time.Date(y, m, d+g.camp.DoseIntervalDays, s.at.Hour(), s.at.Minute(), 0, 0, g.loc)
			k := key{s.clinic, at2.Unix()}
			t := byKey[k]
			if t == nil {
				t = &slot{clinic: s.clinic, at: at2}
				byKey[k] = t
				slots = append(slots, t)
			}
			t.dose2 += s.dose1
		}
	}
	slices.SortFunc(slots, func(a, b *slot) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.clinic, b.clinic))
	})

	outSlots := make([]vaxbook.Slot, len(slots))
	rows := 0
	for _, s := range slots {
		if s.dose1 > 0 {
			rows += vaxbook.Cohorts
		}
		if s.dose2 > 0 {
			rows++
		}
	}
	quotas := make([]vaxbook.Quota, 0, rows)
	byCohort := g.camp.Quota.Cohort != vaxbook.CohortNone && g.camp.Quota.Cohort != ""
	rot := 0
	for i, s := range slots {
		id := int64(i + 1)
		outSlots[i] = vaxbook.Slot{ID: id, CampaignID: g.camp.ID, ClinicID: s.clinic, StartsAt: s.at}
		if s.dose1 > 0 {
			if byCohort {
				base, rem := s.dose1/vaxbook.Cohorts, s.dose1%vaxbook.Cohorts
				for c := 0; c < vaxbook.Cohorts; c++ {
					n := base
					if (c-rot+vaxbook.Cohorts)%vaxbook.Cohorts < rem {
						n++
					}
					quotas = append(quotas, vaxbook.Quota{SlotID: id, Cohort: c, Capacity: n})
				}
				rot = (rot + rem) % vaxbook.Cohorts
			} else {
				quotas = append(quotas, vaxbook.Quota{SlotID: id, Cohort: vaxbook.CohortPool, Capacity: s.dose1})
			}
		}
		if s.dose2 > 0 {
			quotas = append(quotas, vaxbook.Quota{SlotID: id, Cohort: vaxbook.CohortDose2, Capacity: s.dose2})
		}
	}
	return outSlots, quotas
}
