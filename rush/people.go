package rush

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/seed"
)

// The synthetic country is a pure function of its seed configuration
// (seed.Generator.Citizen), so the simulator knows every person's birth date,
// home district and eligibility without reading the database.

// Population is who takes part in a rush.
type Population struct {
	// Cohort are people eligible in the rush's window (the rotation day
	// that opens), in id order.
	Cohort []int64
	// WrongDay are people of the campaign's group whose day it is not.
	WrongDay []int64
	// Scanned is how many ids were looked at.
	Scanned int64
}

// SelectPeople scans ids 1…maxID of the country and returns the first
// cohort people eligible in window w and the first wrongDay people of the
// group who may not book in it (their own day is another). It uses every
// core; the result does not depend on how many there are.
func SelectPeople(gen *seed.Generator, c vaxbook.Campaign, w vaxbook.Window, cohort, wrongDay int, maxID int64) Population {
	at := w.Opens.Add(time.Second)
	const chunk = 1 << 14
	type part struct {
		cohort, wrong []int64
	}
	workers := max(1, runtime.GOMAXPROCS(0))
	var pop Population
	var next int64 = 1
	for next <= maxID && (len(pop.Cohort) < cohort || len(pop.WrongDay) < wrongDay) {
		// One round: workers chunks in parallel, merged in id order.
		parts := make([]part, workers)
		var wg sync.WaitGroup
		for k := range workers {
			from := next + int64(k)*chunk
			if from > maxID {
				break
			}
			to := min(from+chunk-1, maxID)
			wg.Add(1)
			go func() {
				defer wg.Done()
				var p part
				for id := from; id <= to; id++ {
					ct := gen.Citizen(id)
					d := campaign.Check(c, ct.BirthDate, ct.Nationality, at)
					switch {
					case d.Eligible && d.Window != nil && d.Window.ID == w.ID:
						p.cohort = append(p.cohort, id)
					case d.Code == vaxbook.CodeOtherDay || d.Code == vaxbook.CodeNotOpenYet:
						p.wrong = append(p.wrong, id)
					}
				}
				parts[k] = p
			}()
		}
		wg.Wait()
		for _, p := range parts {
			for _, id := range p.cohort {
				if len(pop.Cohort) < cohort {
					pop.Cohort = append(pop.Cohort, id)
				}
			}
			for _, id := range p.wrong {
				if len(pop.WrongDay) < wrongDay {
					pop.WrongDay = append(pop.WrongDay, id)
				}
			}
		}
		next += int64(workers) * chunk
	}
	pop.Scanned = min(next-1, maxID)
	return pop
}

// CountryFor returns how many people a demo country needs so that every
// rotation day has at least cohort people eligible (and wrongDay people of
// other days exist), estimated from a sample of the generator's people plus
// a margin.
func CountryFor(cfg seed.Config, c vaxbook.Campaign, cohort int) (int, error) {
	probe := cfg
	probe.People = seed.MaxPeople
	gen, err := seed.NewGenerator(probe, c)
	if err != nil {
		return 0, err
	}
	var rot []vaxbook.Window
	for _, w := range c.Windows {
		if w.Kind == vaxbook.WindowRotation {
			rot = append(rot, w)
		}
	}
	if len(rot) == 0 {
		return 0, fmt.Errorf("campaign %s has no rotation window", c.ID)
	}
	const sample = 40_000
	counts := make([]int, len(rot))
	for id := int64(1); id <= sample; id++ {
		ct := gen.Citizen(id)
		for i, w := range rot {
			if campaign.Check(c, ct.BirthDate, ct.Nationality, w.Opens.Add(time.Second)).Eligible {
				counts[i]++
			}
		}
	}
	least := counts[0]
	for _, n := range counts {
		least = min(least, n)
	}
	if least == 0 {
		return 0, fmt.Errorf("campaign %s: a rotation day has nobody in a sample of %d people", c.ID, sample)
	}
	share := float64(least) / sample
	n := int(math.Ceil(float64(cohort)/share*1.04)) + 2_000
	if n > seed.MaxPeople {
		return 0, fmt.Errorf("%d people on one rotation day need a country of %d, more than the generator's %d", cohort, n, seed.MaxPeople)
	}
	return n, nil
}
