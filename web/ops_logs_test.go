package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"vaxbook"
	"vaxbook/internal/syncbuf"
	"vaxbook/seed"
	"vaxbook/web/webtest"
)

// personalData lists the ways a person's name, phone number, birth date
// and stable identifier could be written.
func personalData(c seed.Citizen) []string {
	d := c.BirthDate
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, c.Phone)
	out := []string{c.Name, c.Phone, digits, c.CI, d.String(), fmt.Sprintf("%04d%02d%02d", d.Year, d.Month, d.Day)}
	if strings.HasPrefix(digits, "82") { // +82 10-… → 010…
		out = append(out, "0"+digits[2:])
	}
	return out
}

// TestNoPersonalDataInLogs runs whole journeys — sign-in, the waiting room,
// book, change, cancel, refusals (not your day, another device, someone
// else's booking), the citizen pages and an operator releasing a device
// lock — with the node logging at debug level, and checks that no name,
// phone number, birth date or stable identifier of the people involved
// appears anywhere in the log.
func TestNoPersonalDataInLogs(t *testing.T) {
	logs := &syncbuf.Buffer{}
	n, clk := opsNode(t, logs)
	now := clk.Now()
	ids := people(t, n, now, vaxbook.CodeEligible, 3)
	otherDay := people(t, n, now, vaxbook.CodeOtherDay, 1)[0]
	gen, err := seed.NewGenerator(n.Seed, n.Campaign)
	if err != nil {
		t.Fatal(err)
	}

	// Booker: queue, book, change, cancel; the pages too.
	c := admitted(t, n, clk, ids[0])
	// The needles are the real thing: /api/v1/me shows the booker their
	// own name and birth date in these forms.
	var me struct {
		Person struct {
			Name      string `json:"name"`
			BirthDate string `json:"birth_date"`
		} `json:"person"`
	}
	booker := gen.Citizen(ids[0])
	if _, err := c.Do("GET", "/api/v1/me", nil, nil, &me); err != nil || me.Person.Name != booker.Name || me.Person.BirthDate != booker.BirthDate.String() {
		t.Fatalf("me: %v %+v, seed has %q %s", err, me, booker.Name, booker.BirthDate)
	}
	slots, err := c.FindSlots("", 2, nil)
	if err != nil || len(slots) < 2 {
		t.Fatalf("slots: %v %v", slots, err)
	}
	conf, st, err := c.Book(slots[0].ID, "pii-1")
	if err != nil || st != 201 {
		t.Fatalf("book: %d %v", st, err)
	}
	id1 := conf.Bookings[0].ID
	for _, p := range []string{"/", "/queue", "/book", "/bookings", "/bookings/" + conf.Bookings[0].Reference, "/no-such-page"} {
		req, _ := http.NewRequest("GET", n.URL()+p, nil)
		req.Header.Set("Accept", "text/html")
		resp, err := c.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	c = admittedAgain(t, n, clk, c)
	var changed webtest.Confirmation
	if st, err := c.Do("PATCH", "/api/v1/bookings/"+itoa(id1), http.Header{"Idempotency-Key": {"pii-2"}}, map[string]int64{"slot_id": slots[1].ID}, &changed); err != nil || st != 200 {
		t.Fatalf("change: %d %v", st, err)
	}
	// Refusal: someone else tries to cancel it.
	other := admitted(t, n, clk, ids[1])
	st, err = other.Do("DELETE", "/api/v1/bookings/"+itoa(id1), nil, nil, nil)
	wantCode(t, "someone else's booking", st, err, 403, "not_your_booking")
	c = admittedAgain(t, n, clk, c)
	if st, err := c.Do("DELETE", "/api/v1/bookings/"+itoa(id1), http.Header{"Idempotency-Key": {"pii-3"}}, nil, nil); err != nil || st != 200 {
		t.Fatalf("cancel: %d %v", st, err)
	}
	// Refusals at sign-in: not today, and a second device.
	if end, _ := webtest.NewCitizen(n.URL()).Login("kakao", otherDay); end.Query().Get("code") == "" {
		t.Fatalf("the other day's person was let in: %v", end)
	}
	third := webtest.NewCitizen(n.URL())
	third.Login("naver", ids[2])
	if end, _ := webtest.NewCitizen(n.URL()).Login("pass", ids[2]); end.Query().Get("code") != "device_locked" {
		t.Fatalf("second device: %v", end)
	}
	// An operator releases that lock.
	var win string
	for _, w := range n.Engine.Campaign().Windows {
		if w.Contains(clk.Now()) && w.Kind == vaxbook.WindowRotation {
			win = w.ID
		}
	}
	op := basicClient(t, n.URL(), opsUser, opsPass)
	if _, err := op.api("DELETE", "/api/v1/ops/devicelocks/"+itoa(ids[2])+"/"+win+"?reason=support", nil, nil); err != nil {
		t.Fatal(err)
	}

	out := logs.String()
	// The log is not empty: the journey was logged at debug level.
	for _, want := range []string{`"route":"POST /api/v1/bookings"`, `"route":"PATCH /api/v1/bookings/{id}"`, `"route":"POST /api/v1/queue"`,
		`"msg":"device lock released"`, `"level":"DEBUG"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s", want)
		}
	}
	for _, id := range append(ids, otherDay) {
		for _, s := range personalData(gen.Citizen(id)) {
			if s == "" {
				continue
			}
			if i := strings.Index(out, s); i >= 0 {
				lo, hi := max(0, i-200), min(len(out), i+len(s)+100)
				t.Errorf("person %d: %q appears in the log: …%s…", id, s, out[lo:hi])
			}
		}
	}
	if t.Failed() {
		t.Logf("%d bytes of log", len(out))
	}
}
