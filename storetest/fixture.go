package storetest

import (
	"crypto/sha256"
	"fmt"
	"iter"
	"slices"
	"time"

	"vaxbook"
)

// KST is Korea Standard Time as a fixed zone (no tzdata needed).
var KST = time.FixedZone("KST", 9*3600)

// Campaign ids of the fixture.
const (
	// CampaignID is a two-dose campaign shaped like kr-2021-18-49.
	CampaignID = "kr-2021-18-49"
	// PoolCampaignID is a one-dose campaign whose slots have one CohortPool row each.
	PoolCampaignID = "demo-pool"
)

// Slot ids of the fixture. The two-dose campaign has dose-1 slots
// FirstDose1Slot … FirstDose1Slot+11 (clinics 101–103, Aug 26–27, 09:00 and
// 10:00 KST), each with cohort rows 0–9 of capacity DoseCapacity, and the
// paired dose-2 slot id+1000 (28 days later) with one CohortDose2 row of
// capacity Dose2Capacity. Two pairs are special: TightSlot has cohort rows of
// capacity 1, and NoDose2Slot's pair has a CohortDose2 row of capacity 0.
// The pool campaign has slots PoolSlot … PoolSlot+2 with one CohortPool row
// of capacity PoolCapacity each.
const (
	FirstDose1Slot int64 = 1001
	LastDose1Slot  int64 = 1012
	TightSlot      int64 = 1011
	NoDose2Slot    int64 = 1012
	PoolSlot       int64 = 3001
	DoseCapacity         = 2
	Dose2Capacity        = 20
	PoolCapacity         = 3
	// People is how many people the fixture has (ids 1 … People).
	People = 40
)

// Dose2Of returns the paired dose-2 slot of a dose-1 slot of the fixture.
func Dose2Of(dose1 int64) int64 { return dose1 + 1000 }

// Fixture is a small country: two regions, three clinics, the two campaigns
// above and People people. Person i (1-based) is born on day 10+i%10 of a
// month, so its cohort (last digit of the birth day) is i%10.
type Fixture struct {
	Campaign     vaxbook.Campaign
	PoolCampaign vaxbook.Campaign
	Regions      []vaxbook.Region
	Clinics      []vaxbook.Clinic
	Slots        []vaxbook.Slot // both campaigns, by id
	Quotas       []vaxbook.Quota
	People       []vaxbook.Person
}

// CIHash is the fixture's blind index of person id's stable identifier.
func CIHash(id int64) []byte {
	h := sha256.Sum256([]byte(fmt.Sprintf("ci:%d", id)))
	return h[:]
}

// Cohort returns the rotation cohort of fixture person id.
func Cohort(id int64) int { return int(id % 10) }

// KoreaCampaign returns a two-dose campaign with the given id shaped like
// kr-2021-18-49: ten rotation windows Aug 9–18, 2021 (20:00 KST to 18:00 the
// next day, by last digit of the birth day), then an open window Aug 19
// 20:00 – Sep 18 18:00; vaccination Aug 26 – Oct 2; dose 2 after 28 days.
func KoreaCampaign(id string) vaxbook.Campaign {
	c := vaxbook.Campaign{
		ID:       id,
		Title:    map[string]string{"ko": "18-49세 사전예약", "en": "Ages 18-49 pre-booking"},
		TimeZone: "Asia/Seoul",
		Group: vaxbook.Group{
			BornFrom:      vaxbook.MustDate("1972-01-01"),
			BornTo:        vaxbook.MustDate("2003-12-31"),
			Nationalities: []vaxbook.Nationality{vaxbook.National, vaxbook.RegisteredAlien},
		},
		Vaccination:      vaxbook.DateRange{From: vaxbook.MustDate("2021-08-26"), To: vaxbook.MustDate("2021-10-02")},
		Doses:            2,
		DoseIntervalDays: 28,
		Quota: vaxbook.QuotaPolicy{
			Cohort:   vaxbook.CohortBirthDayDigit,
			PoolFrom: time.Date(2021, 8, 19, 20, 0, 0, 0, KST),
		},
		PreQueue: vaxbook.Duration(30 * time.Minute),
	}
	for day := 9; day <= 18; day++ {
		c.Windows = append(c.Windows, vaxbook.Window{
			ID:     fmt.Sprintf("rotation-%02d", day),
			Kind:   vaxbook.WindowRotation,
			Opens:  time.Date(2021, 8, day, 20, 0, 0, 0, KST),
			Closes: time.Date(2021, 8, day+1, 18, 0, 0, 0, KST),
			Who:    vaxbook.Predicate{Kind: vaxbook.PredicateBirthDayDigit, Digits: []int{day % 10}},
		})
	}
	c.Windows = append(c.Windows, vaxbook.Window{
		ID:     "open",
		Kind:   vaxbook.WindowOpen,
		Opens:  time.Date(2021, 8, 19, 20, 0, 0, 0, KST),
		Closes: time.Date(2021, 9, 18, 18, 0, 0, 0, KST),
		Who:    vaxbook.Predicate{Kind: vaxbook.PredicateAny},
	})
	return c
}

// NewFixture builds the fixture.
func NewFixture() *Fixture {
	f := &Fixture{Campaign: KoreaCampaign(CampaignID)}
	f.PoolCampaign = vaxbook.Campaign{
		ID:          PoolCampaignID,
		Title:       map[string]string{"en": "Pooled one-dose demo"},
		TimeZone:    "Asia/Seoul",
		Group:       vaxbook.Group{BornFrom: vaxbook.MustDate("1900-01-01"), BornTo: vaxbook.MustDate("2021-12-31"), Nationalities: []vaxbook.Nationality{vaxbook.National}},
		Vaccination: vaxbook.DateRange{From: vaxbook.MustDate("2021-09-01"), To: vaxbook.MustDate("2021-09-30")},
		Doses:       1,
		Quota:       vaxbook.QuotaPolicy{Cohort: vaxbook.CohortNone},
		Windows: []vaxbook.Window{{
			ID: "open", Kind: vaxbook.WindowOpen,
			Opens:  time.Date(2021, 8, 30, 9, 0, 0, 0, KST),
			Closes: time.Date(2021, 9, 30, 18, 0, 0, 0, KST),
			Who:    vaxbook.Predicate{Kind: vaxbook.PredicateAny},
		}},
	}
	f.Regions = []vaxbook.Region{
		{SidoCode: "11", SidoKo: "서울특별시", SidoEn: "Seoul", SigunguCode: "11010", SigunguKo: "종로구", SigunguEn: "Jongno-gu", Lat: 37.5946, Lng: 126.9773},
		{SidoCode: "26", SidoKo: "부산광역시", SidoEn: "Busan", SigunguCode: "26010", SigunguKo: "중구", SigunguEn: "Jung-gu", Lat: 35.1064, Lng: 129.0324},
	}
	f.Clinics = []vaxbook.Clinic{
		{ID: 101, Name: "종로 내과의원", SidoCode: "11", SigunguCode: "11010", Address: "서울특별시 종로구 1", Phone: "02-000-0101", Lat: 37.59, Lng: 126.97, Vaccine: "pfizer"},
		{ID: 102, Name: "Jongno Family Clinic", SidoCode: "11", SigunguCode: "11010", Address: "Jongno-gu 2, Seoul", Lat: 37.60, Lng: 126.98, Vaccine: "moderna"},
		{ID: 103, Name: "부산 중앙의원", SidoCode: "26", SigunguCode: "26010", Address: "부산광역시 중구 3", Phone: "051-000-0103", Lat: 35.10, Lng: 129.03, Vaccine: "pfizer"},
	}
	id := FirstDose1Slot
	for _, clinic := range f.Clinics {
		for _, day := range []int{26, 27} {
			for _, hour := range []int{9, 10} {
				at := time.Date(2021, 8, day, hour, 0, 0, 0, KST)
				f.Slots = append(f.Slots,
					vaxbook.Slot{ID: id, CampaignID: CampaignID, ClinicID: clinic.ID, StartsAt: at},
					vaxbook.Slot{ID: Dose2Of(id), CampaignID: CampaignID, ClinicID: clinic.ID, StartsAt: at.AddDate(0, 0, 28)})
				capacity := DoseCapacity
				if id == TightSlot {
					capacity = 1
				}
				for cohort := 0; cohort < vaxbook.Cohorts; cohort++ {
					f.Quotas = append(f.Quotas, vaxbook.Quota{SlotID: id, Cohort: cohort, Capacity: capacity})
				}
				d2 := Dose2Capacity
				if id == NoDose2Slot {
					d2 = 0
				}
				f.Quotas = append(f.Quotas, vaxbook.Quota{SlotID: Dose2Of(id), Cohort: vaxbook.CohortDose2, Capacity: d2})
				id++
			}
		}
	}
	for i := range int64(3) {
		f.Slots = append(f.Slots, vaxbook.Slot{ID: PoolSlot + i, CampaignID: PoolCampaignID, ClinicID: 101,
			StartsAt: time.Date(2021, 9, 1, 9+int(i), 0, 0, 0, KST)})
		f.Quotas = append(f.Quotas, vaxbook.Quota{SlotID: PoolSlot + i, Cohort: vaxbook.CohortPool, Capacity: PoolCapacity})
	}
	slices.SortFunc(f.Slots, func(a, b vaxbook.Slot) int { return int(a.ID - b.ID) })
	slices.SortFunc(f.Quotas, func(a, b vaxbook.Quota) int {
		if a.SlotID != b.SlotID {
			return int(a.SlotID - b.SlotID)
		}
		return a.Cohort - b.Cohort
	})
	for i := int64(1); i <= People; i++ {
		f.People = append(f.People, NewPerson(i))
	}
	return f
}

// NewPerson returns fixture person id: born 1972+id%30, on day 10+id%10,
// cohort id%10, a national except every seventh.
func NewPerson(id int64) vaxbook.Person {
	nat := vaxbook.National
	if id%7 == 0 {
		nat = vaxbook.RegisteredAlien
	}
	sigungu := "11010"
	if id%2 == 0 {
		sigungu = "26010"
	}
	return vaxbook.Person{
		ID:          id,
		CIHash:      CIHash(id),
		BirthDate:   vaxbook.Date{Year: 1972 + int(id%30), Month: time.Month(1 + id%12), Day: 10 + int(id%10)},
		Nationality: nat,
		Sigungu:     sigungu,
		NameSealed:  []byte(fmt.Sprintf("sealed-name-%d", id)),
		PhoneSealed: []byte(fmt.Sprintf("sealed-phone-%d", id)),
	}
}

// Dataset returns the fixture as a Dataset for Loader.Load.
func (f *Fixture) Dataset() vaxbook.Dataset {
	return vaxbook.Dataset{
		Campaigns: []vaxbook.Campaign{f.Campaign, f.PoolCampaign},
		Regions:   f.Regions,
		Clinics:   f.Clinics,
		Slots:     f.Slots,
		Quotas:    f.Quotas,
		People:    PeopleSeq(f.People),
	}
}

// PeopleSeq turns a slice into a People sequence.
func PeopleSeq(people []vaxbook.Person) iter.Seq2[vaxbook.Person, error] {
	return func(yield func(vaxbook.Person, error) bool) {
		for _, p := range people {
			if !yield(p, nil) {
				return
			}
		}
	}
}

// QuotasOf returns the fixture's quota rows of one campaign, by slot then cohort.
func (f *Fixture) QuotasOf(campaignID string) []vaxbook.Quota {
	camp := map[int64]string{}
	for _, s := range f.Slots {
		camp[s.ID] = s.CampaignID
	}
	var out []vaxbook.Quota
	for _, q := range f.Quotas {
		if camp[q.SlotID] == campaignID {
			out = append(out, q)
		}
	}
	return out
}

// SlotsOf returns the fixture's slots of one campaign, by id.
func (f *Fixture) SlotsOf(campaignID string) []vaxbook.Slot {
	var out []vaxbook.Slot
	for _, s := range f.Slots {
		if s.CampaignID == campaignID {
			out = append(out, s)
		}
	}
	return out
}

// BookTwo returns a book mutation of the two-dose campaign: dose 1 in slot
// dose1 taking from cohorts, dose 2 in its pair from CohortDose2.
func BookTwo(person int64, dose1 int64, at time.Time, cohorts ...int) vaxbook.Mutation {
	return vaxbook.Mutation{
		Kind: vaxbook.MutationBook, PersonID: person, CampaignID: CampaignID, At: at,
		Legs: []vaxbook.Leg{
			{Dose: 1, SlotID: dose1, Cohorts: cohorts},
			{Dose: 2, SlotID: Dose2Of(dose1), Cohorts: []int{vaxbook.CohortDose2}},
		},
	}
}

// ChangeTwo returns a change mutation of the two-dose campaign moving the
// person's bookings (named by bookingID) to dose1 and its pair.
func ChangeTwo(person, bookingID, dose1 int64, at time.Time, cohorts ...int) vaxbook.Mutation {
	m := BookTwo(person, dose1, at, cohorts...)
	m.Kind = vaxbook.MutationChange
	m.BookingID = bookingID
	return m
}

// Cancel returns a cancel mutation.
func Cancel(person int64, campaignID string, bookingID int64, at time.Time) vaxbook.Mutation {
	return vaxbook.Mutation{Kind: vaxbook.MutationCancel, PersonID: person, CampaignID: campaignID, BookingID: bookingID, At: at}
}
