package waitroomtest

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/waitroom"
)

// joinMany joins persons first…first+n-1 and returns their statuses by person.
func (e *env) joinMany(s *waitroom.Service, first int64, n int) map[int64]vaxbook.QueueStatus {
	e.t.Helper()
	out := make(map[int64]vaxbook.QueueStatus, n)
	for p := first; p < first+int64(n); p++ {
		out[p] = e.join(s, p)
	}
	return out
}

// ticks ticks s once per second from..to seconds after opening.
func (e *env) ticks(s *waitroom.Service, from, to int) {
	e.t.Helper()
	for sec := from; sec <= to; sec++ {
		e.at(time.Duration(sec) * time.Second)
		e.tick(s)
	}
}

// admitting starts a node at the opening with settings set, joins people
// 1…n and ticks at 1 s and 2 s (the first tick only starts the clock; the
// second admits the first second's worth).
func admitting(t *testing.T, newBackend Factory, set vaxbook.WaitRoomSettings, n int) (*env, *waitroom.Service, map[int64]vaxbook.QueueStatus) {
	t.Helper()
	e := newEnv(t, newBackend)
	s := e.service("n1", nil)
	e.at(0)
	e.set(s, set)
	tk := e.joinMany(s, 1, n)
	e.ticks(s, 1, 2)
	return e, s, tk
}

func testAdmissionAndPass(t *testing.T, newBackend Factory) {
	e, s, tk := admitting(t, newBackend, fixed(10, 0), 50) // 10 admitted, 40 waiting
	if st := e.stats(s); st.Admitted != 10 || st.Unclaimed != 10 || st.Waiting != 40 || st.Rate != 10 {
		t.Fatalf("after one second at 10/s: %+v", st)
	}
	for p := int64(1); p <= 10; p++ {
		st := e.status(s, tk[p], p)
		if st.State != vaxbook.QueueAdmitted || st.Pass == "" || !st.PassExpires.Equal(e.now().Add(waitroom.DefaultPassTTL)) {
			t.Fatalf("person %d: %+v, want admitted with a pass expiring in %s", p, st, waitroom.DefaultPassTTL)
		}
		c, err := s.VerifyPass(e.ctx, st.Pass, session(p), p, e.now())
		if err != nil {
			t.Fatalf("verify pass of %d: %v", p, err)
		}
		if c.PersonID != p || c.CampaignID != "c2021" || c.WindowID != "d9" || c.Room != e.room.ID {
			t.Fatalf("claims %+v", c)
		}
	}
	if st := e.status(s, tk[11], 11); st.State != vaxbook.QueueWaiting || st.Position != 1 || st.Ahead != 0 {
		t.Fatalf("person 11: %+v, want first in line", st)
	}
	if st := e.stats(s); st.Claimed != 10 || st.Active != 10 || st.Unclaimed != 0 {
		t.Fatalf("after collecting 10 passes: %+v", st)
	}
	// Later polls return the same pass record; a new session of the same
	// person gets a pass bound to it.
	e.at(3 * time.Second)
	st := e.status(s, tk[1], 1)
	if !st.PassExpires.Equal(Opening.Add(2*time.Second + waitroom.DefaultPassTTL)) {
		t.Fatalf("pass re-issued with expiry %s", st.PassExpires)
	}
	renewed, err := s.Status(e.ctx, tk[1].Ticket, 1, "new-session", e.now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyPass(e.ctx, renewed.Pass, "new-session", 1, e.now()); err != nil {
		t.Fatalf("pass for the new session: %v", err)
	}
	if st := e.stats(s); st.Claimed != 10 {
		t.Fatalf("re-polling counted claims again: %+v", st)
	}
}

func testPassRefusals(t *testing.T, newBackend Factory) {
	e, s, tk := admitting(t, newBackend, fixed(3, 0), 10)
	pass := map[int64]string{}
	for p := int64(1); p <= 3; p++ {
		pass[p] = e.status(s, tk[p], p).Pass
	}
	now := e.now()
	for _, tc := range []struct {
		name, pass, session string
		person              int64
		at                  time.Time
		code                vaxbook.Code
	}{
		{"missing", "", session(1), 1, now, vaxbook.CodePassRequired},
		{"tampered", flip(pass[1], len(pass[1])/2), session(1), 1, now, vaxbook.CodePassInvalid},
		{"truncated", pass[1][:len(pass[1])-3], session(1), 1, now, vaxbook.CodePassInvalid},
		{"a ticket", tk[1].Ticket, session(1), 1, now, vaxbook.CodePassInvalid},
		{"foreign session", pass[1], session(2), 1, now, vaxbook.CodePassInvalid},
		{"foreign person", pass[1], session(1), 2, now, vaxbook.CodePassInvalid},
		{"expired", pass[1], session(1), 1, now.Add(waitroom.DefaultPassTTL), vaxbook.CodePassExpired},
	} {
		_, err := s.VerifyPass(e.ctx, tc.pass, tc.session, tc.person, tc.at)
		wantCode(t, err, tc.code, tc.name)
		// Only a genuine pass of this session that has ended may lead to
		// a replay from the store.
		if ended := errors.Is(err, vaxbook.ErrPassEnded); ended != (tc.name == "expired") {
			t.Fatalf("%s: refusal wraps ErrPassEnded: %v", tc.name, ended)
		}
	}
	// Used once, then refused as a replay.
	c1, err := s.VerifyPass(e.ctx, pass[1], session(1), 1, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkPassUsed(e.ctx, c1, now); err != nil {
		t.Fatalf("first use: %v", err)
	}
	_, err = s.VerifyPass(e.ctx, pass[1], session(1), 1, now)
	wantCode(t, err, vaxbook.CodePassInvalid, "verify a used pass")
	if !errors.Is(err, vaxbook.ErrPassEnded) {
		t.Fatalf("a used pass's refusal %v does not wrap ErrPassEnded (a retry of its write could not be replayed)", err)
	}
	wantCode(t, s.MarkPassUsed(e.ctx, c1, now), vaxbook.CodePassInvalid, "use a pass twice")
	if st := e.status(s, tk[1], 1); st.State != vaxbook.QueueExpired || st.Reason != vaxbook.ReasonPassUsed || st.Pass != "" {
		t.Fatalf("status after use: %+v", st)
	}
	// Given back with Done: refused afterwards; Done is idempotent.
	c2, err := s.VerifyPass(e.ctx, pass[2], session(2), 2, now)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := s.Done(e.ctx, c2, now); err != nil {
			t.Fatalf("done #%d: %v", i+1, err)
		}
	}
	_, err = s.VerifyPass(e.ctx, pass[2], session(2), 2, now)
	wantCode(t, err, vaxbook.CodePassInvalid, "verify a pass given back")
	if st := e.status(s, tk[2], 2); st.State != vaxbook.QueueExpired || st.Reason != vaxbook.ReasonLeft {
		t.Fatalf("status after done: %+v", st)
	}
	if st := e.stats(s); st.Used != 1 || st.Left != 1 || st.Active != 1 {
		t.Fatalf("stats after one use and one done: %+v", st)
	}
	// Joining again goes to the end of the line.
	again := e.join(s, 1)
	if !again.Created || again.Ticket == tk[1].Ticket || again.State != vaxbook.QueueWaiting || again.Position != 8 {
		t.Fatalf("rejoin after booking = %+v, want a new place at 8 (behind the 7 waiting)", again)
	}
}

func testPassSingleUseConcurrent(t *testing.T, newBackend Factory) {
	e, s, tk := admitting(t, newBackend, fixed(1, 0), 1)
	st := e.status(s, tk[1], 1)
	c, err := s.VerifyPass(e.ctx, st.Pass, session(1), 1, e.now())
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.MarkPassUsed(e.ctx, c, e.now())
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if vaxbook.ErrorCode(err) != vaxbook.CodePassInvalid {
			t.Fatalf("concurrent use: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent uses of one pass succeeded, want exactly 1", ok, n)
	}
}

func testNoShowCompensation(t *testing.T, newBackend Factory) {
	t.Run("FreesBoundedPlaces", func(t *testing.T) {
		e := newEnv(t, newBackend)
		s := e.service("n1", nil)
		e.at(0)
		e.set(s, fixed(5, 5))
		tk := e.joinMany(s, 1, 20)
		e.ticks(s, 1, 4)
		if st := e.stats(s); st.Admitted != 5 || st.Unclaimed != 5 {
			t.Fatalf("bound of 5 active: %+v", st)
		}
		// Nobody collects; at the claim deadline the places are freed.
		e.at(2*time.Second + waitroom.DefaultClaimTimeout)
		e.tick(s)
		st := e.stats(s)
		if st.NoShows != 5 || st.Expired() != 5 || st.Admitted != 10 || st.Unclaimed != 5 {
			t.Fatalf("after the claim deadline: %+v, want 5 no-shows and the next 5 admitted", st)
		}
		if got := e.status(s, tk[1], 1); got.State != vaxbook.QueueExpired || got.Reason != vaxbook.ReasonNoShow {
			t.Fatalf("no-show status: %+v", got)
		}
		if got := e.status(s, tk[6], 6); got.State != vaxbook.QueueAdmitted {
			t.Fatalf("next in line: %+v", got)
		}
		again := e.join(s, 1)
		if !again.Created || again.State != vaxbook.QueueWaiting || again.Position != 11 {
			t.Fatalf("no-show joining again = %+v, want a new place at the end (11)", again)
		}
	})
	t.Run("OwedAdmissions", func(t *testing.T) {
		e := newEnv(t, newBackend)
		s := e.service("n1", nil)
		e.at(0)
		e.set(s, fixed(5, 0))
		e.joinMany(s, 1, 100)
		e.ticks(s, 1, 2)
		paused := fixed(5, 0)
		paused.Mode = vaxbook.ModePaused
		e.set(s, paused)
		e.at(2*time.Second + waitroom.DefaultClaimTimeout)
		e.tick(s)
		if st := e.stats(s); st.NoShows != 5 || st.Admitted != 5 {
			t.Fatalf("paused at the claim deadline: %+v", st)
		}
		e.set(s, fixed(5, 0))
		e.at(3*time.Second + waitroom.DefaultClaimTimeout)
		e.tick(s)
		if st := e.stats(s); st.Admitted != 15 {
			t.Fatalf("one second at 5/s with 5 owed admitted %d in all, want 5 + 5 + 5", st.Admitted)
		}
	})
}

func testPassExpiryFreesPlace(t *testing.T, newBackend Factory) {
	e, s, tk := admitting(t, newBackend, fixed(10, 3), 6)
	pass1 := e.status(s, tk[1], 1).Pass
	for p := int64(2); p <= 3; p++ {
		e.status(s, tk[p], p)
	}
	e.ticks(s, 3, 4)
	if st := e.stats(s); st.Active != 3 || st.Admitted != 3 {
		t.Fatalf("3 passes collected under a bound of 3: %+v", st)
	}
	e.at(2*time.Second + waitroom.DefaultPassTTL)
	e.tick(s)
	st := e.stats(s)
	if st.PassesExpired != 3 || st.NoShows != 0 || st.Active != 0 || st.Admitted != 6 {
		t.Fatalf("after the passes expired unused: %+v, want 3 expired and 3 more admitted", st)
	}
	if got := e.status(s, tk[1], 1); got.State != vaxbook.QueueExpired || got.Reason != vaxbook.ReasonPassExpired {
		t.Fatalf("status of an expired pass: %+v", got)
	}
	_, err := s.VerifyPass(e.ctx, pass1, session(1), 1, e.now())
	wantCode(t, err, vaxbook.CodePassExpired, "verify an expired pass")
}

// testPassLastFraction: a pass carries whole seconds, and VerifyPass
// refuses it from its whole-second expiry. In the fraction of a second
// after that the waiting room must not hand the pass out again (a client
// would loop between the booking and the queue); the place is over and a
// join takes a new one.
func testPassLastFraction(t *testing.T, newBackend Factory) {
	e, s, tk := admitting(t, newBackend, fixed(10, 3), 2)
	e.at(2500 * time.Millisecond) // collected half-way through a second
	first := e.status(s, tk[1], 1)
	if first.State != vaxbook.QueueAdmitted || first.Pass == "" {
		t.Fatalf("not admitted: %+v", first)
	}
	e.clk.Set(first.PassExpires.Add(time.Millisecond)) // past the pass, not yet past its record
	_, err := s.VerifyPass(e.ctx, first.Pass, session(1), 1, e.now())
	wantCode(t, err, vaxbook.CodePassExpired, "verify a pass past its whole-second expiry")
	if got := e.status(s, tk[1], 1); got.State != vaxbook.QueueExpired || got.Reason != vaxbook.ReasonPassExpired || got.Pass != "" {
		t.Fatalf("status in the pass's last fraction of a second: %+v, want expired (pass_expired)", got)
	}
	again := e.join(s, 1)
	if !again.Created || again.Ticket == tk[1].Ticket || again.State != vaxbook.QueueWaiting {
		t.Fatalf("join after the pass expired: %+v, want a new place in line", again)
	}
}

func testModes(t *testing.T, newBackend Factory) {
	e := newEnv(t, newBackend)
	s, s2 := e.service("n1", nil), e.service("n2", nil)
	e.at(0)
	paused := fixed(10, 0)
	paused.Mode = vaxbook.ModePaused
	e.set(s, paused)
	tk := e.joinMany(s, 1, 10)
	e.ticks(s, 1, 5)
	if st := e.stats(s); st.Admitted != 0 || st.Rate != 0 {
		t.Fatalf("paused admitted %d at rate %v", st.Admitted, st.Rate)
	}
	if st := e.status(s, tk[1], 1); st.State != vaxbook.QueueWaiting || !st.ETAUncertain {
		t.Fatalf("paused status: %+v, want waiting with an uncertain ETA", st)
	}
	e.set(s, vaxbook.WaitRoomSettings{Mode: vaxbook.ModeDrain, RatePerS: 2, MinRate: 2, MaxRate: 2})
	_, err := s.Join(e.ctx, e.room, 11, session(11), e.now())
	wantCode(t, err, vaxbook.CodeQueueClosed, "new join while draining")
	if again := e.join(s, 3); again.Ticket != tk[3].Ticket {
		t.Fatalf("existing place while draining: %+v", again)
	}
	e.at(6 * time.Second)
	e.tick(s2) // node 2 learns the mode at its tick
	if s2.Settings().Mode != vaxbook.ModeDrain {
		t.Fatalf("node 2 sees mode %q", s2.Settings().Mode)
	}
	_, err = s2.Join(e.ctx, e.room, 12, session(12), e.now())
	wantCode(t, err, vaxbook.CodeQueueClosed, "new join on node 2 while draining")
	e.ticks(s, 7, 9)
	if st := e.stats(s); st.Admitted == 0 {
		t.Fatalf("draining admitted nobody: %+v", st)
	}
}

func testSetValidationAndAudit(t *testing.T, newBackend Factory) {
	e := newEnv(t, newBackend)
	s := e.service("n1", nil)
	ok := vaxbook.WaitRoomSettings{Mode: vaxbook.ModeAuto, RatePerS: 100, MaxActive: 1000, MinRate: 10, MaxRate: 500}
	for _, tc := range []struct {
		name  string
		mut   func(*vaxbook.WaitRoomSettings)
		param string
	}{
		{"unknown mode", func(s *vaxbook.WaitRoomSettings) { s.Mode = "turbo" }, "mode"},
		{"negative rate", func(s *vaxbook.WaitRoomSettings) { s.RatePerS = -1 }, "rate_per_s"},
		{"NaN rate", func(s *vaxbook.WaitRoomSettings) { s.MinRate = math.NaN() }, "min_rate"},
		{"min over max", func(s *vaxbook.WaitRoomSettings) { s.MinRate = 600 }, "min_rate"},
		{"no max", func(s *vaxbook.WaitRoomSettings) { s.MaxRate, s.MinRate = 0, 0 }, "max_rate"},
		{"fixed without rate", func(s *vaxbook.WaitRoomSettings) { s.Mode, s.RatePerS = vaxbook.ModeFixed, 0 }, "rate_per_s"},
		{"negative bound", func(s *vaxbook.WaitRoomSettings) { s.MaxActive = -1 }, "max_active"},
	} {
		bad := ok
		tc.mut(&bad)
		_, err := s.Set(e.ctx, "operator-kim", bad, e.now())
		wantCode(t, err, vaxbook.CodeInvalid, tc.name)
		if e, _ := err.(*vaxbook.Error); e == nil || e.Param != tc.param {
			t.Fatalf("%s: error %v does not name %q", tc.name, err, tc.param)
		}
	}
	_, err := s.Set(e.ctx, "", ok, e.now())
	wantCode(t, err, vaxbook.CodeForbidden, "set without an operator")
	st, err := s.State(e.ctx, e.now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Settings != waitroom.DefaultSettings || len(e.audit.byAction("waitroom.set")) != 0 {
		t.Fatalf("refused changes changed settings %+v or were audited", st.Settings)
	}
	st, err = s.Set(e.ctx, "operator-kim", ok, e.now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Settings != ok || st.Node != "n1" {
		t.Fatalf("state after set: %+v", st)
	}
	sets := e.audit.byAction("waitroom.set")
	if len(sets) != 1 || sets[0].Actor != "operator-kim" || !sets[0].At.Equal(e.now()) ||
		!strings.Contains(sets[0].Detail, `"from"`) || !strings.Contains(sets[0].Detail, `"max_rate":500`) {
		t.Fatalf("audit = %+v, want one entry with who, when, from and to", sets)
	}
	// Another node sees the settings.
	other := e.service("n2", nil)
	if st, err := other.State(e.ctx, e.now()); err != nil || st.Settings != ok {
		t.Fatalf("node 2 state %+v, %v", st.Settings, err)
	}
}

func testRooms(t *testing.T, newBackend Factory) {
	e := newEnv(t, newBackend)
	s := e.service("n1", nil)
	e.at(0)
	e.set(s, fixed(10, 0))
	a, b := Room("d9"), Room("d19")
	e.room = a
	e.joinMany(s, 1, 30)
	e.room = b
	e.joinMany(s, 101, 3)
	e.ticks(s, 1, 2)
	st, err := s.State(e.ctx, e.now())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, r := range st.Rooms {
		got[r.ID] = r.Admitted
	}
	// Room b needs only 3: the rest of the 10 goes to room a.
	if got[a.ID] != 7 || got[b.ID] != 3 || st.Waiting != 23 {
		t.Fatalf("admitted by room %v, waiting %d; want 7 and 3, 23 waiting", got, st.Waiting)
	}
	e.room = b
	e.joinMany(s, 104, 20)
	e.ticks(s, 3, 3)
	st, _ = s.State(e.ctx, e.now())
	for _, r := range st.Rooms {
		got[r.ID] = r.Admitted
	}
	if got[a.ID] != 12 || got[b.ID] != 8 {
		t.Fatalf("admitted by room %v, want an even split (12, 8)", got)
	}
}

func testRoomDropped(t *testing.T, newBackend Factory) {
	e := newEnv(t, newBackend)
	s := e.service("n1", nil)
	e.at(0)
	tk := e.join(s, 1)
	e.clk.Set(e.room.Closes)
	if st := e.status(s, tk, 1); st.State != vaxbook.QueueExpired || st.Reason != vaxbook.ReasonClosed {
		t.Fatalf("status at closing: %+v", st)
	}
	_, err := s.Join(e.ctx, e.room, 1, session(1), e.now())
	wantCode(t, err, vaxbook.CodeQueueClosed, "join at closing")
	e.clk.Set(e.room.Closes.Add(waitroom.DefaultRetention + time.Second))
	e.tick(s)
	if ids, err := e.b.RoomIDs(e.ctx); err != nil || len(ids) != 0 {
		t.Fatalf("rooms after retention: %v, %v", ids, err)
	}
	_, err = s.Status(e.ctx, tk.Ticket, 1, session(1), e.now())
	wantCode(t, err, vaxbook.CodeNotInQueue, "status in a dropped room")
	// A node that never saw the room does not know it either.
	_, err = e.service("n2", nil).Status(e.ctx, tk.Ticket, 1, session(1), e.now())
	wantCode(t, err, vaxbook.CodeNotInQueue, "status in a dropped room on another node")
}

// testStageBound: admissions fixed at 50/s while the stage finishes 5
// people a second. The people admitted and not finished must stay within
// what the stage finishes in StageTime (10 s here: 50), not grow by 45 a
// second up to the operator's max_active; when the stage speeds up to
// 20/s, the bound follows (200). The bound, the pace and the count it
// is measured from survive a change of leader.
func testStageBound(t *testing.T, newBackend Factory) {
	e := newEnv(t, newBackend)
	stage := func(c *waitroom.Config) {
		c.StageTime, c.StageFloor = 10*time.Second, 20
		c.PollBudget = 1 // polls paced by the ETA alone, not by the size of the line
	}
	s := e.service("n1", stage)
	e.at(0)
	e.set(s, fixed(50, 100_000))
	tk := e.joinMany(s, 1, 6000)
	next := int64(1) // the next person to collect and use a pass
	finish := func(n int) {
		for ; n > 0 && next <= 6000; n-- {
			st := e.status(s, tk[next], next)
			if st.State != vaxbook.QueueAdmitted {
				return // nobody admitted left to finish
			}
			c, err := s.VerifyPass(e.ctx, st.Pass, session(next), next, e.now())
			if err != nil {
				t.Fatalf("verify pass of %d: %v", next, err)
			}
			if err := s.MarkPassUsed(e.ctx, c, e.now()); err != nil {
				t.Fatalf("use pass of %d: %v", next, err)
			}
			next++
		}
	}
	inStage := func() int64 { st := e.stats(s); return st.Active + st.Unclaimed }
	run := func(from, to, pace int) (peak int64) {
		for sec := from; sec <= to; sec++ {
			e.at(time.Duration(sec) * time.Second)
			finish(pace)
			e.tick(s)
			peak = max(peak, inStage())
		}
		return peak
	}
	run(1, 5, 5)
	if n := inStage(); n != 20 {
		t.Fatalf("in the stage after 5 s: %d, want the floor (20): no pace measured yet", n)
	}
	if peak := run(6, 120, 5); peak > 55 {
		t.Fatalf("at 50 admitted/s and 5 finished/s the stage held up to %d people, want ≤ 50 (5/s × 10 s) + rounding", peak)
	}
	st, err := s.State(e.ctx, e.now())
	if err != nil {
		t.Fatal(err)
	}
	if c := st.Controller; math.Abs(c.Finishing-5) > 0.5 || c.StageBound < 45 || c.StageBound > 55 {
		t.Fatalf("controller state %+v: want ~5 finishing/s and a stage bound of ~50", c)
	}
	if g := e.stats(s); g.StageBound != st.Controller.StageBound || g.Finishing != st.Controller.Finishing {
		t.Fatalf("stats give stage bound %d at %.2f/s, the controller state %d at %.2f/s", g.StageBound, g.Finishing, st.Controller.StageBound, st.Controller.Finishing)
	}
	if n := inStage(); n < 40 {
		t.Fatalf("the stage holds %d, want it kept full up to the bound (~50)", n)
	}
	// People in line are paced by what the stage lets in (~5/s), not by
	// the operator's 50/s: someone ~150th comes back in ~30 s, not 3.
	if st := e.status(s, tk[next+200], next+200); st.State != vaxbook.QueueWaiting || st.RetryAfter < 15*time.Second {
		t.Fatalf("position %d told to come back in %s (state %s), want ~%s: paced by the stage, not the rate",
			st.Position, st.RetryAfter, st.State, time.Duration(st.Position)*time.Second/5)
	}
	// A second node takes over: the pace is not measured from zero again.
	if err := s.Close(e.ctx); err != nil {
		t.Fatal(err)
	}
	s = e.service("n2", stage)
	if peak := run(121, 125, 5); peak > 55 {
		t.Fatalf("after a change of leader the stage held up to %d, want ≤ ~50", peak)
	}
	// The stage speeds up: the bound follows it.
	peak := run(126, 200, 20)
	if peak < 150 || peak > 210 {
		t.Fatalf("at 20 finished/s the stage held up to %d, want ~200 (20/s × 10 s)", peak)
	}
	if got := e.stats(s); got.PassesExpired != 0 || got.NoShows != 0 {
		t.Fatalf("stats %+v: nobody should have expired", got)
	}
}

// testStageBoundShortLine: when the people holding the stage's places do
// not finish (they left: their places are freed only at the claim deadline
// or the pass's expiry), a line no longer than the floor is not kept
// waiting for them; a longer one is held at the floor.
func testStageBoundShortLine(t *testing.T, newBackend Factory) {
	for _, tc := range []struct {
		join, admitted int64
	}{
		{45, 20}, // 25 left waiting, more than the floor: held
		{30, 30}, // 10 left waiting: let in
	} {
		e := newEnv(t, newBackend)
		s := e.service("n1", func(c *waitroom.Config) { c.StageTime, c.StageFloor = 10*time.Second, 20 })
		e.at(0)
		e.set(s, fixed(50, 100_000))
		e.joinMany(s, 1, int(tc.join))
		e.ticks(s, 1, 10)
		if st := e.stats(s); st.Admitted != tc.admitted || st.Waiting != tc.join-tc.admitted {
			t.Fatalf("%d in line, floor 20, nobody finishing: %+v, want %d admitted", tc.join, st, tc.admitted)
		}
	}
}

// testStageTimeMeasured: with MeasureStageTime, the leader measures how
// long people take from collecting a pass to booking with it (15 s here)
// and derives the bound from twice that plus the leavers' allowance (10 s
// here): at 5 finished/s, 200 people — not the 750 of the default's 2.5
// minutes. The stays reach the leader through the backend (the people book
// on another node).
func testStageTimeMeasured(t *testing.T, newBackend Factory) {
	e := newEnv(t, newBackend)
	cfg := func(c *waitroom.Config) {
		c.StageFloor, c.LeaverAllowance, c.MeasureStageTime = 20, 10*time.Second, true
	}
	leader, other := e.service("n1", cfg), e.service("n2", cfg)
	e.at(0)
	e.set(leader, fixed(50, 100_000))
	tk := e.joinMany(leader, 1, 3000)
	const stay, pace = 15, 5
	next := int64(1)
	var holding [][]vaxbook.PassClaims // holding[sec]: passes collected that second
	inStage := func() int64 { st := e.stats(leader); return st.Active + st.Unclaimed }
	var peak int64
	for sec := 1; sec <= 180; sec++ {
		e.at(time.Duration(sec) * time.Second)
		var got []vaxbook.PassClaims
		for k := 0; k < pace; k++ {
			st := e.status(other, tk[next], next)
			if st.State != vaxbook.QueueAdmitted {
				break
			}
			c, err := other.VerifyPass(e.ctx, st.Pass, session(next), next, e.now())
			if err != nil {
				t.Fatalf("verify pass of %d: %v", next, err)
			}
			got = append(got, c)
			next++
		}
		holding = append(holding, got)
		if sec > stay {
			for _, c := range holding[sec-1-stay] {
				if err := other.MarkPassUsed(e.ctx, c, e.now()); err != nil {
					t.Fatalf("use pass of %d: %v", c.PersonID, err)
				}
			}
		}
		if err := other.Tick(e.ctx, e.now()); err != nil { // n2 reports its stays
			t.Fatal(err)
		}
		e.tick(leader)
		if sec == stay {
			if c := e.state(leader).Controller; c.StageTime != waitroom.DefaultPassTTL/4 || c.Stay != 0 {
				t.Fatalf("before anyone booked: stage time %s, stay %s; want the default %s, nothing measured", c.StageTime, c.Stay, waitroom.DefaultPassTTL/4)
			}
		}
		if sec > 120 {
			peak = max(peak, inStage())
		}
	}
	c := e.state(leader).Controller
	if c.Stay != stay*time.Second || c.StageTime != (2*stay+10)*time.Second {
		t.Fatalf("measured stay %s, stage time %s; want %ds and %ds", c.Stay, c.StageTime, stay, 2*stay+10)
	}
	if math.Abs(c.Finishing-pace) > 0.5 || c.StageBound < 180 || c.StageBound > 220 {
		t.Fatalf("controller %+v: want ~5 finishing/s and a bound of ~200 (5/s × 40 s)", c)
	}
	if peak > 225 {
		t.Fatalf("the stage held up to %d people, want ≤ ~200 (5/s × (2 × 15 s + 10 s))", peak)
	}
}
