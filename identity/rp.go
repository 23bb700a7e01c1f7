package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/text/unicode/norm"

	"vaxbook"
)

// ProviderConfig is one OpenID Provider the relying party trusts.
// Production providers and the built-in dev ones are configured alike.
type ProviderConfig struct {
	Name         string // path segment and id: "naver"
	Title        string // display name
	Issuer       string // must equal the discovery document's issuer
	ClientID     string
	ClientSecret string
	Scopes       []string // default openid, profile, phone
	// RedirectURL is this provider's callback as registered at the provider;
	// default Config.BaseURL + "/auth/{name}/callback".
	RedirectURL string
	Claims      ClaimMapping
	// AuthMethod is how the client authenticates at the token endpoint:
	// "client_secret_basic" (default) or "client_secret_post". It is never
	// probed: a probe would spend the one-time code.
	AuthMethod string
	// Capacity is the provider's contracted logins a second and MaxInFlight
	// the logins it may have in progress; the traffic light turns yellow and
	// red as either fills. 0: unknown.
	Capacity    float64
	MaxInFlight int64
}

// ClaimMapping names the ID-token claims that carry what vaxbook needs.
// Empty fields take the defaults shown.
type ClaimMapping struct {
	CI        string // stable person identifier ("ci")
	BirthDate string // "birthdate" (YYYY-MM-DD or YYYYMMDD)
	Name      string // "name"
	Phone     string // "phone_number"
}

func (m ClaimMapping) withDefaults() ClaimMapping {
	if m.CI == "" {
		m.CI = "ci"
	}
	if m.BirthDate == "" {
		m.BirthDate = "birthdate"
	}
	if m.Name == "" {
		m.Name = "name"
	}
	if m.Phone == "" {
		m.Phone = "phone_number"
	}
	return m
}

// Identity is what a provider asserted about the person who signed in.
type Identity struct {
	Provider  string
	Subject   string
	CI        string
	Name      string
	Phone     string
	BirthDate vaxbook.Date // zero if the provider did not say
}

// extract reads the mapped claims of a verified ID token.
func (m ClaimMapping) extract(provider string, tok *oidc.IDToken) (Identity, error) {
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("id token claims: %w", err)
	}
	str := func(k string) string {
		s, _ := claims[k].(string)
		return s
	}
	id := Identity{Provider: provider, Subject: tok.Subject, CI: str(m.CI), Name: norm.NFC.String(str(m.Name)), Phone: str(m.Phone)}
	if id.CI == "" {
		return Identity{}, fmt.Errorf("id token has no %q claim (the stable person identifier)", m.CI)
	}
	if b := str(m.BirthDate); b != "" {
		if len(b) == 8 && !strings.Contains(b, "-") {
			b = b[:4] + "-" + b[4:6] + "-" + b[6:]
		}
		d, err := vaxbook.ParseDate(b)
		if err != nil {
			return Identity{}, fmt.Errorf("id token %q claim: %w", m.BirthDate, err)
		}
		id.BirthDate = d
	}
	return id, nil
}

// relyingParty is vaxbook's side of one provider. Discovery is lazy and
// retried, so a server can boot before its own in-process provider listens.
type relyingParty struct {
	cfg    ProviderConfig
	health *health

	ready   atomic.Pointer[rpClient]
	mu      sync.Mutex
	lastTry time.Time
	lastErr error
}

type rpClient struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// discoveryRetry is how long a failed discovery is remembered before the
// next login tries again.
const discoveryRetry = 2 * time.Second

// client returns the discovered provider, discovering it first if needed.
func (p *relyingParty) client(ctx context.Context, s *Service, now time.Time) (*rpClient, error) {
	if c := p.ready.Load(); c != nil {
		return c, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.ready.Load(); c != nil {
		return c, nil
	}
	if p.lastErr != nil && now.Sub(p.lastTry) < discoveryRetry && !now.Before(p.lastTry) {
		return nil, p.lastErr
	}
	p.lastTry = now
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, s.http), 5*time.Second)
	defer cancel()
	op, err := oidc.NewProvider(ctx, p.cfg.Issuer)
	if err != nil {
		p.lastErr = fmt.Errorf("discovery of %s at %s: %w", p.cfg.Name, p.cfg.Issuer, err)
		return nil, p.lastErr
	}
	ep := op.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	if p.cfg.AuthMethod == "client_secret_post" {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	c := &rpClient{
		oauth: oauth2.Config{
			ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret,
			Endpoint: ep, RedirectURL: p.cfg.RedirectURL, Scopes: p.cfg.Scopes,
		},
		verifier: op.Verifier(&oidc.Config{ClientID: p.cfg.ClientID, Now: s.tokenClock.Now}),
	}
	p.lastErr = nil
	p.ready.Store(c)
	return c, nil
}

// providerFault reports whether a token-endpoint error is the provider's
// fault (unreachable, 5xx, temporarily unavailable) rather than the
// request's (invalid or replayed code: 4xx).
func providerFault(err error) bool {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.Response == nil || re.Response.StatusCode >= 500 || re.ErrorCode == "temporarily_unavailable"
	}
	return true // unreachable, timed out, or answered something that is not a token response
}
