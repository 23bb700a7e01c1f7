package rush

import (
	"context"
	"math"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"vaxbook"
	"vaxbook/booking"
	"vaxbook/campaign"
	"vaxbook/inmem"
	"vaxbook/pii"
	"vaxbook/seed"
	"vaxbook/waitroom"
)

func TestJar(t *testing.T) {
	var j jar
	h := http.Header{}
	h.Add("Set-Cookie", "vb_device=dev1; Path=/; HttpOnly; Max-Age=34560000")
	h.Add("Set-Cookie", "vb_session=s1; Path=/; HttpOnly")
	h.Add("Set-Cookie", "vb_flow=f; Path=/auth/")
	j.absorb(h)
	if got := j.header(); got != "vb_device=dev1; vb_session=s1; vb_flow=f" {
		t.Fatalf("header %q", got)
	}
	// Replace, delete by Max-Age and by a past expiry.
	h = http.Header{}
	h.Add("Set-Cookie", "vb_session=s2; Path=/")
	h.Add("Set-Cookie", "vb_flow=; Path=/auth/; Max-Age=0")
	h.Add("Set-Cookie", "vb_device=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
	j.absorb(h)
	if got := j.header(); got != "vb_session=s2" {
		t.Fatalf("after deletes %q", got)
	}
	if j.get("vb_session") != "s2" || j.get("vb_flow") != "" {
		t.Fatalf("get: %q %q", j.get("vb_session"), j.get("vb_flow"))
	}
	if cs := j.Cookies(nil); len(cs) != 1 || cs[0].Name != "vb_session" {
		t.Fatalf("Cookies: %v", cs)
	}
	// Known names are shared, not copied per jar.
	if internName("vb_pass") != knownCookies[3] {
		t.Fatal("vb_pass not interned")
	}
	// A value is its own string, not a slice of the Set-Cookie line: a
	// slice would keep the whole line (attributes and all) alive for as
	// long as the person's session — 41 MB of a 100,000-person rush.
	line := "vb_session=s3; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600"
	h = http.Header{"Set-Cookie": {line}}
	j.absorb(h)
	v := j.get("vb_session")
	start, p := uintptr(unsafe.Pointer(unsafe.StringData(line))), uintptr(unsafe.Pointer(unsafe.StringData(v)))
	if v != "s3" || (p >= start && p < start+uintptr(len(line))) {
		t.Fatalf("cookie value %q points into the Set-Cookie line", v)
	}
}

// TestTicketSeq reads sequence numbers from tickets issued by the real
// waiting room, so a change of the ticket format fails here.
func TestTicketSeq(t *testing.T) {
	ctx := context.Background()
	svc, err := waitroom.New(waitroom.Config{Backend: waitroom.NewMemory(), Secret: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2021, 8, 9, 21, 0, 0, 0, time.UTC)
	room := vaxbook.QueueRoom{ID: "c/w", CampaignID: "c", WindowID: "w", JoinFrom: now.Add(-time.Hour), Opens: now.Add(-time.Minute), Closes: now.Add(time.Hour)}
	for i, person := range []int64{7, 1 << 40, 3, 99999999} {
		st, err := svc.Join(ctx, room, person, "session", now)
		if err != nil {
			t.Fatal(err)
		}
		seq, ok := ticketSeq(st.Ticket)
		if !ok || seq != uint32(i) {
			t.Fatalf("ticket %d of person %d: seq %d ok %v (%s)", i, person, seq, ok, st.Ticket)
		}
	}
	for _, bad := range []string{"", "x", "UGFzcw", "AAAAAAAAAAAAAAAAAAAAAAAA"} {
		if _, ok := ticketSeq(bad); ok {
			t.Errorf("%q read as a ticket", bad)
		}
	}
}

// TestObserveTicketOnce: a join that gives back the ticket already held
// keeps its first observation (a pre-queue ticket seen again after the
// opening is still a pre-queue ticket); a new ticket gets its own.
func TestObserveTicketOnce(t *testing.T) {
	var o obsStore
	first := o.observe(-1, 5, true, 100)
	if again := o.observe(first, 5, false, 900); again != first {
		t.Fatalf("the same ticket observed again: %d, want %d", again, first)
	}
	next := o.observe(first, 12, false, 1000)
	if next == first {
		t.Fatal("a new ticket kept the old observation")
	}
	all := o.all()
	if len(all) != 2 || all[0] != (ticketObs{seq: 5, pre: true, join: 100, wait: math.MinInt32, adm: math.MaxInt32}) || all[1].seq != 12 || all[1].pre {
		t.Fatalf("observations: %+v", all)
	}
}

func TestArrivalProfiles(t *testing.T) {
	const n = 100_000
	frac := func(profile string, day time.Duration, compress float64, within time.Duration) float64 {
		k := 0
		for i := range n {
			if arrivalOffset(profile, (float64(i)+0.5)/n, day, compress) <= within {
				k++
			}
		}
		return float64(k) / n
	}
	day := 22 * time.Hour
	if f := frac(ProfileAug2021, day, 1, 30*time.Minute); math.Abs(f-0.4) > 0.005 {
		t.Errorf("aug2021: %.3f in the first 30 min, want 0.40", f)
	}
	if f := frac(ProfileAug2021, day, 60, 30*time.Second); math.Abs(f-0.4) > 0.005 {
		t.Errorf("aug2021 compressed 60×: %.3f in the first 30 s, want 0.40", f)
	}
	if f := frac(ProfileAug2021, day, 1, day); f != 1 {
		t.Errorf("aug2021: %.4f within the day", f)
	}
	if f := frac(ProfileAug2021, day, 1, 4*time.Hour); f < 0.7 || f > 0.95 {
		t.Errorf("aug2021: %.3f in the first 4 h: the tail is not long", f)
	}
	if f := frac(ProfileAllAtOnce, 0, 1, time.Second); f != 1 {
		t.Errorf("all-at-once: %.3f within the second", f)
	}
	if f := frac(ProfileSteady, 10*time.Minute, 1, 5*time.Minute); math.Abs(f-0.5) > 0.001 {
		t.Errorf("steady: %.3f in the first half", f)
	}
}

func TestChiSquare(t *testing.T) {
	// Survival function against tabulated values.
	for _, tc := range []struct {
		x    float64
		k    int
		want float64
	}{{3.841, 1, 0.05}, {124.342, 100, 0.05}, {113.51, 81, 0.01}, {0, 5, 1}, {37.652, 25, 0.05}, {2.706, 1, 0.10}} {
		if got := chiSquareSurvival(tc.x, tc.k); math.Abs(got-tc.want) > 0.003 {
			t.Errorf("Q(χ²=%v, k=%d) = %.4f, want %.3f", tc.x, tc.k, got, tc.want)
		}
	}
	// The waiting room's draw passes; an order that keeps arrival order
	// (no draw) and one that reverses it fail.
	var key [16]byte
	key[3] = 42
	p := waitroom.NewPerm(key, 50_000)
	if _, dof, pv := chiSquareDraw(p.N(), p.At); pv < chiAlpha || dof != 81 {
		t.Errorf("Feistel draw: p %.4f (dof %d)", pv, dof)
	}
	if r := rankCorrelation(p.N(), p.At); math.Abs(r) > 0.02 {
		t.Errorf("Feistel draw: rank correlation %.4f", r)
	}
	id := func(i uint64) uint64 { return i }
	if _, _, pv := chiSquareDraw(50_000, id); pv >= chiAlpha {
		t.Errorf("arrival order kept: p %.4f, want < %v", pv, chiAlpha)
	}
	if r := rankCorrelation(50_000, id); r < 0.999 {
		t.Errorf("arrival order kept: rank correlation %.4f", r)
	}
	rev := func(i uint64) uint64 { return 49_999 - i }
	if _, _, pv := chiSquareDraw(50_000, rev); pv >= chiAlpha {
		t.Errorf("reversed: p %.4f", pv)
	}
	if _, dof, _ := chiSquareDraw(10, id); dof != 0 {
		t.Errorf("10 tickets: dof %d, want no test", dof)
	}
}

// TestLaneSleepersCostNoGoroutines puts 200,000 sleeping users on a lane
// with 8 workers: they are heap entries, not goroutines, and they run in
// the order they are due.
func TestLaneSleepersCostNoGoroutines(t *testing.T) {
	const n = 200_000
	l := newLane("test")
	start := time.Now()
	es := make([]entry, n)
	for i := range es {
		// Due in reverse order of uid, spread over 300 ms.
		es[i] = entry{at: int64(time.Duration(n-i) * 1500 * time.Nanosecond), uid: int32(i)}
	}
	l.load(es)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var order []int32
	var done atomic.Int64
	finished := make(chan struct{})
	stepped := make(chan struct{})
	var peak atomic.Int64
	go func() {
		l.run(ctx, start, 8, func(uid int32) {
			mu.Lock()
			order = append(order, uid)
			mu.Unlock()
			if g := int64(runtime.NumGoroutine()); g > peak.Load() {
				peak.Store(g)
			}
			if done.Add(1) == n {
				close(stepped)
			}
		})
		close(finished)
	}()
	select {
	case <-stepped:
	case <-time.After(60 * time.Second):
		t.Fatalf("only %d of %d users ran", done.Load(), n)
	}
	cancel()
	<-finished
	if g := peak.Load(); g > int64(before)+16 {
		t.Fatalf("%d goroutines while %d users slept (before: %d)", g, n, before)
	}
	if len(order) != n {
		t.Fatalf("%d steps for %d users", len(order), n)
	}
	if l.queued.Load() != 0 || l.size() != 0 {
		t.Fatalf("queued %d, heap %d after the run", l.queued.Load(), l.size())
	}
}

// TestLaneDueOrder: one worker runs users strictly in the order they are
// due, whatever order they were pushed in, including users pushed while
// the lane runs.
func TestLaneDueOrder(t *testing.T) {
	l := newLane("test")
	start := time.Now()
	ms := func(d int) int64 { return int64(time.Duration(d) * time.Millisecond) }
	l.load([]entry{{ms(30), 3}, {ms(10), 1}, {ms(50), 5}})
	l.push(ms(20), 2)
	var got []int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		l.run(ctx, start, 1, func(uid int32) {
			got = append(got, uid)
			if uid == 1 {
				l.push(ms(40), 4) // scheduled by a running step
			}
			if len(got) == 5 {
				cancel()
			}
		})
		close(done)
	}()
	<-done
	if len(got) != 5 || got[0] != 1 || got[1] != 2 || got[2] != 3 || got[3] != 4 || got[4] != 5 {
		t.Fatalf("order %v", got)
	}
}

// TestAuditDetects feeds the audit a store and simulator memory with
// planted faults: each must be found.
func TestAuditDetects(t *testing.T) {
	ctx := context.Background()
	camp, err := campaign.Load(campaign.Default)
	if err != nil {
		t.Fatal(err)
	}
	sc := seed.DefaultConfig()
	sc.People, sc.Clinics = 2000, 250
	gen, err := seed.NewGenerator(sc, camp)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := gen.Dataset(pii.DemoKeys())
	if err != nil {
		t.Fatal(err)
	}
	st := inmem.New()
	if err := st.Load(ctx, ds); err != nil {
		t.Fatal(err)
	}
	eng, err := booking.New(ctx, st, camp, booking.Config{}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	w := camp.Windows[0]
	now := w.Opens.Add(time.Hour)
	var person vaxbook.Person
	for id := int64(1); ; id++ {
		p, err := st.PersonByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if campaign.Check(camp, p.BirthDate, p.Nationality, now).Eligible {
			person = p
			break
		}
	}
	cohort := campaign.Cohort(camp, person.BirthDate)
	res, err := eng.Search(booking.Query{Near: &booking.LatLng{Lat: 37.5665, Lng: 126.978}, RadiusKm: 50, Available: true, Cohort: cohort, At: now, Limit: 1})
	if err != nil || len(res.Clinics) == 0 {
		t.Fatalf("search: %v", err)
	}
	var day vaxbook.Date
	for _, d := range res.Clinics[0].Days {
		if d.Remaining > 0 {
			day = d.Date
			break
		}
	}
	slots, err := eng.Slots(res.Clinics[0].ID, day, cohort, now)
	if err != nil || len(slots) == 0 {
		t.Fatalf("slots: %v", err)
	}
	conf, err := eng.Book(ctx, person, slots[0].ID, "k", now)
	if err != nil {
		t.Fatal(err)
	}
	b1, b2 := conf.Bookings[0], conf.Bookings[1]
	good := user{person: person.ID, b1: b1.ID, b2: b2.ID, s1: b1.SlotID, s2: b2.SlotID, status: 1, cohort: int8(cohort)}
	missing := good
	missing.b1, missing.b2 = 999_999, 0
	cancelled := good
	cancelled.status = 2
	otherCohort := good
	otherCohort.cohort = int8((cohort + 1) % 10)
	otherCohort.b2 = 0
	// A change sent and unanswered when the run ended: the database may
	// hold the new slot (here another one than acknowledged) — in doubt,
	// not missing. The same with the answer received is missing.
	changing := good
	changing.s1, changing.s2, changing.phase = good.s1+1, good.s2+1, 1
	changing.sess = &session{idem: "rush-change-1"}
	changed := changing
	changed.sess = &session{}
	changed.b2 = 0

	s := &sim{t: &Target{store: st, StalenessMargin: 0}, camp: camp, room: "kr/none",
		users: []user{good, missing, cancelled, otherCohort, changing, changed}}
	// Tickets: place 5 admitted at 100 ms while place 3 is seen waiting at
	// 900 ms (an inversion); place 8 seen waiting at 50 ms is fine.
	for _, o := range []struct {
		seq       uint32
		wait, adm int32
	}{{3, 900, 1000}, {5, 40, 100}, {8, 50, math.MaxInt32}} {
		i := s.obs.add(o.seq, false, 0)
		s.obs.at(i).wait, s.obs.at(i).adm = o.wait, o.adm
	}
	a, err := s.audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.Acknowledged != 9 || a.Missing != 2 || a.WrongStatus != 2 || a.CohortMismatch != 1 || a.InDoubt != 2 {
		t.Errorf("bookings: acknowledged %d missing %d wrong status %d cohort mismatch %d in doubt %d; want 9 2 2 1 2",
			a.Acknowledged, a.Missing, a.WrongStatus, a.CohortMismatch, a.InDoubt)
	}
	if a.FIFOInversions != 1 {
		t.Errorf("FIFO inversions %d, want 1", a.FIFOInversions)
	}
	if !a.Invariants.OK() || a.ClinicCohortOver != 0 || a.BookedPlaces != 2 {
		t.Errorf("store: %+v over %d booked %d", a.Invariants, a.ClinicCohortOver, a.BookedPlaces)
	}
	if len(a.Violations) != 4 {
		t.Errorf("violations: %q", a.Violations)
	}
	// A pre-queue ticket with no draw in the audit log is a violation too.
	s.obs.add(1, true, 0)
	if a, err = s.audit(ctx); err != nil || a.PrequeueWrong != 1 || a.PrequeueDrawn {
		t.Errorf("pre-queue without a draw: %v %+v", err, a)
	}
}

// TestBalancer: without affinity a device's requests go to the nodes in
// turn; with it, every request of a device to the same node, and the
// devices spread over all nodes.
func TestBalancer(t *testing.T) {
	urls := []string{"http://a", "http://b", "http://c"}
	for _, tc := range []struct {
		name     string
		affinity bool
	}{{"round robin", false}, {"affinity", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sim{cfg: Config{Affinity: tc.affinity}, t: &Target{URLs: urls}}
			perDevice := map[int32]map[string]bool{}
			used := map[string]int{}
			for i := range 60 {
				uid := int32(i % 5) // 5 devices, 3 nodes: in turn, a device meets every node
				if perDevice[uid] == nil {
					perDevice[uid] = map[string]bool{}
				}
				b := s.base(uid)
				perDevice[uid][b] = true
				used[b]++
			}
			if len(used) != len(urls) {
				t.Fatalf("nodes used %v, want all %d", used, len(urls))
			}
			for uid, nodes := range perDevice {
				if tc.affinity != (len(nodes) == 1) {
					t.Fatalf("device %d's requests went to %v (affinity %v)", uid, nodes, tc.affinity)
				}
			}
		})
	}
	one := &sim{cfg: Config{Affinity: true}, t: &Target{URLs: urls[:1]}}
	if one.base(5) != urls[0] {
		t.Fatal("one node: not that node")
	}
}
