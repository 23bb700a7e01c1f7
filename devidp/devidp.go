// Package devidp is the built-in OpenID Provider of vaxbook: one real OpenID
// Connect issuer per emulated identity provider (naver, kakao, pass, mobile,
// cert), each with discovery, JWKS, authorize and token endpoints and ES256
// ID tokens (github.com/zitadel/oidc/v3/pkg/op with a storage of our own).
// It serves the synthetic people of the seed generator, so a demo or a rush
// simulation can verify anyone in the seeded registry.
//
// Each provider can be made slow, congested, failing or down (Emulation), by
// flags at start and at run time through OpsHandler, so that the relying
// party's traffic lights and circuit breaker can be shown and tested.
//
// Routes, under Config.Prefix (default /idp) for each provider name:
//
//	GET  /idp/{name}/.well-known/openid-configuration
//	GET  /idp/{name}/keys                  JWKS
//	GET  /idp/{name}/authorize             login_hint=<person id> skips the login page
//	GET  /idp/{name}/login?id=…&q=…        the login page (pick a person)
//	POST /idp/{name}/login                 id, person
//	POST /idp/{name}/oauth/token
//	GET  /idp/{name}/userinfo
//	GET  /idp/                             the providers and their issuers (JSON)
package devidp

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"vaxbook"
	"vaxbook/internal/clock"
)

// DefaultPrefix is where the providers are mounted unless Config.Prefix says otherwise.
const DefaultPrefix = "/idp"

// ProviderConfig is one emulated provider.
type ProviderConfig struct {
	Name  string // path segment and provider id: "naver"
	Title string // display name: "네이버"
	// CIClaim is the name of the ID-token claim that carries the stable
	// person identifier (default "ci").
	CIClaim   string
	Emulation Emulation
}

// DefaultProviders are the five providers of the 2021 reference case.
func DefaultProviders() []ProviderConfig {
	return []ProviderConfig{
		{Name: "naver", Title: "네이버 Naver"},
		{Name: "kakao", Title: "카카오 Kakao"},
		{Name: "pass", Title: "PASS"},
		{Name: "mobile", Title: "휴대폰 Mobile phone"},
		{Name: "cert", Title: "공동인증서 Joint certificate"},
	}
}

// CheckFunc is the campaign's eligibility rule (campaign.Check); the login
// page uses it to group sample people.
type CheckFunc func(c vaxbook.Campaign, birth vaxbook.Date, nat vaxbook.Nationality, at time.Time) vaxbook.Decision

// Config configures a Server.
type Config struct {
	// BaseURL is the scheme and host the server is reached at, e.g.
	// "http://127.0.0.1:8080"; issuers are BaseURL+Prefix+"/"+name. Empty:
	// taken from each request (http, or https under TLS, and the Host
	// header), which suits a server behind a known host name.
	BaseURL string
	// Prefix is the path under which the providers are mounted (default "/idp").
	Prefix    string
	Providers []ProviderConfig // default DefaultProviders()
	Clients   []Client         // relying parties allowed at every provider
	People    People           // required
	// Campaign and Check group the login page's sample people; both optional.
	Campaign func(ctx context.Context) (vaxbook.Campaign, error)
	Check    CheckFunc
	Clock    clock.Clock // emulation and the login page (default clock.System)
	// TokenClock dates access tokens (default clock.System). The op dates ID
	// tokens and expires_in with the real clock, so this stays real unless
	// a test needs otherwise.
	TokenClock clock.Clock
	Waiter     Waiter // default RealWaiter
	// KeyDir holds <name>.pem ES256 keys, created if missing; empty: fresh
	// keys in memory at every start.
	KeyDir string
	// PairwiseKey keys the provider-specific subjects; empty: random at start.
	PairwiseKey []byte
	// Seed makes emulated latency and errors reproducible.
	Seed uint64
	// SearchScan is how many people (from id 1) a name search scans
	// (default 100,000; an id search is always exact).
	SearchScan int64
	Logger     *slog.Logger
}

// Server is the set of emulated providers; it is an http.Handler.
type Server struct {
	cfg       Config
	mux       *http.ServeMux
	providers map[string]*provider
	order     []string
	log       *slog.Logger
}

type provider struct {
	name, title string
	ciClaim     string
	prefix      string // "/idp/naver"
	loginPath   string
	srv         *Server
	op          *op.Provider
	storage     *storage
	key         *signingKey
	pairwiseKey []byte
	people      People
	clients     map[string]*Client
	clock       clock.Clock
	tokenClock  clock.Clock
	waiter      Waiter
	emu         *emulator
}

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// New builds the providers. It fails on a bad config (names, clients,
// emulation) or when a key file cannot be read or written.
func New(cfg Config) (*Server, error) {
	if cfg.People == nil {
		return nil, errors.New("devidp: config needs People")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	cfg.Prefix = "/" + strings.Trim(cfg.Prefix, "/")
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("devidp: base URL %q: want scheme://host[:port]", cfg.BaseURL)
		}
		cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	}
	if len(cfg.Providers) == 0 {
		cfg.Providers = DefaultProviders()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	if cfg.TokenClock == nil {
		cfg.TokenClock = clock.System{}
	}
	if cfg.Waiter == nil {
		cfg.Waiter = RealWaiter{}
	}
	if cfg.SearchScan == 0 {
		cfg.SearchScan = 100_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.PairwiseKey) == 0 {
		cfg.PairwiseKey = make([]byte, 32)
		if _, err := rand.Read(cfg.PairwiseKey); err != nil {
			return nil, fmt.Errorf("devidp: pairwise key: %w", err)
		}
	}
	clients := map[string]*Client{}
	for i := range cfg.Clients {
		c := &cfg.Clients[i]
		if c.ID == "" || c.Secret == "" || len(c.RedirectURIs) == 0 {
			return nil, fmt.Errorf("devidp: client %q needs an id, a secret and redirect URIs", c.ID)
		}
		clients[c.ID] = c
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), providers: map[string]*provider{}, log: cfg.Logger}
	for i, pc := range cfg.Providers {
		if !namePattern.MatchString(pc.Name) {
			return nil, fmt.Errorf("devidp: provider name %q: want lower-case letters, digits, - or _", pc.Name)
		}
		if _, dup := s.providers[pc.Name]; dup {
			return nil, fmt.Errorf("devidp: provider %q configured twice", pc.Name)
		}
		if err := pc.Emulation.Validate(); err != nil {
			return nil, fmt.Errorf("devidp: provider %s: %w", pc.Name, err)
		}
		p, err := s.newProvider(pc, clients, cfg.Seed+uint64(i)*0x100000001)
		if err != nil {
			return nil, fmt.Errorf("devidp: provider %s: %w", pc.Name, err)
		}
		s.providers[pc.Name] = p
		s.order = append(s.order, pc.Name)
	}
	s.mux.HandleFunc("GET "+cfg.Prefix+"/{$}", s.serveIndex)
	s.mux.HandleFunc(cfg.Prefix+"/{name}/", func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.providers[r.PathValue("name")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		p.ServeHTTP(w, r)
	})
	return s, nil
}

func (s *Server) newProvider(pc ProviderConfig, clients map[string]*Client, seed uint64) (*provider, error) {
	var key *signingKey
	var err error
	if s.cfg.KeyDir != "" {
		key, err = loadOrCreateKey(s.cfg.KeyDir, pc.Name)
	} else {
		key, err = generateKey()
	}
	if err != nil {
		return nil, err
	}
	p := &provider{
		name: pc.Name, title: pc.Title, ciClaim: pc.CIClaim,
		prefix: s.cfg.Prefix + "/" + pc.Name, srv: s, key: key,
		pairwiseKey: s.cfg.PairwiseKey, people: s.cfg.People, clients: clients,
		clock: s.cfg.Clock, tokenClock: s.cfg.TokenClock, waiter: s.cfg.Waiter, emu: newEmulator(pc.Emulation, seed),
	}
	if p.title == "" {
		p.title = p.name
	}
	if p.ciClaim == "" {
		p.ciClaim = "ci"
	}
	p.loginPath = p.prefix + "/login"
	p.storage = &storage{p: p, reqs: newRequests(authRequestTTL)}
	opCfg := &op.Config{
		CodeMethodS256:  true,
		AuthMethodPost:  true,
		SupportedClaims: append(append([]string{}, op.DefaultSupportedClaims...), "birthdate", p.ciClaim, "nationality"),
	}
	if _, err := rand.Read(opCfg.CryptoKey[:]); err != nil {
		return nil, fmt.Errorf("crypto key: %w", err)
	}
	codes, err := newGCMCrypto()
	if err != nil {
		return nil, err
	}
	p.op, err = op.NewProvider(opCfg, p.storage, p.issuerFunc, op.WithAllowInsecure(), op.WithCrypto(codes))
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (p *provider) issuerFunc(bool) (op.IssuerFromRequest, error) {
	return p.issuer, nil
}

// issuer is the provider's issuer URL as seen by request r.
func (p *provider) issuer(r *http.Request) string {
	if p.srv.cfg.BaseURL != "" {
		return p.srv.cfg.BaseURL + p.prefix
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + p.prefix
}

// ServeHTTP serves every provider under the prefix.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Providers lists the provider names in configuration order.
func (s *Server) Providers() []string { return append([]string(nil), s.order...) }

// Issuer returns the issuer URL of provider name; it needs Config.BaseURL.
func (s *Server) Issuer(name string) (string, error) {
	if _, ok := s.providers[name]; !ok {
		return "", vaxbook.Errorf(vaxbook.CodeNotFound, "no provider %q", name)
	}
	if s.cfg.BaseURL == "" {
		return "", errors.New("devidp: issuer depends on the request host (no BaseURL configured)")
	}
	return s.cfg.BaseURL + s.cfg.Prefix + "/" + name, nil
}

func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	type entry struct {
		Name   string `json:"name"`
		Title  string `json:"title"`
		Issuer string `json:"issuer"`
	}
	out := make([]entry, 0, len(s.order))
	for _, n := range s.order {
		p := s.providers[n]
		out = append(out, entry{Name: n, Title: p.title, Issuer: p.issuer(r)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"providers": out})
}

// ServeHTTP serves one provider: our authorize and login endpoints, the
// rest by the op.
func (p *provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, p.prefix)
	switch rest {
	case "/authorize":
		p.authorize(w, r.WithContext(op.ContextWithIssuer(r.Context(), p.issuer(r))))
		return
	case "/login":
		p.login(w, r.WithContext(op.ContextWithIssuer(r.Context(), p.issuer(r))))
		return
	case "/oauth/token":
		if p.emu.outage() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{
				"error": string(failUnavailable), "error_description": failUnavailable.description(),
			})
			return
		}
	}
	http.StripPrefix(p.prefix, p.op).ServeHTTP(w, r)
}

// authorize is op.Authorize with one addition: a login_hint naming a
// person completes the login at once (automation), after the emulated
// queue, latency and errors.
func (p *provider) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req, err := op.ParseAuthorizeRequest(r, p.op.Decoder())
	if err != nil {
		op.AuthRequestError(w, r, nil, err, p.op)
		return
	}
	if req.ClientID == "" || req.RedirectURI == "" {
		op.AuthRequestError(w, r, nil, errors.New("auth request needs client_id and redirect_uri"), p.op)
		return
	}
	client, err := p.storage.GetClientByClientID(ctx, req.ClientID)
	if err != nil {
		op.AuthRequestError(w, r, req, oidc.ErrInvalidRequestRedirectURI().WithDescription("unknown client").WithParent(err), p.op)
		return
	}
	userID, err := op.ValidateAuthRequestClient(ctx, req, client, p.op.IDTokenHintVerifier(ctx))
	if err != nil {
		op.AuthRequestError(w, r, req, err, p.op)
		return
	}
	if req.RequestParam != "" {
		op.AuthRequestError(w, r, req, oidc.ErrRequestNotSupported(), p.op)
		return
	}
	areq, err := p.storage.CreateAuthRequest(ctx, req, userID)
	if err != nil {
		op.AuthRequestError(w, r, req, oidc.DefaultToServerError(err, "unable to save auth request"), p.op)
		return
	}
	a := areq.(*authRequest)
	if id, err := strconv.ParseInt(a.loginHint, 10, 64); err == nil {
		if person, ok := p.people.Person(id); ok {
			p.finish(w, r, a, person)
			return
		}
	}
	http.Redirect(w, r, client.LoginURL(a.id), http.StatusFound)
}

// finish runs the emulation and answers the relying party with a code or an
// OAuth error.
func (p *provider) finish(w http.ResponseWriter, r *http.Request, a *authRequest, person Person) {
	if f := p.emu.login(r.Context(), p.waiter, p.clock.Now()); f != failNone {
		p.storage.reqs.delete(a.id)
		op.AuthRequestError(w, r, a, f.oidcError(), p.op)
		return
	}
	done, err := p.storage.complete(a.id, person, p.clock.Now())
	if err != nil {
		op.AuthRequestError(w, r, a, oidc.ErrInvalidRequest().WithDescription("this login was already used or has expired").WithParent(err), p.op)
		return
	}
	op.AuthResponse(done, p.op, w, r)
}

// Emulation returns provider name's emulation and counters.
func (s *Server) Emulation(name string) (Emulation, EmulationStats, error) {
	p, ok := s.providers[name]
	if !ok {
		return Emulation{}, EmulationStats{}, vaxbook.Errorf(vaxbook.CodeNotFound, "no provider %q", name)
	}
	return p.emu.config(), p.emu.snapshot(), nil
}

// SetEmulation changes provider name's emulation at run time.
func (s *Server) SetEmulation(name string, e Emulation) error {
	p, ok := s.providers[name]
	if !ok {
		return vaxbook.Errorf(vaxbook.CodeNotFound, "no provider %q", name)
	}
	if err := e.Validate(); err != nil {
		return err
	}
	p.emu.set(e)
	s.log.Info("devidp emulation changed", "provider", name, "emulation", e.String())
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
