package web_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/internal/clock"
	"vaxbook/node"
	"vaxbook/seed"
	"vaxbook/web/webtest"
)

// testNode starts a demo node (SQLite, a small synthetic country, the dev
// identity providers) on a free port with a fake clock the test moves.
func testNode(t *testing.T) (*node.Node, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	n, err := node.Start(ctx, node.Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), Demo: true, DemoPeople: 3000, DemoClinics: 300, DemoSeed: 7,
		Clock: clk, WaitRoomTick: 5 * time.Millisecond, Log: slog.New(slog.DiscardHandler), Stdout: io.Discard,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); n.Close(); n.Wait() })
	return n, clk
}

// people finds registry ids by what campaign.Check says of them at now.
func people(t *testing.T, n *node.Node, now time.Time, code vaxbook.Code, count int) []int64 {
	t.Helper()
	gen, err := seed.NewGenerator(n.Seed, n.Campaign)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for id := int64(1); id <= int64(n.Seed.People) && len(out) < count; id++ {
		c := gen.Citizen(id)
		if campaign.Check(n.Campaign, c.BirthDate, c.Nationality, now).Code == code {
			out = append(out, id)
		}
	}
	if len(out) < count {
		t.Fatalf("only %d people with %s at %s", len(out), code, now)
	}
	return out
}

// admitted signs a person in, joins the queue and waits for the pass,
// moving the fake clock so that the waiting room admits.
func admitted(t *testing.T, n *node.Node, clk *clock.Fake, id int64) *webtest.Citizen {
	t.Helper()
	c := webtest.NewCitizen(n.URL())
	end, err := c.Login("naver", id)
	if err != nil || end.Path != "/queue" {
		t.Fatalf("login %d: ended at %v, %v", id, end, err)
	}
	if _, st, err := c.Join(); err != nil || (st != 201 && st != 200) {
		t.Fatalf("join: %d %v", st, err)
	}
	ok := webtest.Until(10*time.Second, 5*time.Millisecond, func() bool {
		clk.Advance(100 * time.Millisecond)
		q, err := c.Status()
		return err == nil && q.State == "admitted" && c.Pass != ""
	})
	if !ok {
		t.Fatal("not admitted within 10 s")
	}
	return c
}

func wantCode(t *testing.T, what string, st int, err error, status int, code string) {
	t.Helper()
	var p *webtest.Problem
	if !errors.As(err, &p) || st != status || p.Code != code {
		t.Fatalf("%s: got %d %v, want %d %s", what, st, err, status, code)
	}
}

func TestBookingJourney(t *testing.T) {
	n, clk := testNode(t)
	ids := people(t, n, clk.Now(), vaxbook.CodeEligible, 2)
	c := admitted(t, n, clk, ids[0])

	// Joining again (a reload) keeps the same place.
	q1, _ := c.Status()
	again, st, err := c.Join()
	if err != nil || st != 200 || again.Ticket != q1.Ticket {
		t.Fatalf("rejoin: %d %v, ticket %q want %q", st, err, again.Ticket, q1.Ticket)
	}

	slots, err := c.FindSlots("", 3, nil)
	if err != nil || len(slots) < 3 {
		t.Fatalf("find slots: %v %v", slots, err)
	}
	conf, st, err := c.Book(slots[0].ID, "key-1")
	if err != nil || st != 201 || len(conf.Bookings) != 2 || conf.Replayed {
		t.Fatalf("book: %d %v %+v", st, err, conf)
	}
	d1, d2 := conf.Bookings[0], conf.Bookings[1]
	t1, _ := time.Parse(time.RFC3339, d1.StartsAt)
	t2, _ := time.Parse(time.RFC3339, d2.StartsAt)
	if d1.Dose != 1 || d2.Dose != 2 || d1.Clinic.ID != d2.Clinic.ID || t2.Sub(t1) != 28*24*time.Hour || !strings.HasPrefix(d1.Reference, "VB-") {
		t.Fatalf("dose pair wrong: %+v", conf.Bookings)
	}

	// A retry with the same key returns the first result, even though the pass is spent.
	replay, st, err := c.Book(slots[0].ID, "key-1")
	if err != nil || st != 200 || !replay.Replayed || replay.Bookings[0].ID != d1.ID {
		t.Fatalf("replay: %d %v %+v", st, err, replay)
	}
	// The same key for another request is refused; a new write needs a new pass.
	_, st, err = c.Book(slots[1].ID, "key-1")
	wantCode(t, "reused key", st, err, 422, "idempotency_key_reused")
	_, st, err = c.Book(slots[1].ID, "key-2")
	wantCode(t, "spent pass", st, err, 403, "pass_invalid")

	// Queue again for a change: already booked, then change, then cancel.
	c = admittedAgain(t, n, clk, c)
	_, st, err = c.Book(slots[1].ID, "key-3")
	wantCode(t, "second booking", st, err, 409, "already_booked")
	var changed webtest.Confirmation
	st, err = c.Do("PATCH", "/api/v1/bookings/"+itoa(d1.ID), http.Header{"Idempotency-Key": {"key-4"}}, map[string]int64{"slot_id": slots[2].ID}, &changed)
	if err != nil || st != 200 || len(changed.Bookings) != 2 || changed.Bookings[0].SlotID != slots[2].ID || changed.Bookings[0].ID != d1.ID {
		t.Fatalf("change: %d %v %+v", st, err, changed)
	}
	if changed.Bookings[1].Dose != 2 || changed.Bookings[1].SlotID == d2.SlotID {
		t.Fatalf("dose 2 did not follow the change: %+v", changed.Bookings)
	}

	// Another person cannot cancel it.
	other := admitted(t, n, clk, ids[1])
	var none webtest.Confirmation
	st, err = other.Do("DELETE", "/api/v1/bookings/"+itoa(d1.ID), nil, nil, &none)
	wantCode(t, "cancel someone else's", st, err, 403, "not_your_booking")

	c = admittedAgain(t, n, clk, c)
	var cancelled webtest.Confirmation
	st, err = c.Do("DELETE", "/api/v1/bookings/"+itoa(d1.ID), http.Header{"Idempotency-Key": {"key-5"}}, nil, &cancelled)
	if err != nil || st != 200 || len(cancelled.Bookings) != 2 || cancelled.Bookings[0].Status != "cancelled" {
		t.Fatalf("cancel: %d %v %+v", st, err, cancelled)
	}
	var mine struct {
		Bookings []webtest.Booking `json:"bookings"`
	}
	if _, err := c.Do("GET", "/api/v1/bookings/mine", nil, nil, &mine); err != nil || len(mine.Bookings) != 2 || mine.Bookings[0].Status != "cancelled" {
		t.Fatalf("mine after cancel: %v %+v", err, mine)
	}
	rep, err := n.Store.CheckInvariants(context.Background(), n.Campaign.ID)
	if err != nil || !rep.OK() {
		t.Fatalf("invariants: %v %+v", err, rep)
	}
}

// admittedAgain queues the same device again after its pass was used.
func admittedAgain(t *testing.T, n *node.Node, clk *clock.Fake, c *webtest.Citizen) *webtest.Citizen {
	t.Helper()
	c.Pass = ""
	if _, st, err := c.Join(); err != nil || (st != 201 && st != 200) {
		t.Fatalf("join again: %d %v", st, err)
	}
	if !webtest.Until(10*time.Second, 5*time.Millisecond, func() bool {
		clk.Advance(100 * time.Millisecond)
		q, err := c.Status()
		return err == nil && q.State == "admitted" && c.Pass != ""
	}) {
		t.Fatal("not admitted again")
	}
	return c
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

func TestWriteRefusals(t *testing.T) {
	n, clk := testNode(t)
	ids := people(t, n, clk.Now(), vaxbook.CodeEligible, 3)
	c := admitted(t, n, clk, ids[0])
	slots, err := c.FindSlots("", 1, nil)
	if err != nil || len(slots) == 0 {
		t.Fatalf("slots: %v", err)
	}
	slot := `{"slot_id": ` + itoa(slots[0].ID) + `}`
	anon := webtest.NewCitizen(n.URL())
	noCSRF := *c
	noCSRF.CSRF = ""
	noPass := webtest.NewCitizen(n.URL()) // signed in, never queued: no pass header, no pass cookie
	if end, err := noPass.Login("naver", ids[1]); err != nil || end.Path != "/queue" {
		t.Fatalf("login: %v %v", end, err)
	}
	forged := *c
	forged.Pass = c.Pass[:len(c.Pass)-2] + "xx"
	tests := []struct {
		name   string
		who    *webtest.Citizen
		method string
		path   string
		hdr    http.Header
		body   any
		status int
		code   string
	}{
		{"not signed in", anon, "POST", "/api/v1/bookings", nil, slot, 401, "not_signed_in"},
		{"no CSRF token", &noCSRF, "POST", "/api/v1/bookings", nil, slot, 403, "csrf"},
		{"no pass", noPass, "POST", "/api/v1/bookings", nil, slot, 403, "pass_required"},
		{"forged pass", &forged, "POST", "/api/v1/bookings", nil, slot, 403, "pass_invalid"},
		{"empty body", c, "POST", "/api/v1/bookings", nil, "", 400, "invalid_argument"},
		{"not JSON", c, "POST", "/api/v1/bookings", nil, "slot=1", 400, "invalid_argument"},
		{"unknown field", c, "POST", "/api/v1/bookings", nil, `{"slot_id": 1, "person_id": 2}`, 400, "invalid_argument"},
		{"slot id of the wrong type", c, "POST", "/api/v1/bookings", nil, `{"slot_id": "one"}`, 400, "invalid_argument"},
		{"slot id missing", c, "POST", "/api/v1/bookings", nil, `{}`, 400, "invalid_argument"},
		{"negative slot id", c, "POST", "/api/v1/bookings", nil, `{"slot_id": -4}`, 400, "invalid_argument"},
		{"trailing data", c, "POST", "/api/v1/bookings", nil, slot + `{}`, 400, "invalid_argument"},
		{"huge body", c, "POST", "/api/v1/bookings", nil, `{"slot_id": 1, "x": "` + strings.Repeat("a", 40<<10) + `"}`, 413, "body_too_large"},
		{"wrong content type", c, "POST", "/api/v1/bookings", http.Header{"Content-Type": {"text/plain"}}, slot, 400, "invalid_argument"},
		{"bad idempotency key", c, "POST", "/api/v1/bookings", http.Header{"Idempotency-Key": {"bad key!"}}, slot, 400, "invalid_argument"},
		{"unknown slot", c, "POST", "/api/v1/bookings", nil, `{"slot_id": 999999999}`, 404, "not_found"},
		{"bad booking id", c, "DELETE", "/api/v1/bookings/abc", nil, nil, 400, "invalid_argument"},
		{"unknown booking", c, "DELETE", "/api/v1/bookings/987654", nil, nil, 404, "not_found"},
		{"wrong method", c, "PUT", "/api/v1/bookings", nil, slot, 405, "invalid_argument"},
		{"unknown route", c, "GET", "/api/v1/nothing", nil, nil, 404, "not_found"},
		{"clinic search without selector", anon, "GET", "/api/v1/clinics", nil, nil, 400, "invalid_argument"},
		{"unknown clinic", anon, "GET", "/api/v1/clinics/99999999", nil, nil, 404, "not_found"},
		{"slots without date", anon, "GET", "/api/v1/clinics/1/slots", nil, nil, 400, "invalid_argument"},
		{"queue status without a place", anon, "GET", "/api/v1/queue/status", nil, nil, 404, "not_in_queue"},
		{"me without session", anon, "GET", "/api/v1/me", nil, nil, 401, "not_signed_in"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := tc.who.Do(tc.method, tc.path, tc.hdr, tc.body, nil)
			wantCode(t, tc.name, st, err, tc.status, tc.code)
		})
	}
	// Nothing above changed anything.
	var mine struct {
		Bookings []webtest.Booking `json:"bookings"`
	}
	if _, err := c.Do("GET", "/api/v1/bookings/mine", nil, nil, &mine); err != nil || len(mine.Bookings) != 0 {
		t.Fatalf("refused writes left bookings: %v %+v", err, mine)
	}
	// The pass still works after the refusals (they did not consume it).
	if _, st, err := c.Book(slots[0].ID, "ok-1"); err != nil || st != 201 {
		t.Fatalf("book after refusals: %d %v", st, err)
	}
}

func TestOneDevicePerPerson(t *testing.T) {
	n, clk := testNode(t)
	id := people(t, n, clk.Now(), vaxbook.CodeEligible, 1)[0]
	first := webtest.NewCitizen(n.URL())
	if end, err := first.Login("kakao", id); err != nil || end.Path != "/queue" {
		t.Fatalf("first device: %v %v", end, err)
	}
	second := webtest.NewCitizen(n.URL())
	end, err := second.Login("pass", id)
	if err != nil || end.Path != "/signin/refused" || end.Query().Get("code") != "device_locked" {
		t.Fatalf("second device: ended at %v (%v), want /signin/refused?code=device_locked", end, err)
	}
	// The first device's session cookie replayed from another device is refused.
	u := mustURL(t, n.URL())
	thief := webtest.NewCitizen(n.URL())
	for _, ck := range first.Client.Jar.Cookies(u) {
		if ck.Name == "vb_session" {
			thief.Client.Jar.SetCookies(u, []*http.Cookie{ck})
		}
	}
	st, err := thief.Do("GET", "/api/v1/me", nil, nil, nil)
	wantCode(t, "stolen session cookie", st, err, 401, "not_signed_in")
}

func TestServerClockDecides(t *testing.T) {
	n, clk := testNode(t)
	// The next rotation day: its people are other_day now.
	var next vaxbook.Window
	for _, w := range n.Campaign.Windows {
		if w.Kind == vaxbook.WindowRotation && w.Opens.After(clk.Now()) {
			next = w
			break
		}
	}
	ids := people(t, n, next.Opens, vaxbook.CodeEligible, 1)
	early := webtest.NewCitizen(n.URL())
	end, err := early.Login("mobile", ids[0])
	if err != nil || end.Query().Get("code") != "other_day" {
		t.Fatalf("a day early: ended at %v (%v), want other_day", end, err)
	}
	// 20 minutes before their opening: sign-in works, the pre-queue takes them, booking does not.
	clk.Set(next.Opens.Add(-20 * time.Minute))
	c := webtest.NewCitizen(n.URL())
	if end, err := c.Login("mobile", ids[0]); err != nil || end.Path != "/queue" {
		t.Fatalf("pre-queue login: %v %v", end, err)
	}
	q, st, err := c.Join()
	if err != nil || st != 201 || q.State != "prequeue" {
		t.Fatalf("pre-queue join: %d %v %+v", st, err, q)
	}
	st, err = c.Do("POST", "/api/v1/bookings", nil, map[string]int64{"slot_id": 1}, nil)
	wantCode(t, "booking before opening", st, err, 403, "not_eligible_yet")
	// At the opening instant (server clock) the line moves and booking works.
	clk.Set(next.Opens)
	if !webtest.Until(10*time.Second, 5*time.Millisecond, func() bool {
		clk.Advance(100 * time.Millisecond)
		q, err := c.Status()
		return err == nil && q.State == "admitted"
	}) {
		t.Fatal("not admitted after opening")
	}
	slots, err := c.FindSlots("", 1, nil)
	if err != nil || len(slots) == 0 {
		t.Fatalf("slots: %v", err)
	}
	if _, st, err := c.Book(slots[0].ID, "at-opening"); err != nil || st != 201 {
		t.Fatalf("book after opening: %d %v", st, err)
	}
	// After the window closes, writes are refused whatever the client thinks:
	// sign in a minute before the close, then try a minute after it.
	clk.Set(next.Closes.Add(-time.Minute))
	late := webtest.NewCitizen(n.URL())
	late.Client.Jar = c.Client.Jar // same device
	if end, err := late.Login("mobile", ids[0]); err != nil || end.Path != "/queue" {
		t.Fatalf("login before close: %v %v", end, err)
	}
	clk.Set(next.Closes.Add(time.Minute))
	st, err = late.Do("DELETE", "/api/v1/bookings/1", nil, nil, nil)
	wantCode(t, "write after the window closed", st, err, 403, "not_eligible_yet")
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestRetryAfterPassExpired: the retry of a booking that succeeded, sent
// after its pass expired and this node forgot the answer, still gets the
// first answer — from the store (found by the 1 M-citizen rush: 37 retries
// refused pass_expired). A new write with that pass is refused.
func TestRetryAfterPassExpired(t *testing.T) {
	n, clk := testNode(t)
	ids := people(t, n, clk.Now(), vaxbook.CodeEligible, 1)
	c := admitted(t, n, clk, ids[0])
	slots, err := c.FindSlots("", 2, nil)
	if err != nil || len(slots) < 2 {
		t.Fatalf("slots: %v %v", slots, err)
	}
	first, st, err := c.Book(slots[0].ID, "late-1")
	if err != nil || st != 201 {
		t.Fatalf("book: %d %v", st, err)
	}
	clk.Advance(16 * time.Minute) // past the pass (10 min) and this node's memory of the answer (15 min)
	again, st, err := c.Book(slots[0].ID, "late-1")
	if err != nil || st != 200 || !again.Replayed || again.Bookings[0].ID != first.Bookings[0].ID {
		t.Fatalf("retry after the pass expired: %d %v %+v", st, err, again)
	}
	_, st, err = c.Book(slots[1].ID, "late-2")
	wantCode(t, "a new write with the expired pass", st, err, 403, "pass_expired")
}
