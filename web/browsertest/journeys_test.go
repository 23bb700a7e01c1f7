package browsertest

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"vaxbook"
	"vaxbook/booking"
	"vaxbook/campaign"
	"vaxbook/seed"
	"vaxbook/web/browsertest/harness"
	"vaxbook/web/webtest"
)

// Seoul City Hall: the demo country has clinics around it.
const seoulLat, seoulLng = 37.5665, 126.978

var bookingPath = regexp.MustCompile(`^/bookings/(\d+)$`)

// citizen is the synthetic person behind a registry id.
func (n *testNode) citizen(t *testing.T, id int64) seed.Citizen {
	t.Helper()
	gen, err := seed.NewGenerator(n.Seed, n.Campaign)
	if err != nil {
		t.Fatal(err)
	}
	return gen.Citizen(id)
}

// person reads a registry entry.
func (n *testNode) person(t *testing.T, id int64) vaxbook.Person {
	t.Helper()
	p, err := n.Store.PersonByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// active returns the person's active bookings (dose order).
func (n *testNode) active(t *testing.T, id int64) []booking.View {
	t.Helper()
	vs, err := n.Engine.Mine(context.Background(), n.person(t, id))
	if err != nil {
		t.Fatal(err)
	}
	var out []booking.View
	for _, v := range vs {
		if v.Status == vaxbook.BookingActive {
			out = append(out, v)
		}
	}
	return out
}

func (n *testNode) invariants(t *testing.T) {
	t.Helper()
	rep, err := n.Store.CheckInvariants(context.Background(), n.Campaign.ID)
	if err != nil || !rep.OK() {
		t.Fatalf("invariants: %v %+v", err, rep)
	}
}

// signIn verifies the person with the provider's login_hint shortcut (the
// dev IdP skips its login page) and waits for the page the flow ends on.
func signIn(tab *harness.Tab, provider string, id int64) {
	tab.T.Helper()
	tab.Go(fmt.Sprintf("/auth/%s/start?login_hint=%d", provider, id))
}

// pickSlot picks a time on the clinic page (the last one when last) and
// goes on to the confirmation page.
func pickSlot(tab *harness.Tab, last bool) {
	tab.T.Helper()
	sel := `input[name=slot]`
	if last {
		sel = `fieldset.hour:last-of-type label.slot:last-of-type input[name=slot]`
	}
	tab.ClickNoWait(sel)
	tab.Click("#slot-next")
	tab.WaitPath("/book/confirm", 10*time.Second)
}

// bookedID reads the booking id from a /bookings/{id} page.
func bookedID(tab *harness.Tab) int64 {
	tab.T.Helper()
	m := bookingPath.FindStringSubmatch(tab.Path())
	if m == nil {
		tab.T.Fatalf("not on a booking page: %s", tab.URL())
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id
}

// quickBook books through the pages without checks: sign in, wait to be
// admitted, clinics near Seoul, the first time, confirm. It returns the
// dose-1 booking id.
func quickBook(t *testing.T, tab *harness.Tab, id int64) int64 {
	t.Helper()
	signIn(tab, "naver", id)
	tab.WaitPath("/book", 20*time.Second)
	tab.Go(fmt.Sprintf("/book?near=%g,%g", seoulLat, seoulLng))
	tab.Click("ol.results a")
	pickSlot(tab, false)
	tab.Click("#confirm")
	tab.WaitPath(tab.Path(), 5*time.Second)
	return bookedID(tab)
}

// checkBooked asserts the person has dose 1 at the clinic and time and a
// dose 2 at the same clinic the campaign's interval later.
func checkBooked(t *testing.T, n *testNode, id, bookingID int64) []booking.View {
	t.Helper()
	act := n.active(t, id)
	if len(act) != 2 || act[0].ID != bookingID || act[0].Dose != 1 || act[1].Dose != 2 ||
		act[1].Clinic.ID != act[0].Clinic.ID || act[1].StartsAt.Sub(act[0].StartsAt) != time.Duration(n.Campaign.DoseIntervalDays)*24*time.Hour {
		t.Fatalf("bookings of %d: %+v", id, act)
	}
	return act
}

// TestBookingJourneyKorean is the whole journey in Korean with the mouse:
// the landing page answers which day is mine, the person verifies through
// the provider's own login page, waits, finds clinics near their location,
// picks a time, books, and gets a reference and a calendar file.
func TestBookingJourneyKorean(t *testing.T) {
	harness.Require(t, browser, browserErr)
	n := startNode(t)
	id := n.people(t, n.Clock.Now(), vaxbook.CodeEligible, 1)[0]
	who := n.citizen(t, id)
	tab := browser.NewTab(t, n.URL())

	tab.Go("/")
	tab.Check("landing", "h1", "#now", "#providers a.provider", "#lang-switch", "#birth")
	if got := tab.Attr("html", "lang"); got != "ko" {
		t.Fatalf("landing language %q, want ko", got)
	}
	tab.Fill("#birth", who.BirthDate.String())
	tab.Click(`#myday button[type=submit]`)
	tab.Check("my-day", "#answer")
	if ans := tab.Text("#answer"); !strings.Contains(ans, fmt.Sprintf("끝자리 %d", who.BirthDate.Day%10)) || !strings.Contains(ans, "지금 예약할 수 있습니다") {
		t.Fatalf("the answer does not explain the digit or say it is open now: %q", ans)
	}

	// The provider's own login page (dev IdP): search the person, pick them.
	tab.Click(`#providers a[data-provider="naver"]`)
	tab.Type(`input[name=q]`, strconv.FormatInt(id, 10))
	tab.Click(`form[method=get] button`)
	tab.Click(`button.person`)
	tab.WaitPath("/book", 20*time.Second) // the waiting room lets them through by itself

	tab.SetLocation(seoulLat, seoulLng)
	tab.Check("search-home", "#search-form", "#sido", "#sigungu", "#near-me")
	tab.ClickNoWait("#near-me")
	harness.Until(10*time.Second, 50*time.Millisecond, func() bool { return tab.URL().Query().Get("near") != "" })
	tab.WaitPath("/book", 10*time.Second)
	tab.Check("search-near", "ol.results a")
	tab.Click("ol.results a")
	tab.Check("clinic", "#slot-form", "ul.days a[aria-current]", "input[name=slot]")
	pickSlot(tab, false)
	tab.Check("confirm", "#dose1-at", "#dose2-at", "#confirm")
	tab.Click("#confirm")
	tab.Check("done", "#reference", "#calendar", "ol.doses")
	bid := bookedID(tab)
	act := checkBooked(t, n, id, bid)
	if ref := tab.Text("#reference"); !strings.HasPrefix(ref, "VB-") || !strings.Contains(tab.Text("main"), "2차 접종") {
		t.Fatalf("done page: reference %q", ref)
	}
	ics := harness.Eval[string](tab, `fetch(document.getElementById('calendar').href).then(r => r.text())`, chromedp.EvalAwaitPromise)
	if !strings.Contains(ics, "BEGIN:VCALENDAR") || strings.Count(ics, "BEGIN:VEVENT") != 2 || !strings.Contains(ics, act[0].StartsAt.UTC().Format("20060102T150405Z")) {
		t.Fatalf("calendar file:\n%s", ics)
	}
	n.invariants(t)
}

// TestBookingJourneyEnglish switches to English on the landing page and
// finds a clinic with the 시도/시군구 selects.
func TestBookingJourneyEnglish(t *testing.T) {
	harness.Require(t, browser, browserErr)
	n := startNode(t)
	id := n.people(t, n.Clock.Now(), vaxbook.CodeEligible, 1)[0]
	p := n.person(t, id)
	// A district with places for this person.
	var sido, sigungu string
	for _, g := range n.Engine.Regions() {
		res, err := n.Engine.Search(booking.Query{Sigungu: g.SigunguCode, Available: true, Limit: 1,
			Cohort: campaign.Cohort(n.Campaign, p.BirthDate), At: n.Clock.Now()})
		if err == nil && res.Total > 0 {
			sido, sigungu = g.SidoCode, g.SigunguCode
			break
		}
	}
	if sigungu == "" {
		t.Fatal("no district has places")
	}
	tab := browser.NewTab(t, n.URL())
	tab.Go("/")
	tab.Click("#lang-switch")
	tab.Check("landing-en", "h1", "#providers a.provider")
	if tab.Attr("html", "lang") != "en" || !strings.Contains(tab.Text("#now"), "Who may book now") {
		t.Fatalf("the switch did not give English")
	}
	signIn(tab, "kakao", id)
	tab.WaitPath("/book", 20*time.Second)
	tab.Check("search-en", "#search-form")
	if tab.Attr("html", "lang") != "en" {
		t.Fatalf("the language choice did not stick across sign-in")
	}
	// Choose the 시도; the script fills the 시군구 from /api/v1/regions.
	tab.Fill("#sido", sido)
	harness.Eval[bool](tab, `document.getElementById('sido').dispatchEvent(new Event('change'))`)
	if !harness.Until(10*time.Second, 50*time.Millisecond, func() bool {
		return tab.Has(fmt.Sprintf(`#sigungu option[value="%s"]`, sigungu))
	}) {
		t.Fatalf("the district list was not filled for %s", sido)
	}
	tab.Fill("#sigungu", sigungu)
	tab.Click("#search-submit")
	tab.Check("results-en", "ol.results a")
	tab.Click("ol.results a")
	tab.Check("clinic-en", "#slot-form")
	pickSlot(tab, true)
	tab.Check("confirm-en", "#dose1-at", "#dose2-at")
	if !strings.Contains(tab.Text("#dose1-at"), "KST") {
		t.Fatalf("times are not marked KST: %q", tab.Text("#dose1-at"))
	}
	tab.Click("#confirm")
	tab.Check("done-en", "#reference")
	if !strings.Contains(tab.Text("main"), "You are booked") {
		t.Fatalf("done page is not in English")
	}
	checkBooked(t, n, id, bookedID(tab))
}

// TestNotYourDay signs in a person whose rotation day is another day: the
// refusal page says why, what to do and their window, in both languages.
func TestNotYourDay(t *testing.T) {
	harness.Require(t, browser, browserErr)
	n := startNode(t)
	id := n.people(t, n.Clock.Now(), vaxbook.CodeOtherDay, 1)[0]
	d := campaign.Check(n.Campaign, n.person(t, id).BirthDate, n.person(t, id).Nationality, n.Clock.Now())
	tab := browser.NewTab(t, n.URL())
	signIn(tab, "pass", id)
	if tab.Path() != "/signin/refused" || tab.URL().Query().Get("code") != "other_day" {
		t.Fatalf("ended at %s", tab.URL())
	}
	tab.Check("refused-ko", "#reason", "#window", "#todo")
	loc, _ := campaign.Location(n.Campaign)
	opens := d.Window.Opens.In(loc)
	if w := tab.Text("#window"); !strings.Contains(w, fmt.Sprintf("%d월 %d일", opens.Month(), opens.Day())) || !strings.Contains(w, opens.Format("15:04")) {
		t.Fatalf("the window shown (%q) is not the person's (%s)", w, opens)
	}
	tab.Click("#lang-switch")
	tab.Check("refused-en", "#reason", "#window", "#todo")
	if w := tab.Text("#window"); !strings.Contains(w, opens.Format("15:04")+" KST") || !strings.Contains(tab.Text("h1"), "not your booking day") {
		t.Fatalf("English refusal: %q", w)
	}
	if len(n.active(t, id)) != 0 {
		t.Fatal("a refused person has bookings")
	}
}

// TestSecondDeviceBlocked: the first device to verify holds the booking;
// another device (its own cookies) is refused and told when and with which
// provider the first one verified.
func TestSecondDeviceBlocked(t *testing.T) {
	harness.Require(t, browser, browserErr)
	n := startNode(t)
	id := n.people(t, n.Clock.Now(), vaxbook.CodeEligible, 1)[0]
	first := browser.NewTab(t, n.URL())
	signIn(first, "kakao", id)
	if p := first.Path(); p != "/queue" && p != "/book" {
		t.Fatalf("first device ended at %s", first.URL())
	}
	second := browser.NewTab(t, n.URL())
	signIn(second, "naver", id)
	if second.Path() != "/signin/refused" || second.URL().Query().Get("code") != "device_locked" {
		t.Fatalf("second device ended at %s", second.URL())
	}
	second.Check("device-locked", "#reason", "#locked", "#window", "#todo")
	if l := second.Text("#locked"); !strings.Contains(l, "카카오") {
		t.Fatalf("the page does not name the first device's provider: %q", l)
	}
	// The second device cannot reach the booking pages either.
	if st := second.Go("/book"); st != 401 {
		t.Fatalf("second device /book: status %d", st)
	}
	second.Check("second-device-book", "#reason")
}

// statusPolls records when the tab asked /api/v1/queue/status.
type statusPolls struct {
	mu    sync.Mutex
	times []time.Time
}

func watchPolls(tab *harness.Tab) *statusPolls {
	sp := &statusPolls{}
	events := chromedp.Events(tab.Context(), network.RequestWillBeSent)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			if strings.Contains(ev.Request.URL, "/api/v1/queue/status") {
				sp.mu.Lock()
				sp.times = append(sp.times, time.Now())
				sp.mu.Unlock()
			}
		}
	}()
	return sp
}

// TestThrottledQueue: the operator holds the outflow at 1 person a second
// with people ahead; the page shows the place, people ahead, a progress bar
// and an ETA, keeps the place on reload, polls only when the server says,
// and moves on to booking by itself when admitted.
func TestThrottledQueue(t *testing.T) {
	harness.Require(t, browser, browserErr)
	n := startNode(t)
	ctx := context.Background()
	st, err := n.WaitRoom.State(ctx, n.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	set := st.Settings
	set.Mode, set.RatePerS = vaxbook.ModeFixed, 1
	if _, err := n.WaitRoom.Set(ctx, "browsertest", set, n.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	ids := n.people(t, n.Clock.Now(), vaxbook.CodeEligible, 6)
	for _, ahead := range ids[1:] { // five people join first (API clients)
		c := webtest.NewCitizen(n.URL())
		if end, err := c.Login("cert", ahead); err != nil || end.Path != "/queue" {
			t.Fatalf("login %d: %v %v", ahead, end, err)
		}
		if _, st, err := c.Join(); err != nil || st != 201 {
			t.Fatalf("join %d: %d %v", ahead, st, err)
		}
	}
	tab := browser.NewTab(t, n.URL())
	polls := watchPolls(tab)
	start := time.Now()
	signIn(tab, "mobile", ids[0])
	if tab.Path() != "/queue" || !tab.Has("#q-position") {
		t.Fatalf("not waiting: %s", tab.URL())
	}
	pos1, _ := strconv.Atoi(tab.Text("#q-position"))
	tab.Check("waiting", "#q-position", "#q-ahead", "#q-progress", "#q-eta")
	if pos1 < 2 {
		t.Fatalf("position %d with five people ahead at 1/s", pos1)
	}
	// A reload keeps the place (the server joins idempotently).
	tab.Go("/queue")
	if tab.Path() == "/queue" {
		pos2, _ := strconv.Atoi(tab.Text("#q-position"))
		if pos2 > pos1 || pos2 < 1 {
			t.Fatalf("after reload position %d, before %d", pos2, pos1)
		}
	}
	tab.WaitPath("/book", 30*time.Second)
	waited := time.Since(start)
	tab.Check("admitted-search", "#search-form")
	polls.mu.Lock()
	n1 := len(polls.times)
	polls.mu.Unlock()
	// The server paces polls at ≥ 2 s (MinRetry): far fewer than one a second.
	if max := int(waited/(2*time.Second)) + 2; n1 > max {
		t.Errorf("%d status polls in %s; the page polls faster than retry_after_ms allows (max %d)", n1, waited, max)
	}
	tab.Go(fmt.Sprintf("/book?near=%g,%g", seoulLat, seoulLng))
	tab.Click("ol.results a")
	pickSlot(tab, false)
	tab.Click("#confirm")
	tab.Check("throttled-done", "#reference")
	checkBooked(t, n, ids[0], bookedID(tab))
}

// TestChangeBooking moves a booking to another time through the pages:
// the change goes through the waiting room (the pass was spent) and dose 2
// follows dose 1.
func TestChangeBooking(t *testing.T) {
	harness.Require(t, browser, browserErr)
	n := startNode(t)
	id := n.people(t, n.Clock.Now(), vaxbook.CodeEligible, 1)[0]
	tab := browser.NewTab(t, n.URL())
	bid := quickBook(t, tab, id)
	before := checkBooked(t, n, id, bid)

	tab.Go("/bookings")
	tab.Check("my-booking", "#reference", "#change", "#cancel", "#calendar")
	tab.Click("#change")
	tab.WaitPath("/book", 20*time.Second) // via the waiting room
	if tab.URL().Query().Get("change") != strconv.FormatInt(bid, 10) {
		t.Fatalf("the change context was lost: %s", tab.URL())
	}
	tab.Check("change-search", "#search-form", "p.notice")
	tab.Go(fmt.Sprintf("/book?near=%g,%g&change=%d", seoulLat, seoulLng, bid))
	tab.Click("ol.results a")
	tab.Check("change-clinic", "#slot-form")
	pickSlot(tab, true)
	tab.Check("change-confirm", "#dose1-at", "p.notice", "#confirm")
	tab.Click("#confirm")
	tab.Check("changed", "#reference")
	after := checkBooked(t, n, id, bid)
	if after[0].SlotID == before[0].SlotID || after[1].SlotID == before[1].SlotID {
		t.Fatalf("nothing moved: before %+v after %+v", before, after)
	}
	n.invariants(t)
}

// TestCancelBooking cancels with a confirmation step, through the waiting
// room.
func TestCancelBooking(t *testing.T) {
	harness.Require(t, browser, browserErr)
	n := startNode(t)
	id := n.people(t, n.Clock.Now(), vaxbook.CodeEligible, 1)[0]
	tab := browser.NewTab(t, n.URL())
	bid := quickBook(t, tab, id)
	checkBooked(t, n, id, bid)
	tab.Go("/bookings?lang=en")
	tab.Click("#cancel")
	tab.WaitPath(fmt.Sprintf("/bookings/%d/cancel", bid), 20*time.Second)
	tab.Check("cancel-confirm", "#cancel-confirm", "ol.doses")
	if len(n.active(t, id)) != 2 {
		t.Fatal("the confirmation step cancelled already")
	}
	tab.Click("#cancel-confirm")
	tab.Check("cancelled", "#flash", "#no-booking")
	if len(n.active(t, id)) != 0 {
		t.Fatalf("still booked after cancel: %+v", n.active(t, id))
	}
	n.invariants(t)
}

// TestPrequeueCountdown: twenty minutes before a window opens (by the
// server's clock, days away from the browser's), the waiting page counts
// down from the server's time, not the browser's.
func TestPrequeueCountdown(t *testing.T) {
	harness.Require(t, browser, browserErr)
	n := startNode(t)
	var next vaxbook.Window
	for _, w := range n.Campaign.Windows {
		if w.Kind == vaxbook.WindowRotation && w.Opens.After(n.Clock.Now()) {
			next = w
			break
		}
	}
	if next.ID == "" {
		t.Skip("no later rotation window in the demo campaign")
	}
	id := n.people(t, next.Opens, vaxbook.CodeEligible, 1)[0]
	n.Clock.Set(next.Opens.Add(-20 * time.Minute))
	tab := browser.NewTab(t, n.URL())
	signIn(tab, "naver", id)
	if tab.Path() != "/queue" || !tab.Has("#countdown") {
		t.Fatalf("no pre-queue page: %s", tab.URL())
	}
	re := regexp.MustCompile(`^(19|20):[0-5]\d$`)
	if !harness.Until(5*time.Second, 100*time.Millisecond, func() bool { return re.MatchString(tab.Text("#countdown")) }) {
		t.Fatalf("countdown %q, want about 20 minutes (server clock)", tab.Text("#countdown"))
	}
	tab.Check("prequeue", "#countdown")
}

// TestErrorPages: the pages a citizen meets when something is wrong are
// pages too (HTML in their language, accessible, no sideways scroll).
func TestErrorPages(t *testing.T) {
	harness.Require(t, browser, browserErr)
	n := startNode(t)
	tab := browser.NewTab(t, n.URL())
	for _, tc := range []struct {
		step, path string
		status     int64
		want       string
	}{
		{"not-found-ko", "/no/such/page", 404, "페이지를 찾을 수 없습니다"},
		{"not-found-en", "/no/such/page?lang=en", 404, "Page not found"},
		{"queue-signed-out", "/queue", 401, "Please verify your identity first."},
		{"refused-registry", "/signin/refused?code=not_in_registry", 403, "1339"},
		{"refused-ko", "/signin/refused?code=provider_unavailable&lang=ko", 503, "다른 인증 수단"},
	} {
		if st := tab.Go(tc.path); st != tc.status {
			t.Errorf("%s: status %d, want %d", tc.path, st, tc.status)
		}
		tab.Check(tc.step, "h1", "#reason", "#lang-switch")
		if !strings.Contains(tab.Text("main"), tc.want) {
			t.Errorf("%s: page lacks %q", tc.path, tc.want)
		}
	}
	tab.Go("/")
	tab.Fill("#birth", "")
	tab.Click(`#myday button[type=submit]`)
	tab.Check("birth-invalid", "#birth-err")
	if tab.Attr("#birth", "aria-invalid") != "true" {
		t.Error("the invalid field is not marked aria-invalid")
	}
}
