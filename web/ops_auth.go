package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"vaxbook"
	"vaxbook/identity"
)

// Operator sessions are server-side sessions in the same store as the
// citizens' (Operator set, PersonID 0) under their own cookie, vb_ops
// (HttpOnly, SameSite=Strict). A citizen's session never authorises an ops
// route, and an operator's session is never a citizen's: identity finds no
// person in it.
const (
	opsCookie      = "vb_ops"
	opsLoginCookie = "vb_ops_login" // double-submit token of the sign-in form (before there is a session)
	opsProvider    = "ops"
	opsTouchEvery  = time.Minute
	opsMaxPassword = 72
)

// opsActor is an authenticated operator.
type opsActor struct {
	name string
	sess *vaxbook.Session // nil for HTTP Basic
}

func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // the system's randomness failed: nothing is safe any more
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (o *opsServer) cookie(r *http.Request, name, value, path string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: o.s.cfg.SecureCookies || r.TLS != nil}
}

// clientKey is the limiter's key of the request's address (the direct
// peer: forwarded headers are not trusted).
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}

// throttled returns how long the name or the address is locked out.
func (o *opsServer) throttled(r *http.Request, name string, now time.Time) time.Duration {
	return max(o.limiter.Allow("name:"+name, now), o.addrLimiter.Allow(clientKey(r), now))
}

func (o *opsServer) failed(r *http.Request, name string, now time.Time) {
	o.limiter.Fail("name:"+name, now)
	o.addrLimiter.Fail(clientKey(r), now)
}

func rateLimited(wait time.Duration) error {
	return vaxbook.Errorf(vaxbook.CodeRateLimited, "Too many failed sign-ins. Try again in %d minutes.", int(wait.Minutes())+1)
}

// checkPassword verifies an operator's credentials, counting failures
// against the name and the client address.
func (o *opsServer) checkPassword(r *http.Request, name, password string, now time.Time) error {
	if wait := o.throttled(r, name, now); wait > 0 {
		return rateLimited(wait)
	}
	if o.cfg.Accounts == nil || !o.cfg.Accounts.Verify(name, password, now) {
		o.failed(r, name, now)
		o.s.log.InfoContext(r.Context(), "ops sign-in failed", "request_id", requestID(r.Context()))
		return vaxbook.Errorf(vaxbook.CodeAuthFailed, "Wrong operator name or password.")
	}
	o.limiter.Reset("name:" + name)
	return nil
}

// session returns the request's operator session, if any.
func (o *opsServer) session(r *http.Request, now time.Time) (vaxbook.Session, error) {
	ck, err := r.Cookie(opsCookie)
	if err != nil || ck.Value == "" || o.cfg.Sessions == nil {
		return vaxbook.Session{}, vaxbook.Errorf(vaxbook.CodeNotSignedIn, "Sign in as an operator.")
	}
	sess, err := o.cfg.Sessions.Session(r.Context(), ck.Value)
	if err != nil {
		if c := vaxbook.ErrorCode(err); c == vaxbook.CodeNotSignedIn || c == vaxbook.CodeNotFound {
			return vaxbook.Session{}, vaxbook.Errorf(vaxbook.CodeNotSignedIn, "Sign in as an operator.")
		}
		return vaxbook.Session{}, err
	}
	if sess.Operator == "" || sess.PersonID != 0 || o.cfg.Accounts == nil || !o.cfg.Accounts.Has(sess.Operator) {
		return vaxbook.Session{}, vaxbook.Errorf(vaxbook.CodeNotSignedIn, "Sign in as an operator.")
	}
	if now.Sub(sess.LastSeen) > o.cfg.IdleTimeout || now.Sub(sess.CreatedAt) > o.cfg.AbsoluteTimeout {
		_ = o.cfg.Sessions.DeleteSession(r.Context(), sess.ID)
		return vaxbook.Session{}, vaxbook.Errorf(vaxbook.CodeSessionExpired, "Your operator session has expired. Please sign in again.")
	}
	if now.Sub(sess.LastSeen) > opsTouchEvery {
		if err := o.cfg.Sessions.TouchSession(r.Context(), sess.ID, now); err != nil {
			o.s.log.WarnContext(r.Context(), "ops: touch session", "err", err)
		}
		sess.LastSeen = now
	}
	return sess, nil
}

func csrfOK(r *http.Request, sess vaxbook.Session) bool {
	tok := r.Header.Get(identity.CSRFHeader)
	if tok == "" && (r.Method == http.MethodPost) {
		tok = r.PostFormValue(identity.CSRFField)
	}
	if tok == "" {
		tok = r.URL.Query().Get(identity.CSRFField)
	}
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(sess.CSRFToken)) == 1
}

// operator authenticates an ops request: an operator session with its CSRF
// token (header X-CSRF-Token, form field or query csrf_token), or HTTP Basic
// with an operator account (scripts). A citizen's session gets forbidden.
func (o *opsServer) operator(r *http.Request, now time.Time) (opsActor, error) {
	if name, pw, ok := r.BasicAuth(); ok {
		if err := o.checkPassword(r, name, pw, now); err != nil {
			return opsActor{}, err
		}
		return opsActor{name: name}, nil
	}
	sess, err := o.session(r, now)
	if err != nil {
		if vaxbook.ErrorCode(err) == vaxbook.CodeNotSignedIn {
			if _, cerr := r.Cookie(identity.SessionCookie); cerr == nil {
				return opsActor{}, vaxbook.Errorf(vaxbook.CodeForbidden, "This is for operators only.")
			}
		}
		return opsActor{}, err
	}
	if !csrfOK(r, sess) {
		return opsActor{}, vaxbook.Errorf(vaxbook.CodeCSRF, "The request is missing the operator session's X-CSRF-Token, or it is stale.")
	}
	return opsActor{name: sess.Operator, sess: &sess}, nil
}

// api wraps an ops API handler with authentication.
func (o *opsServer) api(h func(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		now := o.s.clock.Now()
		a, err := o.operator(r, now)
		if err != nil {
			w.Header().Set("Cache-Control", "no-store")
			if c := vaxbook.ErrorCode(err); (c == vaxbook.CodeNotSignedIn || c == vaxbook.CodeAuthFailed) && r.Header.Get(identity.CSRFHeader) == "" {
				// Scripts learn they may use Basic; the dashboard's own
				// calls (with the CSRF header) get no browser prompt.
				w.Header().Set("WWW-Authenticate", `Basic realm="vaxbook ops", charset="UTF-8"`)
			}
			writeProblem(w, r, o.s.log, err)
			return
		}
		h(w, r, a, now)
	}
}

// page wraps a dashboard handler: operators only (others go to the sign-in
// page), and form posts need the session's CSRF token.
func (o *opsServer) page(h func(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		now := o.s.clock.Now()
		sess, err := o.session(r, now)
		if err != nil {
			if vaxbook.ErrorCode(err) == vaxbook.CodeNotSignedIn || vaxbook.ErrorCode(err) == vaxbook.CodeSessionExpired {
				q := url.Values{}
				if vaxbook.ErrorCode(err) == vaxbook.CodeSessionExpired {
					q.Set("expired", "1")
				}
				if l := r.URL.Query().Get("lang"); l != "" {
					q.Set("lang", l)
				}
				target := "/ops/login"
				if len(q) > 0 {
					target += "?" + q.Encode()
				}
				http.SetCookie(w, o.cookie(r, opsCookie, "", "/", -1))
				http.Redirect(w, r, target, http.StatusSeeOther)
				return
			}
			o.errorPage(w, r, err)
			return
		}
		if r.Method != http.MethodGet {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		if r.Method != http.MethodGet && !csrfOK(r, sess) {
			o.errorPage(w, r, vaxbook.Errorf(vaxbook.CodeCSRF, "The form is missing its security token, or it is stale."))
			return
		}
		h(w, r, opsActor{name: sess.Operator, sess: &sess}, now)
	}
}

// loginPage shows the sign-in form with a fresh double-submit token.
func (o *opsServer) loginPage(w http.ResponseWriter, r *http.Request) {
	now := o.s.clock.Now()
	if _, err := o.session(r, now); err == nil {
		http.Redirect(w, r, "/ops/", http.StatusSeeOther)
		return
	}
	msg := ""
	if r.URL.Query().Get("expired") == "1" {
		msg = "ops.login.expired"
	}
	if r.URL.Query().Get("out") == "1" {
		msg = "ops.login.signed_out"
	}
	o.renderLogin(w, r, http.StatusOK, msg, "")
}

func (o *opsServer) renderLogin(w http.ResponseWriter, r *http.Request, status int, msgKey, name string) {
	tok := randomID(24)
	http.SetCookie(w, o.cookie(r, opsLoginCookie, tok, "/ops/login", 3600))
	o.render(w, r, status, "login", map[string]any{"LoginToken": tok, "Message": msgKey, "Name": name,
		"Error": status >= 400})
}

// login checks the form's credentials and starts an operator session
// (a new id at every sign-in).
func (o *opsServer) login(w http.ResponseWriter, r *http.Request) {
	now := o.s.clock.Now()
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	name, pw := r.PostFormValue("name"), r.PostFormValue("password")
	ck, err := r.Cookie(opsLoginCookie)
	form := r.PostFormValue(identity.CSRFField)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(form)) != 1 {
		o.renderLogin(w, r, http.StatusForbidden, "ops.login.stale", "")
		return
	}
	if len(name) > 64 {
		name = name[:64]
	}
	if err := o.checkPassword(r, name, pw, now); err != nil {
		status, key := http.StatusUnauthorized, "ops.login.failed"
		if vaxbook.ErrorCode(err) == vaxbook.CodeRateLimited {
			status, key = http.StatusTooManyRequests, "ops.login.locked"
			w.Header().Set("Retry-After", strconv.Itoa(int(o.throttled(r, name, now).Seconds())+1))
		}
		o.renderLogin(w, r, status, key, name)
		return
	}
	if o.cfg.Sessions == nil {
		o.errorPage(w, r, vaxbook.Errorf(vaxbook.CodeUnavailable, "operator sessions are not configured"))
		return
	}
	if old, err := r.Cookie(opsCookie); err == nil && old.Value != "" {
		_ = o.cfg.Sessions.DeleteSession(r.Context(), old.Value)
	}
	sess := vaxbook.Session{ID: randomID(32), Operator: name, Provider: opsProvider, CSRFToken: randomID(24),
		CreatedAt: now, LastSeen: now}
	if err := o.cfg.Sessions.CreateSession(r.Context(), sess); err != nil {
		o.s.log.ErrorContext(r.Context(), "ops: create session", "err", err)
		o.errorPage(w, r, vaxbook.Errorf(vaxbook.CodeUnavailable, "Please try again in a moment."))
		return
	}
	o.s.log.InfoContext(r.Context(), "ops sign-in", "operator", name, "request_id", requestID(r.Context()))
	http.SetCookie(w, o.cookie(r, opsLoginCookie, "", "/ops/login", -1))
	http.SetCookie(w, o.cookie(r, opsCookie, sess.ID, "/", int(o.cfg.AbsoluteTimeout.Seconds())))
	target := "/ops/"
	if l := langParam(r); l != "" {
		target += "?lang=" + l
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// logout ends the operator session (CSRF token required).
func (o *opsServer) logout(w http.ResponseWriter, r *http.Request) {
	now := o.s.clock.Now()
	sess, err := o.session(r, now)
	if err == nil {
		if !csrfOK(r, sess) {
			o.errorPage(w, r, vaxbook.Errorf(vaxbook.CodeCSRF, "The form is missing its security token, or it is stale."))
			return
		}
		if err := o.cfg.Sessions.DeleteSession(r.Context(), sess.ID); err != nil {
			o.errorPage(w, r, vaxbook.Errorf(vaxbook.CodeUnavailable, "Please try again in a moment."))
			return
		}
		o.s.log.InfoContext(r.Context(), "ops sign-out", "operator", sess.Operator, "request_id", requestID(r.Context()))
	}
	http.SetCookie(w, o.cookie(r, opsCookie, "", "/", -1))
	http.Redirect(w, r, "/ops/login?out=1", http.StatusSeeOther)
}
