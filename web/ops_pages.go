package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"vaxbook"
	"vaxbook/devidp"
	"vaxbook/i18n"
	"vaxbook/identity"
	"vaxbook/ops"
)

//go:embed opstemplates/*.html
var opsTemplateFS embed.FS

//go:embed opsstatic
var opsStaticFS embed.FS

// opsLangCookie remembers an operator's language choice.
const opsLangCookie = "vb_lang"

type staticFile struct {
	body  []byte
	ctype string
	tag   string // content hash: the ?v= of its URL
}

// opsStatic loads the embedded dashboard assets (uPlot is vendored with its
// licence under opsstatic/vendor/uplot).
func opsStatic() map[string]staticFile {
	out := map[string]staticFile{}
	_ = fs.WalkDir(opsStaticFS, "opsstatic", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := opsStaticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" || path.Base(p) == "LICENSE" {
			ct = "text/plain; charset=utf-8"
		}
		out[strings.TrimPrefix(p, "opsstatic/")] = staticFile{body: b, ctype: ct, tag: hex.EncodeToString(sum[:6])}
		return nil
	})
	return out
}

func (o *opsServer) serveStatic(w http.ResponseWriter, r *http.Request) {
	f, ok := o.static[r.PathValue("file")]
	if !ok {
		o.notFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == f.tag {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("ETag", `"`+f.tag+`"`)
	if r.Header.Get("If-None-Match") == `"`+f.tag+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(f.body)
}

// asset is the versioned URL of a static file.
func (o *opsServer) asset(name string) string {
	return "/ops/static/" + name + "?v=" + o.static[name].tag
}

func fmtInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func fmtFloat(f float64, digits int) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "–"
	}
	return strconv.FormatFloat(f, 'f', digits, 64)
}

var opsFuncs = template.FuncMap{
	"num": func(v any) string {
		switch n := v.(type) {
		case int:
			return fmtInt(int64(n))
		case int64:
			return fmtInt(n)
		case float64:
			return fmtInt(int64(math.Round(n)))
		}
		return fmt.Sprint(v)
	},
	"f1":  func(f float64) string { return fmtFloat(f, 1) },
	"f2":  func(f float64) string { return fmtFloat(f, 2) },
	"pct": func(f float64) string { return fmtFloat(100*f, 1) + "%" },
	"dur": func(d vaxbook.Duration) string {
		if d == 0 {
			return ""
		}
		return time.Duration(d).String()
	},
	"ms": func(d time.Duration) string { return fmtFloat(float64(d.Microseconds())/1000, 1) },
}

func opsTemplates() *template.Template {
	return template.Must(template.New("ops").Funcs(opsFuncs).ParseFS(opsTemplateFS, "opstemplates/*.html"))
}

// opsView is what every ops template gets.
type opsView struct {
	Lang, Other string
	Path        string
	Operator    string
	CSRF        string
	Node        string
	Now         string
	CSS, JS     []string
	cat         *i18n.Catalog

	// Login.
	LoginToken string // the sign-in form's double-submit token
	Message    string
	Name       string
	Error      bool
	// Error page.
	Status int
	Code   string
	Detail string
	// Dashboard.
	Board     bool
	Snap      ops.Snapshot
	WaitRoom  waitRoomJSON
	Modes     []string
	Decisions []string
	Charts    []chartView
	IdP       []devidp.ProviderStatus
	Windows   []vaxbook.Window
	Audit     []vaxbook.AuditEntry
	Done      string
	Form      formError
	Loc       *time.Location
}

// chartView is one live chart: its element id, title and series names (in
// the order ops.js feeds them).
type chartView struct {
	ID, Title string
	Series    []string
}

// SeriesJSON is the series names for the script.
func (c chartView) SeriesJSON() string {
	b, _ := json.Marshal(c.Series)
	return string(b)
}

// formError is a refused dashboard form, shown next to it with what the
// operator typed.
type formError struct {
	Section string
	Message string
	Values  map[string]string
}

// T translates key into the page's language.
func (v opsView) T(key string, args ...any) string {
	if v.cat == nil {
		return key
	}
	return v.cat.T(v.Lang, key, args...)
}

// When formats an instant in the campaign's time zone.
func (v opsView) When(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.In(v.Loc).Format("2006-01-02 15:04:05")
}

// Light is the translated traffic light.
func (v opsView) Light(l identity.Light) string { return v.T("ops.light." + string(l)) }

// FormValue returns what the operator typed into field name of section, or
// def.
func (v opsView) FormValue(section, name, def string) string {
	if v.Form.Section == section {
		if s, ok := v.Form.Values[name]; ok {
			return s
		}
	}
	return def
}

// langParam is an explicit ?lang= choice ("" if none or unknown).
func langParam(r *http.Request) string {
	switch l := r.URL.Query().Get("lang"); l {
	case "ko", "en":
		return l
	}
	return ""
}

// lang picks the page language: ?lang= (remembered in a cookie), the
// cookie, Accept-Language, Korean.
func (o *opsServer) lang(w http.ResponseWriter, r *http.Request) string {
	if l := langParam(r); l != "" {
		http.SetCookie(w, &http.Cookie{Name: opsLangCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: o.s.cfg.SecureCookies || r.TLS != nil})
		return l
	}
	explicit := ""
	if c, err := r.Cookie(opsLangCookie); err == nil {
		explicit = c.Value
	}
	if o.s.cfg.I18n == nil {
		if explicit == "en" {
			return "en"
		}
		return "ko"
	}
	return o.s.cfg.I18n.Match(explicit, r.Header.Get("Accept-Language"))
}

func (o *opsServer) view(w http.ResponseWriter, r *http.Request) opsView {
	lang := o.lang(w, r)
	other := "en"
	if lang == "en" {
		other = "ko"
	}
	return opsView{Lang: lang, Other: other, Path: r.URL.Path, cat: o.s.cfg.I18n, Loc: o.s.loc(),
		CSS: []string{o.asset("vendor/uplot/uPlot.min.css"), o.asset("ops.css")},
		JS:  []string{o.asset("vendor/uplot/uPlot.iife.min.js"), o.asset("ops.js")}}
}

// opsCSP allows only this origin's scripts and styles (uPlot sets element
// styles from script, which CSP does not restrict).
const opsCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func (o *opsServer) renderView(w http.ResponseWriter, r *http.Request, status int, name string, v opsView) {
	var buf bytes.Buffer
	if err := o.pages.ExecuteTemplate(&buf, name, v); err != nil {
		o.s.log.ErrorContext(r.Context(), "ops: render", "template", name, "err", err, "request_id", requestID(r.Context()))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", opsCSP)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// render renders a page whose extra data is a map (sign-in page).
func (o *opsServer) render(w http.ResponseWriter, r *http.Request, status int, name string, data map[string]any) {
	v := o.view(w, r)
	if s, ok := data["LoginToken"].(string); ok {
		v.LoginToken = s
	}
	if s, ok := data["Message"].(string); ok {
		v.Message = s
	}
	if s, ok := data["Name"].(string); ok {
		v.Name = s
	}
	if b, ok := data["Error"].(bool); ok {
		v.Error = b
	}
	o.renderView(w, r, status, name, v)
}

// errorPage answers err as an ops HTML page.
func (o *opsServer) errorPage(w http.ResponseWriter, r *http.Request, err error) {
	code := vaxbook.ErrorCode(err)
	v := o.view(w, r)
	v.Status, v.Code, v.Detail = statusOf(code), string(code), vaxbook.ErrorMessage(err)
	if _, ok := err.(*vaxbook.Error); !ok && code == vaxbook.CodeInternal {
		o.s.log.ErrorContext(r.Context(), "ops: internal error", "err", err, "request_id", requestID(r.Context()))
	}
	o.renderView(w, r, v.Status, "error", v)
}

func (o *opsServer) notFound(w http.ResponseWriter, r *http.Request) {
	o.errorPage(w, r, vaxbook.Errorf(vaxbook.CodeNotFound, "There is no such page."))
}

// dashboardView gathers what the dashboard shows.
func (o *opsServer) dashboardView(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time) opsView {
	v := o.view(w, r)
	v.Operator, v.CSRF = a.name, a.sess.CSRFToken
	v.Now = v.When(now)
	v.Modes = []string{string(vaxbook.ModeAuto), string(vaxbook.ModeFixed), string(vaxbook.ModePaused), string(vaxbook.ModeDrain)}
	v.Decisions = []string{vaxbook.DecisionIncrease, vaxbook.DecisionDecreaseLatency, vaxbook.DecisionDecreaseErrors,
		vaxbook.DecisionHold, vaxbook.DecisionFixed}
	var stages []string
	for _, st := range ops.Stages() {
		stages = append(stages, v.T("ops.stage."+st.String()))
	}
	v.Charts = []chartView{
		{ID: "chart-flow", Title: v.T("ops.charts.flow"), Series: []string{v.T("ops.flow.arrivals"), v.T("ops.flow.admitted"),
			v.T("ops.flow.bookings"), v.T("ops.flow.rate"), v.T("ops.flow.outflow")}},
		{ID: "chart-queue", Title: v.T("ops.charts.queue"), Series: []string{v.T("ops.flow.waiting"), v.T("ops.flow.active")}},
		{ID: "chart-latency", Title: v.T("ops.charts.latency"), Series: stages},
	}
	if o.cfg.Board != nil {
		v.Board = true
		v.Snap = o.cfg.Board.Latest()
		if v.Snap.Seq == 0 {
			v.Snap = o.cfg.Board.Sample(r.Context(), now)
		}
		v.Node = v.Snap.Node
	}
	if wr, err := o.waitRoom(); err == nil {
		if st, err := wr.State(r.Context(), now); err == nil {
			v.WaitRoom = toWaitRoomJSON(st)
			v.Node = st.Node
		} else {
			o.s.log.WarnContext(r.Context(), "ops: waiting room state", "err", err)
		}
	}
	if o.cfg.IdP != nil {
		v.IdP = o.cfg.IdP.Status()
	}
	v.Windows = o.s.engine.Campaign().Windows
	if p, err := o.auditEntries(r.Context(), 0, 20); err == nil {
		v.Audit = p.Entries
	}
	switch d := r.URL.Query().Get("done"); d {
	case "waitroom", "idp", "devicelock", "providers":
		v.Done = d
	}
	return v
}

func (o *opsServer) dashboard(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time) {
	o.renderView(w, r, http.StatusOK, "dashboard", o.dashboardView(w, r, a, now))
}

// refuseForm shows the dashboard again with the form's error next to it.
func (o *opsServer) refuseForm(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time, section string, err error) {
	code := vaxbook.ErrorCode(err)
	if code == vaxbook.CodeInternal {
		o.s.log.ErrorContext(r.Context(), "ops: form", "section", section, "err", err, "request_id", requestID(r.Context()))
	}
	v := o.dashboardView(w, r, a, now)
	msg := v.T("code." + string(code))
	if d := vaxbook.ErrorMessage(err); d != "" && code != vaxbook.CodeInternal {
		msg += " (" + d + ")"
	}
	v.Form = formError{Section: section, Message: msg, Values: map[string]string{}}
	for k, vs := range r.PostForm {
		if k != identity.CSRFField && len(vs) > 0 {
			v.Form.Values[k] = vs[0]
		}
	}
	o.renderView(w, r, statusOf(code), "dashboard", v)
}

func done(w http.ResponseWriter, r *http.Request, what, anchor string) {
	http.Redirect(w, r, "/ops/?done="+what+"#"+anchor, http.StatusSeeOther)
}

// formFloat reads a number field; ok is false when it is empty (keep the
// current value).
func formFloat(r *http.Request, name string) (v float64, ok bool, err error) {
	s := strings.TrimSpace(r.PostFormValue(name))
	if s == "" {
		return 0, false, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !finite(f) {
		return 0, false, vaxbook.InvalidParam(name, "%s must be a number", name)
	}
	return f, true, nil
}

// formDuration reads a duration field ("200ms", "2s"; a bare number is
// milliseconds); ok is false when it is empty.
func formDuration(r *http.Request, name string) (v vaxbook.Duration, ok bool, err error) {
	s := strings.TrimSpace(r.PostFormValue(name))
	if s == "" {
		return 0, false, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		s = fmt.Sprintf("%gms", f)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, false, vaxbook.InvalidParam(name, "%s must be a duration such as 200ms or 2s", name)
	}
	return vaxbook.Duration(d), true, nil
}

// floatField sets *dst from field name when it is given.
func floatField(r *http.Request, name string, dst **float64) error {
	v, ok, err := formFloat(r, name)
	if ok {
		*dst = &v
	}
	return err
}

// durationField sets *dst from field name when it is given.
func durationField(r *http.Request, name string, dst **vaxbook.Duration) error {
	v, ok, err := formDuration(r, name)
	if ok {
		*dst = &v
	}
	return err
}

func (o *opsServer) formWaitRoom(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time) {
	var p settingsPatch
	if m := strings.TrimSpace(r.PostFormValue("mode")); m != "" {
		p.Mode = &m
	}
	err := firstErr(floatField(r, "rate_per_s", &p.RatePerS), floatField(r, "min_rate", &p.MinRate),
		floatField(r, "max_rate", &p.MaxRate))
	if err == nil {
		if s := strings.TrimSpace(r.PostFormValue("max_active")); s != "" {
			n, perr := strconv.ParseInt(s, 10, 64)
			if perr != nil {
				err = vaxbook.InvalidParam("max_active", "max_active must be a whole number")
			}
			p.MaxActive = &n
		}
	}
	if err == nil {
		_, err = o.setWaitRoom(r.Context(), a, p, now)
	}
	if err != nil {
		o.refuseForm(w, r, a, now, "waitroom", err)
		return
	}
	done(w, r, "waitroom", "waitroom")
}

func (o *opsServer) formIdP(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time) {
	name := r.PathValue("provider")
	var p emulationPatch
	var median, p99 *vaxbook.Duration
	err := firstErr(floatField(r, "capacity", &p.Capacity), floatField(r, "error_rate", &p.ErrorRate),
		durationField(r, "median", &median), durationField(r, "p99", &p99), durationField(r, "max_queue", &p.MaxQueue))
	if err == nil {
		if median != nil || p99 != nil {
			p.Latency = &struct {
				Median *vaxbook.Duration `json:"median"`
				P99    *vaxbook.Duration `json:"p99"`
			}{median, p99}
		}
		outage := r.PostFormValue("outage") != ""
		p.Outage = &outage
		_, err = o.setEmulation(r.Context(), a, name, p, now)
	}
	if err != nil {
		o.refuseForm(w, r, a, now, "idp-"+name, err)
		return
	}
	done(w, r, "idp", "idp")
}

func (o *opsServer) formProvider(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time) {
	var err error
	switch v := r.PostFormValue("enabled"); v {
	case "true", "false":
		_, err = o.setProvider(r.Context(), a, r.PathValue("provider"), v == "true", r.PostFormValue("reason"), now)
	default:
		err = vaxbook.InvalidParam("enabled", "enabled must be true or false")
	}
	if err != nil {
		o.refuseForm(w, r, a, now, "providers", err)
		return
	}
	done(w, r, "providers", "providers")
}

func (o *opsServer) formDeviceLock(w http.ResponseWriter, r *http.Request, a opsActor, now time.Time) {
	person, err := parseID("person", strings.TrimSpace(r.PostFormValue("person")))
	var win vaxbook.Window
	if err == nil {
		err = vaxbook.InvalidParam("window", "choose one of the campaign's windows")
		for _, cw := range o.s.engine.Campaign().Windows {
			if cw.ID == r.PostFormValue("window") {
				win, err = cw, nil
			}
		}
	}
	if err == nil {
		_, err = o.releaseLock(r.Context(), a, person, win, r.PostFormValue("reason"), now)
	}
	if err != nil {
		o.refuseForm(w, r, a, now, "devicelock", err)
		return
	}
	done(w, r, "devicelock", "devicelocks")
}

// Server-Sent Events.
const (
	sseMaxLife     = 30 * time.Minute // the browser reconnects (with a fresh session check)
	sseCheckEvery  = 60               // frames between session checks
	sseRetryMillis = 3000
)

// events streams the board: the series so far, then one snapshot a second,
// the same bytes for every watcher. Operators only, with the session's CSRF
// token in the query (EventSource cannot send headers).
func (o *opsServer) events(w http.ResponseWriter, r *http.Request) {
	now := o.s.clock.Now()
	sess, err := o.session(r, now)
	if err == nil && !csrfOK(r, sess) {
		err = vaxbook.Errorf(vaxbook.CodeCSRF, "The event stream needs the session's csrf_token.")
	}
	if err == nil && o.cfg.Board == nil {
		err = vaxbook.Errorf(vaxbook.CodeUnavailable, "the dashboard is not running on this server")
	}
	if err != nil {
		writeProblem(w, r, o.s.log, err)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	first, seq := o.cfg.Board.Stream()
	if _, err := fmt.Fprintf(w, "retry: %d\n\n", sseRetryMillis); err != nil {
		return
	}
	if _, err := w.Write(first); err != nil || rc.Flush() != nil {
		return
	}
	ctx := r.Context()
	stop := time.NewTimer(sseMaxLife)
	defer stop.Stop()
	for frames := 1; ; frames++ {
		select {
		case <-stop.C:
			return
		default:
		}
		frame, next, ok := o.cfg.Board.Next(ctx, seq)
		if !ok {
			return
		}
		seq = next
		if _, err := w.Write(frame); err != nil || rc.Flush() != nil {
			return
		}
		if frames%sseCheckEvery == 0 {
			if _, err := o.session(r, o.s.clock.Now()); err != nil {
				_, _ = w.Write([]byte("event: signed_out\ndata: {}\n\n"))
				_ = rc.Flush()
				return
			}
		}
	}
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
