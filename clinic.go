package vaxbook

import (
	"context"
	"time"
)

// Region is one 시군구 with its 시도 (KOSTAT codes) and the centroid of its
// polygon (which for seven coastal districts lies at sea).
type Region struct {
	SidoCode    string  `json:"sido_code"`
	SidoKo      string  `json:"sido_ko"`
	SidoEn      string  `json:"sido_en"`
	SigunguCode string  `json:"sigungu_code"`
	SigunguKo   string  `json:"sigungu_ko"`
	SigunguEn   string  `json:"sigungu_en"`
	Lat         float64 `json:"lat"`
	Lng         float64 `json:"lng"`
}

// Clinic is a place where people are vaccinated.
type Clinic struct {
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	SidoCode    string  `json:"sido_code"`
	SigunguCode string  `json:"sigungu_code"`
	Address     string  `json:"address"`
	Phone       string  `json:"phone,omitempty"`
	Lat         float64 `json:"lat"`
	Lng         float64 `json:"lng"`
	Vaccine     string  `json:"vaccine"` // "pfizer", "moderna", …
}

// Slot is one appointment time at one clinic for one campaign. Its capacity
// is held in Quota rows, one per cohort.
type Slot struct {
	ID         int64     `json:"id"`
	CampaignID string    `json:"campaign_id"`
	ClinicID   int64     `json:"clinic_id"`
	StartsAt   time.Time `json:"starts_at"`
}

// Quota is the capacity of one slot for one cohort (0–9, or CohortPool) and
// how much of it is booked. The database guarantees 0 ≤ Booked ≤ Capacity.
type Quota struct {
	SlotID   int64 `json:"slot_id"`
	Cohort   int   `json:"cohort"`
	Capacity int   `json:"capacity"`
	Booked   int   `json:"booked"`
}

// Catalog reads the static part of a campaign's supply: regions, clinics and
// slots. It is loaded once into memory at start (search never reads the
// database on the hot path).
type Catalog interface {
	Regions(ctx context.Context) ([]Region, error)
	Clinics(ctx context.Context) ([]Clinic, error)
	// Slots calls fn for every slot of the campaign in ascending id order.
	Slots(ctx context.Context, campaignID string, fn func(Slot) error) error
}
