package seed

import (
	"context"
	"fmt"
	"io"
	"iter"

	"vaxbook"
	"vaxbook/pii"
)

// Store is what Run needs of a store: vaxbook.Store has it all.
type Store interface {
	vaxbook.Loader
	Campaign(ctx context.Context, id string) (vaxbook.Campaign, error)
	Clinics(ctx context.Context) ([]vaxbook.Clinic, error)
}

// Plan says what Run writes.
type Plan struct {
	Config   Config // synthetic people and clinics (Config.People, Config.Clinics, …)
	Campaign vaxbook.Campaign
	Keys     *pii.Keys
	// Clinics, if not nil, are imported clinics (from ReadClinics) used
	// instead of generated ones; Run assigns their ids.
	Clinics []vaxbook.Clinic
	// People, if not nil, are imported people used instead of generated ones.
	People *PeopleImport
	// Force allows writing into a store that already holds data: only what
	// is missing is added (see Run).
	Force bool
}

// PeopleImport is a people CSV that CheckPeople accepted.
type PeopleImport struct {
	Name  string                        // file name, for messages
	Open  func() (io.ReadCloser, error) // opens the file again for streaming
	Check PeopleCheck                   // what CheckPeople found
}

// Report is what Run wrote (rows added per table).
type Report struct {
	Campaigns, Regions, Clinics, Slots, Quotas, People int64
	// Eligible is the group size the new supply was sized for.
	Eligible int
}

// Run writes a synthetic country (or imported clinics and people) into
// store in one Load call: all of it or, on any error, nothing.
//
// Into an empty store it writes the campaign, the 250 regions, the clinics
// (Plan.Clinics or Config.Clinics generated ones), their supply, and the
// people (Plan.People or Config.People generated ones), with ids from 1.
//
// A store that holds anything is refused (CodeConflict) unless Plan.Force.
// With Force only what is missing is added, with ids after the existing
// rows (Run assumes ids 1…count, which is what it writes): the campaign if
// the store does not have it, with supply at every clinic; regions if there
// are none; imported clinics (with their share of the campaign's supply) or,
// if the store has no clinic, generated ones; imported people or, if the
// store has nobody, generated ones. Supply is sized when the campaign is
// created: for people added later it is not grown.
func Run(ctx context.Context, store Store, p Plan) (Report, error) {
	if p.Keys == nil {
		return Report{}, vaxbook.Errorf(vaxbook.CodeInvalid, "seed: no personal-data keys")
	}
	g, err := NewGenerator(p.Config, p.Campaign)
	if err != nil {
		return Report{}, err
	}
	counts, err := store.Counts(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("seed: %w", err)
	}
	if (counts != vaxbook.StoreCounts{}) && !p.Force {
		return Report{}, vaxbook.Errorf(vaxbook.CodeConflict,
			"the store already holds data (campaigns: %d, clinics: %d, slots: %d, people: %d); use --force to add only what is missing",
			counts.Campaigns, counts.Clinics, counts.Slots, counts.People)
	}
	var ds vaxbook.Dataset
	var rep Report

	newCampaign := true
	if counts.Campaigns > 0 {
		_, err := store.Campaign(ctx, p.Campaign.ID)
		switch vaxbook.ErrorCode(err) {
		case "":
			newCampaign = false
		case vaxbook.CodeNotFound:
		default:
			return Report{}, fmt.Errorf("seed: %w", err)
		}
	}
	if newCampaign {
		ds.Campaigns = []vaxbook.Campaign{p.Campaign}
	}
	if counts.Regions == 0 {
		ds.Regions = g.Regions()
	}

	// Clinics: the new ones, and all of them for a new campaign's supply.
	var existing []vaxbook.Clinic
	if counts.Clinics > 0 && (newCampaign || p.Clinics != nil) {
		if existing, err = store.Clinics(ctx); err != nil {
			return Report{}, fmt.Errorf("seed: %w", err)
		}
	}
	switch {
	case p.Clinics != nil:
		ds.Clinics = make([]vaxbook.Clinic, len(p.Clinics))
		for i, c := range p.Clinics {
			c.ID = counts.Clinics + int64(i) + 1
			ds.Clinics[i] = c
		}
	case counts.Clinics == 0:
		if ds.Clinics, err = g.Clinics(); err != nil {
			return Report{}, err
		}
	}

	// People.
	var added int64
	switch {
	case p.People != nil:
		added = int64(p.People.Check.Rows)
		ds.People = p.People.stream(p.Keys, counts.People+1)
		rep.Eligible = p.People.Check.InGroup
	case counts.People == 0:
		added = int64(p.Config.People)
		ds.People = g.People(p.Keys, 1, added)
		rep.Eligible = g.Eligible()
	}

	// Supply: a new campaign at every clinic; otherwise only the new clinics
	// get their share of the campaign's (existing) plan.
	all := append(append([]vaxbook.Clinic(nil), existing...), ds.Clinics...)
	eligible := rep.Eligible + g.EligibleOf(int(counts.People))
	rep.Eligible = eligible
	if newCampaign || len(ds.Clinics) > 0 {
		slots, quotas := g.SupplyFor(all, eligible)
		if !newCampaign {
			slots, quotas = onlyClinics(slots, quotas, ds.Clinics)
		}
		offsetSlots(slots, quotas, counts.Slots)
		ds.Slots, ds.Quotas = slots, quotas
	}

	rep.Campaigns = int64(len(ds.Campaigns))
	rep.Regions = int64(len(ds.Regions))
	rep.Clinics = int64(len(ds.Clinics))
	rep.Slots = int64(len(ds.Slots))
	rep.Quotas = int64(len(ds.Quotas))
	rep.People = added
	if rep == (Report{Eligible: rep.Eligible}) {
		return rep, nil
	}
	if err := store.Load(ctx, ds); err != nil {
		return Report{}, fmt.Errorf("seed: load: %w", err)
	}
	return rep, nil
}

// onlyClinics keeps the slots (and their quota rows) of the given clinics.
func onlyClinics(slots []vaxbook.Slot, quotas []vaxbook.Quota, clinics []vaxbook.Clinic) ([]vaxbook.Slot, []vaxbook.Quota) {
	keep := map[int64]bool{}
	for _, c := range clinics {
		keep[c.ID] = true
	}
	newID := map[int64]int64{}
	var s2 []vaxbook.Slot
	for _, s := range slots {
		if keep[s.ClinicID] {
			newID[s.ID] = int64(len(s2) + 1)
			s.ID = newID[s.ID]
			s2 = append(s2, s)
		}
	}
	var q2 []vaxbook.Quota
	for _, q := range quotas {
		if id, ok := newID[q.SlotID]; ok {
			q.SlotID = id
			q2 = append(q2, q)
		}
	}
	return s2, q2
}

func offsetSlots(slots []vaxbook.Slot, quotas []vaxbook.Quota, by int64) {
	for i := range slots {
		slots[i].ID += by
	}
	for i := range quotas {
		quotas[i].SlotID += by
	}
}

// stream reads the file again, closing it at the end.
func (pi *PeopleImport) stream(keys *pii.Keys, firstID int64) iter.Seq2[vaxbook.Person, error] {
	return func(yield func(vaxbook.Person, error) bool) {
		f, err := pi.Open()
		if err != nil {
			yield(vaxbook.Person{}, fmt.Errorf("%s: %w", pi.Name, err))
			return
		}
		defer f.Close()
		for p, err := range ReadPeople(f, pi.Name, keys, firstID) {
			if !yield(p, err) || err != nil {
				return
			}
		}
	}
}
