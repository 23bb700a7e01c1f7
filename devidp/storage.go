package devidp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Client is a relying party registered at every emulated provider.
type Client struct {
	ID     string
	Secret string
	// RedirectURIs are exact URIs or path.Match globs such as
	// "http://127.0.0.1:*/auth/*/callback" (a dev IdP serves test servers on
	// random ports).
	RedirectURIs []string
}

// Lifetimes of what the provider hands out.
const (
	authRequestTTL = 10 * time.Minute // an unfinished login is forgotten after 10–20 minutes
	accessTokenTTL = 5 * time.Minute
	idTokenTTL     = 5 * time.Minute
)

// authRequest is one authorization in progress. It is immutable once
// stored: completing the login stores a modified copy.
type authRequest struct {
	id           string
	clientID     string
	redirectURI  string
	scopes       []string
	state        string
	nonce        string
	responseType oidc.ResponseType
	responseMode oidc.ResponseMode
	challenge    *oidc.CodeChallenge
	loginHint    string
	createdAt    time.Time

	done     bool
	personID int64
	subject  string
	authTime time.Time
}

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string                 { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.challenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.subject }
func (a *authRequest) Done() bool                            { return a.done }

// requests keeps auth requests and codes in two generations: entries live
// between one and two TTLs, and forgetting a generation is O(1), so a rush
// of abandoned logins never piles up.
type requests struct {
	mu        sync.Mutex
	ttl       time.Duration
	rotatedAt time.Time
	cur, prev map[string]*authRequest
	codes     map[string]string // code → request id (current generation)
	oldCodes  map[string]string
}

func newRequests(ttl time.Duration) *requests {
	return &requests{
		ttl: ttl, cur: map[string]*authRequest{}, prev: map[string]*authRequest{},
		codes: map[string]string{}, oldCodes: map[string]string{},
	}
}

// rotate must be called with mu held.
func (s *requests) rotate(now time.Time) {
	if s.rotatedAt.IsZero() {
		s.rotatedAt = now
		return
	}
	if now.Sub(s.rotatedAt) < s.ttl {
		return
	}
	if now.Sub(s.rotatedAt) >= 2*s.ttl {
		s.prev, s.oldCodes = map[string]*authRequest{}, map[string]string{}
	} else {
		s.prev, s.oldCodes = s.cur, s.codes
	}
	s.cur, s.codes = map[string]*authRequest{}, map[string]string{}
	s.rotatedAt = now
}

func (s *requests) put(a *authRequest, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotate(now)
	delete(s.prev, a.id)
	s.cur[a.id] = a
}

func (s *requests) get(id string) (*authRequest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.cur[id]; ok {
		return a, true
	}
	a, ok := s.prev[id]
	return a, ok
}

func (s *requests) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cur, id)
	delete(s.prev, id)
}

func (s *requests) saveCode(code, id string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotate(now)
	if _, ok := s.cur[id]; !ok {
		if _, ok := s.prev[id]; !ok {
			return errors.New("auth request not found")
		}
	}
	s.codes[code] = id
	return nil
}

// claimCode returns the request of code and forgets the code, so that a
// code works once even when two token requests race with it.
func (s *requests) claimCode(code string) (*authRequest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.codes[code]
	if ok {
		delete(s.codes, code)
	} else if id, ok = s.oldCodes[code]; ok {
		delete(s.oldCodes, code)
	} else {
		return nil, false
	}
	if a, ok := s.cur[id]; ok && a.done {
		return a, true
	}
	if a, ok := s.prev[id]; ok && a.done {
		return a, true
	}
	return nil, false
}

// storage is the op.Storage of one emulated provider.
type storage struct {
	p    *provider
	reqs *requests
}

var _ op.Storage = (*storage)(nil)

type notFound struct{ what string }

func (e notFound) Error() string { return e.what + " not found" }
func (notFound) IsNotFound()     {}

func randomID() string {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// CreateAuthRequest stores a validated authorization request. PKCE with
// S256 is required.
func (s *storage) CreateAuthRequest(ctx context.Context, r *oidc.AuthRequest, userID string) (op.AuthRequest, error) {
	if r.CodeChallenge == "" || r.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE with code_challenge_method=S256 is required")
	}
	if r.ResponseType != oidc.ResponseTypeCode {
		return nil, oidc.ErrUnsupportedGrantType().WithDescription("only the authorization code flow is supported")
	}
	now := s.p.clock.Now()
	a := &authRequest{
		id:           randomID(),
		clientID:     r.ClientID,
		redirectURI:  r.RedirectURI,
		scopes:       slices.Clone([]string(r.Scopes)),
		state:        r.State,
		nonce:        r.Nonce,
		responseType: r.ResponseType,
		responseMode: r.ResponseMode,
		challenge:    &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod},
		loginHint:    r.LoginHint,
		createdAt:    now,
	}
	s.reqs.put(a, now)
	return a, nil
}

// complete marks the request as verified for person and returns the new
// version.
func (s *storage) complete(id string, person Person, now time.Time) (*authRequest, error) {
	a, ok := s.reqs.get(id)
	if !ok {
		return nil, notFound{"auth request"}
	}
	if a.done {
		return nil, errors.New("auth request already completed")
	}
	b := *a
	b.done = true
	b.personID = person.ID
	b.subject = s.p.pairwiseSubject(person.ID)
	b.authTime = now
	s.reqs.put(&b, now)
	return &b, nil
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	a, ok := s.reqs.get(id)
	if !ok {
		return nil, notFound{"auth request"}
	}
	return a, nil
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	a, ok := s.reqs.claimCode(code)
	if !ok {
		return nil, notFound{"code"}
	}
	return a, nil
}

func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	return s.reqs.saveCode(code, id, s.p.clock.Now())
}

func (s *storage) DeleteAuthRequest(ctx context.Context, id string) error {
	s.reqs.delete(id)
	return nil
}

// Access tokens are opaque (the op encrypts "<token id>:<subject>"); the
// token id carries the person and expiry, so userinfo needs no token table.
func (s *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	a, ok := req.(*authRequest)
	if !ok {
		return "", time.Time{}, oidc.ErrUnsupportedGrantType()
	}
	exp := s.p.tokenClock.Now().Add(accessTokenTTL) // the op computes expires_in from the real clock
	return fmt.Sprintf("%d.%d.%s", a.personID, exp.Unix(), randomID()[:8]), exp, nil
}

func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	return "", "", time.Time{}, oidc.ErrUnsupportedGrantType().WithDescription("refresh tokens are not issued")
}

func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (s *storage) TerminateSession(ctx context.Context, userID, clientID string) error { return nil }

func (s *storage) RevokeToken(ctx context.Context, token, userID, clientID string) *oidc.Error {
	return nil // access tokens are short-lived and stateless; nothing to revoke
}

func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) { return s.p.key, nil }

func (s *storage) SignatureAlgorithms(ctx context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.ES256}, nil
}

func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{s.p.key}}, nil
}

func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, ok := s.p.clients[id]
	if !ok {
		return nil, notFound{"client"}
	}
	return &clientView{c: c, p: s.p}, nil
}

func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	c, ok := s.p.clients[id]
	if !ok || subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		return errors.New("client id or secret wrong")
	}
	return nil
}

// SetUserinfoFromScopes is deprecated in the op; SetUserinfoFromRequest
// fills the ID token.
func (s *storage) SetUserinfoFromScopes(ctx context.Context, ui *oidc.UserInfo, userID, clientID string, scopes []string) error {
	return nil
}

// SetUserinfoFromRequest puts the person's claims in the ID token.
func (s *storage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	a, ok := req.(*authRequest)
	if !ok {
		return oidc.ErrServerError().WithDescription("unexpected token request")
	}
	return s.fill(ui, a.personID, scopes)
}

func (s *storage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	parts := strings.SplitN(tokenID, ".", 3)
	if len(parts) != 3 {
		return errors.New("malformed token")
	}
	id, err1 := strconv.ParseInt(parts[0], 10, 64)
	exp, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		return errors.New("malformed token")
	}
	if s.p.tokenClock.Now().Unix() > exp {
		return errors.New("token expired")
	}
	if s.p.pairwiseSubject(id) != subject {
		return errors.New("token subject mismatch")
	}
	return s.fill(ui, id, []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopePhone})
}

func (s *storage) fill(ui *oidc.UserInfo, personID int64, scopes []string) error {
	person, ok := s.p.people.Person(personID)
	if !ok {
		return notFound{"person"}
	}
	ui.Subject = s.p.pairwiseSubject(personID)
	ui.AppendClaims(s.p.ciClaim, person.CI)
	if slices.Contains(scopes, oidc.ScopeProfile) {
		ui.Name = person.Name
		ui.Birthdate = person.BirthDate.String()
		ui.AppendClaims("nationality", string(person.Nationality))
	}
	if slices.Contains(scopes, oidc.ScopePhone) {
		ui.PhoneNumber = person.Phone
	}
	return nil
}

func (s *storage) SetIntrospectionFromToken(ctx context.Context, r *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	return errors.New("introspection is not supported")
}

func (s *storage) GetPrivateClaimsFromScopes(ctx context.Context, userID, clientID string, scopes []string) (map[string]any, error) {
	return map[string]any{}, nil
}

func (s *storage) GetKeyByIDAndClientID(ctx context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT client authentication is not supported")
}

func (s *storage) ValidateJWTProfileScopes(ctx context.Context, userID string, scopes []string) ([]string, error) {
	return nil, errors.New("JWT profile grants are not supported")
}

func (s *storage) Health(ctx context.Context) error { return nil }

// pairwiseSubject is the provider-specific subject of a person: stable for
// one provider, unlinkable across providers.
func (p *provider) pairwiseSubject(personID int64) string {
	m := hmac.New(sha256.New, p.pairwiseKey)
	fmt.Fprintf(m, "%s:%d", p.name, personID)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// clientView is a Client as one provider sees it.
type clientView struct {
	c *Client
	p *provider
}

var _ op.HasRedirectGlobs = (*clientView)(nil)

func (v *clientView) GetID() string { return v.c.ID }
func (v *clientView) RedirectURIs() []string {
	return slices.DeleteFunc(slices.Clone(v.c.RedirectURIs), isGlob)
}
func (v *clientView) RedirectURIGlobs() []string {
	return slices.DeleteFunc(slices.Clone(v.c.RedirectURIs), func(s string) bool { return !isGlob(s) })
}
func (v *clientView) PostLogoutRedirectURIs() []string     { return nil }
func (v *clientView) PostLogoutRedirectURIGlobs() []string { return nil }
func (v *clientView) ApplicationType() op.ApplicationType  { return op.ApplicationTypeWeb }
func (v *clientView) AuthMethod() oidc.AuthMethod          { return oidc.AuthMethodBasic }
func (v *clientView) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (v *clientView) GrantTypes() []oidc.GrantType { return []oidc.GrantType{oidc.GrantTypeCode} }
func (v *clientView) LoginURL(id string) string    { return v.p.loginPath + "?id=" + id }
func (v *clientView) AccessTokenType() op.AccessTokenType {
	return op.AccessTokenTypeBearer
}
func (v *clientView) IDTokenLifetime() time.Duration { return idTokenTTL }
func (v *clientView) DevMode() bool                  { return false }
func (v *clientView) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (v *clientView) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (v *clientView) IsScopeAllowed(scope string) bool { return false }

// IDTokenUserinfoClaimsAssertion is true: the claims go into the ID token,
// so the relying party needs no userinfo call.
func (v *clientView) IDTokenUserinfoClaimsAssertion() bool { return true }
func (v *clientView) ClockSkew() time.Duration             { return 0 }

func isGlob(s string) bool { return strings.ContainsAny(s, "*?[") }
