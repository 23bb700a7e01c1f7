package web

import (
	"html/template"
	"net/http"
	"net/http/pprof"
	"time"

	"vaxbook"
	"vaxbook/devidp"
	"vaxbook/ops"
)

// OpsConfig configures the operator API (/api/v1/ops/…) and dashboard
// (/ops/). Without Accounts and Sessions nobody can sign in: every ops route
// answers 401.
type OpsConfig struct {
	// Accounts are the operator accounts (name and bcrypt hash).
	Accounts *ops.Accounts
	// Sessions keeps operator sessions (the citizens' store; an operator
	// session has Operator set and PersonID 0).
	Sessions vaxbook.SessionStore
	// Board is the live dashboard; nil: the dashboard has no live figures
	// and /ops/events answers 503.
	Board *ops.Board
	// IdP is the built-in identity provider whose emulation operators tune
	// (demo only); nil: /api/v1/ops/idp answers not_found.
	IdP IdPEmulator
	// IdleTimeout and AbsoluteTimeout end operator sessions (default 30
	// minutes and 8 hours, by the server clock).
	IdleTimeout, AbsoluteTimeout time.Duration
	// LoginFailures failed sign-ins within LoginWindow lock the account name
	// out for LoginWindow (default 5 in 15 minutes); six times as many from
	// one client address lock the address out (behind a proxy every client
	// has the proxy's address: the name's limit is the one that bites).
	LoginFailures int
	LoginWindow   time.Duration
}

// IdPEmulator is the dev IdP's run-time emulation (*devidp.Server).
type IdPEmulator interface {
	Status() []devidp.ProviderStatus
	Emulation(name string) (devidp.Emulation, devidp.EmulationStats, error)
	SetEmulation(name string, e devidp.Emulation) error
}

// Ops returns the operator configuration the server was built with (the
// node starts the board it holds).
func (s *Server) Ops() OpsConfig { return s.cfg.Ops }

// opsServer is the state of the operator routes.
type opsServer struct {
	s           *Server
	cfg         OpsConfig
	limiter     *ops.Limiter // failures per account name
	addrLimiter *ops.Limiter // failures per client address
	pages       *template.Template
	static      map[string]staticFile
}

func (c *OpsConfig) defaults() {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Minute
	}
	if c.AbsoluteTimeout <= 0 {
		c.AbsoluteTimeout = 8 * time.Hour
	}
	if c.LoginFailures <= 0 {
		c.LoginFailures = 5
	}
	if c.LoginWindow <= 0 {
		c.LoginWindow = 15 * time.Minute
	}
}

// opsRoutes registers the operator API (/api/v1/ops/…) and dashboard (/ops/).
func (s *Server) opsRoutes() {
	cfg := s.cfg.Ops
	cfg.defaults()
	o := &opsServer{s: s, cfg: cfg, pages: opsTemplates(), static: opsStatic(),
		limiter:     ops.NewLimiter(cfg.LoginFailures, cfg.LoginWindow),
		addrLimiter: ops.NewLimiter(6*cfg.LoginFailures, cfg.LoginWindow)}

	s.handle("GET /api/v1/ops/waitroom", o.api(o.getWaitRoom))
	s.handle("PUT /api/v1/ops/waitroom", o.api(o.putWaitRoom))
	s.handle("GET /api/v1/ops/devicelocks/{person}/{window}", o.api(o.getDeviceLock))
	s.handle("DELETE /api/v1/ops/devicelocks/{person}/{window}", o.api(o.deleteDeviceLock))
	s.handle("GET /api/v1/ops/providers", o.api(o.listProviders))
	s.handle("PUT /api/v1/ops/providers/{provider}", o.api(o.putProvider))
	s.handle("GET /api/v1/ops/idp", o.api(o.listIdP))
	s.handle("GET /api/v1/ops/idp/{provider}", o.api(o.getIdP))
	s.handle("PUT /api/v1/ops/idp/{provider}", o.api(o.putIdP))
	s.handle("GET /api/v1/ops/audit", o.api(o.audit))
	s.handle("GET /api/v1/ops/dashboard", o.api(o.dashboardJSON))

	// This node's profiles (net/http/pprof), for operators only: CPU
	// (/debug/pprof/profile?seconds=N), heap, allocs, goroutine, block,
	// mutex, trace. Not cmdline: flags may hold secrets.
	prof := func(h http.HandlerFunc) http.HandlerFunc {
		return o.api(func(w http.ResponseWriter, r *http.Request, _ opsActor, _ time.Time) { h(w, r) })
	}
	s.handle("GET /debug/pprof/", prof(pprof.Index))
	s.handle("GET /debug/pprof/profile", prof(pprof.Profile))
	s.handle("GET /debug/pprof/trace", prof(pprof.Trace))
	s.handle("GET /debug/pprof/symbol", prof(pprof.Symbol))
	s.handle("POST /debug/pprof/symbol", prof(pprof.Symbol))

	s.handle("GET /ops", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ops/", http.StatusMovedPermanently)
	})
	s.handle("GET /ops/{$}", o.page(o.dashboard))
	s.handle("GET /ops/login", o.loginPage)
	s.handle("POST /ops/login", o.login)
	s.handle("POST /ops/logout", o.logout)
	s.handle("GET /ops/events", o.events)
	s.handle("POST /ops/waitroom", o.page(o.formWaitRoom))
	s.handle("POST /ops/idp/{provider}", o.page(o.formIdP))
	s.handle("POST /ops/providers/{provider}", o.page(o.formProvider))
	s.handle("POST /ops/devicelocks", o.page(o.formDeviceLock))
	s.handle("GET /ops/static/{file...}", o.serveStatic)
	s.handle("/ops/", o.notFound)
}
