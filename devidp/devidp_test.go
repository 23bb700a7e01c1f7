package devidp_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/devidp"
	"vaxbook/internal/clock"
)

// population is a small deterministic population for these tests (the
// real one comes from the seed generator; People only needs a pure
// function of the id).
func population(n int64) devidp.People {
	return devidp.FromFunc(n, func(id int64) devidp.Person {
		return devidp.Person{
			ID:          id,
			CI:          fmt.Sprintf("CI-%06d-%x", id, sha256.Sum256([]byte{byte(id)})),
			Name:        []string{"김민준", "이서연", "박지후", "최하은", "Zoë Núñez"}[id%5] + fmt.Sprint(id),
			Phone:       fmt.Sprintf("010-%04d-%04d", id/10000, id%10000),
			BirthDate:   vaxbook.Date{Year: 1960 + int(id%45), Month: time.Month(1 + id%12), Day: 1 + int(id%28)},
			Nationality: vaxbook.National,
		}
	})
}

// recordWaiter never sleeps: it records what it was asked to wait.
type recordWaiter struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (w *recordWaiter) Wait(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.waits = append(w.waits, d)
	w.mu.Unlock()
	return ctx.Err()
}

type fixture struct {
	srv    *httptest.Server
	idp    *devidp.Server
	waiter *recordWaiter
	clock  *clock.Fake
}

const (
	clientID     = "vaxbook"
	clientSecret = "s3cret"
)

func newFixture(t *testing.T, mutate func(*devidp.Config)) *fixture {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f := &fixture{srv: srv, waiter: &recordWaiter{}, clock: clock.NewFake(time.Date(2021, 8, 9, 20, 30, 0, 0, time.FixedZone("KST", 9*3600)))}
	c, err := campaign.Load(campaign.Default)
	if err != nil {
		t.Fatal(err)
	}
	cfg := devidp.Config{
		BaseURL: srv.URL,
		Clients: []devidp.Client{{ID: clientID, Secret: clientSecret, RedirectURIs: []string{"http://127.0.0.1:*/cb/*"}}},
		People:  population(2000),
		Campaign: func(context.Context) (vaxbook.Campaign, error) {
			return c, nil
		},
		Check:  campaign.Check,
		Clock:  f.clock,
		Waiter: f.waiter,
		Seed:   1,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	idp, err := devidp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.idp = idp
	mux.Handle("/idp/", idp)
	mux.Handle("/ops/idp/", http.StripPrefix("/ops/idp", idp.OpsHandler()))
	return f
}

// rp is a minimal relying party built from the libraries only.
type rp struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	client   *http.Client
}

func (f *fixture) rp(t *testing.T, provider string) *rp {
	t.Helper()
	ctx := context.Background()
	issuer := f.srv.URL + "/idp/" + provider
	p, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	ep := p.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader // no probing: a probe would spend the code
	return &rp{
		oauth: oauth2.Config{
			ClientID: clientID, ClientSecret: clientSecret, Endpoint: ep,
			RedirectURL: f.srv.URL + "/cb/" + provider, Scopes: []string{"openid", "profile", "phone"},
		},
		verifier: p.Verifier(&oidc.Config{ClientID: clientID}),
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
	}
}

// authorize goes to the authorize endpoint and returns the redirect it got.
func (r *rp) authorize(t *testing.T, verifier string, extra ...oauth2.AuthCodeOption) *url.URL {
	t.Helper()
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce("n0nce")}, extra...)
	resp, err := r.client.Get(r.oauth.AuthCodeURL("st4te", opts...))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d, want 302", resp.StatusCode)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func hint(id int64) oauth2.AuthCodeOption {
	return oauth2.SetAuthURLParam("login_hint", fmt.Sprint(id))
}

type claims struct {
	Sub         string `json:"sub"`
	CI          string `json:"ci"`
	Name        string `json:"name"`
	Birthdate   string `json:"birthdate"`
	Phone       string `json:"phone_number"`
	Nationality string `json:"nationality"`
	Nonce       string `json:"nonce"`
}

func (r *rp) exchange(t *testing.T, code, verifier string) (claims, error) {
	t.Helper()
	tok, err := r.oauth.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return claims{}, err
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(context.Background(), raw)
	if err != nil {
		return claims{}, err
	}
	var c claims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c, nil
}

func TestDiscoveryAndKeys(t *testing.T) {
	f := newFixture(t, nil)
	for _, name := range f.idp.Providers() {
		resp, err := http.Get(f.srv.URL + "/idp/" + name + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Issuer  string   `json:"issuer"`
			JWKS    string   `json:"jwks_uri"`
			Algs    []string `json:"id_token_signing_alg_values_supported"`
			PKCE    []string `json:"code_challenge_methods_supported"`
			AuthURL string   `json:"authorization_endpoint"`
		}
		json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		want := f.srv.URL + "/idp/" + name
		if d.Issuer != want || d.AuthURL != want+"/authorize" || len(d.Algs) != 1 || d.Algs[0] != "ES256" {
			t.Errorf("%s discovery = %+v", name, d)
		}
		resp, err = http.Get(d.JWKS)
		if err != nil {
			t.Fatal(err)
		}
		var jwks struct {
			Keys []struct{ Kty, Crv, Alg, Use, Kid string }
		}
		json.NewDecoder(resp.Body).Decode(&jwks)
		resp.Body.Close()
		if len(jwks.Keys) != 1 || jwks.Keys[0].Kty != "EC" || jwks.Keys[0].Crv != "P-256" || jwks.Keys[0].Kid == "" {
			t.Errorf("%s JWKS = %+v", name, jwks)
		}
	}
	if got := f.idp.Providers(); strings.Join(got, ",") != "naver,kakao,pass,mobile,cert" {
		t.Errorf("providers = %v", got)
	}
}

func TestLoginHintFlow(t *testing.T) {
	f := newFixture(t, nil)
	subs := map[string]string{}
	for _, name := range f.idp.Providers() {
		r := f.rp(t, name)
		v := oauth2.GenerateVerifier()
		loc := r.authorize(t, v, hint(42))
		if !strings.HasPrefix(loc.String(), f.srv.URL+"/cb/"+name+"?") || loc.Query().Get("state") != "st4te" {
			t.Fatalf("%s: redirect %s", name, loc)
		}
		c, err := r.exchange(t, loc.Query().Get("code"), v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, _ := population(2000).Person(42)
		if c.CI != want.CI || c.Name != want.Name || c.Birthdate != want.BirthDate.String() || c.Phone != want.Phone ||
			c.Nonce != "n0nce" || c.Nationality != "KR" || c.Sub == "" {
			t.Errorf("%s claims = %+v, want person %+v", name, c, want)
		}
		subs[name] = c.Sub
	}
	seen := map[string]bool{}
	for _, s := range subs {
		if seen[s] {
			t.Errorf("subject %s repeats across providers: %v", s, subs)
		}
		seen[s] = true
	}
	// Stable per provider.
	r := f.rp(t, "naver")
	v := oauth2.GenerateVerifier()
	c, err := r.exchange(t, r.authorize(t, v, hint(42)).Query().Get("code"), v)
	if err != nil || c.Sub != subs["naver"] {
		t.Errorf("second naver login: sub %q err %v, want %q", c.Sub, err, subs["naver"])
	}
}

func TestCustomCIClaim(t *testing.T) {
	f := newFixture(t, func(c *devidp.Config) {
		c.Providers = []devidp.ProviderConfig{{Name: "pass", CIClaim: "ci_pass"}}
	})
	r := f.rp(t, "pass")
	v := oauth2.GenerateVerifier()
	code := r.authorize(t, v, hint(7)).Query().Get("code")
	tok, err := r.oauth.Exchange(context.Background(), code, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := r.verifier.Verify(context.Background(), tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	idt.Claims(&m)
	want, _ := population(2000).Person(7)
	if m["ci_pass"] != want.CI || m["ci"] != nil {
		t.Errorf("claims %v: want ci_pass=%s and no ci", m, want.CI)
	}
}

func TestProtocolRefusals(t *testing.T) {
	f := newFixture(t, nil)
	r := f.rp(t, "kakao")

	t.Run("PKCE required", func(t *testing.T) {
		resp, err := r.client.Get(r.oauth.AuthCodeURL("st4te", hint(5)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := resp.Location()
		if loc == nil || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("code") != "" {
			t.Errorf("authorize without PKCE: %d %v", resp.StatusCode, loc)
		}
	})
	t.Run("unregistered redirect URI", func(t *testing.T) {
		bad := r.oauth
		bad.RedirectURL = "http://evil.example/cb"
		resp, err := r.client.Get(bad.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), hint(5)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("bad redirect: status %d, want 400 (never redirect to an unregistered URI)", resp.StatusCode)
		}
	})
	t.Run("wrong verifier", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		code := r.authorize(t, v, hint(5)).Query().Get("code")
		if _, err := r.exchange(t, code, oauth2.GenerateVerifier()); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("wrong verifier: %v, want invalid_grant", err)
		}
	})
	t.Run("replayed code", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		code := r.authorize(t, v, hint(5)).Query().Get("code")
		if _, err := r.exchange(t, code, v); err != nil {
			t.Fatal(err)
		}
		if _, err := r.exchange(t, code, v); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("replay: %v, want invalid_grant", err)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		code := r.authorize(t, v, hint(5)).Query().Get("code")
		bad := *r
		bad.oauth.ClientSecret = "nope"
		if _, err := bad.exchange(t, code, v); err == nil || !strings.Contains(err.Error(), "invalid_client") {
			t.Errorf("wrong secret: %v, want invalid_client", err)
		}
	})
	t.Run("code of another provider", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		code := r.authorize(t, v, hint(5)).Query().Get("code")
		other := f.rp(t, "naver")
		other.oauth.RedirectURL = r.oauth.RedirectURL
		if _, err := other.exchange(t, code, v); err == nil {
			t.Error("a kakao code was accepted by naver")
		}
	})
}

func TestLoginPage(t *testing.T) {
	f := newFixture(t, nil)
	r := f.rp(t, "pass")
	v := oauth2.GenerateVerifier()
	loc := r.authorize(t, v) // no hint: the login page
	if loc.Path != "/idp/pass/login" || loc.Query().Get("id") == "" {
		t.Fatalf("redirect %v, want the login page", loc)
	}
	page := loc.String()
	body := get(t, page)
	for _, want := range []string{"지금 예약 가능", "다른 날", "대상 아님", "eligible", "not_in_group", `name="person"`} {
		if !strings.Contains(body, want) {
			t.Errorf("login page lacks %q", want)
		}
	}
	// Search by id and by (decomposed) name.
	p77, _ := population(2000).Person(77)
	if body := get(t, page+"&q=77"); !strings.Contains(body, p77.Name) {
		t.Errorf("search by id: no %q", p77.Name)
	}
	if body := get(t, page+"&q="+url.QueryEscape("Zoe\u0308 Nu\u0301n\u0303ez4")); !strings.Contains(body, "Zoë Núñez4") {
		t.Errorf("search by decomposed name found nothing")
	}
	// Pick person 77.
	resp, err := r.client.PostForm(f.srv.URL+"/idp/pass/login", url.Values{"id": {loc.Query().Get("id")}, "person": {"77"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, _ := resp.Location()
	if resp.StatusCode != http.StatusFound || back == nil {
		t.Fatalf("login POST: %d", resp.StatusCode)
	}
	c, err := r.exchange(t, back.Query().Get("code"), v)
	if err != nil || c.CI != p77.CI {
		t.Fatalf("login page flow: %+v %v", c, err)
	}
	// The request is used up.
	resp, _ = r.client.PostForm(f.srv.URL+"/idp/pass/login", url.Values{"id": {loc.Query().Get("id")}, "person": {"77"}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("second POST: %d, want 400", resp.StatusCode)
	}
	// An unknown hint shows the page with a notice.
	loc = r.authorize(t, oauth2.GenerateVerifier(), hint(999999))
	if loc.Path != "/idp/pass/login" || !strings.Contains(get(t, loc.String()), "no such person") {
		t.Errorf("unknown hint: %v", loc)
	}
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return string(b)
}

func TestEmulatedOutageAndErrors(t *testing.T) {
	f := newFixture(t, nil)
	r := f.rp(t, "mobile")
	v := oauth2.GenerateVerifier()
	code := r.authorize(t, v, hint(3)).Query().Get("code") // issued before the outage

	if err := f.idp.SetEmulation("mobile", devidp.Emulation{Outage: true}); err != nil {
		t.Fatal(err)
	}
	loc := r.authorize(t, oauth2.GenerateVerifier(), hint(3))
	if loc.Query().Get("error") != "temporarily_unavailable" || loc.Query().Get("state") != "st4te" || loc.Query().Get("code") != "" {
		t.Errorf("outage authorize: %v", loc)
	}
	var re *oauth2.RetrieveError
	if _, err := r.exchange(t, code, v); !errors.As(err, &re) || re.Response.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("outage token: %v, want 503", err)
	}
	// Other providers are unaffected.
	if loc := f.rp(t, "cert").authorize(t, oauth2.GenerateVerifier(), hint(3)); loc.Query().Get("code") == "" {
		t.Errorf("cert during mobile outage: %v", loc)
	}
	if err := f.idp.SetEmulation("mobile", devidp.Emulation{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	if loc := r.authorize(t, oauth2.GenerateVerifier(), hint(3)); loc.Query().Get("error") != "server_error" {
		t.Errorf("error rate 1: %v", loc)
	}
	_, st, _ := f.idp.Emulation("mobile")
	if st.OutageHits != 2 || st.Errors != 1 || st.Logins != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestEmulatedCapacityQueuesThenFails(t *testing.T) {
	f := newFixture(t, func(c *devidp.Config) {
		c.Providers = []devidp.ProviderConfig{{Name: "naver", Emulation: devidp.Emulation{
			Capacity: 10, MaxQueue: vaxbook.Duration(time.Second),
			Latency: devidp.Latency{Median: vaxbook.Duration(250 * time.Millisecond)},
		}}}
	})
	r := f.rp(t, "naver")
	// The clock stands still: logins arrive at the same instant. Capacity 10/s
	// with a burst of one: the first two go at once, then one every 100ms, up
	// to the 1s queue limit.
	var ok, refused int
	for i := 0; i < 20; i++ {
		loc := r.authorize(t, oauth2.GenerateVerifier(), hint(int64(i+1)))
		switch {
		case loc.Query().Get("code") != "":
			ok++
		case loc.Query().Get("error") == "temporarily_unavailable":
			refused++
		default:
			t.Fatalf("login %d: %v", i, loc)
		}
	}
	if ok != 12 || refused != 8 {
		t.Errorf("ok %d refused %d, want 12 and 8", ok, refused)
	}
	var queued []time.Duration
	for _, w := range f.waiter.waits {
		if w != 250*time.Millisecond {
			queued = append(queued, w)
		}
	}
	if len(queued) != 10 || queued[0] != 100*time.Millisecond || queued[9] != time.Second {
		t.Errorf("queue waits %v, want 100ms…1s", queued)
	}
	if n := len(f.waiter.waits) - len(queued); n != 12 {
		t.Errorf("%d latency waits, want one per admitted login (12)", n)
	}
	// A second later there is capacity again.
	f.clock.Advance(2 * time.Second)
	if loc := r.authorize(t, oauth2.GenerateVerifier(), hint(1)); loc.Query().Get("code") == "" {
		t.Errorf("after the rush: %v", loc)
	}
	_, st, _ := f.idp.Emulation("naver")
	if st.Logins != 13 || st.Overloaded != 8 || st.Queued != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestOpsHandler(t *testing.T) {
	f := newFixture(t, nil)
	do := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, f.srv.URL+"/ops/idp"+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if st, m := do("GET", "/", ""); st != 200 || len(m["providers"].([]any)) != 5 {
		t.Errorf("GET /: %d %v", st, m)
	}
	st, m := do("PUT", "/kakao", `{"capacity":300,"latency":{"median":"200ms","p99":"2s"},"error_rate":0.02}`)
	if st != 200 {
		t.Fatalf("PUT: %d %v", st, m)
	}
	e, _, _ := f.idp.Emulation("kakao")
	if e.Capacity != 300 || time.Duration(e.Latency.P99) != 2*time.Second || e.ErrorRate != 0.02 || e.Outage {
		t.Errorf("after PUT: %+v", e)
	}
	if st, _ := do("PATCH", "/kakao", `{"outage":true}`); st != 200 {
		t.Errorf("PATCH: %d", st)
	}
	e, _, _ = f.idp.Emulation("kakao")
	if !e.Outage || e.Capacity != 300 {
		t.Errorf("after PATCH: %+v (PATCH must keep other fields)", e)
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"PATCH", "/kakao", `{"error_rate":2}`, 400, "invalid_argument"},
		{"PATCH", "/kakao", `{"capacity":-1}`, 400, "invalid_argument"},
		{"PATCH", "/kakao", `{"latency":{"median":"2s","p99":"1s"}}`, 400, "invalid_argument"},
		{"PATCH", "/kakao", `{"capacty":5}`, 400, "invalid_argument"},
		{"PATCH", "/kakao", `not json`, 400, "invalid_argument"},
		{"PUT", "/nope", `{}`, 404, "not_found"},
		{"GET", "/nope", ``, 404, "not_found"},
	} {
		st, m := do(tc.method, tc.path, tc.body)
		if st != tc.status || m["code"] != tc.code {
			t.Errorf("%s %s %s: %d %v, want %d %s", tc.method, tc.path, tc.body, st, m, tc.status, tc.code)
		}
	}
	e2, _, _ := f.idp.Emulation("kakao")
	if e2 != e {
		t.Errorf("refused changes changed the emulation: %+v → %+v", e, e2)
	}
}

func TestKeyDirKeepsKeys(t *testing.T) {
	dir := t.TempDir()
	kid := func() string {
		f := newFixture(t, func(c *devidp.Config) { c.KeyDir = dir })
		resp, err := http.Get(f.srv.URL + "/idp/naver/keys")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var jwks struct{ Keys []struct{ Kid string } }
		json.NewDecoder(resp.Body).Decode(&jwks)
		return jwks.Keys[0].Kid
	}
	a, b := kid(), kid()
	if a == "" || a != b {
		t.Errorf("kid %q then %q: a key directory must keep keys across restarts", a, b)
	}
}

func TestConfigRefusals(t *testing.T) {
	base := devidp.Config{People: population(1)}
	for name, mutate := range map[string]func(*devidp.Config){
		"no people": func(c *devidp.Config) { c.People = nil },
		"bad name":  func(c *devidp.Config) { c.Providers = []devidp.ProviderConfig{{Name: "Na ver"}} },
		"duplicate": func(c *devidp.Config) { c.Providers = []devidp.ProviderConfig{{Name: "a"}, {Name: "a"}} },
		"bad emulation": func(c *devidp.Config) {
			c.Providers = []devidp.ProviderConfig{{Name: "a", Emulation: devidp.Emulation{ErrorRate: -1}}}
		},
		"client secret":  func(c *devidp.Config) { c.Clients = []devidp.Client{{ID: "x", RedirectURIs: []string{"http://a/cb"}}} },
		"base URL path":  func(c *devidp.Config) { c.BaseURL = "http://host/x" },
		"base URL bogus": func(c *devidp.Config) { c.BaseURL = "host:80" },
	} {
		c := base
		mutate(&c)
		if _, err := devidp.New(c); err == nil {
			t.Errorf("%s: New accepted a bad config", name)
		}
	}
}

type recordRT struct{ hosts []string }

func (r *recordRT) RoundTrip(req *http.Request) (*http.Response, error) {
	r.hosts = append(r.hosts, req.URL.Host+req.URL.Path)
	return &http.Response{StatusCode: http.StatusTeapot, Body: http.NoBody, Request: req}, nil
}

func TestTransport(t *testing.T) {
	f := newFixture(t, nil)
	base := &recordRT{}
	c := &http.Client{Transport: f.idp.Transport(base)}
	resp, err := c.Get(f.srv.URL + "/idp/kakao/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ Issuer string }
	json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if resp.StatusCode != 200 || d.Issuer != f.srv.URL+"/idp/kakao" || len(base.hosts) != 0 {
		t.Errorf("in-memory discovery: %d %+v, base saw %v", resp.StatusCode, d, base.hosts)
	}
	for _, u := range []string{"http://elsewhere.example/idp/kakao/keys", f.srv.URL + "/auth/x", strings.Replace(f.srv.URL, "http:", "https:", 1) + "/idp/kakao/keys"} {
		resp, err := c.Get(u)
		if err != nil || resp.StatusCode != http.StatusTeapot {
			t.Errorf("%s: %v %v, want it sent through base", u, resp, err)
		}
	}
	if len(base.hosts) != 3 {
		t.Errorf("base saw %v", base.hosts)
	}
}
