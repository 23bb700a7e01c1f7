package vaxbook

import (
	"context"
	"iter"
	"time"
)

// AuditEntry records an operator or security-relevant action.
type AuditEntry struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`  // operator name, "system", or "person:<id>"
	Action string    `json:"action"` // e.g. "waitroom.set", "devicelock.release"
	Target string    `json:"target"`
	Detail string    `json:"detail"` // JSON object, no personal data
}

// AuditLog is append-only.
type AuditLog interface {
	Audit(ctx context.Context, e AuditEntry) error
	// AuditEntries returns up to limit entries with ID < before (0: newest), newest first.
	AuditEntries(ctx context.Context, before int64, limit int) ([]AuditEntry, error)
}

// CampaignStore keeps the campaigns a deployment serves.
type CampaignStore interface {
	Campaigns(ctx context.Context) ([]Campaign, error)
	Campaign(ctx context.Context, id string) (Campaign, error)
	// ShiftCampaign replaces the campaign with c (same ID) and moves every
	// slot of it by delta, in one transaction (the demo keeps a rotation day
	// open "now").
	ShiftCampaign(ctx context.Context, c Campaign, delta time.Duration) error
}

// Dataset is what seeding and imports write. IDs are assigned by the caller.
// People are streamed so that 20 million fit in constant memory.
type Dataset struct {
	Campaigns []Campaign
	Regions   []Region
	Clinics   []Clinic
	Slots     []Slot
	Quotas    []Quota
	People    iter.Seq2[Person, error]
}

// Loader writes datasets. Load is all or nothing: an error from the People
// sequence or a constraint aborts it and leaves the store as it was.
type Loader interface {
	Load(ctx context.Context, d Dataset) error
	// Counts reports how many rows the main tables hold (for "is it seeded?"
	// and operator summaries).
	Counts(ctx context.Context) (StoreCounts, error)
}

// StoreCounts are table sizes.
type StoreCounts struct {
	Campaigns, Regions, Clinics, Slots, Quotas, People, ActiveBookings int64
}

// Store is everything a node keeps in its database. Each adapter (sqlite,
// postgres, inmem) implements it and passes the contract suites in storetest.
type Store interface {
	Registry
	Catalog
	BookingStore
	SessionStore
	DeviceLockStore
	ProviderSwitchStore
	AuditLog
	CampaignStore
	Loader
	Auditor
	Ping(ctx context.Context) error
	Close() error
}

// InvariantReport is what CheckInvariants finds, counted from the database
// itself (never from memory). A healthy store has every count but
// QuotaRows and ActiveBookings at zero.
type InvariantReport struct {
	QuotaRows       int64    `json:"quota_rows"`
	ActiveBookings  int64    `json:"active_bookings"`
	OverCapacity    int64    `json:"over_capacity"`    // quota rows with booked > capacity or booked < 0
	CounterMismatch int64    `json:"counter_mismatch"` // quota rows whose booked ≠ active bookings taken from them
	DoubleBooked    int64    `json:"double_booked"`    // (person, dose) pairs with more than one active booking
	OrphanDose2     int64    `json:"orphan_dose2"`     // active dose-2 bookings without an active dose 1 (two-dose campaigns)
	Examples        []string `json:"examples,omitempty"`
}

// OK reports whether no invariant is violated.
func (r InvariantReport) OK() bool {
	return r.OverCapacity == 0 && r.CounterMismatch == 0 && r.DoubleBooked == 0 && r.OrphanDose2 == 0
}

// Auditor checks a store's invariants for one campaign.
type Auditor interface {
	CheckInvariants(ctx context.Context, campaignID string) (InvariantReport, error)
}
