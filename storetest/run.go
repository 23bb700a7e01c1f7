package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"testing"
	"time"

	"vaxbook"
)

// Opener returns a fresh, empty store and registers its cleanup.
type Opener func(t *testing.T) vaxbook.Store

// Run runs every contract suite against stores made by open.
func Run(t *testing.T, open Opener) {
	t.Run("Loader", func(t *testing.T) { RunLoader(t, open) })
	t.Run("Registry", func(t *testing.T) { RunRegistry(t, open) })
	t.Run("Catalog", func(t *testing.T) { RunCatalog(t, open) })
	t.Run("Campaigns", func(t *testing.T) { RunCampaigns(t, open) })
	t.Run("Booking", func(t *testing.T) { RunBooking(t, open) })
	t.Run("Concurrency", func(t *testing.T) { RunConcurrency(t, open) })
	t.Run("Sessions", func(t *testing.T) { RunSessions(t, open) })
	t.Run("DeviceLocks", func(t *testing.T) { RunDeviceLocks(t, open) })
	t.Run("ProviderSwitches", func(t *testing.T) { RunProviderSwitches(t, open) })
	t.Run("Audit", func(t *testing.T) { RunAudit(t, open) })
	t.Run("PingClose", func(t *testing.T) { RunPingClose(t, open) })
}

// Loaded opens a fresh store and loads the fixture into it.
func Loaded(t *testing.T, open Opener) (vaxbook.Store, *Fixture) {
	t.Helper()
	s := open(t)
	f := NewFixture()
	if err := s.Load(context.Background(), f.Dataset()); err != nil {
		t.Fatalf("Load fixture: %v", err)
	}
	return s, f
}

// WantCode fails the test unless err is an *vaxbook.Error with code want.
func WantCode(t *testing.T, err error, want vaxbook.Code) {
	t.Helper()
	var e *vaxbook.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T): want *vaxbook.Error with code %s", err, err, want)
	}
	if e.Code != want {
		t.Fatalf("error code %s (%v): want %s", e.Code, err, want)
	}
}

func ctxT(t *testing.T) context.Context {
	return t.Context()
}

// RunLoader checks Load and Counts.
func RunLoader(t *testing.T, open Opener) {
	t.Run("empty counts", func(t *testing.T) {
		s := open(t)
		c, err := s.Counts(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if c != (vaxbook.StoreCounts{}) {
			t.Fatalf("Counts of an empty store = %+v", c)
		}
	})
	t.Run("counts", func(t *testing.T) {
		s, f := Loaded(t, open)
		c, err := s.Counts(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		want := vaxbook.StoreCounts{Campaigns: 2, Regions: int64(len(f.Regions)), Clinics: int64(len(f.Clinics)),
			Slots: int64(len(f.Slots)), Quotas: int64(len(f.Quotas)), People: People}
		if c != want {
			t.Fatalf("Counts = %+v, want %+v", c, want)
		}
		// ActiveBookings follows Apply.
		at := time.Date(2021, 8, 9, 20, 0, 0, 0, KST)
		mustApply(t, s, BookTwo(1, FirstDose1Slot, at, 1))
		c, err = s.Counts(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if c.ActiveBookings != 2 {
			t.Fatalf("ActiveBookings = %d after one two-dose booking, want 2", c.ActiveBookings)
		}
	})
	boom := errors.New("storetest: people source failed")
	failing := func(n int) iter.Seq2[vaxbook.Person, error] {
		return func(yield func(vaxbook.Person, error) bool) {
			for i := 1; i <= n; i++ {
				if !yield(NewPerson(int64(i)), nil) {
					return
				}
			}
			yield(vaxbook.Person{}, boom)
		}
	}
	dup := func(p []vaxbook.Person) []vaxbook.Person { return append(slices.Clone(p), p[len(p)/2]) }
	dupCI := func(p []vaxbook.Person) []vaxbook.Person {
		q := NewPerson(1000)
		q.CIHash = p[3].CIHash
		return append(slices.Clone(p), q)
	}
	tests := []struct {
		name   string
		mutate func(d *vaxbook.Dataset, f *Fixture)
		is     error
	}{
		{"people sequence fails midway", func(d *vaxbook.Dataset, f *Fixture) { d.People = failing(25) }, boom},
		{"duplicate person id", func(d *vaxbook.Dataset, f *Fixture) { d.People = PeopleSeq(dup(f.People)) }, nil},
		{"duplicate ci hash", func(d *vaxbook.Dataset, f *Fixture) { d.People = PeopleSeq(dupCI(f.People)) }, nil},
		{"duplicate clinic id", func(d *vaxbook.Dataset, f *Fixture) { d.Clinics = append(slices.Clone(f.Clinics), f.Clinics[0]) }, nil},
		{"duplicate quota row", func(d *vaxbook.Dataset, f *Fixture) { d.Quotas = append(slices.Clone(f.Quotas), f.Quotas[5]) }, nil},
	}
	for _, tc := range tests {
		t.Run("all or nothing: "+tc.name, func(t *testing.T) {
			s := open(t)
			f := NewFixture()
			d := f.Dataset()
			tc.mutate(&d, f)
			err := s.Load(ctxT(t), d)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("Load error %v does not wrap %v", err, tc.is)
			}
			c, err := s.Counts(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if c != (vaxbook.StoreCounts{}) {
				t.Fatalf("after a failed Load, Counts = %+v, want all zero", c)
			}
			if _, err := s.PersonByID(ctxT(t), 1); vaxbook.ErrorCode(err) != vaxbook.CodeNotFound {
				t.Fatalf("after a failed Load, PersonByID(1) = %v, want not_found", err)
			}
		})
	}
	t.Run("second load adds, a failing one changes nothing", func(t *testing.T) {
		s, f := Loaded(t, open)
		more := []vaxbook.Person{NewPerson(People + 1), NewPerson(People + 2)}
		if err := s.Load(ctxT(t), vaxbook.Dataset{People: PeopleSeq(more)}); err != nil {
			t.Fatalf("second Load: %v", err)
		}
		bad := vaxbook.Dataset{
			Clinics: []vaxbook.Clinic{{ID: 999, Name: "new", SidoCode: "11", SigunguCode: "11010", Vaccine: "pfizer"}},
			People:  PeopleSeq([]vaxbook.Person{NewPerson(People + 3), NewPerson(1)}), // 1 exists
		}
		if err := s.Load(ctxT(t), bad); err == nil {
			t.Fatal("Load of an existing person id succeeded")
		}
		c, err := s.Counts(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if c.People != People+2 || c.Clinics != int64(len(f.Clinics)) {
			t.Fatalf("Counts = %+v, want %d people and %d clinics", c, People+2, len(f.Clinics))
		}
		if _, err := s.PersonByID(ctxT(t), People+3); vaxbook.ErrorCode(err) != vaxbook.CodeNotFound {
			t.Fatalf("person of the failed Load is there: %v", err)
		}
	})
}

// RunRegistry checks PersonByCIHash and PersonByID.
func RunRegistry(t *testing.T, open Opener) {
	s, f := Loaded(t, open)
	for _, want := range []vaxbook.Person{f.People[0], f.People[6], f.People[People-1]} {
		got, err := s.PersonByCIHash(ctxT(t), CIHash(want.ID))
		if err != nil {
			t.Fatalf("PersonByCIHash(%d): %v", want.ID, err)
		}
		samePerson(t, got, want)
		got, err = s.PersonByID(ctxT(t), want.ID)
		if err != nil {
			t.Fatalf("PersonByID(%d): %v", want.ID, err)
		}
		samePerson(t, got, want)
	}
	_, err := s.PersonByCIHash(ctxT(t), CIHash(People+100))
	WantCode(t, err, vaxbook.CodeNotInRegistry)
	_, err = s.PersonByID(ctxT(t), People+100)
	WantCode(t, err, vaxbook.CodeNotFound)
}

func samePerson(t *testing.T, got, want vaxbook.Person) {
	t.Helper()
	if got.ID != want.ID || !bytes.Equal(got.CIHash, want.CIHash) || got.BirthDate != want.BirthDate ||
		got.Nationality != want.Nationality || got.Sigungu != want.Sigungu ||
		!bytes.Equal(got.NameSealed, want.NameSealed) || !bytes.Equal(got.PhoneSealed, want.PhoneSealed) {
		t.Fatalf("person = %+v, want %+v", got, want)
	}
}

// RunCatalog checks Regions, Clinics and Slots.
func RunCatalog(t *testing.T, open Opener) {
	s, f := Loaded(t, open)
	regions, err := s.Regions(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	wantRegions := slices.Clone(f.Regions)
	slices.SortFunc(wantRegions, func(a, b vaxbook.Region) int {
		return cmpString(a.SigunguCode, b.SigunguCode)
	})
	if !slices.Equal(regions, wantRegions) {
		t.Fatalf("Regions = %+v\nwant %+v", regions, wantRegions)
	}
	clinics, err := s.Clinics(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(clinics, f.Clinics) {
		t.Fatalf("Clinics = %+v\nwant %+v", clinics, f.Clinics)
	}
	for _, c := range []string{CampaignID, PoolCampaignID} {
		got := collectSlots(t, s, c)
		sameSlots(t, got, f.SlotsOf(c))
	}
	if got := collectSlots(t, s, "no-such-campaign"); len(got) != 0 {
		t.Fatalf("Slots of an unknown campaign = %v", got)
	}
	stop := errors.New("stop")
	n := 0
	err = s.Slots(ctxT(t), CampaignID, func(vaxbook.Slot) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("Slots with fn failing at the 3rd: err %v after %d calls, want stop after 3", err, n)
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func collectSlots(t *testing.T, s vaxbook.Store, campaignID string) []vaxbook.Slot {
	t.Helper()
	var out []vaxbook.Slot
	if err := s.Slots(ctxT(t), campaignID, func(sl vaxbook.Slot) error {
		out = append(out, sl)
		return nil
	}); err != nil {
		t.Fatalf("Slots(%s): %v", campaignID, err)
	}
	return out
}

func sameSlots(t *testing.T, got, want []vaxbook.Slot) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d slots, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.CampaignID != w.CampaignID || g.ClinicID != w.ClinicID || !g.StartsAt.Equal(w.StartsAt) {
			t.Fatalf("slot %d = %+v, want %+v", i, g, w)
		}
	}
}

func campaignJSON(t *testing.T, c vaxbook.Campaign) string {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// RunCampaigns checks the CampaignStore.
func RunCampaigns(t *testing.T, open Opener) {
	s, f := Loaded(t, open)
	all, err := s.Campaigns(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	// Ordered by id: "demo-pool" < "kr-2021-18-49".
	if len(all) != 2 || all[0].ID != PoolCampaignID || all[1].ID != CampaignID {
		t.Fatalf("Campaigns = %d campaigns %v, want [%s %s]", len(all), ids(all), PoolCampaignID, CampaignID)
	}
	if got, want := campaignJSON(t, all[1]), campaignJSON(t, f.Campaign); got != want {
		t.Fatalf("campaign round-trip:\n got %s\nwant %s", got, want)
	}
	c, err := s.Campaign(ctxT(t), PoolCampaignID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := campaignJSON(t, c), campaignJSON(t, f.PoolCampaign); got != want {
		t.Fatalf("Campaign(%s):\n got %s\nwant %s", PoolCampaignID, got, want)
	}
	_, err = s.Campaign(ctxT(t), "no-such-campaign")
	WantCode(t, err, vaxbook.CodeNotFound)

	// A booking before the shift stays as it is.
	at := time.Date(2021, 8, 9, 20, 0, 0, 0, KST)
	before := mustApply(t, s, BookTwo(9, FirstDose1Slot, at, 9))

	const delta = 72 * time.Hour
	shifted := KoreaCampaign(CampaignID)
	for i := range shifted.Windows {
		shifted.Windows[i].Opens = shifted.Windows[i].Opens.Add(delta)
		shifted.Windows[i].Closes = shifted.Windows[i].Closes.Add(delta)
	}
	shifted.Quota.PoolFrom = shifted.Quota.PoolFrom.Add(delta)
	shifted.Vaccination = vaxbook.DateRange{From: shifted.Vaccination.From.AddDays(3), To: shifted.Vaccination.To.AddDays(3)}
	if err := s.ShiftCampaign(ctxT(t), shifted, delta); err != nil {
		t.Fatalf("ShiftCampaign: %v", err)
	}
	c, err = s.Campaign(ctxT(t), CampaignID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := campaignJSON(t, c), campaignJSON(t, shifted); got != want {
		t.Fatalf("after ShiftCampaign:\n got %s\nwant %s", got, want)
	}
	wantSlots := f.SlotsOf(CampaignID)
	for i := range wantSlots {
		wantSlots[i].StartsAt = wantSlots[i].StartsAt.Add(delta)
	}
	sameSlots(t, collectSlots(t, s, CampaignID), wantSlots)
	sameSlots(t, collectSlots(t, s, PoolCampaignID), f.SlotsOf(PoolCampaignID)) // other campaign untouched
	after, err := s.Bookings(ctxT(t), 9, CampaignID)
	if err != nil {
		t.Fatal(err)
	}
	sameBookings(t, after, before.Bookings)

	unknown := KoreaCampaign("no-such-campaign")
	WantCode(t, s.ShiftCampaign(ctxT(t), unknown, delta), vaxbook.CodeNotFound)
	all, err = s.Campaigns(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("ShiftCampaign of an unknown campaign added one: %v", ids(all))
	}
}

func ids(cs []vaxbook.Campaign) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// mustApply applies one mutation and fails the test on a batch error or a refusal.
func mustApply(t *testing.T, s vaxbook.Store, m vaxbook.Mutation) vaxbook.Outcome {
	t.Helper()
	o := apply1(t, s, m)
	if o.Err != nil {
		t.Fatalf("%s for person %d refused: %v", m.Kind, m.PersonID, o.Err)
	}
	return o
}

// apply1 applies one mutation and returns its outcome.
func apply1(t *testing.T, s vaxbook.Store, m vaxbook.Mutation) vaxbook.Outcome {
	t.Helper()
	outs, err := s.Apply(ctxT(t), []vaxbook.Mutation{m})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(outs) != 1 {
		t.Fatalf("Apply of 1 mutation returned %d outcomes", len(outs))
	}
	return outs[0]
}

// refused applies one mutation and checks it is refused with code.
func refused(t *testing.T, s vaxbook.Store, m vaxbook.Mutation, code vaxbook.Code) vaxbook.Outcome {
	t.Helper()
	o := apply1(t, s, m)
	if o.Err == nil {
		t.Fatalf("%s for person %d succeeded (%+v), want %s", m.Kind, m.PersonID, o.Bookings, code)
	}
	WantCode(t, o.Err, code)
	if len(o.Bookings) != 0 {
		t.Fatalf("refused outcome carries bookings %+v", o.Bookings)
	}
	return o
}

func sameBooking(a, b vaxbook.Booking) bool {
	return a.ID == b.ID && a.PersonID == b.PersonID && a.CampaignID == b.CampaignID && a.Dose == b.Dose &&
		a.SlotID == b.SlotID && a.Cohort == b.Cohort && a.Status == b.Status && a.Version == b.Version &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func sameBookings(t *testing.T, got, want []vaxbook.Booking) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("bookings:\n got %s\nwant %s", fmtBookings(got), fmtBookings(want))
	}
	for i := range got {
		if !sameBooking(got[i], want[i]) {
			t.Fatalf("bookings:\n got %s\nwant %s", fmtBookings(got), fmtBookings(want))
		}
	}
}

func fmtBookings(bs []vaxbook.Booking) string {
	s := "["
	for _, b := range bs {
		s += fmt.Sprintf(" {id %d person %d %s dose %d slot %d cohort %d %s v%d created %s updated %s}",
			b.ID, b.PersonID, b.CampaignID, b.Dose, b.SlotID, b.Cohort, b.Status, b.Version,
			b.CreatedAt.Format(time.RFC3339Nano), b.UpdatedAt.Format(time.RFC3339Nano))
	}
	return s + " ]"
}

// quotaMap reads every quota row of a campaign.
func quotaMap(t *testing.T, s vaxbook.Store, campaignID string) (map[[2]int64]vaxbook.Quota, int64) {
	t.Helper()
	m := map[[2]int64]vaxbook.Quota{}
	seq, err := s.Quotas(ctxT(t), campaignID, func(q vaxbook.Quota) error {
		m[[2]int64{q.SlotID, int64(q.Cohort)}] = q
		return nil
	})
	if err != nil {
		t.Fatalf("Quotas(%s): %v", campaignID, err)
	}
	return m, seq
}

// bookedOf returns Booked of one quota row.
func bookedOf(t *testing.T, s vaxbook.Store, campaignID string, slot int64, cohort int) int {
	t.Helper()
	m, _ := quotaMap(t, s, campaignID)
	q, ok := m[[2]int64{slot, int64(cohort)}]
	if !ok {
		t.Fatalf("no quota row (%d, %d)", slot, cohort)
	}
	return q.Booked
}

// wantBooked checks Booked of several rows: keys are {slot, cohort}.
func wantBooked(t *testing.T, s vaxbook.Store, campaignID string, want map[[2]int64]int) {
	t.Helper()
	m, _ := quotaMap(t, s, campaignID)
	for k, w := range want {
		if got := m[k].Booked; got != w {
			t.Fatalf("quota row (slot %d, cohort %d): booked %d, want %d", k[0], k[1], got, w)
		}
	}
}

// snapshot is everything Apply can change that the suite can see, for
// "nothing changed" checks.
type snapshot struct {
	quotas   map[[2]int64]vaxbook.Quota
	bookings map[int64][]vaxbook.Booking
}

func takeSnapshot(t *testing.T, s vaxbook.Store, people ...int64) snapshot {
	t.Helper()
	q, _ := quotaMap(t, s, CampaignID)
	snap := snapshot{quotas: q, bookings: map[int64][]vaxbook.Booking{}}
	for _, p := range people {
		bs, err := s.Bookings(ctxT(t), p, CampaignID)
		if err != nil {
			t.Fatal(err)
		}
		snap.bookings[p] = bs
	}
	return snap
}

func (a snapshot) mustEqual(t *testing.T, b snapshot) {
	t.Helper()
	for k, q := range a.quotas {
		if b.quotas[k] != q {
			t.Fatalf("quota row (%d, %d) changed: %+v → %+v", k[0], k[1], q, b.quotas[k])
		}
	}
	for p, bs := range a.bookings {
		sameBookings(t, b.bookings[p], bs)
	}
}
