package ops

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Stage is a step of a citizen's way through the system whose latency the
// dashboard shows.
type Stage int

// Stages.
const (
	StageSignIn  Stage = iota // the identity callback: token exchange, registry, eligibility, device lock, session
	StageQueue                // joining and polling the waiting room
	StageSearch               // clinic search and slots
	StageBooking              // booking writes (book, change, cancel)
	numStages
)

var stageNames = [numStages]string{"signin", "queue", "search", "booking"}

// String returns the stage's name ("signin", "queue", "search", "booking").
func (s Stage) String() string {
	if s < 0 || s >= numStages {
		return "other"
	}
	return stageNames[s]
}

// Stages lists every stage in flow order.
func Stages() []Stage { return []Stage{StageSignIn, StageQueue, StageSearch, StageBooking} }

// StageRule puts requests into a stage: any of Methods (none: every
// method), a path starting with Prefix (equal to it with Exact) and, if set,
// ending with Suffix.
type StageRule struct {
	Stage   Stage
	Methods []string
	Prefix  string
	Exact   bool
	Suffix  string
}

// DefaultStageRules cover the JSON API, the identity callback and the
// citizen pages (/queue, /book, /book/clinic/{id}, /book/confirm,
// /bookings/{id}/cancel).
func DefaultStageRules() []StageRule {
	writes := []string{http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodPut}
	return []StageRule{
		{Stage: StageSignIn, Prefix: "/auth/", Suffix: "/callback"},
		{Stage: StageQueue, Prefix: "/api/v1/queue"},
		{Stage: StageQueue, Prefix: "/queue"},
		{Stage: StageSearch, Methods: []string{http.MethodGet}, Prefix: "/api/v1/clinics"},
		{Stage: StageSearch, Methods: []string{http.MethodGet}, Prefix: "/clinics"},
		{Stage: StageSearch, Methods: []string{http.MethodGet}, Prefix: "/book", Exact: true},
		{Stage: StageSearch, Methods: []string{http.MethodGet}, Prefix: "/book/clinic/"},
		{Stage: StageBooking, Methods: writes, Prefix: "/api/v1/bookings"},
		{Stage: StageBooking, Methods: writes, Prefix: "/book"}, // /book/confirm, /bookings/{id}/cancel
	}
}

func (r StageRule) match(method, path string) bool {
	if !strings.HasPrefix(path, r.Prefix) || (r.Exact && path != r.Prefix) || (r.Suffix != "" && !strings.HasSuffix(path, r.Suffix)) {
		return false
	}
	return len(r.Methods) == 0 || slices.Contains(r.Methods, method)
}

// maxCodes bounds the distinct refusal codes counted (codes come from the
// server's own answers, a small fixed set; the bound guards the metrics
// against anything unexpected).
const maxCodes = 64

// CodeHeader is the response header by which an HTML answer (a citizen
// page refusing something) names its stable error code for the edge
// observer, as a problem+json answer does in its body.
const CodeHeader = "X-Vaxbook-Code"

// OutcomeSuccess is the login outcome of a sign-in that started a session.
const OutcomeSuccess = "success"

// edge is what Metrics observes at the edge of a node, for the dashboard
// and Prometheus: latency per stage, server errors, refusal codes and
// sign-in outcomes per provider.
type edge struct {
	rules  atomic.Pointer[[]StageRule]
	stages [numStages]Hist
	errors atomic.Int64 // answers with a 5xx status

	mu        sync.RWMutex
	codes     map[string]*atomic.Int64
	logins    map[[2]string]*atomic.Int64
	providers atomic.Pointer[map[string]bool]

	stageHist *prometheus.HistogramVec
	stageObs  [numStages]prometheus.Observer
	refusals  *prometheus.CounterVec
	loginsVec *prometheus.CounterVec
	errorsCtr prometheus.Counter
}

func newEdge() *edge {
	e := &edge{codes: map[string]*atomic.Int64{}, logins: map[[2]string]*atomic.Int64{}}
	rules := DefaultStageRules()
	e.rules.Store(&rules)
	e.stageHist = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "vaxbook", Subsystem: "stage", Name: "duration_seconds",
		Help:    "Latency of citizens' requests by stage of the flow (signin, queue, search, booking).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"stage"})
	e.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "vaxbook", Name: "refusals_total",
		Help: "Answers that refused a request, by stable error code (problem+json answers and sign-in refusals).",
	}, []string{"code"})
	e.loginsVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "vaxbook", Subsystem: "identity", Name: "logins_total",
		Help: "Identity callbacks by provider and outcome (success or the refusal code).",
	}, []string{"provider", "outcome"})
	e.errorsCtr = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "vaxbook", Subsystem: "http", Name: "server_errors_total",
		Help: "Answers with a 5xx status, every route.",
	})
	for _, s := range Stages() {
		e.stageObs[s] = e.stageHist.WithLabelValues(s.String())
	}
	return e
}

func (e *edge) collectors() []prometheus.Collector {
	return []prometheus.Collector{e.stageHist, e.refusals, e.loginsVec, e.errorsCtr}
}

func (e *edge) stageOf(method, path string) Stage {
	for _, r := range *e.rules.Load() {
		if r.match(method, path) {
			return r.Stage
		}
	}
	return -1
}

// counter returns the counter for key in m, creating it (up to limit
// entries) under the write lock.
func counterOf[K comparable](mu *sync.RWMutex, m map[K]*atomic.Int64, key K, limit int) *atomic.Int64 {
	mu.RLock()
	c := m[key]
	mu.RUnlock()
	if c != nil {
		return c
	}
	mu.Lock()
	defer mu.Unlock()
	if c = m[key]; c == nil {
		if len(m) >= limit {
			return nil
		}
		c = new(atomic.Int64)
		m[key] = c
	}
	return c
}

func validCode(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c == '_' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (e *edge) refused(code string) {
	if !validCode(code) {
		code = "other"
	}
	c := counterOf(&e.mu, e.codes, code, maxCodes)
	if c == nil {
		code = "other"
		if c = counterOf(&e.mu, e.codes, code, maxCodes+1); c == nil {
			return
		}
	}
	c.Add(1)
	e.refusals.WithLabelValues(code).Inc()
}

func (e *edge) login(provider, outcome string) {
	if ps := e.providers.Load(); ps == nil || !(*ps)[provider] {
		provider = "unknown"
	}
	if outcome != OutcomeSuccess && !validCode(outcome) {
		outcome = "other"
	}
	if c := counterOf(&e.mu, e.logins, [2]string{provider, outcome}, 16*maxCodes); c != nil {
		c.Add(1)
		e.loginsVec.WithLabelValues(provider, outcome).Inc()
	}
}

// edgeWriter records the status and, for problem+json answers, the code.
type edgeWriter struct {
	http.ResponseWriter
	status int
	sniff  bool
	code   string
}

var edgeWriters = sync.Pool{New: func() any { return new(edgeWriter) }}

func (w *edgeWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		h := w.Header()
		if c := h[CodeHeader]; len(c) > 0 {
			w.code = c[0]
		} else if ct := h["Content-Type"]; len(ct) > 0 {
			w.sniff = strings.HasPrefix(ct[0], "application/problem+json")
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *edgeWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.sniff {
		w.sniff = false
		w.code = sniffCode(b)
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets Server-Sent Events through.
func (w *edgeWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *edgeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var codeKey = []byte(`"code":"`)

// sniffCode finds the "code" member of a problem document. Inside JSON
// strings quotes are escaped, so the key cannot be faked by a detail text.
func sniffCode(b []byte) string {
	i := bytes.Index(b, codeKey)
	if i < 0 {
		return ""
	}
	rest := b[i+len(codeKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 || j > 40 {
		return ""
	}
	return string(rest[:j])
}

// callbackProvider returns the provider of an identity callback path
// ("/auth/naver/callback" → "naver").
func callbackProvider(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/auth/")
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, "/callback")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", false
	}
	return name, true
}

func (e *edge) wrap(h http.Handler, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := now()
		w := edgeWriters.Get().(*edgeWriter)
		*w = edgeWriter{ResponseWriter: rw}
		defer func() {
			w.ResponseWriter = nil
			edgeWriters.Put(w)
		}()
		h.ServeHTTP(w, r)
		d := now().Sub(start)
		path := r.URL.Path
		if st := e.stageOf(r.Method, path); st >= 0 {
			e.stages[st].Observe(d)
			e.stageObs[st].Observe(d.Seconds())
		}
		if w.status >= 500 {
			e.errors.Add(1)
			e.errorsCtr.Inc()
		}
		code := w.code
		provider, callback := callbackProvider(path)
		if callback && code == "" && w.status >= 300 && w.status < 400 {
			code = OutcomeSuccess
			if loc := rw.Header().Get("Location"); strings.Contains(loc, "code=") {
				if u, err := url.Parse(loc); err == nil && u.Query().Get("code") != "" {
					code = u.Query().Get("code")
				}
			}
		}
		if code != "" && code != OutcomeSuccess {
			e.refused(code)
		}
		if callback && code != "" {
			e.login(provider, code)
		}
	})
}

// edgeTotals is a point-in-time copy of the edge counters.
type edgeTotals struct {
	stages [numStages]HistCounts
	errors int64
	codes  map[string]int64
	logins map[[2]string]int64
}

func (e *edge) totals() edgeTotals {
	t := edgeTotals{errors: e.errors.Load(), codes: map[string]int64{}, logins: map[[2]string]int64{}}
	for i := range e.stages {
		e.stages[i].Snapshot(&t.stages[i])
	}
	e.mu.RLock()
	for k, c := range e.codes {
		t.codes[k] = c.Load()
	}
	for k, c := range e.logins {
		t.logins[k] = c.Load()
	}
	e.mu.RUnlock()
	return t
}
