package rush

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/seed"
	"vaxbook/web/webtest"
)

// TestClusterThreeNodes runs three nodes on one PostgreSQL and one Redis
// (started from the installed binaries) and walks people through them so
// that every step lands on another node than the one before: sessions,
// device locks, the queue and passes must work across nodes, and each
// node's availability index must show another node's booking within 1 s.
func TestClusterThreeNodes(t *testing.T) {
	ctx := context.Background()
	tgt, err := StartCluster(ctx, 3, ServeConfig{
		Dir: t.TempDir(), Country: 4000, Clinics: 300, Log: quietLog(),
		WaitRoom: vaxbook.WaitRoomSettings{Mode: vaxbook.ModeFixed, RatePerS: 200},
	})
	needServers(t, err)
	defer tgt.Close()
	A, B, C := tgt.URLs[0], tgt.URLs[1], tgt.URLs[2]
	n0 := tgt.Nodes[0]
	ids := eligibleNow(t, n0.Seed, n0.Campaign, 4)

	// Sign in on A; the session is read on B.
	c := webtest.NewCitizen(A)
	if end, err := c.Login("naver", ids[0]); err != nil || end.Path != "/queue" {
		t.Fatalf("login on A: %v %v", end, err)
	}
	c.Base = B
	var me struct {
		Person struct {
			ID int64 `json:"id"`
		} `json:"person"`
		DeviceLock *struct {
			ThisDevice bool `json:"this_device"`
		} `json:"device_lock"`
	}
	if st, err := c.Do("GET", "/api/v1/me", nil, nil, &me); err != nil || st != 200 || me.Person.ID != ids[0] {
		t.Fatalf("me on B: %d %v %+v", st, err, me)
	}
	if me.DeviceLock == nil || !me.DeviceLock.ThisDevice {
		t.Fatalf("B does not see A's device lock as this device's: %+v", me.DeviceLock)
	}

	// A second device of the same person, verifying on C, is refused.
	other := webtest.NewCitizen(C)
	if end, err := other.Login("kakao", ids[0]); err != nil || end.Path != "/signin/refused" || end.Query().Get("code") != "device_locked" {
		t.Fatalf("second device on C: %v %v", end, err)
	}

	// Join on C, poll on B until admitted (Redis holds the line and passes).
	c.Base = C
	if q, st, err := c.Join(); err != nil || st != 201 || (q.State != "waiting" && q.State != "admitted") {
		t.Fatalf("join on C: %d %v %+v", st, err, q)
	}
	c.Base = B
	if !webtest.Until(30*time.Second, 20*time.Millisecond, func() bool {
		q, err := c.Status()
		return err == nil && q.State == "admitted" && c.Pass != ""
	}) {
		t.Fatal("not admitted through B within 30 s")
	}
	leaders := 0
	for _, n := range tgt.Nodes {
		if n.WaitRoom.Leader() {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d nodes lead the waiting room, want 1", leaders)
	}

	// Search on A, book on C with the pass collected through B; A and B
	// catch up with the booking within a second.
	c.Base = A
	slots, err := c.FindSlots("", 2, nil)
	if err != nil || len(slots) < 2 {
		t.Fatalf("slots on A: %v %v", slots, err)
	}
	first := bookAndCatchUp(t, c, tgt, C, slots[0].ID, "cluster-1")

	// A retry of that write (same key, spent pass) gets its first answer on
	// every node, not only on C whose replay cache holds it: the others ask
	// the store. The same key for another slot is still refused.
	for _, base := range []string{A, B, C} {
		c.Base = base
		conf, st, err := c.Book(slots[0].ID, "cluster-1")
		if err != nil || st != 200 || !conf.Replayed || len(conf.Bookings) != 2 || conf.Bookings[0].ID != first.ID {
			t.Fatalf("retry on %s: %d %v %+v, want the first answer (booking %d) replayed", base, st, err, conf, first.ID)
		}
	}
	c.Base = B
	if _, st, err := c.Book(slots[1].ID, "cluster-1"); st != 422 {
		t.Fatalf("key reused for another slot on B: %d %v, want 422 idempotency_key_reused", st, err)
	}

	// The spent pass is refused on every node.
	for i, base := range []string{A, B} {
		c.Base = base
		_, st, err := c.Book(slots[1].ID, fmt.Sprintf("cluster-2-%d", i))
		var p *webtest.Problem
		if !errors.As(err, &p) || st != 403 || p.Code != "pass_invalid" {
			t.Fatalf("spent pass on %s: %d %v", base, st, err)
		}
	}

	// More people, each booking on a different node; every other node
	// catches up within a second of each acknowledgment.
	for i, id := range ids[1:] {
		p := webtest.NewCitizen(tgt.URLs[i%3])
		if end, err := p.Login("pass", id); err != nil || end.Path != "/queue" {
			t.Fatalf("login %d: %v %v", id, end, err)
		}
		p.Base = tgt.URLs[(i+1)%3]
		if _, st, err := p.Join(); err != nil || st != 201 {
			t.Fatalf("join %d: %d %v", id, st, err)
		}
		p.Base = tgt.URLs[(i+2)%3]
		if !webtest.Until(30*time.Second, 20*time.Millisecond, func() bool {
			q, err := p.Status()
			return err == nil && q.State == "admitted" && p.Pass != ""
		}) {
			t.Fatalf("person %d not admitted", id)
		}
		found, err := p.FindSlots("", 1, nil)
		if err != nil || len(found) == 0 {
			t.Fatalf("slots: %v %v", found, err)
		}
		bookAndCatchUp(t, p, tgt, tgt.URLs[i%3], found[0].ID, fmt.Sprintf("cluster-p%d", id))
	}
	rep, err := n0.Store.CheckInvariants(ctx, n0.Campaign.ID)
	if err != nil || !rep.OK() || rep.ActiveBookings != 8 {
		t.Fatalf("invariants: %v %+v", err, rep)
	}
}

// bookAndCatchUp books slot through node base and waits (≤ 1 s after the
// acknowledgment) until every node's search shows the same remaining
// places for it as the node that booked.
func bookAndCatchUp(t *testing.T, c *webtest.Citizen, tgt *Target, base string, slot int64, key string) webtest.Booking {
	t.Helper()
	c.Base = base
	conf, st, err := c.Book(slot, key)
	if err != nil || st != 201 || len(conf.Bookings) != 2 {
		t.Fatalf("book on %s: %d %v %+v", base, st, err, conf)
	}
	ack := time.Now()
	b := conf.Bookings[0]
	date := b.StartsAt[:10]
	want := remaining(t, base, b.Clinic.ID, date, slot)
	for _, u := range tgt.URLs {
		if u == base {
			continue
		}
		var got int
		ok := webtest.Until(time.Second-time.Since(ack), 5*time.Millisecond, func() bool {
			got = remaining(t, u, b.Clinic.ID, date, slot)
			return got == want
		})
		if !ok {
			t.Fatalf("%s shows %d places in slot %d, %s shows %d, more than 1 s after the booking", u, got, slot, base, want)
		}
	}
	t.Logf("slot %d: every node shows the booking %s after it was acknowledged", slot, time.Since(ack).Round(time.Millisecond))
	return b
}

func remaining(t *testing.T, base string, clinic int64, date string, slot int64) int {
	t.Helper()
	var out struct {
		Slots []struct {
			ID        int64 `json:"id"`
			Remaining int   `json:"remaining"`
		} `json:"slots"`
	}
	anon := webtest.NewCitizen(base)
	if st, err := anon.Do(http.MethodGet, fmt.Sprintf("/api/v1/clinics/%d/slots?date=%s", clinic, date), nil, nil, &out); err != nil || st != 200 {
		t.Fatalf("slots on %s: %d %v", base, st, err)
	}
	for _, s := range out.Slots {
		if s.ID == slot {
			return s.Remaining
		}
	}
	t.Fatalf("slot %d not listed on %s", slot, base)
	return 0
}

// eligibleNow returns people who may book now in the nodes' campaign.
func eligibleNow(t *testing.T, sc seed.Config, c vaxbook.Campaign, n int) []int64 {
	t.Helper()
	gen, err := seed.NewGenerator(sc, c)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var out []int64
	for id := int64(1); id <= int64(sc.People) && len(out) < n; id++ {
		p := gen.Citizen(id)
		if campaign.Check(c, p.BirthDate, p.Nationality, now).Eligible {
			out = append(out, id)
		}
	}
	if len(out) < n {
		t.Fatalf("only %d people may book now", len(out))
	}
	return out
}
