// Package vaxbook holds the domain of a national appointment-booking system:
// campaigns and their booking windows, people, clinics, slots and quotas,
// bookings, sessions, device locks, waiting-room tickets and passes, and the
// interfaces that the technology packages (sqlite, postgres, redis, inmem, …)
// implement.
//
// This package imports nothing of the project. Logic that is a pure function
// of the domain lives in small packages beside it (campaign, booking,
// waitroom, identity); storage lives in one package per technology.
package vaxbook

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error or decision code. Codes never
// change once published: clients, pages and translations key on them.
type Code string

// Generic codes.
const (
	CodeInvalid     Code = "invalid_argument" // a parameter or body field is wrong
	CodeNotFound    Code = "not_found"        // an id that does not exist (or is not visible to the caller)
	CodeConflict    Code = "conflict"         // the resource changed under the caller
	CodeTooLarge    Code = "body_too_large"   // request body over the limit
	CodeRateLimited Code = "rate_limited"     // too many requests
	CodeUnavailable Code = "unavailable"      // a dependency is down or overloaded; retry later
	CodeInternal    Code = "internal"         // a bug or an unexpected failure; never carries details to users
)

// Eligibility decision codes (campaign check, /api/v1/me).
const (
	CodeEligible   Code = "eligible"     // may book now
	CodeNotOpenYet Code = "not_open_yet" // no window is open now; the person's window opens later
	CodeOtherDay   Code = "other_day"    // a window is open now, but for other people; the person's own is later
	CodeClosed     Code = "closed"       // every window for this person has closed
	CodeNotInGroup Code = "not_in_group" // birth date or nationality outside the campaign's group
)

// Refusals of booking writes.
const (
	CodeNotEligibleYet    Code = "not_eligible_yet"       // the person's window has not opened (server clock)
	CodeWindowClosed      Code = "window_closed"          // the person's windows have all closed
	CodeAlreadyBooked     Code = "already_booked"         // an active booking for this person, campaign and dose exists
	CodeSlotFull          Code = "slot_full"              // no place left for this person's cohort in the slot
	CodeDose2Unavailable  Code = "dose2_unavailable"      // the paired dose-2 slot is missing or full
	CodeSlotNotBookable   Code = "slot_not_bookable"      // the slot is outside the campaign's dose-1 dates or of another campaign
	CodeNotYourBooking    Code = "not_your_booking"       // the booking belongs to someone else
	CodeBookingCancelled  Code = "booking_cancelled"      // change or cancel of a booking that is no longer active
	CodeIdempotencyReused Code = "idempotency_key_reused" // the same Idempotency-Key with a different request
)

// Identity and session refusals.
const (
	CodeNotSignedIn         Code = "not_signed_in"
	CodeSessionExpired      Code = "session_expired"
	CodeNotInRegistry       Code = "not_in_registry"
	CodeDeviceLocked        Code = "device_locked"
	CodeCSRF                Code = "csrf"
	CodeProviderUnavailable Code = "provider_unavailable"
	CodeAuthFailed          Code = "auth_failed" // state, nonce, code or ID token did not verify
	CodeForbidden           Code = "forbidden"   // signed in, but not allowed (e.g. not an operator)
)

// Waiting-room refusals.
const (
	CodePassRequired Code = "pass_required"
	CodePassInvalid  Code = "pass_invalid"
	CodePassExpired  Code = "pass_expired"
	CodeNotInQueue   Code = "not_in_queue"
	CodeQueueClosed  Code = "queue_closed" // joining outside the pre-queue or open period
)

// Error is an error a user or client can meet. Code is stable; Message is a
// human sentence in English (pages translate by Code); Param names the
// offending parameter, if any; Err is the wrapped cause and is never shown to
// users.
type Error struct {
	Code    Code
	Message string
	Param   string
	Err     error
}

func (e *Error) Error() string {
	msg := string(e.Code)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
// A %w verb in format wraps its argument as Err.
func Errorf(code Code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), Err: errors.Unwrap(err)}
}

// InvalidParam returns a CodeInvalid error naming the parameter.
func InvalidParam(param, format string, args ...any) *Error {
	e := Errorf(CodeInvalid, format, args...)
	e.Param = param
	return e
}

// ErrorCode returns the Code of the first *Error in err's chain, "" for a nil
// error and CodeInternal for any other error.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the human message of the first *Error in err's chain,
// or a generic sentence for other errors (their text may hold internals).
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "Something went wrong on our side. Please try again."
}
