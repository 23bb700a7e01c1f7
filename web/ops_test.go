package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"vaxbook"
	"vaxbook/identity"
	"vaxbook/internal/clock"
	"vaxbook/node"
	"vaxbook/web/webtest"
)

const (
	opsUser = "alice"
	opsPass = "correct horse battery staple"
)

// opsNode starts a demo node with one operator account (alice) and a fake
// clock.
func opsNode(t *testing.T, logTo io.Writer) (*node.Node, *clock.Fake) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(opsPass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if logTo != nil {
		log = slog.New(slog.NewJSONHandler(logTo, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	clk := clock.NewFake(time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	n, err := node.Start(ctx, node.Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), Demo: true, DemoPeople: 3000, DemoClinics: 300, DemoSeed: 7,
		Clock: clk, WaitRoomTick: 5 * time.Millisecond, Log: log, Stdout: io.Discard,
		Operators: []string{opsUser + ":" + string(hash)},
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); n.Close(); n.Wait() })
	return n, clk
}

// opsClient is an operator's browser (cookie jar, CSRF token) or script
// (HTTP Basic).
type opsClient struct {
	t      *testing.T
	base   string
	c      *http.Client
	csrf   string
	user   string
	pass   string
	noCSRF bool
}

func newOpsClient(t *testing.T, base string) *opsClient {
	jar, _ := cookiejar.New(nil)
	return &opsClient{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func basicClient(t *testing.T, base, user, pass string) *opsClient {
	o := newOpsClient(t, base)
	o.user, o.pass = user, pass
	return o
}

var (
	csrfFieldRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	csrfMetaRe  = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)
)

// get fetches a page (no redirects followed).
func (o *opsClient) get(path string) (*http.Response, string) {
	o.t.Helper()
	resp, err := o.c.Get(o.base + path)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// post submits a form.
func (o *opsClient) post(path string, form url.Values) (*http.Response, string) {
	o.t.Helper()
	resp, err := o.c.PostForm(o.base+path, form)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// login signs in through the form and keeps the session's CSRF token.
func (o *opsClient) login(user, pass string) *http.Response {
	o.t.Helper()
	_, page := o.get("/ops/login")
	m := csrfFieldRe.FindStringSubmatch(page)
	if m == nil {
		o.t.Fatalf("no csrf field on the sign-in page:\n%s", page)
	}
	resp, _ := o.post("/ops/login", url.Values{"csrf_token": {m[1]}, "name": {user}, "password": {pass}})
	if resp.StatusCode == http.StatusSeeOther {
		_, dash := o.get("/ops/")
		if mm := csrfMetaRe.FindStringSubmatch(dash); mm != nil {
			o.csrf = mm[1]
		}
	}
	return resp
}

// api calls the ops API; out receives a 2xx JSON answer, a problem is
// returned as *webtest.Problem.
func (o *opsClient) api(method, path string, body any, out any) (int, error) {
	o.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, o.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if o.user != "" {
		req.SetBasicAuth(o.user, o.pass)
	}
	if o.csrf != "" && !o.noCSRF {
		req.Header.Set("X-CSRF-Token", o.csrf)
	}
	resp, err := o.c.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		p := &webtest.Problem{}
		if err := json.Unmarshal(b, p); err != nil || p.Code == "" || resp.Header.Get("Content-Type") != "application/problem+json" {
			o.t.Fatalf("%s %s: %d with a body that is not a problem: %.300s", method, path, resp.StatusCode, b)
		}
		return resp.StatusCode, p
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			o.t.Fatalf("%s %s: decode %.300s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, nil
}

type opsWaitRoom struct {
	Mode     string                   `json:"mode"`
	Settings vaxbook.WaitRoomSettings `json:"settings"`
	Rate     float64                  `json:"rate"`
	Leader   string                   `json:"leader"`
}

type opsAuditPage struct {
	Entries    []vaxbook.AuditEntry `json:"entries"`
	NextBefore int64                `json:"next_before"`
}

func lastAudit(t *testing.T, o *opsClient, action string) vaxbook.AuditEntry {
	t.Helper()
	var p opsAuditPage
	if st, err := o.api("GET", "/api/v1/ops/audit?limit=50", nil, &p); err != nil {
		t.Fatalf("audit: %d %v", st, err)
	}
	for _, e := range p.Entries {
		if e.Action == action {
			return e
		}
	}
	t.Fatalf("no %s in the audit log: %+v", action, p.Entries)
	return vaxbook.AuditEntry{}
}

func TestOpsAuth(t *testing.T) {
	n, clk := opsNode(t, nil)
	base := n.URL()
	ids := people(t, n, clk.Now(), vaxbook.CodeEligible, 1)
	citizen := webtest.NewCitizen(base)
	if end, err := citizen.Login("naver", ids[0]); err != nil || end.Path != "/queue" {
		t.Fatalf("citizen login: %v %v", end, err)
	}
	citizenAsOps := newOpsClient(t, base)
	citizenAsOps.c.Jar = citizen.Client.Jar
	citizenAsOps.csrf = citizen.CSRF

	op := newOpsClient(t, base)
	if resp := op.login(opsUser, opsPass); resp.StatusCode != http.StatusSeeOther || op.csrf == "" {
		t.Fatalf("operator login: %d, csrf %q", resp.StatusCode, op.csrf)
	}
	opNoCSRF := *op
	opNoCSRF.noCSRF = true

	for _, tc := range []struct {
		name   string
		client *opsClient
		status int
		code   string
	}{
		{"nobody", newOpsClient(t, base), 401, "not_signed_in"},
		{"basic, wrong password", basicClient(t, base, opsUser, "nope"), 401, "auth_failed"},
		{"basic, unknown operator", basicClient(t, base, "mallory", opsPass), 401, "auth_failed"},
		{"a citizen's session and CSRF token", citizenAsOps, 403, "forbidden"},
		{"operator session without the CSRF header", &opNoCSRF, 403, "csrf"},
		{"operator session", op, 200, ""},
		{"basic", basicClient(t, base, opsUser, opsPass), 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.client.t = t
			var out opsWaitRoom
			st, err := tc.client.api("GET", "/api/v1/ops/waitroom", nil, &out)
			if tc.code == "" {
				if err != nil || st != 200 || out.Mode == "" {
					t.Fatalf("got %d %v %+v", st, err, out)
				}
				return
			}
			wantCode(t, tc.name, st, err, tc.status, tc.code)
		})
	}

	// An operator's session is never a citizen's.
	opsCookie := ""
	for _, c := range op.c.Jar.Cookies(mustURL(t, base)) {
		if c.Name == "vb_ops" {
			opsCookie = c.Value
		}
	}
	req, _ := http.NewRequest("GET", base+"/api/v1/me", nil)
	req.Header.Set("Accept", "application/json")
	req.AddCookie(&http.Cookie{Name: "vb_session", Value: opsCookie})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if opsCookie == "" || resp.StatusCode != 401 {
		t.Fatalf("the ops session as a citizen's: %d (cookie %q)", resp.StatusCode, opsCookie)
	}

	// Idle timeout: 30 minutes without a request end the session.
	clk.Advance(31 * time.Minute)
	op.t = t
	st, err := op.api("GET", "/api/v1/ops/waitroom", nil, nil)
	wantCode(t, "idle session", st, err, 401, "session_expired")
	if r, _ := op.get("/ops/"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/ops/login" {
		t.Fatalf("dashboard after expiry: %d %s", r.StatusCode, r.Header.Get("Location"))
	}

	// Sign in again, then out: the session is gone.
	op = newOpsClient(t, base)
	op.login(opsUser, opsPass)
	if r, _ := op.post("/ops/logout", url.Values{}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without the CSRF token: %d", r.StatusCode)
	}
	if r, _ := op.post("/ops/logout", url.Values{"csrf_token": {op.csrf}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	st, err = op.api("GET", "/api/v1/ops/waitroom", nil, nil)
	wantCode(t, "after logout", st, err, 401, "not_signed_in")
}

func TestOpsLoginLockout(t *testing.T) {
	n, clk := opsNode(t, nil)
	op := newOpsClient(t, n.URL())
	for i := range 5 {
		if resp := op.login(opsUser, "wrong"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, resp.StatusCode)
		}
	}
	// Locked out now, even with the right password, on the form and on
	// the API.
	if resp := op.login(opsUser, opsPass); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after 5 failures: %d", resp.StatusCode)
	}
	st, err := basicClient(t, n.URL(), opsUser, opsPass).api("GET", "/api/v1/ops/waitroom", nil, nil)
	wantCode(t, "basic while locked out", st, err, 429, "rate_limited")
	// An address trying many names is locked out too (30 failures).
	for i := range 25 {
		st, err = basicClient(t, n.URL(), "guess"+itoa(int64(i)), "x").api("GET", "/api/v1/ops/waitroom", nil, nil)
		wantCode(t, "guessing names", st, err, 401, "auth_failed")
	}
	st, err = basicClient(t, n.URL(), "bob", "x").api("GET", "/api/v1/ops/waitroom", nil, nil)
	wantCode(t, "another name from the locked-out address", st, err, 429, "rate_limited")
	// The lockout ends with its window (15 minutes by the server clock).
	clk.Advance(16 * time.Minute)
	if resp := op.login(opsUser, opsPass); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the window: %d", resp.StatusCode)
	}
	// A stale or forged sign-in form is refused before the password is
	// checked.
	fresh := newOpsClient(t, n.URL())
	if resp, _ := fresh.post("/ops/login", url.Values{"csrf_token": {"forged"}, "name": {opsUser}, "password": {opsPass}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged sign-in form: %d", resp.StatusCode)
	}
}

func TestOpsWaitRoomAPI(t *testing.T) {
	n, clk := opsNode(t, nil)
	op := basicClient(t, n.URL(), opsUser, opsPass)
	var before opsWaitRoom
	if _, err := op.api("GET", "/api/v1/ops/waitroom", nil, &before); err != nil {
		t.Fatal(err)
	}
	// A partial body merges onto the settings in force.
	var after opsWaitRoom
	if st, err := op.api("PUT", "/api/v1/ops/waitroom", map[string]any{"mode": "fixed", "rate_per_s": 7}, &after); err != nil || st != 200 {
		t.Fatalf("put: %d %v", st, err)
	}
	want := before.Settings
	want.Mode, want.RatePerS = vaxbook.ModeFixed, 7
	if after.Settings != want || after.Mode != "fixed" {
		t.Fatalf("settings %+v, want %+v", after.Settings, want)
	}
	e := lastAudit(t, op, "waitroom.set")
	if e.Actor != opsUser || e.At.Sub(clk.Now()).Abs() > time.Millisecond || !strings.Contains(e.Detail, `"rate_per_s":7`) || !strings.Contains(e.Detail, `"from"`) {
		t.Fatalf("audit entry: %+v", e)
	}
	// The leader's next tick puts the fixed rate in force.
	if !webtest.Until(10*time.Second, 5*time.Millisecond, func() bool {
		clk.Advance(100 * time.Millisecond)
		var s opsWaitRoom
		_, err := op.api("GET", "/api/v1/ops/waitroom", nil, &s)
		return err == nil && s.Rate == 7
	}) {
		t.Fatal("the fixed rate never came into force")
	}

	for _, tc := range []struct {
		name, body, param string
		status            int
	}{
		{"unknown mode", `{"mode":"turbo"}`, "mode", 400},
		{"fixed without a rate", `{"rate_per_s":0}`, "rate_per_s", 400},
		{"min above max", `{"min_rate":90,"max_rate":10}`, "min_rate", 400},
		{"negative bound", `{"max_active":-1}`, "max_active", 400},
		{"unknown field", `{"speed":3}`, "body", 400},
		{"wrong type", `{"rate_per_s":"fast"}`, "rate_per_s", 400},
		{"not JSON", `mode=fixed`, "body", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op.t = t
			st, err := op.api("PUT", "/api/v1/ops/waitroom", tc.body, nil)
			var p *webtest.Problem
			if st != tc.status || !asProblem(err, &p) || p.Code != "invalid_argument" || p.Param != tc.param {
				t.Fatalf("got %d %v, want %d invalid_argument on %s", st, err, tc.status, tc.param)
			}
			var now opsWaitRoom
			op.api("GET", "/api/v1/ops/waitroom", nil, &now)
			if now.Settings != want {
				t.Fatalf("a refused change changed the settings: %+v", now.Settings)
			}
		})
	}
}

func asProblem(err error, p **webtest.Problem) bool {
	if err == nil {
		return false
	}
	q, ok := err.(*webtest.Problem)
	*p = q
	return ok
}

func TestOpsDeviceLockRelease(t *testing.T) {
	n, clk := opsNode(t, nil)
	op := basicClient(t, n.URL(), opsUser, opsPass)
	id := people(t, n, clk.Now(), vaxbook.CodeEligible, 1)[0]
	first := webtest.NewCitizen(n.URL())
	if end, err := first.Login("naver", id); err != nil || end.Path != "/queue" {
		t.Fatalf("first device: %v %v", end, err)
	}
	second := webtest.NewCitizen(n.URL())
	if end, _ := second.Login("kakao", id); end.Query().Get("code") != "device_locked" {
		t.Fatalf("second device: ended at %v", end)
	}
	var me struct {
		Eligibility struct {
			Window struct {
				ID string `json:"id"`
			} `json:"window"`
		} `json:"eligibility"`
	}
	if _, err := first.Do("GET", "/api/v1/me", nil, nil, &me); err != nil || me.Eligibility.Window.ID == "" {
		t.Fatalf("me: %v %+v", err, me)
	}
	win := me.Eligibility.Window.ID
	lockPath := "/api/v1/ops/devicelocks/" + itoa(id) + "/" + win

	var lock struct {
		PersonID int64  `json:"person_id"`
		WindowID string `json:"window_id"`
		Provider string `json:"provider"`
	}
	if _, err := op.api("GET", lockPath, nil, &lock); err != nil || lock.PersonID != id || lock.Provider != "naver" || lock.WindowID != win {
		t.Fatalf("get lock: %v %+v", err, lock)
	}
	for _, tc := range []struct {
		name, path string
		body       any
		status     int
		code       string
	}{
		{"no reason", lockPath, nil, 400, "invalid_argument"},
		{"blank reason", lockPath + "?reason=%20", nil, 400, "invalid_argument"},
		{"long reason", lockPath, map[string]string{"reason": strings.Repeat("가", 201)}, 400, "invalid_argument"},
		{"unknown window", "/api/v1/ops/devicelocks/" + itoa(id) + "/no-such-window?reason=x", nil, 404, "not_found"},
		{"bad person", "/api/v1/ops/devicelocks/abc/" + win + "?reason=x", nil, 400, "invalid_argument"},
		{"nobody's lock", "/api/v1/ops/devicelocks/" + itoa(id+1) + "/" + win + "?reason=x", nil, 404, "not_found"},
	} {
		st, err := op.api("DELETE", tc.path, tc.body, nil)
		wantCode(t, tc.name, st, err, tc.status, tc.code)
	}
	if _, err := op.api("GET", lockPath, nil, &lock); err != nil {
		t.Fatalf("a refused release removed the lock: %v", err)
	}

	if st, err := op.api("DELETE", lockPath, map[string]string{"reason": "lost phone, ticket 4711"}, nil); err != nil || st != 200 {
		t.Fatalf("release: %d %v", st, err)
	}
	e := lastAudit(t, op, "devicelock.release")
	if e.Actor != opsUser || e.Target != "person:"+itoa(id) || !strings.Contains(e.Detail, "lost phone, ticket 4711") || !strings.Contains(e.Detail, win) {
		t.Fatalf("audit: %+v", e)
	}
	st, err := op.api("GET", lockPath, nil, nil)
	wantCode(t, "lock after release", st, err, 404, "not_found")
	// The next device to verify takes the lock.
	if end, err := second.Login("kakao", id); err != nil || end.Path != "/queue" {
		t.Fatalf("second device after the release: %v %v", end, err)
	}
	if _, err := op.api("GET", lockPath, nil, &lock); err != nil || lock.Provider != "kakao" {
		t.Fatalf("new lock: %v %+v", err, lock)
	}
}

func TestOpsIdPEmulation(t *testing.T) {
	n, _ := opsNode(t, nil)
	op := basicClient(t, n.URL(), opsUser, opsPass)
	var list struct {
		Providers []struct {
			Name string `json:"name"`
		} `json:"providers"`
	}
	if _, err := op.api("GET", "/api/v1/ops/idp", nil, &list); err != nil || len(list.Providers) != 5 {
		t.Fatalf("list: %v %+v", err, list)
	}
	type status struct {
		Name      string `json:"name"`
		Emulation struct {
			Capacity  float64 `json:"capacity"`
			ErrorRate float64 `json:"error_rate"`
			Outage    bool    `json:"outage"`
			Latency   struct {
				Median string `json:"median"`
				P99    string `json:"p99"`
			} `json:"latency"`
		} `json:"emulation"`
	}
	var s status
	if _, err := op.api("PUT", "/api/v1/ops/idp/naver", map[string]any{"capacity": 5, "latency": map[string]string{"median": "300ms"}}, &s); err != nil {
		t.Fatal(err)
	}
	if s.Emulation.Capacity != 5 || s.Emulation.Latency.Median != "300ms" || s.Emulation.Outage {
		t.Fatalf("after put: %+v", s)
	}
	if _, err := op.api("PUT", "/api/v1/ops/idp/naver", map[string]any{"outage": true}, &s); err != nil || !s.Emulation.Outage || s.Emulation.Capacity != 5 {
		t.Fatalf("partial put: %v %+v", err, s)
	}
	e := lastAudit(t, op, "idp.emulation.set")
	if e.Actor != opsUser || e.Target != "idp:naver" || !strings.Contains(e.Detail, `"outage":true`) {
		t.Fatalf("audit: %+v", e)
	}
	for _, tc := range []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"error rate above 1", "/api/v1/ops/idp/naver", `{"error_rate":2}`, 400, "invalid_argument"},
		{"bad duration", "/api/v1/ops/idp/naver", `{"latency":{"median":"soon"}}`, 400, "invalid_argument"},
		{"unknown provider", "/api/v1/ops/idp/yahoo", `{"capacity":1}`, 404, "not_found"},
	} {
		st, err := op.api("PUT", tc.path, tc.body, nil)
		wantCode(t, tc.name, st, err, tc.status, tc.code)
	}
	if _, err := op.api("GET", "/api/v1/ops/idp/naver", nil, &s); err != nil || s.Emulation.ErrorRate != 0 || s.Emulation.Latency.Median != "300ms" {
		t.Fatalf("a refused change changed the emulation: %v %+v", err, s)
	}
}

// TestOpsProviderSwitch: an operator turns a provider off; citizens see it
// red with an alternative and cannot start a sign-in with it; it comes back
// on; every switch is audited and bad input changes nothing.
func TestOpsProviderSwitch(t *testing.T) {
	n, _ := opsNode(t, nil)
	op := basicClient(t, n.URL(), opsUser, opsPass)
	type light struct {
		Name        string `json:"name"`
		Light       string `json:"light"`
		Reason      string `json:"reason"`
		Alternative string `json:"alternative"`
		Enabled     bool   `json:"enabled"`
	}
	var list struct {
		Providers []light `json:"providers"`
	}
	if _, err := op.api("GET", "/api/v1/ops/providers", nil, &list); err != nil || len(list.Providers) != 5 || !list.Providers[0].Enabled {
		t.Fatalf("list: %v %+v", err, list)
	}
	var l light
	if _, err := op.api("PUT", "/api/v1/ops/providers/naver", map[string]any{"enabled": false, "reason": "maintenance"}, &l); err != nil {
		t.Fatal(err)
	}
	if l.Enabled || l.Light != "red" || !strings.Contains(l.Reason, "turned off") || l.Alternative == "" || l.Alternative == "naver" {
		t.Fatalf("after turning naver off: %+v", l)
	}
	e := lastAudit(t, op, "identity.provider.disable")
	if e.Actor != opsUser || e.Target != "provider:naver" || !strings.Contains(e.Detail, "maintenance") {
		t.Fatalf("audit: %+v", e)
	}
	// Citizens: the public lights show it, and a sign-in cannot start.
	var pub struct {
		Providers []light `json:"providers"`
	}
	c := webtest.NewCitizen(n.URL())
	if st, err := c.Do("GET", "/api/v1/identity/providers", nil, nil, &pub); err != nil || st != 200 || pub.Providers[0].Name != "naver" || pub.Providers[0].Light != "red" {
		t.Fatalf("public lights: %d %v %+v", st, err, pub)
	}
	if end, err := c.Login("naver", 1); err != nil || end.Path != "/signin/refused" || end.Query().Get("code") != "provider_unavailable" {
		t.Fatalf("sign-in with a provider turned off: %v %v", end, err)
	}
	for _, tc := range []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"enabled missing", "/api/v1/ops/providers/naver", `{"reason":"x"}`, 400, "invalid_argument"},
		{"enabled not a bool", "/api/v1/ops/providers/naver", `{"enabled":"yes"}`, 400, "invalid_argument"},
		{"unknown field", "/api/v1/ops/providers/naver", `{"enabled":true,"mode":"x"}`, 400, "invalid_argument"},
		{"unknown provider", "/api/v1/ops/providers/yahoo", `{"enabled":true}`, 404, "not_found"},
		{"reason too long", "/api/v1/ops/providers/naver", `{"enabled":true,"reason":"` + strings.Repeat("x", 501) + `"}`, 400, "invalid_argument"},
	} {
		st, err := op.api("PUT", tc.path, tc.body, nil)
		wantCode(t, tc.name, st, err, tc.status, tc.code)
	}
	if _, err := op.api("GET", "/api/v1/ops/providers", nil, &list); err != nil || list.Providers[0].Enabled {
		t.Fatalf("a refused change turned naver on: %v %+v", err, list.Providers[0])
	}
	if _, err := op.api("PUT", "/api/v1/ops/providers/naver", map[string]any{"enabled": true}, &l); err != nil || !l.Enabled || l.Light == "red" {
		t.Fatalf("back on: %v %+v", err, l)
	}
	lastAudit(t, op, "identity.provider.enable")
}

func TestOpsAuditPages(t *testing.T) {
	n, clk := opsNode(t, nil)
	op := basicClient(t, n.URL(), opsUser, opsPass)
	for i := range 5 {
		clk.Advance(time.Second)
		if _, err := op.api("PUT", "/api/v1/ops/waitroom", map[string]any{"max_active": 100 + i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var p1, p2, p3 opsAuditPage
	op.api("GET", "/api/v1/ops/audit?limit=3", nil, &p1)
	if len(p1.Entries) != 3 || p1.NextBefore == 0 || !strings.Contains(p1.Entries[0].Detail, `"max_active":104`) {
		t.Fatalf("page 1: %+v", p1)
	}
	op.api("GET", "/api/v1/ops/audit?limit=3&before="+itoa(p1.NextBefore), nil, &p2)
	if len(p2.Entries) < 2 || p2.Entries[0].ID >= p1.Entries[2].ID {
		t.Fatalf("page 2: %+v", p2)
	}
	op.api("GET", "/api/v1/ops/audit?limit=500", nil, &p3)
	if len(p3.Entries) < 5 {
		t.Fatalf("all: %d entries", len(p3.Entries))
	}
	for _, q := range []string{"limit=0", "limit=501", "limit=x", "before=-1"} {
		st, err := op.api("GET", "/api/v1/ops/audit?"+q, nil, nil)
		wantCode(t, q, st, err, 400, "invalid_argument")
	}
}

// TestOpsProfiles: this node's profiles are served to operators only, and
// the command line (flags may hold secrets) is not.
func TestOpsProfiles(t *testing.T) {
	n, _ := opsNode(t, nil)
	base := n.URL()
	for _, tc := range []struct {
		name   string
		client *opsClient
		path   string
		status int
	}{
		{"nobody", newOpsClient(t, base), "/debug/pprof/heap", 401},
		{"wrong password", basicClient(t, base, opsUser, "nope"), "/debug/pprof/goroutine", 401},
		{"index", basicClient(t, base, opsUser, opsPass), "/debug/pprof/", 200},
		{"heap", basicClient(t, base, opsUser, opsPass), "/debug/pprof/heap", 200},
		{"cpu, one second", basicClient(t, base, opsUser, opsPass), "/debug/pprof/profile?seconds=1", 200},
		{"no command line", basicClient(t, base, opsUser, opsPass), "/debug/pprof/cmdline", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", base+tc.path, nil)
			if tc.client.user != "" {
				req.SetBasicAuth(tc.client.user, tc.client.pass)
			}
			resp, err := tc.client.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("%s: %d, want %d: %.200s", tc.path, resp.StatusCode, tc.status, b)
			}
			if tc.status == 200 && tc.path != "/debug/pprof/" && (len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b) {
				t.Fatalf("%s: not a gzipped profile: %.40q", tc.path, b)
			}
		})
	}
}

// TestSessionCacheOfALoneNode: a node alone on SQLite answers a session
// from memory for a minute after reading it (it makes every change to its
// sessions itself), not the 2 s of a cluster node: a session removed from
// the store behind its back is still honoured 30 s later, and no longer
// after the minute.
func TestSessionCacheOfALoneNode(t *testing.T) {
	n, clk := opsNode(t, nil)
	id := people(t, n, clk.Now(), vaxbook.CodeEligible, 1)[0]
	c := webtest.NewCitizen(n.URL())
	if end, err := c.Login("naver", id); err != nil || end.Path != "/queue" {
		t.Fatalf("login: %v %v", end, err)
	}
	me := func() int {
		st, _ := c.Do("GET", "/api/v1/me", nil, nil, nil)
		return st
	}
	if st := me(); st != 200 {
		t.Fatalf("signed in: %d", st)
	}
	u, _ := url.Parse(n.URL())
	var sid string
	for _, k := range c.Client.Jar.Cookies(u) {
		if k.Name == identity.SessionCookie {
			sid = k.Value
		}
	}
	if sid == "" {
		t.Fatal("no session cookie")
	}
	if err := n.Store.DeleteSession(context.Background(), sid); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Second)
	if st := me(); st != 200 {
		t.Fatalf("30 s after its read, the session was not answered from memory: %d", st)
	}
	clk.Advance(time.Minute)
	if st := me(); st != 401 {
		t.Fatalf("after the minute, a session gone from the store still answered: %d", st)
	}
}
