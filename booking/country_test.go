package booking

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/inmem"
)

var kst = time.FixedZone("KST", 9*3600)

// testRegions: three districts on land and the seven whose polygon
// centroid lies at sea.
var testRegions = []vaxbook.Region{
	{SidoCode: "11", SidoKo: "서울특별시", SidoEn: "Seoul", SigunguCode: "11010", SigunguKo: "종로구", SigunguEn: "Jongno-gu", Lat: 37.5949, Lng: 126.9773},
	{SidoCode: "11", SidoKo: "서울특별시", SidoEn: "Seoul", SigunguCode: "11230", SigunguKo: "강남구", SigunguEn: "Gangnam-gu", Lat: 37.4967, Lng: 127.0629},
	{SidoCode: "21", SidoKo: "부산광역시", SidoEn: "Busan", SigunguCode: "21090", SigunguKo: "해운대구", SigunguEn: "Haeundae-gu", Lat: 35.1937, Lng: 129.1536},
	{SidoCode: "23", SidoKo: "인천광역시", SidoEn: "Incheon", SigunguCode: "23320", SigunguKo: "옹진군", SigunguEn: "Ongjin-gun", Lat: 37.5237, Lng: 125.6730},
	{SidoCode: "31", SidoKo: "경기도", SidoEn: "Gyeonggi-do", SigunguCode: "31092", SigunguKo: "안산시 단원구", SigunguEn: "Ansan-si Danwon-gu", Lat: 37.2780, Lng: 126.6831},
	{SidoCode: "36", SidoKo: "전라남도", SidoEn: "Jeollanam-do", SigunguCode: "36020", SigunguKo: "여수시", SigunguEn: "Yeosu-si", Lat: 34.6943, Lng: 127.6523},
	{SidoCode: "36", SidoKo: "전라남도", SidoEn: "Jeollanam-do", SigunguCode: "36460", SigunguKo: "완도군", SigunguEn: "Wando-gun", Lat: 34.2945, Lng: 126.7783},
	{SidoCode: "36", SidoKo: "전라남도", SidoEn: "Jeollanam-do", SigunguCode: "36480", SigunguKo: "신안군", SigunguEn: "Sinan-gun", Lat: 34.8095, Lng: 126.0416},
	{SidoCode: "38", SidoKo: "경상남도", SidoEn: "Gyeongsangnam-do", SigunguCode: "38060", SigunguKo: "사천시", SigunguEn: "Sacheon-si", Lat: 35.0494, Lng: 128.0374},
	{SidoCode: "38", SidoKo: "경상남도", SidoEn: "Gyeongsangnam-do", SigunguCode: "38350", SigunguKo: "남해군", SigunguEn: "Namhae-gun", Lat: 34.8178, Lng: 127.9417},
}

// spec shapes a synthetic country for the tests and benchmarks.
type spec struct {
	Clinics int     // clinics, spread over testRegions
	Days    int     // dose-1 days from the first vaccination date
	Hours   []int   // appointment hours of each day
	Cap     int     // capacity of each cohort row of a dose-1 slot
	People  int     // people, ids 1…People
	Spread  float64 // how far (degrees) clinics scatter around their district centroid
	Seed    uint64
}

// country is a dataset plus what tests need to find their way in it.
type country struct {
	c       vaxbook.Campaign
	data    vaxbook.Dataset
	dose1   []vaxbook.Slot // dose-1 slots with a dose-2 pair, by id
	dose2Of map[int64]int64
	lonely  int64 // a dose-1 slot without a dose-2 pair
	offDay  int64 // a slot between the dose-1 and dose-2 dates
	people  []vaxbook.Person
}

// Slot id layout: dose-1 slots count from 1, their dose-2 pair is id+dose2Offset.
const dose2Offset = 10_000_000

func testCampaign(t testing.TB) vaxbook.Campaign {
	t.Helper()
	c, err := campaign.Load("kr-2021-18-49")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newPerson returns person id: born on day 10+id%10 (cohort id%10) of a
// month in 1975–1994; every 25th a registered foreigner.
func newPerson(id int64) vaxbook.Person {
	nat := vaxbook.National
	if id%25 == 0 {
		nat = vaxbook.RegisteredAlien
	}
	return vaxbook.Person{
		ID:          id,
		CIHash:      []byte(fmt.Sprintf("ci-%d", id)),
		BirthDate:   vaxbook.Date{Year: 1975 + int(id%20), Month: time.Month(1 + id%12), Day: 10 + int(id%10)},
		Nationality: nat,
		Sigungu:     testRegions[id%int64(len(testRegions))].SigunguCode,
	}
}

func peopleSeq(n int) iter.Seq2[vaxbook.Person, error] {
	return func(yield func(vaxbook.Person, error) bool) {
		for id := int64(1); id <= int64(n); id++ {
			if !yield(newPerson(id), nil) {
				return
			}
		}
	}
}

func buildCountry(c vaxbook.Campaign, sp spec) *country {
	rng := rand.New(rand.NewPCG(sp.Seed, 42))
	if sp.Spread == 0 {
		sp.Spread = 0.08
	}
	k := &country{c: c, dose2Of: map[int64]int64{}}
	k.data.Campaigns = []vaxbook.Campaign{c}
	k.data.Regions = testRegions
	vaccines := []string{"pfizer", "moderna"}
	for i := range sp.Clinics {
		r := testRegions[i%len(testRegions)]
		k.data.Clinics = append(k.data.Clinics, vaxbook.Clinic{
			ID:       int64(i + 1),
			Name:     fmt.Sprintf("%s 연세 %d 의원 Clinic", r.SigunguKo, i+1),
			SidoCode: r.SidoCode, SigunguCode: r.SigunguCode,
			Address: fmt.Sprintf("%s %s %d", r.SidoKo, r.SigunguKo, i+1),
			Lat:     r.Lat + (rng.Float64()*2-1)*sp.Spread,
			Lng:     r.Lng + (rng.Float64()*2-1)*sp.Spread,
			Vaccine: vaccines[i%len(vaccines)],
		})
	}
	first := c.Vaccination.From
	id := int64(0)
	addPair := func(clinic int64, at time.Time, dose2 bool) int64 {
		id++
		s := vaxbook.Slot{ID: id, CampaignID: c.ID, ClinicID: clinic, StartsAt: at}
		k.data.Slots = append(k.data.Slots, s)
		if dose2 {
			k.dose1 = append(k.dose1, s)
		}
		for cohort := range vaxbook.Cohorts {
			k.data.Quotas = append(k.data.Quotas, vaxbook.Quota{SlotID: id, Cohort: cohort, Capacity: sp.Cap})
		}
		if dose2 {
			p := vaxbook.Slot{ID: id + dose2Offset, CampaignID: c.ID, ClinicID: clinic, StartsAt: at.AddDate(0, 0, c.DoseIntervalDays)}
			k.data.Slots = append(k.data.Slots, p)
			k.data.Quotas = append(k.data.Quotas, vaxbook.Quota{SlotID: p.ID, Cohort: vaxbook.CohortDose2, Capacity: vaxbook.Cohorts * sp.Cap})
			k.dose2Of[id] = p.ID
		}
		return id
	}
	for ci := range sp.Clinics {
		for d := range sp.Days {
			for _, h := range sp.Hours {
				at := first.AddDays(d).In(kst).Add(time.Duration(h) * time.Hour)
				addPair(int64(ci+1), at, true)
			}
		}
	}
	// A dose-1 slot at 18:00 on the first day without a dose-2 pair.
	k.lonely = addPair(1, first.In(kst).Add(18*time.Hour), false)
	// A slot on a date that is neither a dose-1 nor a dose-2 date.
	id++
	k.offDay = id
	k.data.Slots = append(k.data.Slots, vaxbook.Slot{ID: id, CampaignID: c.ID, ClinicID: 1,
		StartsAt: campaign.Dose1Dates(c).To.AddDays(2).In(kst).Add(9 * time.Hour)})
	k.data.Quotas = append(k.data.Quotas, vaxbook.Quota{SlotID: id, Cohort: 0, Capacity: sp.Cap})
	// Slots and quotas in id order (dose-2 ids are larger than all dose-1 ids).
	sortDataset(&k.data)
	k.data.People = peopleSeq(sp.People)
	for pid := int64(1); pid <= int64(sp.People) && pid <= 10_000; pid++ {
		k.people = append(k.people, newPerson(pid))
	}
	return k
}

func sortDataset(d *vaxbook.Dataset) {
	slotsSort(d.Slots)
	quotasSort(d.Quotas)
}

// openCountry loads a country into a fresh in-memory store.
func openCountry(t testing.TB, sp spec) (vaxbook.Store, *country) {
	return openCountryOn(t, "inmem", sp)
}

// storeKinds are the adapters the engine tests run against.
var storeKinds = []string{"inmem", "sqlite"}

// forKinds runs test once per store kind.
func forKinds(t *testing.T, test func(t *testing.T, kind string)) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) { test(t, kind) })
	}
}

// openCountryOn loads a country into a fresh store of the given kind.
func openCountryOn(t testing.TB, kind string, sp spec) (vaxbook.Store, *country) {
	t.Helper()
	k := buildCountry(testCampaign(t), sp)
	var s vaxbook.Store
	switch kind {
	case "inmem":
		s = inmem.New()
	case "sqlite":
		s = openSQLite(t, filepath.Join(t.TempDir(), "vaxbook.db"))
	default:
		t.Fatalf("unknown store kind %q", kind)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Load(context.Background(), k.data); err != nil {
		t.Fatal(err)
	}
	return s, k
}

func newEngine(t testing.TB, store vaxbook.Store, c vaxbook.Campaign, cfg Config) *Engine {
	t.Helper()
	e, err := New(context.Background(), store, c, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// Instants of kr-2021-18-49 (KST).
var (
	// rotation day 9 (people born on the 9th, 19th, 29th): Aug 9 20:00 – Aug 10 18:00.
	day9Open = time.Date(2021, 8, 9, 20, 0, 0, 0, kst)
	// the open (pooled) window: Aug 19 20:00 – Sep 18 18:00.
	poolOpen  = time.Date(2021, 8, 19, 20, 0, 0, 0, kst)
	poolClose = time.Date(2021, 9, 18, 18, 0, 0, 0, kst)
)

// rotationOpen returns when person p's rotation day opens.
func rotationOpen(p vaxbook.Person) time.Time {
	digit := p.BirthDate.Day % 10
	day := 9 + (digit+1)%10 // digit 9 → Aug 9, 0 → Aug 10, … 8 → Aug 18
	return time.Date(2021, 8, day, 20, 0, 0, 0, kst)
}

func wantCode(t testing.TB, err error, want vaxbook.Code) {
	t.Helper()
	if got := vaxbook.ErrorCode(err); got != want {
		t.Fatalf("error %v: code %q, want %q", err, got, want)
	}
}

func must[T any](t testing.TB) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func checkInvariants(t testing.TB, s vaxbook.Store, campaignID string) vaxbook.InvariantReport {
	t.Helper()
	rep, err := s.CheckInvariants(context.Background(), campaignID)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("invariants violated: %+v", rep)
	}
	return rep
}

func slotsSort(s []vaxbook.Slot) {
	slices.SortFunc(s, func(a, b vaxbook.Slot) int { return cmp64(a.ID, b.ID) })
}

func quotasSort(q []vaxbook.Quota) {
	slices.SortFunc(q, func(a, b vaxbook.Quota) int {
		if a.SlotID != b.SlotID {
			return cmp64(a.SlotID, b.SlotID)
		}
		return a.Cohort - b.Cohort
	})
}

// fataler is what testing.TB and *rapid.T share.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

// openDataset loads a built country into a fresh in-memory store.
func openDataset(t fataler, k *country) (*inmem.Store, error) {
	t.Helper()
	s := inmem.New()
	if err := s.Load(context.Background(), k.data); err != nil {
		t.Fatal(err)
	}
	return s, nil
}

var errorAs = errors.As
