package seed

import (
	"iter"
	"runtime"
	"sync"

	"vaxbook"
	"vaxbook/pii"
)

// Person returns the registry entry of a citizen: CIHash is the blind index
// of the CI, the name and phone are sealed with aad pii.PersonAAD(c.ID). An
// empty phone is stored as nil.
func Person(c Citizen, keys *pii.Keys) vaxbook.Person {
	aad := pii.PersonAAD(c.ID)
	p := vaxbook.Person{
		ID:          c.ID,
		CIHash:      keys.BlindIndex(c.CI),
		BirthDate:   c.BirthDate,
		Nationality: c.Nationality,
		Sigungu:     c.Sigungu,
		NameSealed:  keys.Seal(c.Name, aad),
	}
	if c.Phone != "" {
		p.PhoneSealed = keys.Seal(c.Phone, aad)
	}
	return p
}

// People streams the registry entries of citizens first…last (inclusive) in
// id order. Generation runs on all cores in batches, ahead of the consumer
// by a bounded amount; stopping the iteration early stops the workers.
func (g *Generator) People(keys *pii.Keys, first, last int64) iter.Seq2[vaxbook.Person, error] {
	return func(yield func(vaxbook.Person, error) bool) {
		if last < first {
			return
		}
		const batch = 2048
		n := last - first + 1
		batches := int((n + batch - 1) / batch)
		workers := min(runtime.GOMAXPROCS(0), batches)
		if workers <= 1 {
			for id := first; id <= last; id++ {
				if !yield(Person(g.Citizen(id), keys), nil) {
					return
				}
			}
			return
		}
		done := make(chan struct{})
		var wg sync.WaitGroup
		outs := make([]chan []vaxbook.Person, workers)
		for w := range workers {
			outs[w] = make(chan []vaxbook.Person, 2)
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				defer close(outs[w])
				for b := w; b < batches; b += workers {
					lo := first + int64(b)*batch
					hi := min(lo+batch-1, last)
					ps := make([]vaxbook.Person, 0, hi-lo+1)
					for id := lo; id <= hi; id++ {
						ps = append(ps, Person(g.Citizen(id), keys))
					}
					select {
					case outs[w] <- ps:
					case <-done:
						return
					}
				}
			}(w)
		}
		defer wg.Wait()
		defer close(done)
		for b := 0; b < batches; b++ {
			for _, p := range <-outs[b%workers] {
				if !yield(p, nil) {
					return
				}
			}
		}
	}
}

// Dataset returns the whole synthetic country for Load: the campaign, the
// regions, Config.Clinics clinics, their supply for the expected group
// size, and Config.People people streamed (ids 1…People).
func (g *Generator) Dataset(keys *pii.Keys) (vaxbook.Dataset, error) {
	clinics, err := g.Clinics()
	if err != nil {
		return vaxbook.Dataset{}, err
	}
	slots, quotas := g.Supply(clinics)
	return vaxbook.Dataset{
		Campaigns: []vaxbook.Campaign{g.camp},
		Regions:   g.Regions(),
		Clinics:   clinics,
		Slots:     slots,
		Quotas:    quotas,
		People:    g.People(keys, 1, int64(g.cfg.People)),
	}, nil
}
