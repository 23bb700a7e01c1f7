// Package web is vaxbook's HTTP face: the JSON API under /api/v1/, the
// citizen pages, the operator dashboard under /ops/, /metrics, /healthz and
// /readyz. It talks to the domain services (booking engine, identity,
// waiting room) and to root interfaces — never to a storage adapter.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"vaxbook"
	"vaxbook/booking"
	"vaxbook/i18n"
	"vaxbook/identity"
	"vaxbook/internal/clock"
	"vaxbook/ops"
)

// Config is what a Server needs. Log, Clock, I18n, Metrics and Engine are
// required.
type Config struct {
	Log     *slog.Logger
	Clock   clock.Clock
	I18n    *i18n.Catalog
	Metrics *ops.Metrics
	Engine  *booking.Engine
	// Ready reports whether the node can serve (store reachable, …); nil: always.
	Ready func(ctx context.Context) error

	// Identity signs people in (required for every signed-in route).
	Identity *identity.Service
	// WaitRoom meters entry to the booking stage.
	WaitRoom vaxbook.WaitRoom
	// Locks are the device locks (the same store identity uses).
	Locks vaxbook.DeviceLockStore
	// Audit is the audit log operators read.
	Audit vaxbook.AuditLog
	// Unseal opens a person's sealed name or phone (shown only to them).
	Unseal func(sealed []byte, personID int64) (string, error)
	// Secret keys the queue cookie (≥ 32 bytes; the same on every node).
	Secret []byte
	// SecureCookies marks cookies Secure behind a TLS-terminating proxy.
	SecureCookies bool

	// Pages configures the citizen pages (pages.go).
	Pages PagesConfig
	// Ops configures the operator API and dashboard (ops.go).
	Ops OpsConfig
}

// Server serves HTTP.
type Server struct {
	cfg    Config
	log    *slog.Logger
	clock  clock.Clock
	engine *booking.Engine
	mux    *http.ServeMux

	replays *replayCache
	// queueMAC seals and opens queue cookies.
	queueMAC *queueMAC
	// remaining caches the landing page's count of open places.
	remaining atomic.Pointer[remainingAt]

	patterns []string
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg, log: cfg.Log, clock: cfg.Clock, engine: cfg.Engine, mux: http.NewServeMux()}
	s.queueMAC = newQueueMAC(cfg.Secret)
	s.replays = newReplayCache(100_000, 15*time.Minute, cfg.Clock.Now)
	s.routes()
	return s
}

// Handler returns the whole HTTP handler with the common middleware.
func (s *Server) Handler() http.Handler {
	return withBasics(s.mux, s.log, s.cfg.Metrics, s.clock.Now)
}

// Routes returns every registered route pattern (the OpenAPI test checks
// each /api/ route is documented).
func (s *Server) Routes() []string { return append([]string(nil), s.patterns...) }

func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.patterns = append(s.patterns, pattern)
	s.mux.Handle(pattern, h)
}

func (s *Server) routes() {
	s.handle("GET /healthz", s.healthz)
	s.handle("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", s.cfg.Metrics.Handler())

	s.handle("GET /api/v1/campaigns/current", s.currentCampaign)
	s.handle("GET /api/v1/regions", s.regions)
	s.handle("GET /api/v1/clinics", s.clinics)
	s.handle("GET /api/v1/clinics/{id}", s.clinic)
	s.handle("GET /api/v1/clinics/{id}/slots", s.clinicSlots)
	s.handle("GET /api/v1/me", s.me)
	s.handle("POST /api/v1/queue", s.joinQueue)
	s.handle("GET /api/v1/queue/status", s.queueStatus)
	s.handle("POST /api/v1/bookings", s.postBooking)
	s.handle("GET /api/v1/bookings/mine", s.myBookings)
	s.handle("PATCH /api/v1/bookings/{id}", s.patchBooking)
	s.handle("DELETE /api/v1/bookings/{id}", s.deleteBooking)
	s.handle("GET /api/v1/identity/providers", s.providers)
	if s.cfg.Identity != nil {
		s.mux.Handle("/auth/", s.cfg.Identity.Handler())
	}
	s.handle("/api/", s.apiNotFound)
	s.opsRoutes()
	s.pageRoutes()
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			s.log.WarnContext(ctx, "not ready", "err", err)
			writeProblem(w, r, s.log, vaxbook.Errorf(vaxbook.CodeUnavailable, "not ready"))
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// apiNotFound answers unknown API paths (and known paths with the wrong
// method, which ServeMux routes here too) as problem+json.
func (s *Server) apiNotFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pat := s.mux.Handler(probe); pat != "" && pat != "/api/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeProblemStatus(w, r, s.log, http.StatusMethodNotAllowed,
			vaxbook.Errorf(vaxbook.CodeInvalid, "method %s is not allowed here; use %s", r.Method, strings.Join(allow, " or ")))
		return
	}
	writeProblem(w, r, s.log, vaxbook.Errorf(vaxbook.CodeNotFound, "no API route %s %s", r.Method, clip(r.URL.Path)))
}

func (s *Server) providers(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Identity == nil {
		writeProblem(w, r, s.log, vaxbook.Errorf(vaxbook.CodeUnavailable, "no identity providers are configured"))
		return
	}
	s.cfg.Identity.ProvidersHandler().ServeHTTP(w, r)
}
