package web_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/web/webtest"
)

// fetched is a page as a browser without script gets it.
type fetched struct {
	status int
	body   string
	url    *url.URL
	header http.Header
}

// fetch GETs (form nil) or POSTs a form, following redirects like a browser.
func fetch(t *testing.T, c *webtest.Citizen, method, path string, form url.Values, hdr http.Header) fetched {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.Base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html")
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fetched{status: resp.StatusCode, body: string(b), url: resp.Request.URL, header: resp.Header}
}

// wellFormed checks what every citizen page must be: HTML (never JSON or a
// stack trace), with the CSP, every text found in the catalogs.
func wellFormed(t *testing.T, what string, f fetched) {
	t.Helper()
	if ct := f.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
	if f.header.Get("Content-Security-Policy") == "" {
		t.Errorf("%s: no Content-Security-Policy", what)
	}
	for _, bad := range []string{"%!", "goroutine ", `"code":`, ">code.", ">hint.", ">title."} {
		if strings.Contains(f.body, bad) {
			t.Errorf("%s: page contains %q", what, bad)
		}
	}
}

func TestPagesTable(t *testing.T) {
	n, _ := testNode(t)
	tests := []struct {
		name   string
		method string
		path   string
		form   url.Values
		hdr    http.Header
		status int
		want   []string
	}{
		{"landing in Korean by default", "GET", "/", nil, nil, 200,
			[]string{`<html lang="ko">`, "지금 예약할 수 있는 분", `href="/auth/naver/start"`, "원활", `lang="en"`, "오늘 이후 예약할 수 있는 자리"}},
		{"landing in English by ?lang=en", "GET", "/?lang=en", nil, nil, 200,
			[]string{`<html lang="en">`, "Who may book now", `href="/?lang=ko"`, "Optimal", "places still open to book, from today on"}},
		{"landing in English by Accept-Language", "GET", "/", nil, http.Header{"Accept-Language": {"en-US,en;q=0.9"}}, 200,
			[]string{`<html lang="en">`}},
		{"which day is mine", "POST", "/", url.Values{"birth": {"1990-08-17"}, "nationality": {"KR"}}, nil, 200,
			[]string{`id="answer"`, "생일 17일 → 끝자리 7", "나의 예약 기간"}},
		{"which day is mine, English", "POST", "/?lang=en", url.Values{"birth": {"1990-08-17"}, "nationality": {"FOREIGN"}}, nil, 200,
			[]string{"Born on day 17 of the month → last digit 7"}},
		{"which day: not a date", "POST", "/", url.Values{"birth": {"1990-02-30"}}, nil, 400,
			[]string{`aria-invalid="true"`, "생년월일을 실제 날짜로"}},
		{"which day: bad nationality", "POST", "/", url.Values{"birth": {"1990-02-03"}, "nationality": {"XX"}}, nil, 400,
			[]string{"국적을 선택해 주세요"}},
		{"which day: outside the group", "POST", "/?lang=en", url.Values{"birth": {"1950-01-01"}}, nil, 200,
			[]string{"This booking is for people born from"}},
		{"refusal without details", "GET", "/signin/refused?code=other_day", nil, nil, 403,
			[]string{"오늘은 나의 예약일이 아닙니다", "다시 본인인증을 하면"}},
		{"refusal: device locked", "GET", "/signin/refused?code=device_locked&lang=en", nil, nil, 409,
			[]string{"Another device verified first", "call 1339"}},
		{"refusal: unknown code", "GET", "/signin/refused?code=%3Cscript%3E", nil, nil, 401,
			[]string{"본인인증에 실패했습니다"}},
		{"queue needs a sign-in", "GET", "/queue", nil, nil, 401, []string{"먼저 본인인증을 해 주세요", `href="/#signin"`}},
		{"search needs a sign-in", "GET", "/book", nil, nil, 401, []string{"본인인증"}},
		{"my booking needs a sign-in", "GET", "/bookings?lang=en", nil, nil, 401, []string{"Please verify your identity first."}},
		{"calendar needs a sign-in", "GET", "/bookings/1.ics", nil, nil, 401, nil},
		{"confirm form without a session", "POST", "/book/confirm", url.Values{"slot": {"1"}}, nil, 401, nil},
		{"cancel without a session", "POST", "/bookings/1/cancel", url.Values{}, nil, 401, nil},
		{"unknown page", "GET", "/no/such/page", nil, nil, 404, []string{"페이지를 찾을 수 없습니다"}},
		{"unknown page, English", "GET", "/no/such/page?lang=en", nil, nil, 404, []string{"Page not found"}},
		{"unknown booking path", "GET", "/bookings/abc", nil, nil, 404, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := webtest.NewCitizen(n.URL())
			f := fetch(t, c, tc.method, tc.path, tc.form, tc.hdr)
			if f.status != tc.status {
				t.Fatalf("status %d, want %d:\n%.2000s", f.status, tc.status, f.body)
			}
			wellFormed(t, tc.name, f)
			for _, w := range tc.want {
				if !strings.Contains(f.body, w) {
					t.Errorf("page lacks %q:\n%.3000s", w, f.body)
				}
			}
		})
	}
	t.Run("the language choice sticks", func(t *testing.T) {
		c := webtest.NewCitizen(n.URL())
		fetch(t, c, "GET", "/?lang=en", nil, nil)
		if f := fetch(t, c, "GET", "/no/such/page", nil, nil); !strings.Contains(f.body, `<html lang="en">`) {
			t.Errorf("after ?lang=en the next page is not English")
		}
	})
	t.Run("static files", func(t *testing.T) {
		c := webtest.NewCitizen(n.URL())
		for path, want := range map[string]int{"/static/style.css?v=1": 200, "/static/app.js": 200, "/static/nope.js": 404} {
			if f := fetch(t, c, "GET", path, nil, nil); f.status != want {
				t.Errorf("%s: %d, want %d", path, f.status, want)
			}
		}
	})
	t.Run("the API keeps problem+json", func(t *testing.T) {
		f := fetch(t, webtest.NewCitizen(n.URL()), "GET", "/api/v1/no-such", nil, nil)
		if f.status != 404 || f.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("API 404: %d %s", f.status, f.header.Get("Content-Type"))
		}
	})
}

var (
	reClinicLink = regexp.MustCompile(`href="(/book/clinic/\d+[^"]*)"`)
	reSlot       = regexp.MustCompile(`name="slot" value="(\d+)"`)
	reHidden     = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)
	reReference  = regexp.MustCompile(`id="reference">(VB-[0-9A-Z*~$=U]+)<`)
)

func firstMatch(t *testing.T, re *regexp.Regexp, body, what string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s on the page:\n%.4000s", what, body)
	}
	return html.UnescapeString(m[1])
}

// hiddenFields reads a page's hidden form fields (csrf_token, idem, …).
func hiddenFields(body string) url.Values {
	v := url.Values{}
	for _, m := range reHidden.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// throughQueue fetches path and, while the waiting room holds the person,
// moves the fake clock and reloads (as the page's meta refresh does) until
// the page lands on want.
func throughQueue(t *testing.T, c *webtest.Citizen, advance func(), path, want string) fetched {
	t.Helper()
	f := fetch(t, c, "GET", path, nil, nil)
	deadline := time.Now().Add(15 * time.Second)
	for f.url.Path == "/queue" && f.url.Path != want {
		if !strings.Contains(f.body, `<noscript><meta http-equiv="refresh"`) {
			t.Fatalf("the waiting page has no reload without script:\n%.3000s", f.body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("still in the waiting room:\n%.3000s", f.body)
		}
		advance()
		f = fetch(t, c, "GET", f.url.RequestURI(), nil, nil)
	}
	if f.url.Path != want {
		t.Fatalf("landed on %s, want %s:\n%.3000s", f.url, want, f.body)
	}
	return f
}

// TestPageJourneyWithoutScript books, changes and cancels through the HTML
// forms alone, as a browser with JavaScript off does.
func TestPageJourneyWithoutScript(t *testing.T) {
	n, clk := testNode(t)
	id := people(t, n, clk.Now(), vaxbook.CodeEligible, 1)[0]
	c := webtest.NewCitizen(n.URL())
	if end, err := c.Login("kakao", id); err != nil || end.Path != "/queue" {
		t.Fatalf("login: %v %v", end, err)
	}
	tick := func() { clk.Advance(500 * time.Millisecond) }

	// Waiting room → search (home district) → a clinic near Seoul → a time.
	f := throughQueue(t, c, tick, "/queue", "/book")
	wellFormed(t, "search", f)
	f = fetch(t, c, "GET", "/book?near=37.5665,126.978", nil, nil)
	wellFormed(t, "search near", f)
	clinic := fetch(t, c, "GET", firstMatch(t, reClinicLink, f.body, "clinic link"), nil, nil)
	wellFormed(t, "clinic", clinic)
	form := hiddenFields(clinic.body)
	form.Set("slot", firstMatch(t, reSlot, clinic.body, "slot"))
	confirm := fetch(t, c, "GET", "/book/confirm?"+form.Encode(), nil, nil)
	wellFormed(t, "confirm", confirm)
	if confirm.status != 200 || !strings.Contains(confirm.body, `id="dose2-at"`) {
		t.Fatalf("confirm page: %d\n%.3000s", confirm.status, confirm.body)
	}
	post := hiddenFields(confirm.body)

	// A forged form (no CSRF token) is refused and books nothing.
	forged := url.Values{}
	for k, v := range post {
		if k != "csrf_token" {
			forged[k] = v
		}
	}
	if f := fetch(t, c, "POST", "/book/confirm", forged, nil); f.status != 403 || !strings.Contains(f.body, "새로 고친 뒤") {
		t.Fatalf("forged form: %d\n%.2000s", f.status, f.body)
	}

	done := fetch(t, c, "POST", "/book/confirm", post, nil)
	wellFormed(t, "done", done)
	if !strings.HasPrefix(done.url.Path, "/bookings/") || done.url.Query().Get("done") != "1" {
		t.Fatalf("after booking: %s\n%.3000s", done.url, done.body)
	}
	ref := firstMatch(t, reReference, done.body, "reference")
	// Sending the same form again (a double click, a reload) books once.
	again := fetch(t, c, "POST", "/book/confirm", post, nil)
	if again.url.Path != done.url.Path {
		t.Fatalf("resubmit went to %s, want %s", again.url, done.url)
	}
	ics := fetch(t, c, "GET", done.url.Path+".ics", nil, nil)
	if ics.status != 200 || !strings.HasPrefix(ics.header.Get("Content-Type"), "text/calendar") ||
		strings.Count(ics.body, "BEGIN:VEVENT") != 2 || !strings.Contains(ics.body, ref) {
		t.Fatalf("calendar: %d %s\n%s", ics.status, ics.header.Get("Content-Type"), ics.body)
	}
	bookingPath := done.url.Path
	bid := strings.TrimPrefix(bookingPath, "/bookings/")

	// Change: through the waiting room again (the pass was used), keep dose 2 paired.
	mine := fetch(t, c, "GET", "/bookings", nil, nil)
	if !strings.Contains(mine.body, ref) || !strings.Contains(mine.body, `href="/book?change=`+bid+`"`) {
		t.Fatalf("my bookings:\n%.3000s", mine.body)
	}
	f = throughQueue(t, c, tick, "/book?change="+bid, "/book")
	f = fetch(t, c, "GET", "/book?near=37.5665,126.978&change="+bid, nil, nil)
	clinic = fetch(t, c, "GET", firstMatch(t, reClinicLink, f.body, "clinic link"), nil, nil)
	form = hiddenFields(clinic.body)
	slots := reSlot.FindAllStringSubmatch(clinic.body, -1)
	form.Set("slot", slots[len(slots)-1][1])
	confirm = fetch(t, c, "GET", "/book/confirm?"+form.Encode(), nil, nil)
	if !strings.Contains(confirm.body, `name="change" value="`+bid+`"`) {
		t.Fatalf("change confirm lacks the booking:\n%.3000s", confirm.body)
	}
	changed := fetch(t, c, "POST", "/book/confirm", hiddenFields(confirm.body), nil)
	if changed.url.Path != bookingPath || !strings.Contains(changed.body, ref) {
		t.Fatalf("after change: %s\n%.3000s", changed.url, changed.body)
	}

	// Cancel with a confirmation step, again through the waiting room.
	f = throughQueue(t, c, tick, bookingPath+"/cancel", bookingPath+"/cancel")
	wellFormed(t, "cancel", f)
	cancelled := fetch(t, c, "POST", bookingPath+"/cancel", hiddenFields(f.body), nil)
	if cancelled.url.Path != "/bookings" || !strings.Contains(cancelled.body, `id="flash"`) || !strings.Contains(cancelled.body, `id="no-booking"`) {
		t.Fatalf("after cancel: %s\n%.3000s", cancelled.url, cancelled.body)
	}
	rep, err := n.Store.CheckInvariants(context.Background(), n.Campaign.ID)
	if err != nil || !rep.OK() {
		t.Fatalf("invariants: %v %+v", err, rep)
	}
}

// TestLandingShowsRemaining: the landing page tells how many places are
// still open, as the engine counts them, and the count follows bookings
// (at most a second later).
func TestLandingShowsRemaining(t *testing.T) {
	n, clk := testNode(t)
	count := func() int64 {
		f := fetch(t, webtest.NewCitizen(n.URL()), "GET", "/?lang=en", nil, nil)
		m := regexp.MustCompile(`(\d+) places? still open to book`).FindStringSubmatch(f.body)
		if m == nil {
			t.Fatalf("no count of open places on the landing page")
		}
		v, _ := strconv.ParseInt(m[1], 10, 64)
		return v
	}
	if got, want := count(), n.Engine.Remaining(clk.Now()).Total; got != want || got <= 0 {
		t.Fatalf("landing shows %d open places, the engine %d", got, want)
	}
	ids := people(t, n, clk.Now(), vaxbook.CodeEligible, 1)
	c := admitted(t, n, clk, ids[0])
	slots, err := c.FindSlots("", 1, nil)
	if err != nil || len(slots) == 0 {
		t.Fatalf("slots: %v %v", slots, err)
	}
	before := n.Engine.Remaining(clk.Now()).Total
	if _, st, err := c.Book(slots[0].ID, "landing-1"); err != nil || st != 201 {
		t.Fatalf("book: %d %v", st, err)
	}
	clk.Advance(time.Second)
	if got := count(); got != before-1 {
		t.Fatalf("after one booking the landing shows %d, want %d", got, before-1)
	}
}
