package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"time"

	"vaxbook"
	"vaxbook/booking"
	"vaxbook/campaign"
	"vaxbook/identity"
	"vaxbook/internal/cookie"
	"vaxbook/waitroom"
)

// Headers of the write API.
const (
	headerIdempotency = "Idempotency-Key"
	headerPass        = "X-Queue-Pass"
)

// eligibilityError carries the person's window with a refusal.
type eligibilityError struct {
	err *vaxbook.Error
	win *vaxbook.Window
}

func (e eligibilityError) Error() string { return e.err.Error() }

func (e eligibilityError) window() *vaxbook.Window { return e.win }
func (e eligibilityError) Unwrap() error           { return e.err }

// refusalFor turns a non-eligible decision into the booking API's refusal.
func refusalFor(d vaxbook.Decision) error {
	code := vaxbook.CodeNotEligibleYet
	switch d.Code {
	case vaxbook.CodeClosed:
		code = vaxbook.CodeWindowClosed
	case vaxbook.CodeNotInGroup:
		code = vaxbook.CodeNotInGroup
	}
	return eligibilityError{err: &vaxbook.Error{Code: code, Message: d.Message}, win: d.Window}
}

// citizen is a signed-in request.
type citizen struct {
	sess vaxbook.Session
	p    vaxbook.Person
}

// signedIn returns the request's session and person.
func (s *Server) signedIn(r *http.Request, now time.Time) (citizen, error) {
	if s.cfg.Identity == nil {
		return citizen{}, vaxbook.Errorf(vaxbook.CodeNotSignedIn, "sign-in is not configured on this server")
	}
	sess, p, err := s.cfg.Identity.Current(r, now)
	if err != nil {
		return citizen{}, err
	}
	if p.ID == 0 {
		return citizen{}, vaxbook.Errorf(vaxbook.CodeNotSignedIn, "Please verify your identity first.")
	}
	return citizen{sess: sess, p: p}, nil
}

// holdLock checks that this session's device holds the person's device lock
// for the window (taking it if nobody holds it, e.g. after an operator
// released it).
func (s *Server) holdLock(ctx context.Context, c citizen, camp vaxbook.Campaign, w vaxbook.Window, now time.Time) error {
	want := vaxbook.DeviceLock{PersonID: c.p.ID, CampaignID: camp.ID, WindowID: w.ID, DeviceHash: c.sess.DeviceID,
		Provider: c.sess.Provider, LockedAt: now, Expires: w.Closes}
	held, err := s.cfg.Locks.AcquireDeviceLock(ctx, want, now)
	if err != nil {
		return err
	}
	if held.DeviceHash != c.sess.DeviceID {
		return vaxbook.Errorf(vaxbook.CodeDeviceLocked,
			"Another device verified for you first (at %s with %s). Only that device can book.",
			held.LockedAt.In(s.loc()).Format("2006-01-02 15:04"), held.Provider)
	}
	return nil
}

func (s *Server) loc() *time.Location {
	if l, err := campaign.Location(s.engine.Campaign()); err == nil {
		return l
	}
	return time.UTC
}

// stage is a request admitted to the booking stage.
type stage struct {
	citizen
	camp   vaxbook.Campaign
	claims vaxbook.PassClaims
	idem   string
}

// enterStage runs every check a booking write needs, in order: signed in,
// CSRF, eligible now by the server clock, this device holds the lock, a
// valid waiting-room pass, a well-formed Idempotency-Key.
func (s *Server) enterStage(r *http.Request, now time.Time) (stage, error) {
	c, err := s.signedIn(r, now)
	if err != nil {
		return stage{}, err
	}
	if err := s.cfg.Identity.CheckCSRF(r, c.sess); err != nil {
		return stage{}, err
	}
	st := stage{citizen: c, camp: s.engine.Campaign()}
	d := campaign.Check(st.camp, c.p.BirthDate, c.p.Nationality, now)
	if !d.Eligible {
		return stage{}, refusalFor(d)
	}
	if err := s.holdLock(r.Context(), c, st.camp, *d.Window, now); err != nil {
		return stage{}, err
	}
	if st.idem, err = idempotencyKey(r); err != nil {
		return stage{}, err
	}
	pass := r.Header.Get(headerPass)
	if pass == "" {
		pass, _ = cookie.Value(r, passCookie)
	}
	if pass == "" {
		return st, vaxbook.Errorf(vaxbook.CodePassRequired, "Please go through the waiting room: a booking needs the pass it gives.")
	}
	if st.claims, err = s.cfg.WaitRoom.VerifyPass(r.Context(), pass, c.sess.ID, c.p.ID, now); err != nil {
		return st, err // st names the person: a retry of a finished write may be answered from the replay cache
	}
	return st, nil
}

func idempotencyKey(r *http.Request) (string, error) {
	k := r.Header.Get(headerIdempotency)
	if len(k) > 128 || (k != "" && !isToken(k)) {
		return "", vaxbook.InvalidParam(headerIdempotency, "Idempotency-Key must be at most 128 letters, digits, '-', '_', '.' or '~'")
	}
	return k, nil
}

// decodeBody reads a JSON object of at most maxBody bytes into v, refusing
// unknown fields, trailing data and other content types.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return vaxbook.InvalidParam("Content-Type", "send the body as application/json")
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return vaxbook.Errorf(vaxbook.CodeTooLarge, "the body is larger than %d bytes", maxBody)
		case errors.As(err, &ute):
			return vaxbook.InvalidParam(ute.Field, "%s must be a %s", ute.Field, ute.Type)
		case errors.Is(err, io.EOF):
			return vaxbook.InvalidParam("body", "the body is empty; send a JSON object")
		default:
			return vaxbook.InvalidParam("body", "the body is not a valid JSON object: %s", clip(err.Error()))
		}
	}
	if dec.More() {
		return vaxbook.InvalidParam("body", "the body has data after the JSON object")
	}
	return nil
}

type slotBody struct {
	SlotID *int64 `json:"slot_id"`
}

func (b slotBody) slot() (int64, error) {
	if b.SlotID == nil {
		return 0, vaxbook.InvalidParam("slot_id", "slot_id is required")
	}
	if *b.SlotID <= 0 {
		return 0, vaxbook.InvalidParam("slot_id", "slot_id must be a positive whole number")
	}
	return *b.SlotID, nil
}

// observe reports a booking-stage request to the admission controller:
// latency, and whether it failed for the stage's own reasons (a refusal such
// as slot_full is the stage working, not failing).
func (s *Server) observe(start time.Time, err error) {
	if s.cfg.WaitRoom == nil {
		return
	}
	now := s.clock.Now()
	s.cfg.WaitRoom.Observe(now.Sub(start), stageError(err), now)
}

// stageError keeps only the errors that are the booking stage failing.
func stageError(err error) error {
	if c := vaxbook.ErrorCode(err); c == vaxbook.CodeInternal || c == vaxbook.CodeUnavailable {
		return err
	}
	return nil
}

// stageCounter is implemented by waiting rooms that also count requests in
// flight in the booking stage (waitroom.Service).
type stageCounter interface {
	BeginStage(now time.Time) waitroom.StageCall
	EndStage(c waitroom.StageCall, err error, now time.Time)
}

// writeResult is the answer of a finished booking-stage write.
type writeResult struct {
	status int
	body   confirmationBody
}

// bookingWrite runs one write of the booking stage and answers it as JSON.
func (s *Server) bookingWrite(w http.ResponseWriter, r *http.Request, created int, wr booking.Write, do func(st stage, now time.Time) (booking.Confirmation, error)) {
	res, err := s.stageWrite(w, r, created, wr, do)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	writeJSON(w, res.status, res.body)
}

// stageWrite runs one write of the booking stage (wr names it): checks, the
// engine call, the pass's consumption on success (clearing the pass and
// queue cookies on w). A retry of a finished write whose pass is spent gets
// the first answer (see replay). The JSON API and the pages both write
// through it.
func (s *Server) stageWrite(w http.ResponseWriter, r *http.Request, created int, wr booking.Write, do func(st stage, now time.Time) (booking.Confirmation, error)) (writeResult, error) {
	now := s.clock.Now()
	st, err := s.enterStage(r, now)
	if err != nil {
		if isPassRefusal(err) {
			return s.replay(r, st, wr, err, now)
		}
		return writeResult{}, err
	}
	var call waitroom.StageCall
	sc, counted := s.cfg.WaitRoom.(stageCounter)
	if counted {
		call = sc.BeginStage(now)
	}
	conf, err := do(st, now)
	if counted {
		sc.EndStage(call, stageError(err), s.clock.Now())
	} else {
		s.observe(now, err)
	}
	if err != nil {
		return writeResult{}, err
	}
	if !conf.Replayed {
		if err := s.cfg.WaitRoom.MarkPassUsed(r.Context(), st.claims, s.clock.Now()); err != nil {
			s.log.WarnContext(r.Context(), "mark pass used", "err", err, "request_id", requestID(r.Context()))
		}
		s.clearCookie(w, r, passCookie)
		s.clearCookie(w, r, queueCookie)
	}
	status := created
	if conf.Replayed {
		status = http.StatusOK
	}
	body := confirmationJSON(conf, s.loc())
	s.replays.put(st.p.ID, st.idem, wr.String(), status, body)
	return writeResult{status: status, body: body}, nil
}

// replay answers a write refused for its pass (refusal) when it is the retry
// of a write that succeeded: from this node's replay cache, or — when the
// pass has ended (consumed, perhaps on another node of a cluster, or
// expired since) and the request carries an Idempotency-Key — from the
// outcome the store keeps under that key. The store is asked only for a
// pass that is genuine and bound to this session, so a flood of pass-less
// requests costs it nothing. Anything else keeps the pass refusal.
func (s *Server) replay(r *http.Request, st stage, wr booking.Write, refusal error, now time.Time) (writeResult, error) {
	if ans, ok := s.replays.get(r, st.p.ID); ok {
		body, isConf := ans.body.(confirmationBody)
		switch {
		case ans.fingerprint != wr.String():
			return writeResult{}, vaxbook.Errorf(vaxbook.CodeIdempotencyReused, "this Idempotency-Key was used for a different request")
		case isConf:
			return writeResult{status: ans.status, body: body}, nil
		}
	}
	if st.idem == "" || !errors.Is(refusal, vaxbook.ErrPassEnded) {
		return writeResult{}, refusal
	}
	conf, err := s.engine.Replay(r.Context(), st.p, wr, st.idem, now)
	switch {
	case errors.Is(err, vaxbook.ErrNoReplay):
		return writeResult{}, refusal
	case err != nil:
		return writeResult{}, err
	}
	body := confirmationJSON(conf, s.loc())
	s.replays.put(st.p.ID, st.idem, wr.String(), http.StatusOK, body)
	return writeResult{status: http.StatusOK, body: body}, nil
}

type confirmationBody struct {
	Bookings []bookingJSON `json:"bookings"`
	Replayed bool          `json:"replayed"`
}

type bookingJSON struct {
	booking.View
	Reference string `json:"reference"`
	StartsAt  string `json:"starts_at"`
}

func bookingViews(vs []booking.View, loc *time.Location) []bookingJSON {
	out := make([]bookingJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, bookingJSON{View: v, Reference: Reference(v.ID), StartsAt: v.StartsAt.In(loc).Format(timeFormat)})
	}
	return out
}

func confirmationJSON(c booking.Confirmation, loc *time.Location) confirmationBody {
	return confirmationBody{Bookings: bookingViews(c.Bookings, loc), Replayed: c.Replayed}
}

// readSlot reads the {"slot_id": …} body of a book or change.
func readSlot(w http.ResponseWriter, r *http.Request) (int64, error) {
	var b slotBody
	if err := decodeBody(w, r, &b); err != nil {
		return 0, err
	}
	return b.slot()
}

func (s *Server) postBooking(w http.ResponseWriter, r *http.Request) {
	slot, err := readSlot(w, r)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	s.bookingWrite(w, r, http.StatusCreated, booking.Write{Kind: vaxbook.MutationBook, SlotID: slot}, func(st stage, now time.Time) (booking.Confirmation, error) {
		return s.engine.Book(r.Context(), st.p, slot, st.idem, now)
	})
}

func (s *Server) patchBooking(w http.ResponseWriter, r *http.Request) {
	id, err := parseID("id", r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	slot, err := readSlot(w, r)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	s.bookingWrite(w, r, http.StatusOK, booking.Write{Kind: vaxbook.MutationChange, BookingID: id, SlotID: slot}, func(st stage, now time.Time) (booking.Confirmation, error) {
		return s.engine.Change(r.Context(), st.p, id, slot, st.idem, now)
	})
}

func (s *Server) deleteBooking(w http.ResponseWriter, r *http.Request) {
	id, err := parseID("id", r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	s.bookingWrite(w, r, http.StatusOK, booking.Write{Kind: vaxbook.MutationCancel, BookingID: id}, func(st stage, now time.Time) (booking.Confirmation, error) {
		return s.engine.Cancel(r.Context(), st.p, id, st.idem, now)
	})
}

func (s *Server) myBookings(w http.ResponseWriter, r *http.Request) {
	now := s.clock.Now()
	c, err := s.signedIn(r, now)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	vs, err := s.engine.Mine(r.Context(), c.p)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"bookings": bookingViews(vs, s.loc())})
}

// meJSON is GET /api/v1/me.
type meJSON struct {
	Person      personJSON      `json:"person"`
	Provider    string          `json:"provider"`
	CSRFToken   string          `json:"csrf_token"`
	Now         string          `json:"now"`
	Eligibility eligibilityJSON `json:"eligibility"`
	Queue       queueWindowJSON `json:"queue"`
	DeviceLock  *deviceLockJSON `json:"device_lock"`
	Bookings    []bookingJSON   `json:"bookings"`
}

type personJSON struct {
	ID          int64               `json:"id"`
	Name        string              `json:"name"`
	BirthDate   vaxbook.Date        `json:"birth_date"`
	Nationality vaxbook.Nationality `json:"nationality"`
	Sigungu     string              `json:"sigungu"`
	Cohort      int                 `json:"cohort"`
}

type eligibilityJSON struct {
	Eligible bool        `json:"eligible"`
	Code     string      `json:"code"`
	Message  string      `json:"message"`
	Window   *windowJSON `json:"window,omitempty"`
}

type queueWindowJSON struct {
	Joinable bool        `json:"joinable"` // the waiting room (or its pre-queue) is open for this person now
	Window   *windowJSON `json:"window,omitempty"`
}

type deviceLockJSON struct {
	ThisDevice bool   `json:"this_device"`
	Provider   string `json:"provider"`
	LockedAt   string `json:"locked_at"`
	Expires    string `json:"expires"`
}

func winJSON(w *vaxbook.Window, loc *time.Location) *windowJSON {
	if w == nil {
		return nil
	}
	return &windowJSON{ID: w.ID, Opens: w.Opens.In(loc).Format(timeFormat), Closes: w.Closes.In(loc).Format(timeFormat)}
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	now := s.clock.Now()
	c, err := s.signedIn(r, now)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	camp, loc := s.engine.Campaign(), s.loc()
	d := campaign.Check(camp, c.p.BirthDate, c.p.Nationality, now)
	qw, _, joinable := campaign.QueueWindow(camp, c.p.BirthDate, c.p.Nationality, now)
	out := meJSON{
		Person: personJSON{ID: c.p.ID, BirthDate: c.p.BirthDate, Nationality: c.p.Nationality, Sigungu: c.p.Sigungu,
			Cohort: campaign.Cohort(camp, c.p.BirthDate)},
		Provider: c.sess.Provider, CSRFToken: c.sess.CSRFToken, Now: now.In(loc).Format(timeFormat),
		Eligibility: eligibilityJSON{Eligible: d.Eligible, Code: string(d.Code), Message: d.Message, Window: winJSON(d.Window, loc)},
		Queue:       queueWindowJSON{Joinable: joinable},
	}
	if s.cfg.Unseal != nil {
		if name, err := s.cfg.Unseal(c.p.NameSealed, c.p.ID); err == nil {
			out.Person.Name = name
		}
	}
	if joinable {
		out.Queue.Window = winJSON(&qw, loc)
		if l, err := s.cfg.Locks.DeviceLock(r.Context(), c.p.ID, camp.ID, qw.ID); err == nil {
			out.DeviceLock = &deviceLockJSON{ThisDevice: l.DeviceHash == c.sess.DeviceID, Provider: l.Provider,
				LockedAt: l.LockedAt.In(loc).Format(timeFormat), Expires: l.Expires.In(loc).Format(timeFormat)}
		} else if vaxbook.ErrorCode(err) != vaxbook.CodeNotFound {
			writeProblem(w, r, s.log, err)
			return
		}
	}
	vs, err := s.engine.Mine(r.Context(), c.p)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	out.Bookings = bookingViews(vs, loc)
	writeJSON(w, http.StatusOK, out)
}

// queueJSON is the answer of POST /api/v1/queue and GET /api/v1/queue/status.
type queueJSON struct {
	Ticket       string `json:"ticket"`
	Room         string `json:"room"`
	State        string `json:"state"`
	Position     int64  `json:"position"`
	Ahead        int64  `json:"ahead"`
	ETASeconds   int64  `json:"eta_seconds"`
	ETAUncertain bool   `json:"eta_uncertain"`
	RetryAfterMS int64  `json:"retry_after_ms"`
	OpensAt      string `json:"opens_at"`
	Reason       string `json:"reason,omitempty"`
	Pass         string `json:"pass,omitempty"`
	PassExpires  string `json:"pass_expires,omitempty"`
}

func (s *Server) writeQueue(w http.ResponseWriter, r *http.Request, status int, st vaxbook.QueueStatus) {
	loc := s.loc()
	out := queueJSON{
		Ticket: st.Ticket, Room: st.Room, State: string(st.State), Position: st.Position, Ahead: st.Ahead,
		ETASeconds: int64(math.Ceil(st.ETA.Seconds())), ETAUncertain: st.ETAUncertain,
		RetryAfterMS: st.RetryAfter.Milliseconds(), OpensAt: st.OpensAt.In(loc).Format(timeFormat), Reason: st.Reason,
	}
	if s.keepPass(w, r, st) {
		out.Pass = st.Pass
		out.PassExpires = st.PassExpires.In(loc).Format(timeFormat)
	}
	if st.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(st.RetryAfter.Seconds())), 10))
	}
	writeJSON(w, status, out)
}

// keepPass stores an admitted status's pass in the pass cookie; it reports
// whether the status carried one.
func (s *Server) keepPass(w http.ResponseWriter, r *http.Request, st vaxbook.QueueStatus) bool {
	if st.State != vaxbook.QueueAdmitted || st.Pass == "" {
		return false
	}
	s.setCookie(w, r, passCookie, st.Pass, st.PassExpires.Sub(s.clock.Now()))
	return true
}

func (s *Server) joinQueue(w http.ResponseWriter, r *http.Request) {
	now := s.clock.Now()
	c, err := s.signedIn(r, now)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	if err := s.cfg.Identity.CheckCSRF(r, c.sess); err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	st, err := s.joinRoom(w, r, c, now)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	status := http.StatusOK
	if st.Created {
		status = http.StatusCreated
	}
	s.writeQueue(w, r, status, st)
}

// joinRoom puts a signed-in person in the waiting room of the window they
// may queue for now (eligible, or within the pre-queue lead, by the server
// clock), after checking that this device holds their device lock, and sets
// the queue cookie that binds the ticket to the session and device. Joining
// again returns the same place.
func (s *Server) joinRoom(w http.ResponseWriter, r *http.Request, c citizen, now time.Time) (vaxbook.QueueStatus, error) {
	camp := s.engine.Campaign()
	win, d, ok := campaign.QueueWindow(camp, c.p.BirthDate, c.p.Nationality, now)
	if !ok {
		return vaxbook.QueueStatus{}, refusalFor(d)
	}
	if err := s.holdLock(r.Context(), c, camp, win, now); err != nil {
		return vaxbook.QueueStatus{}, err
	}
	room := s.roomOf(camp, win)
	st, err := s.cfg.WaitRoom.Join(r.Context(), room, c.p.ID, c.sess.ID, now)
	if err != nil {
		return vaxbook.QueueStatus{}, err
	}
	qc := queueClaims{Ticket: st.Ticket, PersonID: c.p.ID, SessionSum: sum16(c.sess.ID),
		DeviceSum: sum16(s.cfg.Identity.DeviceID(r)), Expires: room.Closes}
	s.setCookie(w, r, queueCookie, s.queueMAC.seal(qc), room.Closes.Sub(now))
	return st, nil
}

// queueStatus answers polls. It reads no database: the queue cookie binds
// the ticket to the person, session and device, and the waiting room keeps
// its state in memory (or one Redis round trip).
func (s *Server) queueStatus(w http.ResponseWriter, r *http.Request) {
	now := s.clock.Now()
	st, err := s.queuedStatus(r, now)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	s.writeQueue(w, r, http.StatusOK, st)
}

// queuedStatus is the status of the place the request's queue cookie holds,
// if the cookie is valid and bound to this session and device.
func (s *Server) queuedStatus(r *http.Request, now time.Time) (vaxbook.QueueStatus, error) {
	qv, ok := cookie.Value(r, queueCookie)
	if !ok {
		return vaxbook.QueueStatus{}, vaxbook.Errorf(vaxbook.CodeNotInQueue, "You are not in the waiting room; join it first.")
	}
	qc, err := s.queueMAC.open(qv, now)
	if err != nil {
		return vaxbook.QueueStatus{}, vaxbook.Errorf(vaxbook.CodeNotInQueue, "Your place in the waiting room is not valid here; join again.")
	}
	sid, _ := cookie.Value(r, identity.SessionCookie)
	if sid == "" || sum16(sid) != qc.SessionSum || sum16(s.cfg.Identity.DeviceID(r)) != qc.DeviceSum {
		return vaxbook.QueueStatus{}, vaxbook.Errorf(vaxbook.CodeNotSignedIn, "Please verify your identity again on this device.")
	}
	return s.cfg.WaitRoom.Status(r.Context(), qc.Ticket, qc.PersonID, sid, now)
}

func (s *Server) roomOf(c vaxbook.Campaign, w vaxbook.Window) vaxbook.QueueRoom {
	return waitroom.RoomOf(c, w)
}

func isPassRefusal(err error) bool {
	switch vaxbook.ErrorCode(err) {
	case vaxbook.CodePassInvalid, vaxbook.CodePassRequired, vaxbook.CodePassExpired:
		return true
	}
	return false
}
