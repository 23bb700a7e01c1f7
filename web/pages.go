package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"vaxbook"
	"vaxbook/i18n"
	"vaxbook/identity"
	"vaxbook/ops"
)

// PagesConfig configures the citizen pages.
type PagesConfig struct {
	// CallCentre is the helpline the pages send people to when only a
	// person can help (default "1339", the KDCA call centre).
	CallCentre string
	// Demo shows a banner saying the node serves synthetic people.
	Demo bool
}

func (c PagesConfig) withDefaults() PagesConfig {
	if c.CallCentre == "" {
		c.CallCentre = "1339"
	}
	return c
}

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// langCookie remembers an explicit language choice (?lang=).
const langCookie = "vb_lang"

// contentSecurity is the Content-Security-Policy of every page: nothing
// but this origin's own files, no inline script or style, no framing.
const contentSecurity = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// pageSet holds the parsed templates (one per page, each with the layout)
// and the embedded static files with their content hashes. It is built
// once from embedded files and never changes.
type pageSet struct {
	tmpl   map[string]*template.Template
	assets map[string]string // file name → short content hash
	static fs.FS
}

var pageFiles = mustPageSet()

func mustPageSet() *pageSet {
	ps, err := loadPageSet()
	if err != nil {
		panic(err) // embedded files: a build defect
	}
	return ps
}

func loadPageSet() (*pageSet, error) {
	ps := &pageSet{tmpl: map[string]*template.Template{}, assets: map[string]string{}}
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	ps.static = sub
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ps.assets[p] = hex.EncodeToString(sum[:5])
		return nil
	})
	if err != nil {
		return nil, err
	}
	base, err := template.New("layout.html").ParseFS(templateFiles, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	names, err := fs.Glob(templateFiles, "templates/page_*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := t.ParseFS(templateFiles, n); err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		ps.tmpl[strings.TrimSuffix(strings.TrimPrefix(path.Base(n), "page_"), ".html")] = t
	}
	return ps, nil
}

// view is what every page template gets: the language, the clock, the
// signed-in session (if the handler looked it up) and the page's own data in
// P. Templates call its methods for every text ({{.T "key"}}) and time.
type view struct {
	cat *i18n.Catalog
	loc *time.Location

	Lang       string
	OtherLang  string
	LangURL    string // this page in the other language
	Title      string
	Now        time.Time
	Sess       *vaxbook.Session
	Demo       bool
	CallCentre string
	// Refresh, when positive, makes the page reload itself after that many
	// seconds when JavaScript is off (the waiting room without script).
	Refresh int
	// Main is a class for <main> (page-specific layout).
	Main string
	P    any
}

// T translates key with fmt args.
func (v *view) T(key string, args ...any) string { return v.cat.T(v.Lang, key, args...) }

// N translates a message about n things: key+".one" when n is 1 and the
// catalog has it (English singular), else key; n is the first argument.
func (v *view) N(key string, n any, args ...any) string {
	one := false
	switch x := n.(type) {
	case int:
		one = x == 1
	case int64:
		one = x == 1
	}
	if k := key + ".one"; one && v.cat.Has(k) {
		key = k
	}
	return v.T(key, append([]any{n}, args...)...)
}

// Raw is a message with its fmt verbs left in (for script to fill).
func (v *view) Raw(key string) string { return v.cat.T(v.Lang, key) }

// Hint is what to do about a code ("" if the catalog has no hint for it);
// "{phone}" in it becomes the call centre's number.
func (v *view) Hint(c vaxbook.Code) string {
	k := "hint." + string(c)
	if !v.cat.Has(k) {
		return ""
	}
	return strings.ReplaceAll(v.T(k), "{phone}", v.CallCentre)
}

// Vaccine is a vaccine's name in the page's language.
func (v *view) Vaccine(name string) string {
	if k := "vaccine." + name; v.cat.Has(k) {
		return v.T(k)
	}
	return name
}

// WindowName says whom a window is for: "people born on the 7th, 17th or
// 27th" or "everyone in the group (late booking and changes)".
func (v *view) WindowName(w windowView) string {
	if w.Rotation && len(w.Digits) > 0 {
		return v.T("window.rotation", v.BirthDays(w.Digits))
	}
	return v.T("window.open")
}

// Code is the sentence for an error or decision code.
func (v *view) Code(c vaxbook.Code) string { return v.T("code." + string(c)) }

// CSRF is the hidden form field of the session's CSRF token.
func (v *view) CSRF() template.HTML {
	if v.Sess == nil {
		return ""
	}
	return identity.CSRFInput(*v.Sess)
}

// Asset is the URL of a static file, versioned by its content.
func (v *view) Asset(name string) string {
	return "/static/" + name + "?v=" + pageFiles.assets[name]
}

// When is an instant as people read it, in the campaign's zone (KST).
func (v *view) When(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(v.loc)
	return v.T("fmt.datetime", t.Year(), int(t.Month()), t.Day(), v.T(fmt.Sprintf("weekday.%d", t.Weekday())),
		t.Format("15:04"), v.T(fmt.Sprintf("month.%d", t.Month())))
}

// Day is a date as people read it.
func (v *view) Day(d vaxbook.Date) string {
	t := d.In(v.loc)
	return v.T("fmt.date", t.Year(), int(t.Month()), t.Day(), v.T(fmt.Sprintf("weekday.%d", t.Weekday())),
		"", v.T(fmt.Sprintf("month.%d", t.Month())))
}

// DayOf is the date of an instant as people read it.
func (v *view) DayOf(t time.Time) string { return v.Day(vaxbook.DateOf(t.In(v.loc))) }

// HM is the time of day of an instant ("14:30").
func (v *view) HM(t time.Time) string { return t.In(v.loc).Format("15:04") }

// ISO is an instant in RFC 3339 (for <time datetime>).
func (v *view) ISO(t time.Time) string { return t.In(v.loc).Format(time.RFC3339) }

// Millis is an instant in Unix milliseconds (for script).
func (v *view) Millis(t time.Time) int64 { return t.UnixMilli() }

// Dur is a wait as people read it ("about 5 minutes").
func (v *view) Dur(d time.Duration) string {
	switch {
	case d < time.Minute:
		return v.T("dur.under_minute")
	case d < time.Hour:
		return v.T("dur.minutes", int((d+30*time.Second)/time.Minute))
	default:
		m := int((d + 30*time.Second) / time.Minute)
		return v.T("dur.hours", m/60, m%60)
	}
}

// BirthDays lists the days of the month whose last digit is in digits:
// "7th, 17th or 27th" / "7일, 17일, 27일".
func (v *view) BirthDays(digits []int) string {
	var days []string
	for _, d := range digits {
		for day := 1; day <= 31; day++ {
			if day%10 == d {
				days = append(days, v.ordinal(day))
			}
		}
	}
	switch len(days) {
	case 0:
		return ""
	case 1:
		return days[0]
	}
	return strings.Join(days[:len(days)-1], v.T("list.sep")) + v.T("list.last") + days[len(days)-1]
}

func (v *view) ordinal(n int) string {
	key := "ord.other"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			key = "ord.1"
		case 2:
			key = "ord.2"
		case 3:
			key = "ord.3"
		}
	}
	return v.T(key, n)
}

// Light is the text of a provider traffic light.
func (v *view) Light(l identity.Light) string { return v.T("light." + string(l)) }

// newView starts a page: the language (?lang= sets the vb_lang cookie; then
// the cookie, Accept-Language, Korean), the clock, the language switch link.
func (s *Server) newView(w http.ResponseWriter, r *http.Request) *view {
	cfg := s.cfg.Pages.withDefaults()
	explicit := ""
	if q := r.URL.Query().Get("lang"); validLang(q) {
		explicit = q
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: q, Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil || s.cfg.SecureCookies})
	} else if c, err := r.Cookie(langCookie); err == nil && validLang(c.Value) {
		explicit = c.Value
	}
	lang := s.cfg.I18n.Match(explicit, r.Header.Get("Accept-Language"))
	v := &view{cat: s.cfg.I18n, loc: s.loc(), Lang: lang, Now: s.clock.Now(), Demo: cfg.Demo, CallCentre: cfg.CallCentre}
	v.OtherLang = "en"
	if lang == "en" {
		v.OtherLang = "ko"
	}
	q := url.Values{}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		for k, vals := range r.URL.Query() {
			if k != "lang" {
				q[k] = vals
			}
		}
	}
	q.Set("lang", v.OtherLang)
	v.LangURL = r.URL.Path + "?" + q.Encode()
	return v
}

func validLang(s string) bool { return s == "ko" || s == "en" }

// pageHandler serves one page; an error it returns is shown as an error page.
type pageHandler func(w http.ResponseWriter, r *http.Request, v *view) error

// page registers a page: a panic or an error becomes an HTML error page,
// never a stack trace or JSON.
func (s *Server) page(pattern string, h pageHandler) {
	s.handle(pattern, func(w http.ResponseWriter, r *http.Request) {
		v := s.newView(w, r)
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.ErrorContext(r.Context(), "page panic", "request_id", requestID(r.Context()), "route", r.Pattern,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if rec, ok := w.(*statusRecorder); !ok || rec.status == 0 {
				s.pageError(w, r, v, vaxbook.Errorf(vaxbook.CodeInternal, "internal error"))
			}
		}()
		if err := h(w, r, v); err != nil {
			s.pageError(w, r, v, err)
		}
	})
}

// render writes a page with the layout.
func render(w http.ResponseWriter, v *view, status int, name, titleKey string, data any) error {
	t, ok := pageFiles.tmpl[name]
	if !ok {
		return fmt.Errorf("web: no page template %q", name)
	}
	v.P = data
	v.Title = v.T(titleKey)
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", contentSecurity)
	h.Set("Content-Language", v.Lang)
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
	return nil
}

// link is an action offered on a page.
type link struct {
	Href, Label string
	Primary     bool
}

// errorPage is the data of the error page.
type errorPage struct {
	Code    vaxbook.Code
	Status  int
	Message string
	Window  *vaxbook.Window
	Hint    string // what to do, if the code has a specific hint
	Links   []link
	Request string // request id, for the helpline (internal errors)
}

// pageError shows err as an HTML page in the visitor's language: the
// sentence for its code, the person's window for eligibility refusals, and
// what to do next. Errors that are not *vaxbook.Error are logged and shown
// as the generic internal error.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, v *view, err error) {
	code := vaxbook.ErrorCode(err)
	if code == vaxbook.CodeInternal {
		s.log.ErrorContext(r.Context(), "page error", "path", r.URL.Path, "err", err, "request_id", requestID(r.Context()))
	}
	e := errorPage{Code: code, Status: statusOf(code), Message: v.Code(code)}
	var we windowError
	if errors.As(err, &we) {
		e.Window = we.window()
	}
	e.Hint = v.Hint(code)
	switch code {
	case vaxbook.CodeNotSignedIn, vaxbook.CodeSessionExpired, vaxbook.CodeAuthFailed:
		e.Links = append(e.Links, link{Href: "/#signin", Label: v.T("action.signin"), Primary: true})
	case vaxbook.CodePassRequired, vaxbook.CodePassInvalid, vaxbook.CodePassExpired, vaxbook.CodeNotInQueue:
		e.Links = append(e.Links, link{Href: "/queue", Label: v.T("action.queue"), Primary: true})
	case vaxbook.CodeAlreadyBooked, vaxbook.CodeBookingCancelled, vaxbook.CodeNotYourBooking:
		e.Links = append(e.Links, link{Href: "/bookings", Label: v.T("action.mybookings"), Primary: true})
	case vaxbook.CodeSlotFull, vaxbook.CodeDose2Unavailable, vaxbook.CodeSlotNotBookable:
		e.Links = append(e.Links, link{Href: "/book", Label: v.T("action.search"), Primary: true})
	case vaxbook.CodeInternal, vaxbook.CodeUnavailable, vaxbook.CodeRateLimited:
		e.Request = requestID(r.Context())
	}
	e.Links = append(e.Links, link{Href: "/", Label: v.T("action.home")})
	if code == vaxbook.CodeRateLimited || code == vaxbook.CodeUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	w.Header().Set(ops.CodeHeader, string(code)) // refusals by code on the dashboard and /metrics
	titleKey := "title.error"
	switch e.Status {
	case http.StatusNotFound:
		titleKey = "title.notfound"
	case http.StatusInternalServerError:
		titleKey = "title.internal"
	}
	if err := render(w, v, e.Status, "error", titleKey, e); err != nil {
		s.log.ErrorContext(r.Context(), "render error page", "err", err)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "<!doctype html><html lang=\"%s\"><title>vaxbook</title><p>%s</p></html>",
			v.Lang, template.HTMLEscapeString(v.Code(vaxbook.CodeInternal)))
	}
}

// notFoundPage answers every path no route claims.
func (s *Server) notFoundPage(w http.ResponseWriter, r *http.Request, v *view) error {
	return vaxbook.Errorf(vaxbook.CodeNotFound, "no page %s", clip(r.URL.Path))
}

// static serves the embedded CSS and script; versioned URLs are cached long.
func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if _, ok := pageFiles.assets[name]; !ok {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("v") != "" {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=300")
	}
	http.ServeFileFS(w, r, pageFiles.static, name)
}

// pageRoutes registers the citizen pages (HTML, Korean by default).
func (s *Server) pageRoutes() {
	s.page("GET /{$}", s.landing)
	s.page("POST /{$}", s.landing)
	s.page("GET /signin/refused", s.signinRefused)
	s.page("GET /queue", s.queuePage)
	s.page("GET /book", s.bookSearch)
	s.page("GET /book/clinic/{id}", s.bookClinic)
	s.page("GET /book/confirm", s.bookConfirm)
	s.page("POST /book/confirm", s.bookSubmit)
	s.page("GET /bookings", s.myBookingsPage)
	s.page("GET /bookings/{name}", s.bookingPage)
	s.page("GET /bookings/{id}/cancel", s.cancelPage)
	s.page("POST /bookings/{id}/cancel", s.cancelSubmit)
	s.handle("GET /static/{file}", s.static)
	s.page("/", s.notFoundPage)
}
