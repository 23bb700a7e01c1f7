package web

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"vaxbook"
)

// Problem is an RFC 9457 problem document with vaxbook's stable code.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	Code     string `json:"code"`
	Param    string `json:"param,omitempty"`
	// Window is set for eligibility refusals: the person's own window.
	Window *windowJSON `json:"window,omitempty"`
}

// statusOf maps a code to its HTTP status.
func statusOf(c vaxbook.Code) int {
	switch c {
	case vaxbook.CodeInvalid:
		return http.StatusBadRequest
	case vaxbook.CodeNotFound, vaxbook.CodeNotInQueue:
		return http.StatusNotFound
	case vaxbook.CodeConflict, vaxbook.CodeAlreadyBooked, vaxbook.CodeSlotFull, vaxbook.CodeDose2Unavailable,
		vaxbook.CodeBookingCancelled, vaxbook.CodeDeviceLocked:
		return http.StatusConflict
	case vaxbook.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case vaxbook.CodeRateLimited:
		return http.StatusTooManyRequests
	case vaxbook.CodeUnavailable, vaxbook.CodeProviderUnavailable:
		return http.StatusServiceUnavailable
	case vaxbook.CodeSlotNotBookable, vaxbook.CodeIdempotencyReused:
		return http.StatusUnprocessableEntity
	case vaxbook.CodeNotSignedIn, vaxbook.CodeSessionExpired, vaxbook.CodeAuthFailed:
		return http.StatusUnauthorized
	case vaxbook.CodeNotEligibleYet, vaxbook.CodeWindowClosed, vaxbook.CodeNotInGroup, vaxbook.CodeOtherDay,
		vaxbook.CodeNotOpenYet, vaxbook.CodeClosed, vaxbook.CodeNotYourBooking, vaxbook.CodeNotInRegistry,
		vaxbook.CodeCSRF, vaxbook.CodeForbidden, vaxbook.CodePassRequired, vaxbook.CodePassInvalid,
		vaxbook.CodePassExpired, vaxbook.CodeQueueClosed:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// writeProblem answers err as application/problem+json. Errors that are not
// *vaxbook.Error are logged and answered as a generic internal error: their
// text may hold internals and never reaches a client.
func writeProblem(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	writeProblemStatus(w, r, log, 0, err)
}

// writeProblemStatus is writeProblem with the status forced (0: by code).
func writeProblemStatus(w http.ResponseWriter, r *http.Request, log *slog.Logger, status int, err error) {
	code := vaxbook.ErrorCode(err)
	p := Problem{
		Type:     "https://vaxbook.invalid/problems/" + string(code),
		Code:     string(code),
		Status:   statusOf(code),
		Instance: r.URL.Path,
	}
	if status != 0 {
		p.Status = status
	}
	p.Title = titleEN(code)
	var ve *vaxbook.Error
	if errors.As(err, &ve) {
		p.Detail = ve.Message
		p.Param = ve.Param
	} else {
		p.Detail = vaxbook.ErrorMessage(err)
		log.ErrorContext(r.Context(), "internal error", "path", r.URL.Path, "err", err, "request_id", requestID(r.Context()))
	}
	var we windowError
	if errors.As(err, &we) {
		if win := we.window(); win != nil {
			p.Window = &windowJSON{Opens: win.Opens.Format(timeFormat), Closes: win.Closes.Format(timeFormat), ID: win.ID}
		}
	}
	if p.Status == http.StatusTooManyRequests || p.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	writeJSONStatus(w, "application/problem+json", p.Status, p)
}

// windowError is implemented by errors that carry the person's window.
type windowError interface {
	error
	window() *vaxbook.Window
}

type windowJSON struct {
	ID     string `json:"id,omitempty"`
	Opens  string `json:"opens"`
	Closes string `json:"closes"`
}

const timeFormat = "2006-01-02T15:04:05Z07:00"

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONStatus(w, "application/json", status, v)
}

func writeJSONStatus(w http.ResponseWriter, contentType string, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"code":"internal"}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// titleEN is the short English title of a code (the Detail says more).
func titleEN(c vaxbook.Code) string {
	if t, ok := titles[c]; ok {
		return t
	}
	return "Error"
}

var titles = map[vaxbook.Code]string{
	vaxbook.CodeInvalid:             "Invalid request",
	vaxbook.CodeNotFound:            "Not found",
	vaxbook.CodeConflict:            "Conflict",
	vaxbook.CodeTooLarge:            "Request body too large",
	vaxbook.CodeRateLimited:         "Too many requests",
	vaxbook.CodeUnavailable:         "Temporarily unavailable",
	vaxbook.CodeInternal:            "Internal error",
	vaxbook.CodeNotEligibleYet:      "Your booking window has not opened",
	vaxbook.CodeWindowClosed:        "Your booking window has closed",
	vaxbook.CodeNotInGroup:          "Not in the eligible group",
	vaxbook.CodeOtherDay:            "Another day's booking window",
	vaxbook.CodeNotOpenYet:          "Booking has not opened",
	vaxbook.CodeClosed:              "Booking has closed",
	vaxbook.CodeAlreadyBooked:       "Already booked",
	vaxbook.CodeSlotFull:            "No place left in this slot",
	vaxbook.CodeDose2Unavailable:    "No place for the second dose",
	vaxbook.CodeSlotNotBookable:     "This slot cannot be booked",
	vaxbook.CodeNotYourBooking:      "Not your booking",
	vaxbook.CodeBookingCancelled:    "Booking already cancelled",
	vaxbook.CodeIdempotencyReused:   "Idempotency-Key reused with a different request",
	vaxbook.CodeNotSignedIn:         "Not signed in",
	vaxbook.CodeSessionExpired:      "Session expired",
	vaxbook.CodeNotInRegistry:       "Not found in the registry",
	vaxbook.CodeDeviceLocked:        "Another device holds this booking",
	vaxbook.CodeCSRF:                "Form expired or forged",
	vaxbook.CodeProviderUnavailable: "Identity provider unavailable",
	vaxbook.CodeAuthFailed:          "Identity verification failed",
	vaxbook.CodeForbidden:           "Forbidden",
	vaxbook.CodePassRequired:        "Waiting-room pass required",
	vaxbook.CodePassInvalid:         "Waiting-room pass invalid",
	vaxbook.CodePassExpired:         "Waiting-room pass expired",
	vaxbook.CodeNotInQueue:          "Not in the waiting room",
	vaxbook.CodeQueueClosed:         "The waiting room is closed",
}
