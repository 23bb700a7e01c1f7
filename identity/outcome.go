package identity

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"vaxbook"
)

// Outcome is why a login was refused, for the page that tells the person:
// not your day / closed / not in the group / not in the registry / device
// locked / provider unavailable / sign-in failed.
type Outcome struct {
	Code     vaxbook.Code `json:"code"`
	Message  string       `json:"message"` // English; pages translate by Code
	Provider string       `json:"provider,omitempty"`
	// Window: eligibility refusals, the person's own window (nil for
	// not_in_group); device_locked, the window the lock holds.
	Window *vaxbook.Window `json:"window,omitempty"`
	// LockedAt and LockedWith (device_locked): when and with which provider
	// the first device verified.
	LockedAt   time.Time `json:"locked_at,omitzero"`
	LockedWith string    `json:"locked_with,omitempty"`
	// Alternative (provider_unavailable): a provider that works now.
	Alternative string    `json:"alternative,omitempty"`
	At          time.Time `json:"at"`
}

// Error makes an Outcome usable as an error; it unwraps to a *vaxbook.Error
// with the same code.
func (o Outcome) Error() string { return string(o.Code) + ": " + o.Message }

// Unwrap returns the *vaxbook.Error of the outcome.
func (o Outcome) Unwrap() error { return &vaxbook.Error{Code: o.Code, Message: o.Message} }

// Status is the HTTP status of a refusal code.
func Status(c vaxbook.Code) int {
	switch c {
	case vaxbook.CodeDeviceLocked, vaxbook.CodeConflict:
		return http.StatusConflict
	case vaxbook.CodeNotFound:
		return http.StatusNotFound
	case vaxbook.CodeInvalid:
		return http.StatusBadRequest
	case vaxbook.CodeProviderUnavailable, vaxbook.CodeUnavailable:
		return http.StatusServiceUnavailable
	case vaxbook.CodeNotSignedIn, vaxbook.CodeSessionExpired, vaxbook.CodeAuthFailed:
		return http.StatusUnauthorized
	case vaxbook.CodeInternal:
		return http.StatusInternalServerError
	}
	return http.StatusForbidden // eligibility, not_in_registry, csrf
}

// refuse answers a refused login: JSON clients get a problem document;
// browsers a sealed outcome cookie and a redirect to RefusedURL?code=….
func (s *Service) refuse(w http.ResponseWriter, r *http.Request, o Outcome) {
	o.At = s.clock.Now()
	s.log.Debug("identity login refused", "code", o.Code, "provider", o.Provider)
	w.Header().Set("Cache-Control", "no-store")
	if wantsJSON(r) {
		writeProblem(w, o, o)
		return
	}
	if v, err := s.seal.seal(OutcomeCookie, o); err == nil {
		http.SetCookie(w, s.cookie(r, OutcomeCookie, v, "/", outcomeTTL))
	}
	target := s.cfg.RefusedURL
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	http.Redirect(w, r, target+sep+"code="+url.QueryEscape(string(o.Code)), http.StatusSeeOther)
}

func wantsJSON(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}

// Outcome returns the refusal of the browser's last login, if it is
// recent (10 minutes by the server clock) and opens under this service's key.
func (s *Service) Outcome(r *http.Request, now time.Time) (Outcome, bool) {
	c, err := r.Cookie(OutcomeCookie)
	if err != nil {
		return Outcome{}, false
	}
	var o Outcome
	if s.seal.open(OutcomeCookie, c.Value, &o) != nil || now.Sub(o.At) > outcomeTTL || o.At.After(now.Add(time.Minute)) {
		return Outcome{}, false
	}
	return o, true
}

type problem struct {
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Status      int             `json:"status"`
	Code        vaxbook.Code    `json:"code"`
	Detail      string          `json:"detail"`
	Provider    string          `json:"provider,omitempty"`
	Window      *vaxbook.Window `json:"window,omitempty"`
	LockedAt    *time.Time      `json:"locked_at,omitempty"`
	LockedWith  string          `json:"locked_with,omitempty"`
	Alternative string          `json:"alternative,omitempty"`
}

// writeProblem answers err as application/problem+json, with the details
// of o.
func writeProblem(w http.ResponseWriter, err error, o Outcome) {
	code := vaxbook.ErrorCode(err)
	st := Status(code)
	p := problem{
		Type: "about:blank", Title: http.StatusText(st), Status: st, Code: code,
		Detail: vaxbook.ErrorMessage(err), Provider: o.Provider, Window: o.Window,
		LockedWith: o.LockedWith, Alternative: o.Alternative,
	}
	if !o.LockedAt.IsZero() {
		p.LockedAt = &o.LockedAt
	}
	if o.Message != "" {
		p.Detail = o.Message
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	if st == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	w.WriteHeader(st)
	_ = json.NewEncoder(w).Encode(p)
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
