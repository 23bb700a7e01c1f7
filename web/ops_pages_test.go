package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"vaxbook/identity"
	"vaxbook/node"

	"vaxbook"
	"vaxbook/web/webtest"
)

var updateOps = flag.Bool("update-ops", false, "rewrite the ops golden files under testdata/ops/")

// opsGolden compares got with testdata/ops/name (rewriting it with
// -update-ops).
func opsGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "ops", name)
	if *updateOps {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s ./web/ -update-ops)", err, t.Name())
	}
	if string(want) != got {
		t.Fatalf("%s differs from the golden file (rerun with -update-ops and review the diff):\n%s", name, got)
	}
}

var (
	tokenRe   = regexp.MustCompile(`value="[A-Za-z0-9_-]{20,}"`)
	versionRe = regexp.MustCompile(`\?v=[0-9a-f]+`)
)

func TestOpsLoginPageGolden(t *testing.T) {
	n, _ := opsNode(t, nil)
	for _, lang := range []string{"ko", "en"} {
		o := newOpsClient(t, n.URL())
		path := "/ops/login"
		if lang == "en" {
			path += "?lang=en"
		}
		resp, page := o.get(path)
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Fatalf("%s: %d, CSP %q", path, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
		}
		page = versionRe.ReplaceAllString(tokenRe.ReplaceAllString(page, `value="TOKEN"`), "?v=HASH")
		opsGolden(t, "login."+lang+".html", page)
	}
}

// TestOpsDashboardWithoutScript drives the dashboard as a browser with
// JavaScript off would: the page shows the figures, the forms post with
// their CSRF token, refusals come back next to the form.
func TestOpsDashboardWithoutScript(t *testing.T) {
	n, clk := opsNode(t, nil)
	op := newOpsClient(t, n.URL())
	if r, _ := op.get("/ops/"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/ops/login" {
		t.Fatalf("dashboard before sign-in: %d → %s", r.StatusCode, r.Header.Get("Location"))
	}
	if r, _ := op.post("/ops/login", url.Values{}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-in without the form's token: %d", r.StatusCode)
	}
	if r := op.login(opsUser, "wrong"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", r.StatusCode)
	}
	if r := op.login(opsUser, opsPass); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/ops/" {
		t.Fatalf("sign-in: %d → %s", r.StatusCode, r.Header.Get("Location"))
	}
	resp, page := op.get("/ops/")
	for _, want := range []string{`<html lang="ko">`, "운영 현황", `id="waitroom-form"`, `id="devicelocks"`, `id="remaining"`,
		"네이버", `data-k="flow.rate"`, "vendor/uplot/uPlot.iife.min.js", "서울특별시"} {
		if !strings.Contains(page, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if resp.StatusCode != 200 || t.Failed() {
		t.Fatalf("dashboard: %d", resp.StatusCode)
	}
	if _, en := op.get("/ops/?lang=en"); !strings.Contains(en, `<html lang="en">`) || !strings.Contains(en, "Live operations") {
		t.Fatal("no English dashboard")
	}

	// The waiting-room form: without its token it is refused; with it
	// the settings change (fields left empty keep their values).
	form := url.Values{"mode": {"fixed"}, "rate_per_s": {"3"}, "max_active": {""}, "min_rate": {""}, "max_rate": {""}}
	if r, _ := op.post("/ops/waitroom", form); r.StatusCode != http.StatusForbidden {
		t.Fatalf("form without the CSRF token: %d", r.StatusCode)
	}
	form.Set("csrf_token", op.csrf)
	r, _ := op.post("/ops/waitroom", form)
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/ops/?done=waitroom") {
		t.Fatalf("waiting-room form: %d → %s", r.StatusCode, r.Header.Get("Location"))
	}
	st, err := n.WaitRoom.State(context.Background(), clk.Now())
	if err != nil || st.Settings.Mode != vaxbook.ModeFixed || st.Settings.RatePerS != 3 || st.Settings.MaxRate != 2000 {
		t.Fatalf("settings after the form: %v %+v", err, st.Settings)
	}
	if _, done := op.get("/ops/?done=waitroom&lang=ko"); !strings.Contains(done, "대기실 설정을 적용했습니다") {
		t.Fatal("no confirmation after the form")
	}
	// A refused form comes back with the error and what was typed.
	form.Set("min_rate", "900")
	form.Set("max_rate", "10")
	r, page = op.post("/ops/waitroom", form)
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(page, `id="waitroom-error"`) || !strings.Contains(page, `value="900"`) {
		t.Fatalf("refused form: %d", r.StatusCode)
	}
	if st, _ := n.WaitRoom.State(context.Background(), clk.Now()); st.Settings.MinRate != 5 {
		t.Fatalf("a refused form changed min_rate to %v", st.Settings.MinRate)
	}

	// The provider switch: off, then on again, each audited.
	if r, _ := op.post("/ops/providers/pass", url.Values{"enabled": {"false"}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("provider switch without the CSRF token: %d", r.StatusCode)
	}
	r, _ = op.post("/ops/providers/pass", url.Values{"csrf_token": {op.csrf}, "enabled": {"false"}})
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/ops/?done=providers") {
		t.Fatalf("provider switch: %d → %s", r.StatusCode, r.Header.Get("Location"))
	}
	if l, _ := providerOf(n, "pass", clk.Now()); l.Enabled || l.Light != "red" {
		t.Fatalf("after turning pass off: %+v", l)
	}
	if r, page := op.post("/ops/providers/pass", url.Values{"csrf_token": {op.csrf}, "enabled": {"maybe"}}); r.StatusCode != http.StatusBadRequest || !strings.Contains(page, "enabled") {
		t.Fatalf("switch with enabled=maybe: %d", r.StatusCode)
	}
	if r, _ := op.post("/ops/providers/pass", url.Values{"csrf_token": {op.csrf}, "enabled": {"true"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("switch back on: %d", r.StatusCode)
	}
	if l, _ := providerOf(n, "pass", clk.Now()); !l.Enabled {
		t.Fatalf("after turning pass on: %+v", l)
	}

	// The emulation form of one provider.
	r, _ = op.post("/ops/idp/kakao", url.Values{"csrf_token": {op.csrf}, "capacity": {"12"}, "median": {"250"}, "p99": {"2s"},
		"error_rate": {"0.1"}, "max_queue": {""}, "outage": {"1"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("emulation form: %d", r.StatusCode)
	}
	e, _, _ := n.DevIdP.Emulation("kakao")
	if e.Capacity != 12 || time.Duration(e.Latency.Median) != 250*time.Millisecond || time.Duration(e.Latency.P99) != 2*time.Second || e.ErrorRate != 0.1 || !e.Outage {
		t.Fatalf("emulation after the form: %+v", e)
	}
	if r, _ := op.post("/ops/idp/kakao", url.Values{"csrf_token": {op.csrf}, "median": {"soon"}}); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad duration: %d", r.StatusCode)
	}

	// The device-lock form: a person with a lock, released with a reason.
	id := people(t, n, clk.Now(), vaxbook.CodeEligible, 1)[0]
	c := webtest.NewCitizen(n.URL())
	if end, err := c.Login("naver", id); err != nil || end.Path != "/queue" {
		t.Fatalf("citizen: %v %v", end, err)
	}
	win := ""
	for _, w := range n.Engine.Campaign().Windows {
		if w.Contains(clk.Now()) && w.Kind == vaxbook.WindowRotation {
			win = w.ID
		}
	}
	lockForm := url.Values{"csrf_token": {op.csrf}, "person": {itoa(id)}, "window": {win}, "reason": {""}}
	if r, page := op.post("/ops/devicelocks", lockForm); r.StatusCode != http.StatusBadRequest || !strings.Contains(page, "role=\"alert\"") {
		t.Fatalf("release without a reason: %d", r.StatusCode)
	}
	lockForm.Set("reason", "new phone")
	if r, _ := op.post("/ops/devicelocks", lockForm); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("release: %d", r.StatusCode)
	}
	if _, err := n.Store.DeviceLock(context.Background(), id, n.Campaign.ID, win); vaxbook.ErrorCode(err) != vaxbook.CodeNotFound {
		t.Fatalf("lock after the form: %v", err)
	}
	// The audit panel shows all three actions.
	_, page = op.get("/ops/")
	for _, action := range []string{"waitroom.set", "idp.emulation.set", "devicelock.release"} {
		if !strings.Contains(page, "<code>"+action+"</code>") {
			t.Errorf("the audit panel lacks %s", action)
		}
	}
}

// readSSE reads one SSE event (name, data).
func readSSE(t *testing.T, rd *bufio.Reader) (string, string) {
	t.Helper()
	var name, data string
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && name != "":
			return name, data
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
}

func TestOpsEvents(t *testing.T) {
	n, clk := opsNode(t, nil)
	op := newOpsClient(t, n.URL())
	op.login(opsUser, opsPass)
	board := n.Web.Ops().Board

	if r, _ := op.get("/ops/events"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("events without the token: %d", r.StatusCode)
	}
	if r, _ := newOpsClient(t, n.URL()).get("/ops/events"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("events without a session: %d", r.StatusCode)
	}
	resp, err := op.c.Get(n.URL() + "/ops/events?csrf_token=" + url.QueryEscape(op.csrf))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rd := bufio.NewReader(resp.Body)
	if name, data := readSSE(t, rd); name != "series" || !strings.Contains(data, `"stages":["signin","queue","search","booking"]`) {
		t.Fatalf("first event: %s %.200s", name, data)
	}
	name, data := readSSE(t, rd)
	var first struct {
		Seq uint64 `json:"seq"`
	}
	if name != "snapshot" || json.Unmarshal([]byte(data), &first) != nil {
		t.Fatalf("second event: %s %.200s", name, data)
	}
	// Change the waiting room; the next snapshot shows it.
	api := basicClient(t, n.URL(), opsUser, opsPass)
	if _, err := api.api("PUT", "/api/v1/ops/waitroom", map[string]any{"mode": "paused"}, nil); err != nil {
		t.Fatal(err)
	}
	for {
		board.Sample(context.Background(), clk.Advance(time.Second))
		name, data = readSSE(t, rd)
		var s struct {
			Seq      uint64 `json:"seq"`
			WaitRoom struct {
				Settings vaxbook.WaitRoomSettings `json:"settings"`
			} `json:"waitroom"`
		}
		if err := json.Unmarshal([]byte(data), &s); err != nil || name != "snapshot" || s.Seq <= first.Seq {
			t.Fatalf("event: %s %v %.200s", name, err, data)
		}
		if s.WaitRoom.Settings.Mode == vaxbook.ModePaused {
			break
		}
	}
	// Closing the node ends the open stream at once (the shutdown does not
	// wait for it).
	if err := n.Close(); err != nil {
		t.Fatalf("close with a dashboard open: %v", err)
	}
}

func providerOf(n *node.Node, name string, now time.Time) (identity.ProviderLight, bool) {
	for _, l := range n.Identity.Providers(now) {
		if l.Name == name {
			return l, true
		}
	}
	return identity.ProviderLight{}, false
}
