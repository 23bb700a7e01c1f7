// Package storetest holds the contract suites that every vaxbook.Store
// adapter (sqlite, postgres, inmem) runs:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) vaxbook.Store { … a fresh, empty, migrated store … })
//	}
//
// open must return a fresh empty store and register its own cleanup
// (t.Cleanup) that closes it; the suite may call Close itself first, so
// Close must tolerate a second call. The suite does not call t.Parallel.
//
// # The contract where the root docs leave it open
//
// This package is the contract: an adapter is correct when it passes Run.
// Where the root package's comments are silent, the suite expects:
//
// Times. Every instant round-trips to the microsecond and is compared with
// time.Time.Equal (the location may differ). Campaigns round-trip through
// JSON: the JSON encoding of a stored campaign equals that of the campaign
// stored (offsets of window times are kept).
//
// Loader. Load adds to what the store holds (it may be called more than
// once, e.g. a second campaign or an import of people). An id that already
// exists (in the store or twice in the dataset), a duplicate CIHash, or an
// error from the People sequence aborts the whole Load: the error is
// returned (wrapping the sequence's error, so errors.Is works) and the store
// is exactly as before. Quota rows are stored with the Booked given (callers
// pass 0).
//
// Registry. PersonByCIHash: CodeNotInRegistry when missing; PersonByID:
// CodeNotFound. Nil and empty byte slices are equivalent.
//
// Catalog. Regions are ordered by SigunguCode, clinics by ID, slots by ID.
// Slots of an unknown campaign call fn never and return nil. An error from
// fn stops the iteration and is returned (errors.Is works).
//
// Campaigns. Campaigns are ordered by ID. Campaign and ShiftCampaign of an
// unknown id: CodeNotFound, nothing changed. ShiftCampaign leaves bookings
// and quota rows as they are.
//
// Apply, every kind:
//   - Mutations are applied in order; a later mutation sees the effect of
//     the earlier ones of the same batch (a cancel then a book for the same
//     person in one batch both succeed).
//   - A malformed mutation (unknown Kind; book or change without Legs or
//     with legs not in increasing dose order; change or cancel without
//     BookingID) is refused with CodeInvalid. A mutation for a person or a
//     campaign the store does not hold is refused with CodeNotFound (it
//     must not fail the batch).
//   - Idempotency is checked first. With IdempotencyKey set, the key is
//     scoped to the person: (PersonID, IdempotencyKey). A stored key with
//     the same RequestHash returns the stored outcome (bookings as they were
//     returned then, or the refusal's code and message) with Replayed=true
//     and changes nothing, even if the bookings have changed since. The same
//     key with another hash is refused with CodeIdempotencyReused (Replayed
//     false) and nothing is stored. Refusals are stored too, except
//     CodeIdempotencyReused and CodeInvalid. Without a key nothing is stored.
//   - ReplayOnly: a stored key answers as above; a key with no stored
//     outcome (or no key) is refused with vaxbook.ErrNoReplay, nothing is
//     written and the key stays free for a real mutation.
//   - A refused mutation changes nothing (quota rows, bookings, sequence of
//     quota changes may or may not advance, see below).
//
// Book: already_booked when the person has an active booking of the
// campaign for any of the legs' doses (checked before capacity). Each leg
// takes one place from the first cohort row listed in Leg.Cohorts that has
// room (booked < capacity); a leg whose slot or rows do not exist has no
// room. No room for the first leg: CodeSlotFull; for a later leg:
// CodeDose2Unavailable. New bookings have Version 1, Status active,
// CreatedAt = UpdatedAt = Mutation.At, distinct positive IDs.
// Outcome.Bookings are the person's active bookings of the campaign after
// the mutation, in dose order.
//
// Change: BookingID must be a booking of Mutation.CampaignID (otherwise
// CodeNotFound), of Mutation.PersonID (otherwise CodeNotYourBooking), and
// active (otherwise CodeBookingCancelled). The legs must name exactly the
// doses of the person's active bookings of the campaign (otherwise
// CodeInvalid). The old places are given back first, then the new ones
// are taken as for book (so a change within a full slot succeeds; no room:
// CodeSlotFull / CodeDose2Unavailable). Each booking is updated in place:
// same ID and CreatedAt, new SlotID and Cohort, Version+1, UpdatedAt =
// Mutation.At. Outcome.Bookings: the active bookings after, in dose order.
//
// Cancel: same checks as change (not_found, not_your_booking,
// booking_cancelled). Every active booking of the person and campaign is
// cancelled: Status cancelled, Version+1, UpdatedAt = Mutation.At, its place
// returned to the row it was taken from. Outcome.Bookings: the cancelled
// bookings, in dose order.
//
// Booking: CodeNotFound when missing. Bookings: active and cancelled,
// ordered by dose then ID; an empty (or nil) slice when there are none.
//
// Quotas and QuotaChanges. Quotas visits the campaign's rows ordered by slot
// then cohort and returns a sequence number s. QuotaChanges(c, s) returns
// (in any order) at least every row of campaign c whose Booked changed in a
// commit after the read that returned s, with its current values, and a
// sequence number s2 ≥ s; rows of other campaigns are never returned. With
// nothing changed since s it returns no rows. A change committed after a call
// returned s2 is always reported by QuotaChanges(c, s2): no change is ever
// missed (adapters with concurrent writers must make sure of it).
//
// CheckInvariants counts from the database. QuotaRows: rows of the
// campaign's slots; ActiveBookings: active bookings of the campaign. The
// suite checks a healthy store reports OK with the right counts; detection
// of broken invariants is tested by each adapter that can break them (the
// suite has no portable way to corrupt a store).
//
// Sessions. CreateSession of an existing ID is an error. Session,
// TouchSession of a missing ID: CodeNotSignedIn. DeleteSession of a missing
// ID is not an error (logging out twice is fine). DeleteSessionsBefore(t)
// removes sessions with LastSeen strictly before t.
//
// Device locks. A lock holds while Expires is after now; at now ≥ Expires
// it may be taken by anyone. AcquireDeviceLock by the holder's own device
// returns the existing lock unchanged. DeviceLock, ReleaseDeviceLock of a
// missing key: CodeNotFound.
//
// Audit. Audit ignores e.ID and assigns increasing IDs in append order;
// AuditEntries(before, limit) returns entries with ID < before (before 0:
// from the newest), newest first, at most limit.
//
// Ping returns nil on an open store and an error after Close.
package storetest
