package identity_test

import (
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"io"
	"iter"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/devidp"
	"vaxbook/identity"
	"vaxbook/inmem"
	"vaxbook/internal/clock"
	"vaxbook/pii"
	"vaxbook/sqlite"
)

var kst = time.FixedZone("KST", 9*3600)

// openingNight is 30 minutes into the first rotation day (birth days
// ending in 9).
var openingNight = time.Date(2021, 8, 9, 20, 30, 0, 0, kst)

func ciOf(id int64) string {
	sum := sha512.Sum512([]byte(fmt.Sprintf("test-ci-%d", id)))
	return base64.StdEncoding.EncodeToString(sum[:]) // 88 characters, like a Korean CI
}

type testPerson struct {
	id    int64
	name  string
	birth string
	nat   vaxbook.Nationality
	inReg bool // in the registry
}

// The people of these tests. Eligible on opening night: birth day ending in 9,
// born 1972–2003, national or registered foreigner.
var testPeople = []testPerson{
	{1, "김민준", "1990-08-09", vaxbook.National, true},
	{2, "이서연", "1985-03-19", vaxbook.National, true},
	{3, "박윤아", "1996-02-29", vaxbook.National, true},                           // Feb-29 birthday
	{4, "Zoë Ñúñez-O'Brien", "1988-11-29", vaxbook.RegisteredAlien, true},      // foreigner, Latin diacritics
	{5, "똠뷁햏", "1979-01-09", vaxbook.National, true},                           // rare Hangul syllables
	{6, "ᄒᆞᆫ글 아래아", "2003-12-29", vaxbook.National, true},                      // archaic jamo (no NFC composition), born on the group's last day-9
	{7, "정우진", "1990-08-10", vaxbook.National, true},                           // another day
	{8, "최영수", "1960-05-09", vaxbook.National, true},                           // not in the age group
	{9, "한지민", "1990-01-09", vaxbook.National, false},                          // verified but not in the registry
	{10, "Nguyễn Thị Minh Khai", "1992-04-29", vaxbook.RegisteredAlien, false}, // foreigner the registry lacks
	{11, "阿部 寛", "1980-02-29", vaxbook.RegisteredAlien, true},                  // Feb-29 foreigner with Han characters
}

// bulkFrom is where generated eligible people start (ids bulkFrom…).
const bulkFrom = 1000

func bulkPerson(id int64) testPerson {
	day := []int{9, 19, 29}[id%3]
	month := 1 + id%12
	if month == 2 {
		month = 3
	}
	return testPerson{id, fmt.Sprintf("시민%d", id), fmt.Sprintf("%d-%02d-%02d", 1972+id%30, month, day), vaxbook.National, true}
}

func (p testPerson) devidp() devidp.Person {
	return devidp.Person{ID: p.id, CI: ciOf(p.id), Name: p.name, Phone: fmt.Sprintf("010-1234-%04d", p.id%10000),
		BirthDate: vaxbook.MustDate(p.birth), Nationality: p.nat}
}

func (p testPerson) registry(keys *pii.Keys) vaxbook.Person {
	return vaxbook.Person{
		ID: p.id, CIHash: keys.BlindIndex(ciOf(p.id)), BirthDate: vaxbook.MustDate(p.birth), Nationality: p.nat,
		Sigungu: "11110", NameSealed: keys.Seal(p.name, pii.PersonAAD(p.id)),
		PhoneSealed: keys.Seal(fmt.Sprintf("010-1234-%04d", p.id%10000), pii.PersonAAD(p.id)),
	}
}

func lookup(id int64) (testPerson, bool) {
	for _, p := range testPeople {
		if p.id == id {
			return p, true
		}
	}
	if id >= bulkFrom {
		return bulkPerson(id), true
	}
	return testPerson{}, false
}

// store is what a test store offers.
type store interface {
	identity.Store
	vaxbook.Loader
}

type storeKind struct {
	name string
	open func(t testing.TB) store
}

var storeKinds = []storeKind{
	{"inmem", func(t testing.TB) store { return inmem.New() }},
	{"sqlite", func(t testing.TB) store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "vaxbook.db"), sqlite.Options{Synchronous: sqlite.SyncNormal})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}},
}

type env struct {
	t      testing.TB
	srv    *httptest.Server
	idp    *devidp.Server
	svc    *identity.Service
	icfg   identity.Config // svc's, for a second node on the same store
	store  store
	keys   *pii.Keys
	clock  *clock.Fake
	tamper atomic.Bool  // tamper with the next ID tokens the providers issue
	down   atomic.Bool  // the providers' HTTP endpoints answer 503
	tokens atomic.Int64 // token requests that reached the providers over TCP
}

type envOption func(*envConfig)

type envConfig struct {
	store storeKind
	bulk  int64
	// people and registry replace the test people: who the providers know
	// and who the registry holds.
	people   devidp.People
	registry func(*pii.Keys) iter.Seq2[vaxbook.Person, error]
	inMemory bool // the relying party reaches the providers in memory
	identity func(*identity.Config)
	devidp   func(*devidp.Config)
}

func withStore(k storeKind) envOption { return func(c *envConfig) { c.store = k } }
func withBulk(n int64) envOption      { return func(c *envConfig) { c.bulk = n } }
func withCountry(people devidp.People, registry func(*pii.Keys) iter.Seq2[vaxbook.Person, error]) envOption {
	return func(c *envConfig) { c.people, c.registry = people, registry }
}
func withInMemoryBackChannel() envOption { return func(c *envConfig) { c.inMemory = true } }
func withIdentity(f func(*identity.Config)) envOption {
	return func(c *envConfig) { c.identity = f }
}

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	ec := envConfig{store: storeKinds[0], bulk: 50}
	for _, o := range opts {
		o(&ec)
	}
	ctx := context.Background()
	e := &env{t: t, keys: pii.DemoKeys(), clock: clock.NewFake(openingNight), store: ec.store.open(t)}
	c, err := campaign.Load(campaign.Default)
	if err != nil {
		t.Fatal(err)
	}
	people := func(yield func(vaxbook.Person, error) bool) {
		for _, p := range testPeople {
			if p.inReg && !yield(p.registry(e.keys), nil) {
				return
			}
		}
		for id := int64(bulkFrom); id < bulkFrom+ec.bulk; id++ {
			if !yield(bulkPerson(id).registry(e.keys), nil) {
				return
			}
		}
	}
	var registry iter.Seq2[vaxbook.Person, error] = people
	var population devidp.People = testPopulation{n: bulkFrom + ec.bulk}
	if ec.people != nil {
		registry, population = ec.registry(e.keys), ec.people
	}
	if err := e.store.Load(ctx, vaxbook.Dataset{Campaigns: []vaxbook.Campaign{c}, People: registry}); err != nil {
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)

	dcfg := devidp.Config{
		BaseURL: e.srv.URL,
		Clients: []devidp.Client{{ID: "vaxbook", Secret: "dev-secret", RedirectURIs: []string{e.srv.URL + "/auth/*/callback"}}},
		People:  population,
		Clock:   e.clock, Waiter: instantWaiter{},
	}
	if ec.devidp != nil {
		ec.devidp(&dcfg)
	}
	e.idp, err = devidp.New(dcfg)
	if err != nil {
		t.Fatal(err)
	}
	var providers []identity.ProviderConfig
	for _, n := range e.idp.Providers() {
		providers = append(providers, identity.ProviderConfig{
			Name: n, Issuer: e.srv.URL + "/idp/" + n, ClientID: "vaxbook", ClientSecret: "dev-secret",
		})
	}
	icfg := identity.Config{
		Providers: providers, BaseURL: e.srv.URL, Store: e.store, Keys: e.keys,
		Campaign: func(context.Context) (vaxbook.Campaign, error) { return c, nil },
		Clock:    e.clock,
	}
	if ec.inMemory {
		icfg.HTTPClient = &http.Client{Transport: e.idp.Transport(nil), Timeout: 10 * time.Second}
	}
	if ec.identity != nil {
		ec.identity(&icfg)
	}
	e.svc, err = identity.New(icfg)
	if err != nil {
		t.Fatal(err)
	}
	e.icfg = icfg

	mux.Handle("/idp/", e.providerGate(e.idp))
	mux.Handle("/auth/", e.svc.Handler())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "landing") })
	mux.HandleFunc("GET /queue", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "queue") })
	mux.HandleFunc("GET /signin/refused", func(w http.ResponseWriter, r *http.Request) {
		o, ok := e.svc.Outcome(r, e.clock.Now())
		if !ok || string(o.Code) != r.URL.Query().Get("code") {
			http.Error(w, "no outcome", http.StatusTeapot)
			return
		}
		json.NewEncoder(w).Encode(o)
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		sess, p, err := e.svc.Current(r, e.clock.Now())
		if err != nil {
			w.WriteHeader(identity.Status(vaxbook.ErrorCode(err)))
			json.NewEncoder(w).Encode(map[string]any{"code": vaxbook.ErrorCode(err)})
			return
		}
		name, err := e.keys.Open(p.NameSealed, pii.PersonAAD(p.ID))
		if err != nil {
			t.Errorf("open name: %v", err)
		}
		json.NewEncoder(w).Encode(me{PersonID: p.ID, Name: name, Provider: sess.Provider, CSRF: sess.CSRFToken, Session: sess.ID})
	})
	mux.HandleFunc("POST /api/change", func(w http.ResponseWriter, r *http.Request) {
		sess, _, err := e.svc.Current(r, e.clock.Now())
		if err == nil {
			err = e.svc.CheckCSRF(r, sess)
		}
		if err != nil {
			w.WriteHeader(identity.Status(vaxbook.ErrorCode(err)))
			json.NewEncoder(w).Encode(map[string]any{"code": vaxbook.ErrorCode(err)})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return e
}

type me struct {
	PersonID int64        `json:"person_id"`
	Name     string       `json:"name"`
	Provider string       `json:"provider"`
	CSRF     string       `json:"csrf"`
	Session  string       `json:"session"`
	Code     vaxbook.Code `json:"code"`
}

// testPopulation serves testPeople and the bulk people to the providers.
type testPopulation struct{ n int64 }

func (tp testPopulation) Person(id int64) (devidp.Person, bool) {
	if id >= tp.n {
		return devidp.Person{}, false
	}
	p, ok := lookup(id)
	if !ok {
		return devidp.Person{}, false
	}
	return p.devidp(), true
}

func (tp testPopulation) Count() int64 { return tp.n }

type instantWaiter struct{}

func (instantWaiter) Wait(ctx context.Context, d time.Duration) error { return ctx.Err() }

// providerGate puts the providers behind switches: down (503 everywhere)
// and tamper (flip a claim in the ID token of the token response, keeping
// the signature).
func (e *env) providerGate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/oauth/token") {
			e.tokens.Add(1)
		}
		if !e.tamper.Load() || !strings.HasSuffix(r.URL.Path, "/oauth/token") {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			e.t.Fatal(err)
		}
		parts := strings.Split(body["id_token"].(string), ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var claims map[string]any
		json.Unmarshal(payload, &claims)
		claims["ci"] = ciOf(2) // claim to be someone else
		payload, _ = json.Marshal(claims)
		parts[1] = base64.RawURLEncoding.EncodeToString(payload)
		body["id_token"] = strings.Join(parts, ".")
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(body)
	})
}

// browser is one device: a cookie jar.
type browser struct {
	e      *env
	client *http.Client
	accept string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, client: &http.Client{Jar: jar}}
}

// result is where a login ended.
type result struct {
	status  int
	path    string // the final page
	outcome identity.Outcome
	body    string
}

func (b *browser) get(u string) result {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if b.accept != "" {
		req.Header.Set("Accept", b.accept)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, path: resp.Request.URL.Path, body: string(body)}
	if r.path == "/signin/refused" && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &r.outcome); err != nil {
			b.e.t.Fatal(err)
		}
	}
	return r
}

func (b *browser) login(provider string, person int64) result {
	b.e.t.Helper()
	return b.get(fmt.Sprintf("%s/auth/%s/start?login_hint=%d", b.e.srv.URL, provider, person))
}

// step requests u without following redirects and returns the Location.
func (b *browser) step(u string) *url.URL {
	b.e.t.Helper()
	c := *b.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(u)
	if err != nil {
		b.e.t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		b.e.t.Fatalf("GET %s: %d, no redirect", u, resp.StatusCode)
	}
	return loc
}

func (b *browser) me() me {
	b.e.t.Helper()
	resp, err := b.client.Get(b.e.srv.URL + "/me")
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m me
	json.NewDecoder(resp.Body).Decode(&m)
	return m
}

func (b *browser) post(path string, header http.Header, form url.Values) (int, vaxbook.Code) {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	code, _ := m["code"].(string)
	return resp.StatusCode, vaxbook.Code(code)
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.e.srv.URL + "/auth/")
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (e *env) expectSignedIn(b *browser, r result, person int64, provider string) {
	e.t.Helper()
	if r.path != "/queue" || r.status != http.StatusOK {
		e.t.Fatalf("login of %d with %s ended at %s (%d) %+v, want /queue", person, provider, r.path, r.status, r.outcome)
	}
	m := b.me()
	p, _ := lookup(person)
	if m.PersonID != person || m.Provider != provider || m.Name != p.name || m.CSRF == "" {
		e.t.Errorf("/me = %+v, want person %d (%s) via %s", m, person, p.name, provider)
	}
}

func (e *env) expectRefused(r result, code vaxbook.Code) identity.Outcome {
	e.t.Helper()
	if r.path != "/signin/refused" || r.outcome.Code != code {
		e.t.Fatalf("ended at %s (%d) with %+v, want refusal %s", r.path, r.status, r.outcome, code)
	}
	return r.outcome
}

func TestLoginWithEachProvider(t *testing.T) {
	e := newEnv(t)
	for i, name := range e.idp.Providers() {
		b := e.browser()
		person := int64(bulkFrom + i)
		e.expectSignedIn(b, b.login(name, person), person, name)
		sc := b.cookie(identity.SessionCookie)
		if sc == nil || b.cookie(identity.DeviceCookie) == nil {
			t.Fatalf("%s: missing session or device cookie", name)
		}
		if b.cookie(identity.FlowCookie) != nil {
			t.Errorf("%s: the login-flow cookie outlived the login", name)
		}
	}
	if n := e.tokens.Load(); n != 5 {
		t.Errorf("%d token requests, want one per login", n)
	}
}

func TestCookieAttributes(t *testing.T) {
	e := newEnv(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasSuffix(req.URL.Path, "/queue") {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := c.Get(e.srv.URL + "/auth/naver/start?login_hint=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == identity.SessionCookie {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" || session.Secure {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Lax, Path=/, not Secure over plain HTTP", session)
	}
	// Behind TLS (or when configured so) cookies are Secure.
	e2 := newEnv(t, withIdentity(func(c *identity.Config) { c.SecureCookies = true }))
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get(e2.srv.URL + "/auth/naver/start")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(resp.Cookies()) != 2 {
		t.Fatalf("start set %d cookies, want device and flow", len(resp.Cookies()))
	}
	for _, ck := range resp.Cookies() {
		if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
			t.Errorf("cookie %s: Secure %v HttpOnly %v SameSite %v", ck.Name, ck.Secure, ck.HttpOnly, ck.SameSite)
		}
	}
}

func TestEligibleRareCases(t *testing.T) {
	// People that 2021 failed to recognise: foreigners, Feb-29 birthdays,
	// rare Hangul, archaic jamo, Latin diacritics, Han characters.
	e := newEnv(t)
	for _, id := range []int64{3, 4, 5, 6, 11} {
		b := e.browser()
		e.expectSignedIn(b, b.login("pass", id), id, "pass")
	}
}

func TestNotEligibleNow(t *testing.T) {
	e := newEnv(t)
	other := e.expectRefused(e.browser().login("kakao", 7), vaxbook.CodeOtherDay)
	if other.Window == nil || !other.Window.Opens.Equal(time.Date(2021, 8, 10, 20, 0, 0, 0, kst)) {
		t.Errorf("other_day window %+v, want Aug 10 20:00 KST", other.Window)
	}
	out := e.expectRefused(e.browser().login("kakao", 8), vaxbook.CodeNotInGroup)
	if out.Window != nil || out.Provider != "kakao" {
		t.Errorf("not_in_group outcome %+v", out)
	}
	e.clock.Set(time.Date(2021, 8, 9, 19, 59, 59, 0, kst))
	early := e.expectRefused(e.browser().login("kakao", 1), vaxbook.CodeNotOpenYet)
	if early.Window == nil || early.Window.ID != "rotation-2021-08-09" {
		t.Errorf("not_open_yet window %+v", early.Window)
	}
	e.clock.Set(time.Date(2021, 9, 18, 18, 0, 0, 0, kst))
	e.expectRefused(e.browser().login("kakao", 1), vaxbook.CodeClosed)
	// Nothing entered: no session, no device lock.
	for _, id := range []int64{1, 7, 8} {
		for _, w := range []string{"rotation-2021-08-09", "rotation-2021-08-10"} {
			if _, err := e.store.DeviceLock(context.Background(), id, campaign.Default, w); vaxbook.ErrorCode(err) != vaxbook.CodeNotFound {
				t.Errorf("person %d window %s: lock %v, want none", id, w, err)
			}
		}
	}
}

func TestNotInRegistry(t *testing.T) {
	e := newEnv(t)
	for _, id := range []int64{9, 10} {
		b := e.browser()
		e.expectRefused(b.login("mobile", id), vaxbook.CodeNotInRegistry)
		if m := b.me(); m.Code != vaxbook.CodeNotSignedIn {
			t.Errorf("person %d: /me %+v after not_in_registry", id, m)
		}
	}
}

func TestJSONClientsGetProblems(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.accept = "application/json"
	r := b.login("naver", 7)
	var p map[string]any
	json.Unmarshal([]byte(r.body), &p)
	if r.status != http.StatusForbidden || p["code"] != "other_day" || p["window"] == nil {
		t.Errorf("JSON refusal: %d %s", r.status, r.body)
	}
}

func TestSecondDeviceBlocked(t *testing.T) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			e := newEnv(t, withStore(k))
			first, second := e.browser(), e.browser()
			e.expectSignedIn(first, first.login("naver", 1), 1, "naver")
			e.clock.Advance(5 * time.Minute)
			o := e.expectRefused(second.login("kakao", 1), vaxbook.CodeDeviceLocked)
			if o.LockedWith != "naver" || !o.LockedAt.Equal(openingNight) || o.Window == nil || o.Window.ID != "rotation-2021-08-09" {
				t.Errorf("device_locked outcome %+v: want naver at %v in rotation-2021-08-09", o, openingNight)
			}
			if m := second.me(); m.Code != vaxbook.CodeNotSignedIn {
				t.Errorf("second device is signed in: %+v", m)
			}
			second.accept = "application/json"
			if r := second.login("pass", 1); r.status != http.StatusConflict || !strings.Contains(r.body, `"device_locked"`) {
				t.Errorf("JSON second device: %d %s", r.status, r.body)
			}
			// The first device may sign in again, with any provider.
			e.expectSignedIn(first, first.login("cert", 1), 1, "cert")

			// An operator releases the lock; the next device to verify takes it.
			if err := e.svc.ReleaseDeviceLock(context.Background(), "ops-kim", 1, campaign.Default, "rotation-2021-08-09", "lost phone", e.clock.Now()); err != nil {
				t.Fatal(err)
			}
			entries, err := e.store.AuditEntries(context.Background(), 0, 10)
			if err != nil || len(entries) != 1 || entries[0].Action != "devicelock.release" || entries[0].Actor != "ops-kim" || entries[0].Target != "person:1" {
				t.Errorf("audit %+v %v", entries, err)
			}
			e.expectSignedIn(second, second.login("kakao", 1), 1, "kakao")
			e.expectRefused(first.login("naver", 1), vaxbook.CodeDeviceLocked)
			if err := e.svc.ReleaseDeviceLock(context.Background(), "ops-kim", 999, campaign.Default, "rotation-2021-08-09", "", e.clock.Now()); vaxbook.ErrorCode(err) != vaxbook.CodeNotFound {
				t.Errorf("release of no lock: %v, want not_found", err)
			}
			if err := e.svc.ReleaseDeviceLock(context.Background(), "", 1, campaign.Default, "x", "", e.clock.Now()); vaxbook.ErrorCode(err) != vaxbook.CodeInvalid {
				t.Errorf("release without operator: %v", err)
			}
		})
	}
}

func TestConcurrentDevicesOneWins(t *testing.T) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			e := newEnv(t, withStore(k))
			const devices = 8
			var wg sync.WaitGroup
			results := make([]result, devices)
			for i := range devices {
				b := e.browser()
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = b.login(e.idp.Providers()[i%5], 2)
				}()
			}
			wg.Wait()
			won := 0
			for _, r := range results {
				switch {
				case r.path == "/queue":
					won++
				case r.outcome.Code != vaxbook.CodeDeviceLocked:
					t.Errorf("a device ended at %s %+v", r.path, r.outcome)
				}
			}
			if won != 1 {
				t.Errorf("%d devices signed in, want exactly 1", won)
			}
		})
	}
}

func TestLockIsPerWindow(t *testing.T) {
	e := newEnv(t)
	first, second := e.browser(), e.browser()
	e.expectSignedIn(first, first.login("naver", 1), 1, "naver")
	// After the rotation window closes, the late window has its own lock.
	e.clock.Set(time.Date(2021, 8, 20, 10, 0, 0, 0, kst))
	e.expectSignedIn(second, second.login("naver", 1), 1, "naver")
	e.expectRefused(first.login("naver", 1), vaxbook.CodeDeviceLocked)
}

func TestLogout(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	e.expectSignedIn(b, b.login("kakao", 2), 2, "kakao")
	m := b.me()
	if st, code := b.post("/auth/logout", nil, nil); st != http.StatusForbidden || code != vaxbook.CodeCSRF {
		t.Errorf("logout without CSRF token: %d %s", st, code)
	}
	if st, code := b.post("/auth/logout", http.Header{identity.CSRFHeader: {"forged"}}, nil); st != http.StatusForbidden || code != vaxbook.CodeCSRF {
		t.Errorf("logout with a wrong token: %d %s", st, code)
	}
	if b.me().PersonID != 2 {
		t.Fatal("refused logouts ended the session")
	}
	if st, _ := b.post("/auth/logout", nil, url.Values{identity.CSRFField: {m.CSRF}}); st != http.StatusOK {
		t.Errorf("logout: %d (want the 303 followed to the landing page)", st)
	}
	if got := b.me(); got.Code != vaxbook.CodeNotSignedIn {
		t.Errorf("after logout /me = %+v", got)
	}
	if _, err := e.store.Session(context.Background(), m.Session); vaxbook.ErrorCode(err) != vaxbook.CodeNotSignedIn {
		t.Errorf("session still stored after logout: %v", err)
	}
	// The device lock stays: it belongs to the window, not the session.
	if _, err := e.store.DeviceLock(context.Background(), 2, campaign.Default, "rotation-2021-08-09"); err != nil {
		t.Errorf("lock after logout: %v", err)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	e.expectSignedIn(b, b.login("naver", 1), 1, "naver")
	tok := b.me().CSRF
	other := e.browser()
	e.expectSignedIn(other, other.login("naver", 2), 2, "naver")
	for _, tc := range []struct {
		name   string
		header http.Header
		form   url.Values
		status int
		code   vaxbook.Code
	}{
		{"header", http.Header{identity.CSRFHeader: {tok}}, nil, http.StatusNoContent, ""},
		{"form field", nil, url.Values{identity.CSRFField: {tok}}, http.StatusNoContent, ""},
		{"CSRFInput", nil, formOf(t, identity.CSRFInput(vaxbook.Session{CSRFToken: tok})), http.StatusNoContent, ""},
		{"none", nil, nil, http.StatusForbidden, vaxbook.CodeCSRF},
		{"wrong", http.Header{identity.CSRFHeader: {tok + "x"}}, nil, http.StatusForbidden, vaxbook.CodeCSRF},
		{"another session's", http.Header{identity.CSRFHeader: {other.me().CSRF}}, nil, http.StatusForbidden, vaxbook.CodeCSRF},
	} {
		if st, code := b.post("/api/change", tc.header, tc.form); st != tc.status || code != tc.code {
			t.Errorf("%s: %d %q, want %d %q", tc.name, st, code, tc.status, tc.code)
		}
	}
}

// formOf reads the name and value of a rendered hidden input.
func formOf(t *testing.T, h template.HTML) url.Values {
	m := regexp.MustCompile(`^<input type="hidden" name="([^"]+)" value="([^"]*)">$`).FindStringSubmatch(string(h))
	if m == nil {
		t.Fatalf("CSRFInput = %s", h)
	}
	return url.Values{m[1]: {html.UnescapeString(m[2])}}
}

func TestSessionTimeoutsAndRotation(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	e.expectSignedIn(b, b.login("naver", 1), 1, "naver")
	first := b.me().Session
	// Rotated at login: a new id, the old one gone.
	e.expectSignedIn(b, b.login("naver", 1), 1, "naver")
	if s := b.me().Session; s == first {
		t.Error("session id not rotated at login")
	}
	if _, err := e.store.Session(context.Background(), first); vaxbook.ErrorCode(err) != vaxbook.CodeNotSignedIn {
		t.Errorf("old session after a new login: %v", err)
	}
	// Idle timeout (30m): activity keeps it alive, silence ends it.
	for range 4 {
		e.clock.Advance(20 * time.Minute)
		if m := b.me(); m.PersonID != 1 {
			t.Fatalf("active session ended: %+v", m)
		}
	}
	e.clock.Advance(31 * time.Minute)
	if m := b.me(); m.Code != vaxbook.CodeSessionExpired {
		t.Errorf("after 31 idle minutes: %+v, want session_expired", m)
	}
	if m := b.me(); m.Code != vaxbook.CodeNotSignedIn {
		t.Errorf("an expired session is deleted: %+v", m)
	}
	// Absolute timeout (8h) even with activity.
	e.clock.Set(time.Date(2021, 8, 19, 20, 0, 0, 0, kst)) // late window: open to all
	e.expectSignedIn(b, b.login("naver", 1), 1, "naver")
	for i := 0; i < 23; i++ {
		e.clock.Advance(20 * time.Minute)
		if m := b.me(); m.PersonID != 1 {
			t.Fatalf("after %d×20m: %+v", i+1, m)
		}
	}
	e.clock.Advance(21 * time.Minute) // 8h01m
	if m := b.me(); m.Code != vaxbook.CodeSessionExpired {
		t.Errorf("after 8h: %+v, want session_expired", m)
	}
}

func TestSessionCookieOnAnotherDevice(t *testing.T) {
	e := newEnv(t)
	victim, thief := e.browser(), e.browser()
	e.expectSignedIn(victim, victim.login("naver", 1), 1, "naver")
	thief.get(e.srv.URL + "/auth/naver/start") // the thief has a device cookie of its own
	u, _ := url.Parse(e.srv.URL + "/")
	thief.client.Jar.SetCookies(u, []*http.Cookie{victim.cookie(identity.SessionCookie)})
	if m := thief.me(); m.Code != vaxbook.CodeNotSignedIn {
		t.Errorf("a copied session cookie worked on another device: %+v", m)
	}
	if m := victim.me(); m.PersonID != 1 {
		t.Errorf("victim lost the session: %+v", m)
	}
}

func TestTamperedIDToken(t *testing.T) {
	e := newEnv(t)
	e.tamper.Store(true)
	b := e.browser()
	e.expectRefused(b.login("naver", 1), vaxbook.CodeAuthFailed)
	if m := b.me(); m.Code != vaxbook.CodeNotSignedIn {
		t.Errorf("signed in with a tampered token: %+v", m)
	}
	e.tamper.Store(false)
	e.expectSignedIn(b, b.login("naver", 1), 1, "naver")
	if b.cookie(identity.OutcomeCookie) != nil {
		t.Error("the refusal outlived a successful login")
	}
}

func TestWrongState(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	toIdP := b.step(e.srv.URL + "/auth/naver/start?login_hint=1")
	back := b.step(toIdP.String())
	q := back.Query()
	if q.Get("code") == "" {
		t.Fatalf("provider answered %v", back)
	}
	q.Set("state", "forged-state")
	back.RawQuery = q.Encode()
	e.expectRefused(b.get(back.String()), vaxbook.CodeAuthFailed)
	// A callback without any login in progress.
	e.expectRefused(e.browser().get(e.srv.URL+"/auth/naver/callback?code=x&state=y"), vaxbook.CodeAuthFailed)
	if m := b.me(); m.Code != vaxbook.CodeNotSignedIn {
		t.Errorf("signed in: %+v", m)
	}
}

func TestReplayedCode(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	back := b.step(b.step(e.srv.URL + "/auth/kakao/start?login_hint=1").String())
	e.expectSignedIn(b, b.get(back.String()), 1, "kakao")
	// Replaying the callback as is: the login-flow cookie was single use.
	e.expectRefused(b.get(back.String()), vaxbook.CodeAuthFailed)
	// Replaying the code inside a fresh login of the same browser: the
	// provider refuses the spent code.
	fresh := b.step(b.step(e.srv.URL + "/auth/kakao/start?login_hint=1").String())
	q := fresh.Query()
	q.Set("code", back.Query().Get("code"))
	fresh.RawQuery = q.Encode()
	e.expectRefused(b.get(fresh.String()), vaxbook.CodeAuthFailed)
	// A code issued to another login (another PKCE verifier and nonce),
	// injected into this one: the provider refuses it (PKCE).
	stolen := b.step(b.step(e.srv.URL + "/auth/kakao/start?login_hint=2").String()) // never redeemed
	mine := b.step(b.step(e.srv.URL + "/auth/kakao/start?login_hint=1").String())
	q = mine.Query()
	q.Set("code", stolen.Query().Get("code"))
	mine.RawQuery = q.Encode()
	e.expectRefused(b.get(mine.String()), vaxbook.CodeAuthFailed)
	if m := b.me(); m.PersonID != 1 {
		t.Errorf("after the injected code: %+v (the earlier session of person 1 stays)", m)
	}
	// A callback at another provider's endpoint does not match the flow.
	other := b.step(b.step(e.srv.URL + "/auth/kakao/start?login_hint=1").String())
	other.Path = "/auth/naver/callback"
	e.expectRefused(b.get(other.String()), vaxbook.CodeAuthFailed)
}

func TestFlowBoundToDevice(t *testing.T) {
	e := newEnv(t)
	a, b := e.browser(), e.browser()
	back := a.step(a.step(e.srv.URL + "/auth/naver/start?login_hint=1").String())
	// Another browser with a's flow cookie but its own device cookie.
	b.get(e.srv.URL + "/auth/naver/start")
	u, _ := url.Parse(e.srv.URL + "/auth/")
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: identity.FlowCookie, Value: a.cookie(identity.FlowCookie).Value, Path: "/auth/"}})
	e.expectRefused(b.get(back.String()), vaxbook.CodeAuthFailed)
}

func TestProviderOutageOpensBreaker(t *testing.T) {
	e := newEnv(t)
	if err := e.idp.SetEmulation("kakao", devidp.Emulation{Outage: true}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	for i := range 5 {
		o := e.expectRefused(b.login("kakao", 1), vaxbook.CodeProviderUnavailable)
		if o.Alternative == "" || o.Alternative == "kakao" {
			t.Errorf("attempt %d: alternative %q", i, o.Alternative)
		}
	}
	_, st, _ := e.idp.Emulation("kakao")
	l := light(e.svc.Providers(e.clock.Now()), "kakao")
	if l.Light != identity.Red || l.Breaker != identity.BreakerOpen {
		t.Errorf("after 5 failures: %+v", l)
	}
	// While open, logins are refused without bothering the provider.
	e.expectRefused(b.login("kakao", 1), vaxbook.CodeProviderUnavailable)
	if _, st2, _ := e.idp.Emulation("kakao"); st2.OutageHits != st.OutageHits {
		t.Errorf("an open breaker still sent people to the provider (%d → %d hits)", st.OutageHits, st2.OutageHits)
	}
	// Other providers work.
	e.expectSignedIn(b, b.login(l.Alternative, 1), 1, l.Alternative)
	// The provider recovers; after the cooldown a probe closes the breaker.
	e.idp.SetEmulation("kakao", devidp.Emulation{})
	e.clock.Advance(31 * time.Second)
	if l := light(e.svc.Providers(e.clock.Now()), "kakao"); l.Breaker != identity.BreakerHalfOpen || l.Light != identity.Yellow {
		t.Errorf("after cooldown: %+v", l)
	}
	e.expectSignedIn(b, b.login("kakao", 1), 1, "kakao")
	if l := light(e.svc.Providers(e.clock.Now()), "kakao"); l.Breaker != identity.BreakerClosed {
		t.Errorf("after a good probe: %+v", l)
	}
}

func light(list []identity.ProviderLight, name string) identity.ProviderLight {
	for _, l := range list {
		if l.Name == name {
			return l
		}
	}
	return identity.ProviderLight{}
}

func TestLazyDiscovery(t *testing.T) {
	e := newEnv(t)
	e.down.Store(true) // the in-process providers are not up yet
	if err := e.svc.Discover(context.Background()); err == nil {
		t.Fatal("discovery succeeded against a down provider")
	}
	b := e.browser()
	e.expectRefused(b.login("naver", 1), vaxbook.CodeProviderUnavailable)
	e.down.Store(false)
	// The failure is remembered for a moment, then retried.
	e.expectRefused(b.login("naver", 1), vaxbook.CodeProviderUnavailable)
	e.clock.Advance(3 * time.Second)
	e.expectSignedIn(b, b.login("naver", 1), 1, "naver")
	if err := e.svc.Discover(context.Background()); err != nil {
		t.Errorf("Discover after boot: %v", err)
	}
}

func TestInMemoryBackChannel(t *testing.T) {
	e := newEnv(t, withInMemoryBackChannel())
	b := e.browser()
	e.expectSignedIn(b, b.login("cert", 1), 1, "cert")
	e.expectRefused(e.browser().login("cert", 1), vaxbook.CodeDeviceLocked)
	if n := e.tokens.Load(); n != 0 {
		t.Errorf("%d token requests went over TCP, want 0", n)
	}
	// The browser still goes to the provider over HTTP.
	if b.cookie(identity.DeviceCookie) == nil {
		t.Error("no device cookie")
	}
}

func TestProvidersHandler(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	e.expectSignedIn(b, b.login("naver", 1), 1, "naver")
	rec := httptest.NewRecorder()
	e.svc.ProvidersHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/identity/providers", nil))
	var body struct{ Providers []identity.ProviderLight }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 || len(body.Providers) != 5 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if n := light(body.Providers, "naver"); n.Light != identity.Green || n.Completed != 1 {
		t.Errorf("naver %+v", n)
	}
}

func TestConfigRefusals(t *testing.T) {
	base := identity.Config{
		Providers: []identity.ProviderConfig{{Name: "a", Issuer: "http://x/idp/a", ClientID: "c"}},
		BaseURL:   "http://x", Store: inmem.New(), Keys: pii.DemoKeys(),
		Campaign: func(context.Context) (vaxbook.Campaign, error) { return vaxbook.Campaign{}, nil },
	}
	if _, err := identity.New(base); err != nil {
		t.Fatalf("base config: %v", err)
	}
	for name, mutate := range map[string]func(*identity.Config){
		"no store":     func(c *identity.Config) { c.Store = nil },
		"no providers": func(c *identity.Config) { c.Providers = nil },
		"no issuer":    func(c *identity.Config) { c.Providers = []identity.ProviderConfig{{Name: "a", ClientID: "c"}} },
		"bad name": func(c *identity.Config) {
			c.Providers = []identity.ProviderConfig{{Name: "a/b", Issuer: "http://x", ClientID: "c"}}
		},
		"duplicate": func(c *identity.Config) {
			c.Providers = append(c.Providers, c.Providers[0])
		},
		"no redirect": func(c *identity.Config) { c.BaseURL = "" },
		"short key":   func(c *identity.Config) { c.CookieKey = []byte("short") },
		"auth method": func(c *identity.Config) {
			c.Providers = []identity.ProviderConfig{{Name: "a", Issuer: "http://x", ClientID: "c", AuthMethod: "private_key_jwt"}}
		},
	} {
		c := base
		mutate(&c)
		if _, err := identity.New(c); err == nil {
			t.Errorf("%s: New accepted a bad config", name)
		}
	}
}

// countingStore counts the session and person reads that reach the store.
type countingStore struct {
	identity.Store
	reads, people atomic.Int64
}

func (s *countingStore) PersonByID(ctx context.Context, id int64) (vaxbook.Person, error) {
	s.people.Add(1)
	return s.Store.PersonByID(ctx, id)
}

func (s *countingStore) Session(ctx context.Context, id string) (vaxbook.Session, error) {
	s.reads.Add(1)
	return s.Store.Session(ctx, id)
}

// TestSessionCache: within its TTL a node answers a session from memory; a
// logout on this node ends it at once; a session deleted elsewhere (another
// node of a cluster) is honoured for at most the TTL.
func TestSessionCache(t *testing.T) {
	var cs *countingStore
	e := newEnv(t, withIdentity(func(c *identity.Config) {
		cs = &countingStore{Store: c.Store}
		c.Store, c.SessionCache = cs, 2*time.Second
	}))
	b := e.browser()
	e.expectSignedIn(b, b.login("naver", 1), 1, "naver")
	m := b.me()
	before := cs.reads.Load()
	for range 5 {
		if got := b.me(); got.PersonID != 1 {
			t.Fatalf("me: %+v", got)
		}
	}
	if n := cs.reads.Load() - before; n != 0 {
		t.Fatalf("%d session reads within the TTL, want 0", n)
	}
	e.clock.Advance(2 * time.Second)
	b.me()
	if n := cs.reads.Load() - before; n != 1 {
		t.Fatalf("%d session reads after the TTL, want 1", n)
	}

	// A cached session whose last-seen time is due for a write is touched
	// without reading it or its person again.
	stored, err := e.store.Session(context.Background(), m.Session)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(stored.LastSeen.Add(59500 * time.Millisecond))
	b.me() // read from the store: last seen 59.5 s ago, not yet due for a touch
	reads, people := cs.reads.Load(), cs.people.Load()
	e.clock.Advance(time.Second) // cached, and now 60.5 s: due
	if got := b.me(); got.PersonID != 1 {
		t.Fatalf("me after the touch: %+v", got)
	}
	if cs.reads.Load() != reads || cs.people.Load() != people {
		t.Fatalf("a touch of a cached session read the store again: sessions %d → %d, people %d → %d",
			reads, cs.reads.Load(), people, cs.people.Load())
	}
	if s, err := e.store.Session(context.Background(), m.Session); err != nil || !s.LastSeen.Equal(e.clock.Now()) {
		t.Fatalf("not touched: %v %+v", err, s)
	}

	// Deleted behind this node's back: still honoured within the TTL, not after.
	if err := e.store.DeleteSession(context.Background(), m.Session); err != nil {
		t.Fatal(err)
	}
	if got := b.me(); got.PersonID != 1 {
		t.Fatalf("within the TTL: %+v", got)
	}
	e.clock.Advance(2 * time.Second)
	if got := b.me(); got.Code != vaxbook.CodeNotSignedIn {
		t.Fatalf("after the TTL a session deleted elsewhere: %+v, want not_signed_in", got)
	}

	// Logout on this node ends it at once.
	e.expectSignedIn(b, b.login("naver", 1), 1, "naver")
	m = b.me()
	if st, _ := b.post("/auth/logout", nil, url.Values{identity.CSRFField: {m.CSRF}}); st != http.StatusOK {
		t.Fatalf("logout: %d", st)
	}
	if got := b.me(); got.Code != vaxbook.CodeNotSignedIn {
		t.Fatalf("right after logout: %+v", got)
	}
}

// TestProviderTurnedOff: an operator's switch takes a provider out without
// it failing: no sign-in starts (and the provider is not contacted), the
// light is red with an alternative; turned on, it works again. The switch
// is stored: another node on the store, and a node started later, follow
// it at their next SyncSwitches.
func TestProviderTurnedOff(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	other, err := identity.New(e.icfg) // another node of the cluster, started before the switch
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetEnabled(ctx, "yahoo", false, "kim", e.clock.Now()); vaxbook.ErrorCode(err) != vaxbook.CodeNotFound {
		t.Fatalf("unknown provider: %v", err)
	}
	if err := e.svc.SetEnabled(ctx, "pass", false, "kim", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if l := light(other.Providers(e.clock.Now()), "pass"); !l.Enabled {
		t.Fatalf("the other node changed before it synced: %+v", l)
	}
	later, err := identity.New(e.icfg) // a node started (or restarted) after the switch
	if err != nil {
		t.Fatal(err)
	}
	for name, svc := range map[string]*identity.Service{"other": other, "later": later} {
		if err := svc.SyncSwitches(ctx); err != nil {
			t.Fatal(err)
		}
		if l := light(svc.Providers(e.clock.Now()), "pass"); l.Enabled || l.Light != identity.Red {
			t.Fatalf("%s node after SyncSwitches: %+v", name, l)
		}
		if l := light(svc.Providers(e.clock.Now()), "naver"); !l.Enabled {
			t.Fatalf("%s node: a provider nobody switched is off: %+v", name, l)
		}
	}
	l := light(e.svc.Providers(e.clock.Now()), "pass")
	if l.Enabled || l.Light != identity.Red || l.Alternative == "" || l.Alternative == "pass" {
		t.Fatalf("turned off: %+v", l)
	}
	b := e.browser()
	before := e.tokens.Load()
	o := e.expectRefused(b.login("pass", 1), vaxbook.CodeProviderUnavailable)
	if o.Alternative == "" || o.Alternative == "pass" || e.tokens.Load() != before {
		t.Fatalf("refusal %+v; token requests %d → %d", o, before, e.tokens.Load())
	}
	if err := e.svc.SetEnabled(ctx, "pass", true, "lee", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if l := light(e.svc.Providers(e.clock.Now()), "pass"); !l.Enabled || l.Light == identity.Red {
		t.Fatalf("turned on: %+v", l)
	}
	if err := other.SyncSwitches(ctx); err != nil {
		t.Fatal(err)
	}
	if l := light(other.Providers(e.clock.Now()), "pass"); !l.Enabled {
		t.Fatalf("the other node after the switch back on: %+v", l)
	}
	e.expectSignedIn(b, b.login("pass", 1), 1, "pass")
}
