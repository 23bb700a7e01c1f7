// Package identity is vaxbook's OpenID Connect relying party and what
// happens right after a person verified: registry lookup by blind index,
// eligibility at this instant, the one-device lock, and the server-side
// session. It also watches every provider (latency, errors, in-flight
// logins) to show a traffic light per provider and to stop sending people to
// one that fails (a circuit breaker).
//
// Routes (Handler):
//
//	GET  /auth/{provider}/start      → 302 to the provider (authorization code + PKCE S256, state, nonce)
//	GET  /auth/{provider}/callback   → 302 to SuccessURL, or to RefusedURL?code=… with the Outcome in a sealed cookie
//	POST /auth/logout                → 303 to LogoutURL (CSRF token required)
//
// Clients that ask for JSON (Accept: application/json) get refusals as
// application/problem+json with the status for the code instead of a
// redirect.
package identity

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/internal/clock"
)

// Store is what identity needs of a vaxbook.Store.
type Store interface {
	vaxbook.Registry
	vaxbook.SessionStore
	vaxbook.DeviceLockStore
	vaxbook.ProviderSwitchStore
	vaxbook.AuditLog
}

// BlindIndexer computes the blind index of a stable person identifier
// (*pii.Keys).
type BlindIndexer interface {
	BlindIndex(ci string) []byte
}

// Config configures a Service.
type Config struct {
	Providers []ProviderConfig
	// BaseURL is vaxbook's public URL ("https://booking.example.kr"); it
	// makes the default redirect URLs. Required unless every provider has a
	// RedirectURL.
	BaseURL string
	Store   Store
	Keys    BlindIndexer
	// Campaign returns the campaign people sign in for (it may change at run
	// time, as the demo shifts it). Required.
	Campaign func(ctx context.Context) (vaxbook.Campaign, error)
	// Check is the eligibility rule; default campaign.Check.
	Check func(c vaxbook.Campaign, birth vaxbook.Date, nat vaxbook.Nationality, at time.Time) vaxbook.Decision
	// Clock is the server clock for eligibility, locks and sessions
	// (default the system clock).
	Clock clock.Clock
	// TokenClock checks ID-token expiry (default the system clock: tokens
	// expire in real time even when the demo runs on a shifted clock).
	TokenClock clock.Clock
	// HTTPClient talks to the providers (discovery, JWKS, token endpoint).
	// Default: a client with a 10s timeout and a connection pool sized for
	// a rush.
	HTTPClient *http.Client
	// IdleTimeout and AbsoluteTimeout end sessions (default 30m and 8h).
	IdleTimeout, AbsoluteTimeout time.Duration
	// SessionCache is how long this node answers a session (and its
	// person) from memory after reading it (default 2 s; negative: never).
	// A session deleted on another node of a cluster (logout) is honoured
	// here for up to this long.
	SessionCache time.Duration
	// SuccessURL is where a signed-in person goes (default "/queue");
	// RefusedURL where a refused one goes, with ?code= (default
	// "/signin/refused"); LogoutURL after logout (default "/").
	SuccessURL, RefusedURL, LogoutURL string
	// SecureCookies sets Secure on every cookie even when the request did
	// not arrive over TLS (behind a TLS-terminating proxy). Under TLS
	// cookies are always Secure.
	SecureCookies bool
	// CookieKey seals the login-flow and outcome cookies (32 bytes). Every
	// node of a cluster needs the same key; empty: random at start (one node).
	CookieKey []byte
	Lights    LightsConfig
	Logger    *slog.Logger
}

// Service is the relying party, session manager and provider monitor.
type Service struct {
	cfg        Config
	clock      clock.Clock
	tokenClock clock.Clock
	http       *http.Client
	check      func(vaxbook.Campaign, vaxbook.Date, vaxbook.Nationality, time.Time) vaxbook.Decision
	seal       *sealer
	lights     *lights
	providers  map[string]*relyingParty
	order      []string
	log        *slog.Logger
	mux        *http.ServeMux
	sessions   *sessionCache
}

// New validates cfg and builds the Service. It contacts no provider:
// discovery happens at the first login (or Discover) and is retried.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Keys == nil || cfg.Campaign == nil {
		return nil, errors.New("identity: config needs Store, Keys and Campaign")
	}
	if len(cfg.Providers) == 0 {
		return nil, errors.New("identity: config needs at least one provider")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	if cfg.TokenClock == nil {
		cfg.TokenClock = clock.System{}
	}
	if cfg.Check == nil {
		cfg.Check = campaign.Check
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.AbsoluteTimeout <= 0 {
		cfg.AbsoluteTimeout = 8 * time.Hour
	}
	if cfg.SessionCache == 0 {
		cfg.SessionCache = 2 * time.Second
	}
	if cfg.SuccessURL == "" {
		cfg.SuccessURL = "/queue"
	}
	if cfg.RefusedURL == "" {
		cfg.RefusedURL = "/signin/refused"
	}
	if cfg.LogoutURL == "" {
		cfg.LogoutURL = "/"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 512
		t.MaxIdleConnsPerHost = 256
		cfg.HTTPClient = &http.Client{Transport: t, Timeout: 10 * time.Second}
	}
	if len(cfg.CookieKey) == 0 {
		cfg.CookieKey = make([]byte, 32)
		if _, err := rand.Read(cfg.CookieKey); err != nil {
			return nil, fmt.Errorf("identity: cookie key: %w", err)
		}
	}
	seal, err := newSealer(cfg.CookieKey)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	s := &Service{
		cfg: cfg, clock: cfg.Clock, tokenClock: cfg.TokenClock, http: cfg.HTTPClient, check: cfg.Check,
		seal: seal, lights: newLights(cfg.Lights), providers: map[string]*relyingParty{}, log: cfg.Logger,
		sessions: newSessionCache(cfg.SessionCache, 200_000),
	}
	for _, pc := range cfg.Providers {
		switch {
		case pc.Name == "" || strings.ContainsAny(pc.Name, "/?#% "):
			return nil, fmt.Errorf("identity: provider name %q: want a plain path segment", pc.Name)
		case s.providers[pc.Name] != nil:
			return nil, fmt.Errorf("identity: provider %q configured twice", pc.Name)
		case pc.Issuer == "" || pc.ClientID == "":
			return nil, fmt.Errorf("identity: provider %s needs an issuer and a client id", pc.Name)
		case pc.AuthMethod != "" && pc.AuthMethod != "client_secret_basic" && pc.AuthMethod != "client_secret_post":
			return nil, fmt.Errorf("identity: provider %s auth method %q: want client_secret_basic or client_secret_post", pc.Name, pc.AuthMethod)
		}
		if pc.Title == "" {
			pc.Title = pc.Name
		}
		if len(pc.Scopes) == 0 {
			pc.Scopes = []string{"openid", "profile", "phone"}
		}
		if !slices.Contains(pc.Scopes, "openid") {
			pc.Scopes = append([]string{"openid"}, pc.Scopes...)
		}
		if pc.RedirectURL == "" {
			if base == "" {
				return nil, fmt.Errorf("identity: provider %s needs a redirect URL (or set BaseURL)", pc.Name)
			}
			pc.RedirectURL = base + "/auth/" + pc.Name + "/callback"
		}
		if _, err := url.Parse(pc.RedirectURL); err != nil {
			return nil, fmt.Errorf("identity: provider %s redirect URL: %w", pc.Name, err)
		}
		pc.Claims = pc.Claims.withDefaults()
		rp := &relyingParty{cfg: pc}
		rp.health = s.lights.add(pc.Name, pc.Title, pc.Capacity, pc.MaxInFlight)
		s.providers[pc.Name] = rp
		s.order = append(s.order, pc.Name)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /auth/{provider}/start", s.start)
	s.mux.HandleFunc("GET /auth/{provider}/callback", s.callback)
	s.mux.HandleFunc("POST /auth/logout", s.logout)
	return s, nil
}

// Handler serves the /auth routes.
func (s *Service) Handler() http.Handler { return s.mux }

// ProviderNames lists the configured providers in order.
func (s *Service) ProviderNames() []string { return slices.Clone(s.order) }

// Discover contacts every provider not yet discovered; it returns the
// joined errors of those that failed (they are retried at the next login).
func (s *Service) Discover(ctx context.Context) error {
	var errs []error
	for _, n := range s.order {
		if _, err := s.providers[n].client(ctx, s, s.clock.Now()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// flow is the sealed state of one login in progress.
type flow struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Device   string `json:"d"` // device hash the login started on
	Started  int64  `json:"t"` // unix nanos, server clock
}

// start sends the browser to the provider.
func (s *Service) start(w http.ResponseWriter, r *http.Request) {
	now := s.clock.Now()
	rp, ok := s.providers[r.PathValue("provider")]
	if !ok {
		s.refuse(w, r, Outcome{Code: vaxbook.CodeNotFound, Message: "There is no such identity provider."})
		return
	}
	if ok, why := rp.health.begin(now); !ok {
		s.refuse(w, r, s.unavailable(rp, now, why))
		return
	}
	c, err := rp.client(r.Context(), s, now)
	if err != nil {
		s.log.Warn("identity provider discovery failed", "provider", rp.cfg.Name, "err", err)
		s.lights.end(rp.health, now, now, failure, "discovery failed")
		s.refuse(w, r, s.unavailable(rp, now, "discovery failed"))
		return
	}
	device := s.EnsureDevice(w, r)
	f := flow{
		Provider: rp.cfg.Name, State: randomToken(24), Nonce: randomToken(24),
		Verifier: oauth2.GenerateVerifier(), Device: DeviceHash(device), Started: now.UnixNano(),
	}
	sealed, err := s.seal.seal(FlowCookie, f)
	if err != nil {
		s.lights.end(rp.health, now, now, neutral, "")
		s.refuse(w, r, Outcome{Code: vaxbook.CodeInternal, Message: vaxbook.ErrorMessage(err)})
		return
	}
	http.SetCookie(w, s.cookie(r, FlowCookie, sealed, "/auth/", flowTTL))
	opts := []oauth2.AuthCodeOption{
		oauth2.S256ChallengeOption(f.Verifier),
		oauth2.SetAuthURLParam("nonce", f.Nonce),
	}
	if hint := r.URL.Query().Get("login_hint"); hint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", hint))
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, c.oauth.AuthCodeURL(f.State, opts...), http.StatusFound)
}

// unavailable is the outcome for a provider that cannot be used now.
func (s *Service) unavailable(rp *relyingParty, now time.Time, why string) Outcome {
	o := Outcome{
		Code:     vaxbook.CodeProviderUnavailable,
		Message:  fmt.Sprintf("%s is not available right now (%s). Please use another provider.", rp.cfg.Title, why),
		Provider: rp.cfg.Name,
	}
	for _, l := range s.lights.snapshot(now) {
		if l.Name == rp.cfg.Name {
			o.Alternative = l.Alternative
		}
	}
	if o.Alternative == "" {
		o.Alternative = s.bestOther(rp.cfg.Name, now)
	}
	return o
}

// bestOther is the best provider other than name right now.
func (s *Service) bestOther(name string, now time.Time) string {
	best, rank := "", 3
	for _, l := range s.lights.snapshot(now) {
		if l.Name != name && l.Light.rank() < rank {
			best, rank = l.Name, l.Light.rank()
		}
	}
	return best
}

// callback finishes a login: checks state, exchanges the code with PKCE,
// verifies the ID token and its nonce, then looks the person up, checks
// eligibility now, takes the device lock and starts a session.
func (s *Service) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := s.clock.Now()
	rp, ok := s.providers[r.PathValue("provider")]
	if !ok {
		s.refuse(w, r, Outcome{Code: vaxbook.CodeNotFound, Message: "There is no such identity provider."})
		return
	}
	name := rp.cfg.Name
	authFailed := func(msg string) Outcome {
		return Outcome{Code: vaxbook.CodeAuthFailed, Message: msg, Provider: name}
	}
	var f flow
	ck, err := r.Cookie(FlowCookie)
	if err != nil || s.seal.open(FlowCookie, ck.Value, &f) != nil {
		s.refuse(w, r, authFailed("This sign-in has expired or cookies are disabled. Please start again."))
		return
	}
	http.SetCookie(w, s.cookie(r, FlowCookie, "", "/auth/", -1)) // one use
	started := time.Unix(0, f.Started)
	q := r.URL.Query()
	if f.Provider != name || !equalSecret(q.Get("state"), f.State) || now.Sub(started) > flowTTL {
		if fp, ok := s.providers[f.Provider]; ok {
			s.lights.end(fp.health, started, now, neutral, "") // the login started there is over
		}
		s.refuse(w, r, authFailed("The sign-in response does not match the sign-in you started. Please start again."))
		return
	}
	if device := s.DeviceID(r); device == "" || DeviceHash(device) != f.Device {
		s.lights.end(rp.health, started, now, neutral, "")
		s.refuse(w, r, authFailed("This sign-in was started in another browser. Please start again."))
		return
	}
	if e := q.Get("error"); e != "" {
		switch e {
		case "temporarily_unavailable", "server_error":
			s.lights.end(rp.health, started, now, failure, e)
			s.refuse(w, r, s.unavailable(rp, now, "it answered "+e))
		default:
			s.lights.end(rp.health, started, now, neutral, "")
			s.refuse(w, r, authFailed("The identity provider did not verify you ("+e+")."))
		}
		return
	}
	c, err := rp.client(ctx, s, now)
	if err != nil {
		s.lights.end(rp.health, started, now, failure, "discovery failed")
		s.refuse(w, r, s.unavailable(rp, now, "discovery failed"))
		return
	}
	tok, err := c.oauth.Exchange(oauthContext(ctx, s.http), q.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		if providerFault(err) {
			s.lights.end(rp.health, started, s.clock.Now(), failure, "token endpoint failed")
			s.log.Warn("identity token exchange failed", "provider", name, "err", err)
			s.refuse(w, r, s.unavailable(rp, now, "its token service failed"))
			return
		}
		s.lights.end(rp.health, started, s.clock.Now(), neutral, "")
		s.refuse(w, r, authFailed("The identity provider refused this sign-in (the code was invalid or already used). Please start again."))
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := c.verifier.Verify(ctx, raw)
	if err == nil && !equalSecret(idt.Nonce, f.Nonce) {
		err = errors.New("nonce mismatch")
	}
	if err == nil && idt.AccessTokenHash != "" {
		err = idt.VerifyAccessToken(tok.AccessToken)
	}
	if err != nil {
		s.lights.end(rp.health, started, s.clock.Now(), neutral, "")
		s.log.Warn("identity ID token refused", "provider", name, "err", err)
		s.refuse(w, r, authFailed("The identity provider's answer did not verify."))
		return
	}
	s.lights.end(rp.health, started, s.clock.Now(), success, "")
	id, err := rp.cfg.Claims.extract(name, idt)
	if err != nil {
		s.log.Warn("identity claims", "provider", name, "err", err)
		s.refuse(w, r, authFailed("The identity provider did not say who you are."))
		return
	}
	sess, o := s.admit(ctx, r, id, now)
	if o != nil {
		s.refuse(w, r, *o)
		return
	}
	if !s.startSession(w, r, sess) {
		return
	}
	if _, err := r.Cookie(OutcomeCookie); err == nil {
		http.SetCookie(w, s.cookie(r, OutcomeCookie, "", "/", -1)) // an earlier refusal is over
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.cfg.SuccessURL, http.StatusFound)
}

func oauthContext(ctx context.Context, c *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c)
}

// admit is what follows a verified identity: registry, eligibility now,
// device lock. It returns the session to start, or the refusal.
func (s *Service) admit(ctx context.Context, r *http.Request, id Identity, now time.Time) (vaxbook.Session, *Outcome) {
	refuse := func(o Outcome) (vaxbook.Session, *Outcome) {
		o.Provider = id.Provider
		return vaxbook.Session{}, &o
	}
	person, err := s.cfg.Store.PersonByCIHash(ctx, s.cfg.Keys.BlindIndex(id.CI))
	if err != nil {
		if vaxbook.ErrorCode(err) == vaxbook.CodeNotInRegistry || vaxbook.ErrorCode(err) == vaxbook.CodeNotFound {
			return refuse(Outcome{Code: vaxbook.CodeNotInRegistry, Message: "You were verified, but you are not in the vaccination registry. Please call the helpline."})
		}
		s.log.Error("identity registry lookup", "err", err)
		return refuse(Outcome{Code: vaxbook.CodeUnavailable, Message: "The registry is not available right now. Please try again."})
	}
	if !id.BirthDate.IsZero() && id.BirthDate != person.BirthDate {
		s.log.Warn("identity birth date differs from the registry; the registry decides", "provider", id.Provider, "person", person.ID)
	}
	c, err := s.cfg.Campaign(ctx)
	if err != nil {
		s.log.Error("identity campaign", "err", err)
		return refuse(Outcome{Code: vaxbook.CodeUnavailable, Message: "The campaign is not available right now. Please try again."})
	}
	d := s.check(c, person.BirthDate, person.Nationality, now)
	if !d.Eligible {
		return refuse(Outcome{Code: d.Code, Message: d.Message, Window: d.Window})
	}
	if d.Window == nil {
		s.log.Error("identity: eligible decision without a window", "person", person.ID)
		return refuse(Outcome{Code: vaxbook.CodeInternal, Message: vaxbook.ErrorMessage(nil)})
	}
	device := DeviceHash(s.DeviceID(r))
	want := vaxbook.DeviceLock{
		PersonID: person.ID, CampaignID: c.ID, WindowID: d.Window.ID, DeviceHash: device,
		Provider: id.Provider, LockedAt: now, Expires: d.Window.Closes,
	}
	got, err := s.cfg.Store.AcquireDeviceLock(ctx, want, now)
	if err != nil {
		s.log.Error("identity device lock", "err", err)
		return refuse(Outcome{Code: vaxbook.CodeUnavailable, Message: "Please try again in a moment."})
	}
	if got.DeviceHash != device {
		w := *d.Window
		return refuse(Outcome{
			Code:    vaxbook.CodeDeviceLocked,
			Message: "You already verified on another device for this booking window; only that device may book.",
			Window:  &w, LockedAt: got.LockedAt, LockedWith: got.Provider,
		})
	}
	return vaxbook.Session{
		ID: randomToken(32), PersonID: person.ID, Provider: id.Provider, DeviceID: device,
		CSRFToken: randomToken(32), CreatedAt: now, LastSeen: now,
	}, nil
}
