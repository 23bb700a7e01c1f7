package vaxbook

import (
	"context"
	"time"
)

// BookingStatus is the state of a booking row.
type BookingStatus string

// Booking states. A change updates the row in place (new slot, Version+1);
// a cancel sets BookingCancelled and returns the place to its quota row.
const (
	BookingActive    BookingStatus = "active"
	BookingCancelled BookingStatus = "cancelled"
)

// Booking is one dose of one person in one campaign. At most one active
// booking exists per (PersonID, CampaignID, Dose); the database enforces it.
type Booking struct {
	ID         int64         `json:"id"`
	PersonID   int64         `json:"person_id"`
	CampaignID string        `json:"campaign_id"`
	Dose       int           `json:"dose"`
	SlotID     int64         `json:"slot_id"`
	Cohort     int           `json:"cohort"` // the quota row the place was taken from
	Status     BookingStatus `json:"status"`
	Version    int           `json:"version"`
	CreatedAt  time.Time     `json:"created_at"`
	UpdatedAt  time.Time     `json:"updated_at"`
}

// MutationKind says what a Mutation does.
type MutationKind string

// Mutation kinds.
const (
	MutationBook   MutationKind = "book"
	MutationChange MutationKind = "change"
	MutationCancel MutationKind = "cancel"
)

// Mutation is one fully resolved booking write, as the engine hands it to a
// BookingStore: eligibility, slot pairing and cohorts are already decided;
// the store enforces capacity, uniqueness, ownership and idempotency.
type Mutation struct {
	Kind       MutationKind
	PersonID   int64
	CampaignID string
	// IdempotencyKey, if not empty, makes the mutation idempotent per person:
	// the first outcome (success or refusal) is stored with RequestHash and a
	// later mutation with the same key and hash gets it back (Replayed); the
	// same key with another hash is refused with CodeIdempotencyReused.
	IdempotencyKey string
	RequestHash    string
	// ReplayOnly asks only for the stored outcome of IdempotencyKey: with
	// none, the mutation is refused with ErrNoReplay and nothing is written
	// (not even an idempotency record). Nodes of a cluster use it to answer
	// a retry whose waiting-room pass the first attempt, on another node,
	// consumed.
	ReplayOnly bool
	// Legs (book, change): one place per dose, in dose order.
	Legs []Leg
	// BookingID (change, cancel): one of the person's active bookings of the
	// campaign; the mutation applies to all of them (dose 1 and dose 2 move or
	// cancel together).
	BookingID int64
	At        time.Time
}

// Leg is the place one dose takes: a slot and the quota rows it may take
// from, tried in order (one cohort during the rotation; every cohort once
// pooled).
type Leg struct {
	Dose    int
	SlotID  int64
	Cohorts []int
}

// ErrNoReplay refuses a ReplayOnly mutation whose key has no stored outcome.
var ErrNoReplay = &Error{Code: CodeNotFound, Message: "no earlier request with this Idempotency-Key"}

// Outcome is the result of one Mutation.
//
// Book and change: Bookings are the person's active bookings after the
// mutation, in dose order. Cancel: the bookings it cancelled. On refusal Err
// is an *Error (CodeAlreadyBooked, CodeSlotFull when the first leg has no
// room, CodeDose2Unavailable when a later leg has none, CodeNotFound,
// CodeNotYourBooking, CodeBookingCancelled, CodeIdempotencyReused) and
// nothing changed.
type Outcome struct {
	Bookings []Booking
	Err      error
	Replayed bool
}

// BookingStore keeps bookings and quota counters.
type BookingStore interface {
	// Apply runs the mutations in one transaction, in order, each with its own
	// outcome: a refused mutation changes nothing and does not affect the
	// others. The error is for failures of the whole batch (I/O, context), in
	// which case nothing was written.
	Apply(ctx context.Context, muts []Mutation) ([]Outcome, error)
	// Booking returns one booking (CodeNotFound if there is none).
	Booking(ctx context.Context, id int64) (Booking, error)
	// Bookings returns a person's bookings of a campaign, active and
	// cancelled, ordered by dose then id.
	Bookings(ctx context.Context, personID int64, campaignID string) ([]Booking, error)
	// Quotas calls fn for every quota row of the campaign, ordered by slot
	// then cohort, and returns the change sequence number the read reflects.
	Quotas(ctx context.Context, campaignID string, fn func(Quota) error) (seq int64, err error)
	// QuotaChanges returns the quota rows of the campaign changed after
	// sequence number seq, and the sequence number they bring the caller to.
	// Nodes of a cluster use it to keep their availability index current.
	QuotaChanges(ctx context.Context, campaignID string, seq int64) ([]Quota, int64, error)
	// DeleteIdempotencyBefore forgets the stored outcomes of idempotent
	// writes made before t and returns how many it forgot: a retry under
	// such a key is then a new request. Nodes call it with a retention
	// longer than any booking window, so the table does not grow with
	// every write of every campaign.
	DeleteIdempotencyBefore(ctx context.Context, t time.Time) (int, error)
}
