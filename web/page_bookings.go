package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"vaxbook"
	"vaxbook/booking"
)

// bookingRow is one dose as the booking pages show it.
type bookingRow struct {
	booking.View
	Region string
}

// bookingsPage is the data of /bookings and /bookings/{id}.
type bookingsPage struct {
	Active    []bookingRow
	Cancelled []bookingRow
	Reference string // of the active dose-1 booking
	ID        int64  // the active dose-1 booking
	Done      bool   // just booked or changed
	Flash     string // a sentence about what just happened
	Calendar  string
	Bring     []string
}

func (s *Server) bookingRows(vs []booking.View, lang string) (active, cancelled []bookingRow) {
	rn := s.regionNames(lang)
	for _, b := range vs {
		row := bookingRow{View: b, Region: rn.sigungu[b.Clinic.SigunguCode]}
		if b.Status == vaxbook.BookingActive {
			active = append(active, row)
		} else {
			cancelled = append(cancelled, row)
		}
	}
	return active, cancelled
}

func (v *view) bring() []string {
	var out []string
	for i := 1; v.cat.Has(fmt.Sprintf("bring.%d", i)); i++ {
		out = append(out, v.T(fmt.Sprintf("bring.%d", i)))
	}
	return out
}

// myBookingsPage is GET /bookings: the person's booking (both doses) with
// change, cancel and calendar, and what was cancelled.
func (s *Server) myBookingsPage(w http.ResponseWriter, r *http.Request, v *view) error {
	c, err := s.signedIn(r, v.Now)
	if err != nil {
		return err
	}
	v.Sess = &c.sess
	vs, err := s.engine.Mine(r.Context(), c.p)
	if err != nil {
		return err
	}
	p := bookingsPage{Bring: v.bring()}
	p.Active, p.Cancelled = s.bookingRows(vs, v.Lang)
	if len(p.Active) > 0 {
		p.ID, p.Reference = p.Active[0].ID, Reference(p.Active[0].ID)
		p.Calendar = fmt.Sprintf("/bookings/%d.ics", p.ID)
	}
	if ref := r.URL.Query().Get("cancelled"); ref != "" {
		if _, ok := ParseReference(ref); ok {
			p.Flash = v.T("bookings.cancelled_flash", ref)
		}
	}
	return render(w, v, http.StatusOK, "bookings", "title.bookings", p)
}

// bookingPage is GET /bookings/{id} (the booking, or after booking the
// "done" page with its reference) and GET /bookings/{id}.ics (the calendar).
func (s *Server) bookingPage(w http.ResponseWriter, r *http.Request, v *view) error {
	name := r.PathValue("name")
	ics := strings.HasSuffix(name, ".ics")
	id, err := parseID("id", strings.TrimSuffix(name, ".ics"))
	if err != nil {
		return vaxbook.Errorf(vaxbook.CodeNotFound, "no booking %q", clip(name))
	}
	c, err := s.signedIn(r, v.Now)
	if err != nil {
		return err
	}
	v.Sess = &c.sess
	vs, err := s.engine.Mine(r.Context(), c.p)
	if err != nil {
		return err
	}
	var group []booking.View
	for _, b := range vs {
		if b.ID == id {
			group = []booking.View{b}
			if b.Status == vaxbook.BookingActive {
				group = activeBookings(vs)
			}
		}
	}
	if group == nil {
		return vaxbook.Errorf(vaxbook.CodeNotFound, "no booking %d of yours", id)
	}
	if ics {
		if group[0].Status != vaxbook.BookingActive {
			return vaxbook.Errorf(vaxbook.CodeBookingCancelled, "booking %d is cancelled", id)
		}
		b := bookingICS(v, group, s.cfg.Pages.withDefaults().CallCentre)
		w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="vaxbook-`+Reference(group[0].ID)+`.ics"`)
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(b)
		return nil
	}
	p := bookingsPage{Done: r.URL.Query().Get("done") == "1", Bring: v.bring()}
	p.Active, p.Cancelled = s.bookingRows(group, v.Lang)
	if len(p.Active) > 0 {
		p.ID, p.Reference = p.Active[0].ID, Reference(p.Active[0].ID)
		p.Calendar = fmt.Sprintf("/bookings/%d.ics", p.ID)
	}
	title := "title.booking"
	if p.Done {
		title = "title.done"
	}
	return render(w, v, http.StatusOK, "booking", title, p)
}

// cancelPage is the data of the cancel confirmation.
type cancelPage struct {
	Active    []bookingRow
	ID        int64
	Reference string
	Idem      string
}

// cancelPage is GET /bookings/{id}/cancel: are you sure? (with a pass; else
// through the waiting room first).
func (s *Server) cancelPage(w http.ResponseWriter, r *http.Request, v *view) error {
	c, ok, err := s.stageCitizen(w, r, v)
	if err != nil || !ok {
		return err
	}
	id, err := parseID("id", r.PathValue("id"))
	if err != nil {
		return vaxbook.Errorf(vaxbook.CodeNotFound, "no booking %q", clip(r.PathValue("id")))
	}
	vs, err := s.engine.Mine(r.Context(), c.p)
	if err != nil {
		return err
	}
	act := activeBookings(vs)
	found := false
	for _, b := range act {
		found = found || b.ID == id
	}
	if !found {
		return vaxbook.Errorf(vaxbook.CodeNotFound, "no active booking %d of yours", id)
	}
	p := cancelPage{ID: id, Reference: Reference(act[0].ID), Idem: newIdempotencyKey()}
	p.Active, _ = s.bookingRows(act, v.Lang)
	return render(w, v, http.StatusOK, "cancel", "title.cancel", p)
}

// cancelSubmit is POST /bookings/{id}/cancel, through stageWrite.
func (s *Server) cancelSubmit(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := parseID("id", r.PathValue("id"))
	if err != nil {
		return vaxbook.Errorf(vaxbook.CodeNotFound, "no booking %q", clip(r.PathValue("id")))
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		return vaxbook.Errorf(vaxbook.CodeTooLarge, "the form is too large")
	}
	r.Header.Set(headerIdempotency, r.PostForm.Get("idem"))
	res, err := s.stageWrite(w, r, http.StatusOK, booking.Write{Kind: vaxbook.MutationCancel, BookingID: id}, func(st stage, now time.Time) (booking.Confirmation, error) {
		return s.engine.Cancel(r.Context(), st.p, id, st.idem, now)
	})
	if err != nil {
		switch vaxbook.ErrorCode(err) {
		case vaxbook.CodePassRequired, vaxbook.CodePassInvalid, vaxbook.CodePassExpired:
			toQueue(w, r, "/bookings/"+strconv.FormatInt(id, 10)+"/cancel")
			return nil
		}
		return err
	}
	ref := Reference(id)
	if len(res.body.Bookings) > 0 {
		ref = Reference(res.body.Bookings[0].ID)
	}
	http.Redirect(w, r, "/bookings?cancelled="+ref, http.StatusSeeOther)
	return nil
}
