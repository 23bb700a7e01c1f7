package identity

import (
	"context"
	"crypto/subtle"
	"html/template"
	"net/http"
	"time"

	"vaxbook"
	"vaxbook/internal/cookie"
)

// CSRF token transport: a hidden form field for HTML forms, a header for
// page API calls.
const (
	CSRFField  = "csrf_token"
	CSRFHeader = "X-CSRF-Token"
)

// touchEvery is how stale LastSeen may get before a request writes it again
// (so that an active session is not a database write per request).
const touchEvery = time.Minute

func equalSecret(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// validDeviceID accepts what EnsureDevice makes: 22 base64url characters.
func validDeviceID(s string) bool {
	if len(s) != 22 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// DeviceID returns the request's device id (cookie vb_device), or "" if it
// has none.
func (s *Service) DeviceID(r *http.Request) string {
	v, ok := cookie.Value(r, DeviceCookie)
	if !ok || !validDeviceID(v) {
		return ""
	}
	return v
}

// EnsureDevice returns the request's device id, giving the browser a new
// random one (HttpOnly cookie) if it has none.
func (s *Service) EnsureDevice(w http.ResponseWriter, r *http.Request) string {
	if id := s.DeviceID(r); id != "" {
		return id
	}
	id := randomToken(16)
	http.SetCookie(w, s.cookie(r, DeviceCookie, id, "/", deviceTTL))
	// Make the id visible to code later in this request.
	r.AddCookie(&http.Cookie{Name: DeviceCookie, Value: id})
	return id
}

// startSession ends the request's old session, if any (the id is rotated
// at every login), stores sess and sets its cookie. If the session cannot be
// stored it answers the refusal and returns false.
func (s *Service) startSession(w http.ResponseWriter, r *http.Request, sess vaxbook.Session) bool {
	ctx := r.Context()
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		_ = s.deleteSession(ctx, c.Value)
	}
	if err := s.cfg.Store.CreateSession(ctx, sess); err != nil {
		s.log.Error("identity: create session", "err", err)
		s.refuse(w, r, Outcome{Code: vaxbook.CodeUnavailable, Message: "Please try again in a moment.", Provider: sess.Provider})
		return false
	}
	http.SetCookie(w, s.cookie(r, SessionCookie, sess.ID, "/", s.cfg.AbsoluteTimeout))
	return true
}

// Current returns the request's session and its person. Errors: *Error
// with CodeNotSignedIn (no session, or a session cookie presented by
// another device) or CodeSessionExpired (idle or absolute timeout; the
// session is deleted).
func (s *Service) Current(r *http.Request, now time.Time) (vaxbook.Session, vaxbook.Person, error) {
	ctx := r.Context()
	sid, _ := cookie.Value(r, SessionCookie)
	if sid == "" {
		return vaxbook.Session{}, vaxbook.Person{}, vaxbook.Errorf(vaxbook.CodeNotSignedIn, "Please sign in.")
	}
	e, cached := s.sessions.get(sid, now)
	touched := false
	if !cached {
		sess, err := s.cfg.Store.Session(ctx, sid)
		if err != nil {
			if code := vaxbook.ErrorCode(err); code == vaxbook.CodeNotSignedIn || code == vaxbook.CodeNotFound {
				return vaxbook.Session{}, vaxbook.Person{}, vaxbook.Errorf(vaxbook.CodeNotSignedIn, "Please sign in.")
			}
			return vaxbook.Session{}, vaxbook.Person{}, err
		}
		e = cachedSession{sess: sess, fetched: now}
	}
	sess := e.sess
	if now.Sub(sess.LastSeen) > s.cfg.IdleTimeout || now.Sub(sess.CreatedAt) > s.cfg.AbsoluteTimeout {
		s.deleteSession(ctx, sess.ID)
		return vaxbook.Session{}, vaxbook.Person{}, vaxbook.Errorf(vaxbook.CodeSessionExpired, "Your session has expired. Please sign in again.")
	}
	if sess.PersonID != 0 && sess.DeviceID != DeviceHash(s.DeviceID(r)) {
		return vaxbook.Session{}, vaxbook.Person{}, vaxbook.Errorf(vaxbook.CodeNotSignedIn, "This session belongs to another device. Please sign in.")
	}
	if now.Sub(sess.LastSeen) > touchEvery {
		if err := s.cfg.Store.TouchSession(ctx, sess.ID, now); err != nil {
			s.log.Warn("identity: touch session", "err", err)
		}
		sess.LastSeen = now
		e.sess = sess
		touched = true
	}
	if sess.PersonID != 0 && !cached {
		p, err := s.cfg.Store.PersonByID(ctx, sess.PersonID)
		if err != nil {
			return vaxbook.Session{}, vaxbook.Person{}, err
		}
		e.person = p
	}
	if !cached || touched {
		s.sessions.put(e) // a touched entry keeps its read time: the TTL still counts from the store read
	}
	return sess, e.person, nil
}

// deleteSession deletes a session from the store and this node's cache.
func (s *Service) deleteSession(ctx context.Context, id string) error {
	s.sessions.drop(id)
	return s.cfg.Store.DeleteSession(ctx, id)
}

// CheckCSRF verifies the request's CSRF token (header X-CSRF-Token, or
// form field csrf_token) against the session's. Error: CodeCSRF.
func (s *Service) CheckCSRF(r *http.Request, sess vaxbook.Session) error {
	tok := r.Header.Get(CSRFHeader)
	if tok == "" {
		tok = r.PostFormValue(CSRFField)
	}
	if !equalSecret(tok, sess.CSRFToken) {
		return vaxbook.Errorf(vaxbook.CodeCSRF, "The form or request is missing its security token, or it is stale. Please reload the page.")
	}
	return nil
}

// CSRFInput is the hidden form field that carries sess's CSRF token, for
// HTML forms that post to routes checked with CheckCSRF.
func CSRFInput(sess vaxbook.Session) template.HTML {
	return template.HTML(`<input type="hidden" name="` + CSRFField + `" value="` + template.HTMLEscapeString(sess.CSRFToken) + `">`)
}

// logout ends the session (CSRF token required) and sends the browser to
// LogoutURL. The device lock stays: it belongs to the booking window.
func (s *Service) logout(w http.ResponseWriter, r *http.Request) {
	now := s.clock.Now()
	sess, _, err := s.Current(r, now)
	switch vaxbook.ErrorCode(err) {
	case "":
		if err := s.CheckCSRF(r, sess); err != nil {
			writeProblem(w, err, Outcome{})
			return
		}
		if err := s.deleteSession(r.Context(), sess.ID); err != nil {
			writeProblem(w, vaxbook.Errorf(vaxbook.CodeUnavailable, "Please try again in a moment."), Outcome{})
			return
		}
		s.log.Info("identity logout", "person", sess.PersonID)
	case vaxbook.CodeNotSignedIn, vaxbook.CodeSessionExpired:
		// Nothing to end; clear the cookie anyway.
	default:
		writeProblem(w, vaxbook.Errorf(vaxbook.CodeUnavailable, "Please try again in a moment."), Outcome{})
		return
	}
	http.SetCookie(w, s.cookie(r, SessionCookie, "", "/", -1))
	http.Redirect(w, r, s.cfg.LogoutURL, http.StatusSeeOther)
}

// ReleaseDeviceLock removes a person's device lock for one booking window
// (an operator's decision, e.g. a lost phone) and audits it. The person's
// sessions stay valid; the next device to verify takes the lock.
func (s *Service) ReleaseDeviceLock(ctx context.Context, operator string, personID int64, campaignID, windowID, reason string, now time.Time) error {
	if operator == "" {
		return vaxbook.InvalidParam("operator", "an operator name is required")
	}
	if personID <= 0 || campaignID == "" || windowID == "" {
		return vaxbook.InvalidParam("lock", "person id, campaign id and window id are required")
	}
	if err := s.cfg.Store.ReleaseDeviceLock(ctx, personID, campaignID, windowID); err != nil {
		return err
	}
	detail, _ := jsonString(map[string]any{"campaign_id": campaignID, "window_id": windowID, "reason": reason})
	err := s.cfg.Store.Audit(ctx, vaxbook.AuditEntry{
		At: now, Actor: operator, Action: "devicelock.release",
		Target: "person:" + itoa(personID), Detail: detail,
	})
	if err != nil {
		return err
	}
	s.log.Info("device lock released", "operator", operator, "person", personID, "campaign", campaignID, "window", windowID)
	return nil
}
