// Package harness drives vaxbook's pages in a real Chromium for browser
// tests: one headless browser per test binary, a fresh browser context (its
// own cookies: one "device") and tab per journey, navigation and form
// helpers that wait on conditions (never on fixed sleeps), and Check, which
// at every step of a journey takes screenshots at phone (360×800) and desktop
// (1280×900) sizes into an artifact directory, asserts that the key elements
// are visible, that a 360 px phone has no horizontal scroll, and that
// axe-core finds no serious or critical accessibility violation.
//
// It knows nothing of how the server under test was started: tests pass a
// base URL. Typical use in a test binary:
//
//	var browser *harness.Browser
//	var browserErr error
//
//	func TestMain(m *testing.M) {
//		browser, browserErr = harness.Start(harness.Config{})
//		code := m.Run()
//		browser.Close()
//		os.Exit(code)
//	}
//
//	func TestSomething(t *testing.T) {
//		harness.Require(t, browser, browserErr) // skips, or fails under CI=true
//		tab := browser.NewTab(t, baseURL)
//		tab.Go("/")
//		tab.Check("landing", "h1", "#providers")
//	}
package harness

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Config configures the browser.
type Config struct {
	// Chromium is the browser binary (default $VAXBOOK_CHROMIUM, else
	// /usr/bin/chromium, else chromium on $PATH).
	Chromium string
	// Artifacts is where screenshots go (default ./artifacts, relative to
	// the test's package directory).
	Artifacts string
	// Axe is the path of axe.min.js (default
	// ./node_modules/axe-core/axe.min.js, then
	// ../browsertest/node_modules/axe-core/axe.min.js, as installed by
	// scripts/test-deps.sh).
	Axe string
	// AcceptLanguage is what the browser asks for (default "ko-KR,ko": a
	// Korean citizen's browser).
	AcceptLanguage string
	// StepTimeout bounds one navigation or wait (default 20s).
	StepTimeout time.Duration
}

// ErrNoChromium is returned by Start when no browser binary is found.
var ErrNoChromium = errors.New("harness: chromium not found (install the Debian package chromium)")

// ErrNoAxe is returned by Start when axe-core is not installed.
var ErrNoAxe = errors.New("harness: axe-core not installed (run scripts/test-deps.sh: npm install in web/browsertest)")

// Browser is one headless Chromium shared by every journey of a test binary.
type Browser struct {
	cfg         Config
	allocCancel context.CancelFunc
	ctx         context.Context // the browser's own context (its first tab)
	cancel      context.CancelFunc
	userData    string
	axe         string
	mu          sync.Mutex
	closed      bool
}

// Phone and Desktop are the viewport sizes Check looks at.
var (
	Phone   = Viewport{Name: "phone", Width: 360, Height: 800, Mobile: true}
	Desktop = Viewport{Name: "desktop", Width: 1280, Height: 900}
)

// Viewport is a screen size.
type Viewport struct {
	Name          string
	Width, Height int64
	Mobile        bool
}

func findChromium(explicit string) string {
	for _, c := range []string{explicit, os.Getenv("VAXBOOK_CHROMIUM"), "/usr/bin/chromium"} {
		if c == "" {
			continue
		}
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c
		}
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func findAxe(explicit string) string {
	for _, c := range []string{explicit, "node_modules/axe-core/axe.min.js", "../browsertest/node_modules/axe-core/axe.min.js"} {
		if c == "" {
			continue
		}
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	return ""
}

// Start launches the browser with the headless flags the project uses
// (--no-sandbox --disable-gpu --disable-quic --no-first-run
// --disable-background-networking --disable-component-update
// --disable-sync) and a fresh user-data directory. It returns ErrNoChromium
// or ErrNoAxe when a dependency is missing (see Require).
func Start(cfg Config) (*Browser, error) {
	if cfg.Artifacts == "" {
		cfg.Artifacts = "artifacts"
	}
	if cfg.AcceptLanguage == "" {
		cfg.AcceptLanguage = "ko-KR,ko"
	}
	if cfg.StepTimeout == 0 {
		cfg.StepTimeout = 20 * time.Second
	}
	bin := findChromium(cfg.Chromium)
	if bin == "" {
		return nil, ErrNoChromium
	}
	axePath := findAxe(cfg.Axe)
	if axePath == "" {
		return nil, ErrNoAxe
	}
	axe, err := os.ReadFile(axePath)
	if err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	dir, err := os.MkdirTemp("", "vaxbook-chromium-")
	if err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(dir),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", strings.SplitN(cfg.AcceptLanguage, ",", 2)[0]),
		chromedp.Flag("accept-lang", cfg.AcceptLanguage),
		chromedp.WindowSize(int(Desktop.Width), int(Desktop.Height)),
	)
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &Browser{cfg: cfg, allocCancel: allocCancel, ctx: ctx, cancel: cancel, userData: dir, axe: string(axe)}
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no timeout
		b.Close()
		return nil, fmt.Errorf("harness: start %s: %w", bin, err)
	}
	return b, nil
}

// Close stops the browser and removes its user-data directory. A nil
// Browser is fine.
func (b *Browser) Close() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	b.cancel()
	b.allocCancel()
	_ = os.RemoveAll(b.userData)
}

// Require makes a test that needs the browser skip when it could not start
// (Chromium or axe-core missing), or fail when CI=true: in CI a missing
// browser is a failure, never a skip.
func Require(t testing.TB, b *Browser, startErr error) {
	t.Helper()
	if b != nil && startErr == nil {
		return
	}
	if startErr == nil {
		startErr = errors.New("harness: browser not started")
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("browser tests need Chromium and axe-core under CI=true: %v", startErr)
	}
	t.Skipf("skipping browser test: %v", startErr)
}

// Tab is one journey: its own browser context (cookies, storage: a separate
// device) and one tab in it.
type Tab struct {
	T       testing.TB
	Base    string
	ctx     context.Context
	b       *Browser
	dir     string
	step    int
	Visited []string // paths Check looked at, in order
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// NewTab opens a fresh browser context and tab for a journey against base
// (the server's URL). It is closed when the test ends. Screenshots go to
// <Artifacts>/<test name>/.
func (b *Browser) NewTab(t testing.TB, base string) *Tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tab := &Tab{T: t, Base: strings.TrimRight(base, "/"), ctx: ctx, b: b,
		dir: filepath.Join(b.cfg.Artifacts, unsafeName.ReplaceAllString(t.Name(), "_"))}
	if err := os.MkdirAll(tab.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tab.must("open tab", chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{})
			if err != nil {
				return err
			}
			_, err = cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
				Headers: network.Headers{"Accept-Language": b.cfg.AcceptLanguage},
			})
			return err
		}),
		chromedp.EmulateViewport(Desktop.Width, Desktop.Height),
	))
	return tab
}

// SetLocation makes the tab's geolocation answer lat, lng (and grants the
// permission to the base URL's origin), for "near me" features.
func (tb *Tab) SetLocation(lat, lng float64) {
	tb.T.Helper()
	acc := 20.0
	origin := tb.Base
	if u, err := url.Parse(tb.Base); err == nil {
		origin = u.Scheme + "://" + u.Host
	}
	tb.Do("set geolocation", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetGeolocationOverride, emulation.SetGeolocationOverrideParams{
			Latitude: &lat, Longitude: &lng, Accuracy: &acc})
		return err
	}))
	_, err := chromedp.CallBrowser(tb.ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "geolocation"}, Setting: browser.PermissionSettingGranted,
		Origin: origin, BrowserContextID: chromedp.FromContext(tb.ctx).BrowserContextID,
	})
	tb.must("grant geolocation", err)
}

// Context is the tab's chromedp context, for actions the helpers do not cover.
func (tb *Tab) Context() context.Context { return tb.ctx }

func (tb *Tab) must(what string, err error) {
	tb.T.Helper()
	if err != nil {
		loc, _ := tb.location()
		tb.T.Fatalf("%s (at %s): %v", what, loc, err)
	}
}

func (tb *Tab) timeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(tb.ctx, tb.b.cfg.StepTimeout)
}

// Do runs chromedp actions with the step timeout and fails the test on error.
func (tb *Tab) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.T.Helper()
	ctx, cancel := tb.timeout()
	defer cancel()
	tb.must(what, chromedp.Do(ctx, actions...))
}

// Go navigates to path (relative to Base, or an absolute URL) and waits for
// the page to load. It returns the HTTP status of the document.
func (tb *Tab) Go(path string) int64 {
	tb.T.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = tb.Base + path
	}
	ctx, cancel := tb.timeout()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
	tb.must("navigate "+path, err)
	if resp == nil {
		return 0
	}
	return resp.Status
}

// Click clicks the first element matching the CSS selector and waits for the
// navigation it causes; it returns the HTTP status of the new document.
func (tb *Tab) Click(css string) int64 {
	tb.T.Helper()
	ctx, cancel := tb.timeout()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
	tb.must("click "+css, err)
	if resp == nil {
		return 0
	}
	return resp.Status
}

// ClickNoWait clicks without waiting for a navigation (for buttons that run
// script).
func (tb *Tab) ClickNoWait(css string) {
	tb.T.Helper()
	tb.Do("click "+css, chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

// Fill replaces the value of an input or select.
func (tb *Tab) Fill(css, value string) {
	tb.T.Helper()
	tb.Do("fill "+css, chromedp.SetValue(chromedp.CSS(css), value, chromedp.NodeReady))
}

// Type focuses an input and types text into it (key events).
func (tb *Tab) Type(css, text string) {
	tb.T.Helper()
	tb.Do("type into "+css, chromedp.Clear(chromedp.CSS(css)), chromedp.SendKeys(chromedp.CSS(css), text, chromedp.NodeVisible))
}

// Text returns the visible text of the first element matching css.
func (tb *Tab) Text(css string) string {
	tb.T.Helper()
	ctx, cancel := tb.timeout()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css), chromedp.NodeReady))
	tb.must("text of "+css, err)
	return s
}

// Attr returns an attribute of the first element matching css.
func (tb *Tab) Attr(css, name string) string {
	tb.T.Helper()
	ctx, cancel := tb.timeout()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(css), name, chromedp.NodeReady))
	tb.must("attribute "+name+" of "+css, err)
	return v.Value
}

// Has reports whether an element matches css now (no waiting).
func (tb *Tab) Has(css string) bool {
	tb.T.Helper()
	return Eval[bool](tb, fmt.Sprintf("document.querySelector(%q) !== null", css))
}

// Count returns how many elements match css now.
func (tb *Tab) Count(css string) int {
	tb.T.Helper()
	return Eval[int](tb, fmt.Sprintf("document.querySelectorAll(%q).length", css))
}

// WaitVisible waits until an element matching css is visible.
func (tb *Tab) WaitVisible(css string) {
	tb.T.Helper()
	tb.Do("wait for "+css, chromedp.WaitVisible(chromedp.CSS(css)))
}

// Eval evaluates a JavaScript expression in the tab and decodes its value
// (with chromedp.EvalAwaitPromise, the value a promise resolves to).
func Eval[T any](tb *Tab, expr string, opts ...chromedp.EvaluateOption) T {
	tb.T.Helper()
	ctx, cancel := tb.timeout()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	tb.must("evaluate "+expr, err)
	return v
}

func (tb *Tab) location() (string, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Location())
}

// URL returns the tab's current URL.
func (tb *Tab) URL() *url.URL {
	tb.T.Helper()
	loc, err := tb.location()
	tb.must("location", err)
	u, err := url.Parse(loc)
	tb.must("parse location", err)
	return u
}

// Path returns the path of the tab's current URL.
func (tb *Tab) Path() string { tb.T.Helper(); return tb.URL().Path }

// WaitPath waits until the tab's path is want (the page may get there by
// script, a meta refresh or redirects), polling until timeout.
func (tb *Tab) WaitPath(want string, timeout time.Duration) {
	tb.T.Helper()
	var last string
	ok := Until(timeout, 50*time.Millisecond, func() bool {
		loc, err := tb.location()
		if err != nil {
			return false
		}
		u, err := url.Parse(loc)
		if err != nil {
			return false
		}
		last = u.Path
		if u.Path != want {
			return false
		}
		ready, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string]("document.readyState"))
		return err == nil && ready == "complete"
	})
	if !ok {
		tb.T.Fatalf("the tab did not reach %s within %s (at %s)", want, timeout, last)
	}
}

// Until calls cond every interval until it returns true or timeout passes;
// it reports whether cond became true.
func Until(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
		}
	}
}

// Violation is one axe-core rule that failed, with the elements it failed on.
type Violation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

func (v Violation) String() string {
	return fmt.Sprintf("%s (%s): %s at %s", v.ID, v.Impact, v.Help, strings.Join(v.Targets, ", "))
}

// Axe injects axe-core into the page (once per document) and returns its
// serious and critical violations.
func (tb *Tab) Axe() []Violation {
	tb.T.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 60*time.Second)
	defer cancel()
	has, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("typeof window.axe === 'object'"))
	tb.must("probe axe", err)
	if !has {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](tb.b.axe))
		tb.must("inject axe-core", err)
	}
	const run = `axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
		.filter(v => v.impact === 'serious' || v.impact === 'critical')
		.map(v => ({id: v.id, impact: v.impact, help: v.help,
			targets: v.nodes.map(n => n.target.join(' ') + (n.failureSummary ? ' [' + n.failureSummary.replace(/\s+/g, ' ') + ']' : ''))})))`
	vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]Violation](run, chromedp.EvalAwaitPromise))
	tb.must("run axe-core", err)
	return vs
}

// Check records a step of a journey: for each of the phone and desktop
// sizes it takes a full-page screenshot (<artifacts>/<test>/<NN>-<step>-<size>.png),
// asserts that every selector in visible matches a rendered, visible
// element, and on the phone that the page does not scroll sideways
// (documentElement.scrollWidth <= innerWidth). Then it runs axe-core and
// fails on any serious or critical violation. The tab is left at desktop size.
func (tb *Tab) Check(step string, visible ...string) {
	tb.T.Helper()
	tb.step++
	path := tb.Path()
	tb.Visited = append(tb.Visited, path)
	for _, vp := range []Viewport{Phone, Desktop} {
		tb.resize(vp)
		missing := Eval[[]string](tb, visibleScript(visible))
		if len(missing) > 0 {
			tb.T.Errorf("step %q (%s) at %s: not visible: %s", step, vp.Name, path, strings.Join(missing, ", "))
		}
		if vp.Width <= 400 {
			// With mobile emulation a too-wide page may widen innerWidth
			// (the browser zooms out to fit it), so compare with the
			// narrower of innerWidth and the layout viewport as well.
			w := Eval[[]int](tb, "[document.documentElement.scrollWidth, Math.min(window.innerWidth, document.documentElement.clientWidth)]")
			if w[0] > w[1] || w[0] > int(vp.Width) {
				tb.T.Errorf("step %q at %s: scrolls sideways on a %d px phone (scrollWidth %d > innerWidth %d)", step, path, vp.Width, w[0], w[1])
			}
		}
		ctx, cancel := tb.timeout()
		img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
		cancel()
		tb.must("screenshot", err)
		name := fmt.Sprintf("%02d-%s-%s.png", tb.step, unsafeName.ReplaceAllString(step, "_"), vp.Name)
		if err := os.WriteFile(filepath.Join(tb.dir, name), img, 0o644); err != nil {
			tb.T.Errorf("save screenshot: %v", err)
		}
	}
	if vs := tb.Axe(); len(vs) > 0 {
		for _, v := range vs {
			tb.T.Errorf("step %q at %s: accessibility: %s", step, path, v)
		}
	}
}

func (tb *Tab) resize(vp Viewport) {
	tb.T.Helper()
	opts := []chromedp.EmulateViewportOption{}
	if vp.Mobile {
		opts = append(opts, chromedp.EmulateMobile)
	}
	tb.Do("resize to "+vp.Name, chromedp.EmulateViewport(vp.Width, vp.Height, opts...))
}

// visibleScript returns JS that lists the selectors without a visible element.
func visibleScript(sels []string) string {
	var b strings.Builder
	b.WriteString("(() => { const missing = []; for (const s of [")
	for i, s := range sels {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%q", s)
	}
	b.WriteString(`]) { const el = document.querySelector(s);
		if (!el) { missing.push(s + ' (absent)'); continue; }
		const r = el.getBoundingClientRect(); const cs = getComputedStyle(el);
		if (r.width === 0 || r.height === 0 || cs.visibility === 'hidden' || cs.display === 'none') missing.push(s + ' (hidden)'); }
		return missing; })()`)
	return b.String()
}
