package postgres

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"vaxbook"
)

// This file holds what both ways of applying mutations (group commit in
// apply.go, the naive baseline in naive.go) share: validation, refusals and
// the stored form of an idempotent outcome.

// validate returns a CodeInvalid refusal for a malformed mutation (unknown
// kind; book or change without legs or with legs not in increasing dose
// order from 1; change or cancel without a booking id), or nil. It runs
// after the idempotency lookup, and a CodeInvalid refusal is never stored.
// Unknown slots and cohorts are not malformed: they have no room.
func validate(m vaxbook.Mutation) error {
	switch m.Kind {
	case vaxbook.MutationBook, vaxbook.MutationChange:
		if len(m.Legs) == 0 {
			return vaxbook.InvalidParam("legs", "a %s needs at least one slot", m.Kind)
		}
		for i, l := range m.Legs {
			if l.Dose < 1 || (i > 0 && l.Dose <= m.Legs[i-1].Dose) {
				return vaxbook.InvalidParam("legs", "legs must be in increasing dose order from 1")
			}
		}
		if m.Kind == vaxbook.MutationChange && m.BookingID <= 0 {
			return vaxbook.InvalidParam("booking_id", "a change needs a booking id")
		}
	case vaxbook.MutationCancel:
		if m.BookingID <= 0 {
			return vaxbook.InvalidParam("booking_id", "a cancel needs a booking id")
		}
	default:
		return vaxbook.InvalidParam("kind", "unknown mutation kind %q", m.Kind)
	}
	return nil
}

// errKey refuses an Idempotency-Key that is not UTF-8 text.
func errKey() error {
	return vaxbook.InvalidParam("idempotency_key", "the Idempotency-Key must be UTF-8 text")
}

// validText reports whether s can be a PostgreSQL text value (UTF-8 without
// NUL). Strings that cannot are names of nothing the store holds, and are
// answered as such without asking the server (which would fail the query).
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

func errNoCampaign(id string) error {
	return vaxbook.Errorf(vaxbook.CodeNotFound, "no campaign %q", id)
}

func errNoPerson(id int64) error {
	return vaxbook.Errorf(vaxbook.CodeNotFound, "no person %d", id)
}

func errAlreadyBooked(dose int) error {
	return vaxbook.Errorf(vaxbook.CodeAlreadyBooked, "you already have an active booking for dose %d", dose)
}

// errNoRoom is the refusal when leg i (0-based) finds no place.
func errNoRoom(i int, l vaxbook.Leg) error {
	if i == 0 {
		return vaxbook.Errorf(vaxbook.CodeSlotFull, "no place left in slot %d", l.SlotID)
	}
	return vaxbook.Errorf(vaxbook.CodeDose2Unavailable, "no place left for dose %d in slot %d", l.Dose, l.SlotID)
}

// matchLegs pairs each leg of a change with the active booking of its dose
// (act: the person's active bookings of the campaign). The legs must name
// exactly the active doses.
func matchLegs(m vaxbook.Mutation, act []*vaxbook.Booking) ([]*vaxbook.Booking, error) {
	if len(act) != len(m.Legs) {
		return nil, vaxbook.InvalidParam("legs", "a change must move every active dose (%d), not %d", len(act), len(m.Legs))
	}
	moving := make([]*vaxbook.Booking, len(m.Legs))
	for i, l := range m.Legs {
		for _, bk := range act {
			if bk.Dose == l.Dose {
				moving[i] = bk
			}
		}
		if moving[i] == nil {
			return nil, vaxbook.InvalidParam("legs", "there is no active dose-%d booking to change", l.Dose)
		}
	}
	return moving, nil
}

func errNoBooking(id int64) error {
	return vaxbook.Errorf(vaxbook.CodeNotFound, "booking %d not found", id)
}

func errNotYours(id int64) error {
	return vaxbook.Errorf(vaxbook.CodeNotYourBooking, "booking %d is not yours", id)
}

func errCancelled(id int64) error {
	return vaxbook.Errorf(vaxbook.CodeBookingCancelled, "booking %d is cancelled", id)
}

func errKeyReused() error {
	return vaxbook.Errorf(vaxbook.CodeIdempotencyReused, "this Idempotency-Key was used for a different request")
}

// checkTarget refuses a change or cancel of booking b (nil: not found) by
// mutation m.
func checkTarget(m vaxbook.Mutation, b *vaxbook.Booking) error {
	switch {
	case b == nil, b.CampaignID != m.CampaignID:
		return errNoBooking(m.BookingID)
	case b.PersonID != m.PersonID:
		return errNotYours(m.BookingID)
	case b.Status != vaxbook.BookingActive:
		return errCancelled(m.BookingID)
	}
	return nil
}

// storedOutcome is an Outcome as the idempotency table keeps it.
type storedOutcome struct {
	Code     vaxbook.Code      `json:"code,omitempty"`
	Message  string            `json:"message,omitempty"`
	Param    string            `json:"param,omitempty"`
	Bookings []vaxbook.Booking `json:"bookings,omitempty"`
}

func encodeOutcome(o vaxbook.Outcome) (string, error) {
	s := storedOutcome{Bookings: o.Bookings}
	if o.Err != nil {
		s.Code = vaxbook.ErrorCode(o.Err)
		s.Message = vaxbook.ErrorMessage(o.Err)
		if e, ok := o.Err.(*vaxbook.Error); ok {
			s.Param = e.Param
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("postgres: encode outcome: %w", err)
	}
	return string(b), nil
}

func decodeOutcome(b []byte) (vaxbook.Outcome, error) {
	var s storedOutcome
	if err := json.Unmarshal(b, &s); err != nil {
		return vaxbook.Outcome{}, fmt.Errorf("postgres: decode stored outcome: %w", err)
	}
	o := vaxbook.Outcome{Bookings: s.Bookings, Replayed: true}
	for i := range o.Bookings {
		o.Bookings[i].CreatedAt = o.Bookings[i].CreatedAt.UTC()
		o.Bookings[i].UpdatedAt = o.Bookings[i].UpdatedAt.UTC()
	}
	if s.Code != "" {
		o.Err = &vaxbook.Error{Code: s.Code, Message: s.Message, Param: s.Param}
	}
	return o, nil
}

// sortBookings orders bookings by dose then id.
func sortBookings(bs []vaxbook.Booking) {
	slices.SortFunc(bs, func(a, b vaxbook.Booking) int {
		if a.Dose != b.Dose {
			return a.Dose - b.Dose
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
}

// newBooking is the row a leg creates.
func newBooking(id int64, m vaxbook.Mutation, dose int, slot int64, cohort int, at time.Time) vaxbook.Booking {
	return vaxbook.Booking{
		ID: id, PersonID: m.PersonID, CampaignID: m.CampaignID, Dose: dose,
		SlotID: slot, Cohort: cohort, Status: vaxbook.BookingActive, Version: 1,
		CreatedAt: at, UpdatedAt: at,
	}
}
