package browsertest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"vaxbook"
	"vaxbook/node"
	"vaxbook/web/browsertest/harness"
	"vaxbook/web/webtest"
)

const (
	opsName     = "ops.kim"
	opsPassword = "a long operator passphrase"
)

// startOpsNode is startNode with an operator account.
func startOpsNode(t *testing.T) *testNode {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(opsPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	clk := &movableClock{}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := node.Start(ctx, node.Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), Demo: true, DemoPeople: 3000, DemoClinics: 300, DemoSeed: 7,
		Clock: clk, WaitRoomTick: 50 * time.Millisecond, Log: slog.New(slog.DiscardHandler), Stdout: io.Discard,
		Operators: []string{opsName + ":" + string(hash)},
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); n.Close(); n.Wait() })
	return &testNode{Node: n, Clock: clk}
}

// chartLast returns the last value of series i of a dashboard chart (-1 if
// the chart has no points yet).
func chartLast(tab *harness.Tab, chart string, i int) float64 {
	return harness.Eval[float64](tab, fmt.Sprintf(`(() => {
		const u = window.vbOps && window.vbOps.charts[%q];
		if (!u || !u.data[%d] || u.data[%d].length === 0) return -1;
		const d = u.data[%d]; return d[d.length - 1] === null ? -1 : d[d.length - 1]; })()`, chart, i, i, i))
}

// TestOperatorChangesOutflow: an operator signs in, sets the waiting room
// to a fixed rate while people wait, and sees the new rate — and the
// outflow it causes — on the dashboard's live chart. Every page passes
// axe-core and fits a 360 px phone.
func TestOperatorChangesOutflow(t *testing.T) {
	harness.Require(t, browser, browserErr)
	n := startOpsNode(t)

	// Hold the line, and let 60 people join it.
	st, err := n.WaitRoom.Set(context.Background(), "test-setup", vaxbook.WaitRoomSettings{Mode: vaxbook.ModePaused,
		RatePerS: 50, MaxActive: 50_000, MinRate: 5, MaxRate: 2000}, n.Clock.Now())
	if err != nil || st.Settings.Mode != vaxbook.ModePaused {
		t.Fatalf("pause: %v", err)
	}
	for _, id := range n.people(t, n.Clock.Now(), vaxbook.CodeEligible, 60) {
		c := webtest.NewCitizen(n.URL())
		if end, err := c.Login("naver", id); err != nil || end.Path != "/queue" {
			t.Fatalf("login %d: %v %v", id, end, err)
		}
		if _, st, err := c.Join(); err != nil || st != 201 {
			t.Fatalf("join %d: %d %v", id, st, err)
		}
	}

	tab := browser.NewTab(t, n.URL())
	tab.Go("/ops/")
	tab.WaitPath("/ops/login", 10*time.Second)
	tab.Check("sign-in", "h1", "#name", "#password")
	tab.Type("#name", opsName)
	tab.Type("#password", opsPassword)
	tab.Click(".login button[type=submit]")
	tab.WaitPath("/ops/", 10*time.Second)
	if !harness.Until(20*time.Second, 50*time.Millisecond, func() bool {
		return harness.Eval[bool](tab, `!!(window.vbOps && window.vbOps.connected && window.vbOps.charts['chart-flow'])`)
	}) {
		t.Fatal("the dashboard never went live")
	}
	if got := tab.Text("#flow dl div:nth-child(2) dd"); !strings.Contains(got, "60") {
		t.Errorf("waiting: %q, want 60", got)
	}
	tab.Check("dashboard", "h1", "#chart-flow canvas", "#chart-queue canvas", "#chart-latency canvas", "#waitroom-form", "#providers table", "#audit table")

	// Fixed at 7 people a second, through the form (the script sends it to
	// the JSON API with the session's CSRF token).
	tab.ClickNoWait(`#waitroom-form input[name=mode][value=fixed]`)
	tab.Fill("#rate_per_s", "7")
	tab.ClickNoWait("#waitroom-form button[type=submit]")
	if !harness.Until(10*time.Second, 50*time.Millisecond, func() bool {
		return strings.Contains(tab.Text("#waitroom-form .form-status"), "적용했습니다")
	}) {
		t.Fatalf("no confirmation: %q", tab.Text("#waitroom-form .form-status"))
	}
	// The chart's admission-rate series (index 4) reaches 7, the figure
	// under it says so, and the outflow (index 5) rises as people are let in.
	if !harness.Until(20*time.Second, 100*time.Millisecond, func() bool { return chartLast(tab, "chart-flow", 4) == 7 }) {
		t.Fatalf("the chart's rate is %v, want 7", chartLast(tab, "chart-flow", 4))
	}
	if got := tab.Text("#rate-now"); got != "7.0" {
		t.Errorf("rate figure %q, want 7.0", got)
	}
	if got := tab.Text("#mode-now"); got != "고정" {
		t.Errorf("mode %q, want 고정", got)
	}
	if !harness.Until(30*time.Second, 200*time.Millisecond, func() bool { return chartLast(tab, "chart-flow", 5) > 0 }) {
		t.Fatalf("the chart's outflow stayed at %v", chartLast(tab, "chart-flow", 5))
	}
	if !strings.Contains(tab.Text("#audit-body"), "waitroom.set") {
		t.Error("the audit panel does not show the change")
	}
	tab.Check("fixed-rate", "#chart-flow canvas", "#audit table")
	if s, err := n.WaitRoom.State(context.Background(), n.Clock.Now()); err != nil || s.Settings.Mode != vaxbook.ModeFixed || s.Settings.RatePerS != 7 {
		t.Fatalf("settings: %v %+v", err, s.Settings)
	}

	// 200 % zoom of a 1280×900 window: a 640 px wide layout at scale 2.
	tab.Do("zoom to 200%", chromedp.EmulateViewport(640, 450, chromedp.EmulateScale(2)))
	if w := harness.Eval[[]int](tab, "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"); w[0] > w[1] {
		t.Errorf("at 200%% zoom the dashboard scrolls sideways: %d > %d", w[0], w[1])
	}
	tab.Do("zoom back", chromedp.EmulateViewport(harness.Desktop.Width, harness.Desktop.Height))

	if st := tab.Go("/ops/no-such-page"); st != 404 {
		t.Errorf("unknown ops page: %d", st)
	}
	tab.Check("not-found", "h1", "main a[href='/ops/']")

	tab.Go("/ops/?lang=en")
	tab.Check("dashboard-en", "h1", "#chart-flow", "#waitroom-form")
	if got := tab.Text("h1"); got != "Live operations" {
		t.Errorf("English heading %q", got)
	}
	tab.Click("header form.inline button")
	tab.WaitPath("/ops/login", 10*time.Second)
	tab.Check("signed-out", "h1", ".notice")
}
