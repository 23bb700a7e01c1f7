package rush

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/seed"
)

var stateNames = [...]string{"arrive", "login", "me", "probe", "join", "poll", "search", "slots", "book", "dup", "replay_pass", "confirm", "later", "done"}

// Steps of a person's journey, for latencies and refusals.
const (
	stepLanding = iota
	stepLogin
	stepMe
	stepJoin
	stepPoll
	stepSearch
	stepSlots
	stepBook
	stepConfirm
	stepChange
	stepCancel
	stepProbe
	stepReplay
	numSteps
)

var stepNames = [numSteps]string{"landing", "login", "me", "join", "poll", "search", "slots", "book", "confirm", "change", "cancel", "probe", "replay"}

// States of the per-person state machine.
const (
	sArrive     uint8 = iota // landing: read the traffic lights, pick a provider
	sLogin                   // the OpenID Connect round trip with login_hint
	sMe                      // GET /api/v1/me: CSRF token, eligibility
	sProbe                   // a misbehaving write: no pass, or a forged clock
	sJoin                    // POST /api/v1/queue
	sPoll                    // GET /api/v1/queue/status, as paced by the server
	sSearch                  // clinics near home
	sSlots                   // a clinic's times on a day
	sBook                    // book (or change or cancel, on a later visit)
	sDup                     // the same booking request again (same key)
	sReplayPass              // another write with the spent pass
	sConfirm                 // GET /api/v1/bookings/mine
	sLater                   // come back later to change or cancel
	sDone
)

// Person flags.
const (
	fSecondDevice uint16 = 1 << iota // this device is someone's second
	fHasSecond                       // start a second device after verifying
	fWrongDay
	fEarly
	fClockForward
	fNoPass
	fReplayPass
	fAbandonQueue
	fAbandonAdmitted
	fRetry
	fChange
	fCancel
)

// Outcomes.
const (
	oNone uint8 = iota
	oBooked
	oRefused   // stopped by an expected refusal (wrong day, second device)
	oAbandoned // left on purpose
	oFailed    // gave up after errors or found no place
)

// Lanes.
const (
	laneIdentity = iota
	laneQueue
	lanePoll
	laneBooking
	numLanes
)

// user is one device of one person: the state machine's memory. Times are
// milliseconds since the simulation's start.
type user struct {
	person    int64
	b1, b2    int64 // booking ids, dose 1 and 2
	s1, s2    int64 // their slots
	sess      *session
	arrive    int32
	admitted  int32 // first admission seen (first visit)
	booked    int32 // first booking acknowledged
	abandonAt int32
	obs       int32 // current ticket's observation (-1: none)
	rn        uint32
	flags     uint16
	region    uint16
	state     uint8
	phase     uint8 // 0 first booking, 1 change visit, 2 cancel visit
	provider  uint8
	tries     uint8 // attempts at the current step
	misses    uint8 // slots found taken during this visit
	widen     uint8 // search radius index
	cohort    int8
	status    uint8 // 0 none, 1 active, 2 cancelled (as acknowledged)
	outcome   uint8
	other     int32 // the other device's uid (-1: none)
}

// session is what an active device holds: cookies, tokens, candidates.
// It is dropped when the person is done.
type session struct {
	jar  jar
	csrf string
	pass string
	// passExp is when the server said the pass expires, on this machine's
	// clock (the answer has whole seconds: the true expiry is up to 1 s later).
	passExp time.Time
	cands   []int64 // slot ids to try, best first
	clinic  int64
	node    int
	wrote   string // the node that answered the last write
	writes  int    // idempotency keys used
	idem    string
}

// Radii (km) tried in turn around home; past the last, 50 km around other
// districts' centres (people travel when nothing is left near home).
var radii = []float64{5, 10, 25, 50}

// maxWiden bounds the searches of one visit before the person gives up.
const maxWiden = 40

// Provider popularity (the 2021 mix was led by the big portals).
var providerWeights = map[string]float64{"naver": 0.35, "kakao": 0.30, "pass": 0.15, "mobile": 0.12, "cert": 0.08}

type sim struct {
	cfg     Config
	t       *Target
	c       *client
	ctx     context.Context
	camp    vaxbook.Campaign
	win     vaxbook.Window
	room    string
	loc     *time.Location
	start   time.Time // local, monotonic: ns 0 of the simulation
	openNS  int64     // the opening, in ns since start (negative: before it)
	unc     time.Duration
	skew    time.Duration // server clock − local clock
	users   []user
	regions []latLng
	lanes   [numLanes]*lane
	hists   [numSteps]hist
	journey hist // arrival → confirmed booking

	arrivals, logins, admitted, booked, changed, cancelled, polls, errs *series

	ref        refusals
	obs        obsStore
	waiting    atomic.Int64
	left       atomic.Int64
	inFlight   atomic.Int64
	requests   atomic.Int64
	transports atomic.Int64
	noShows    atomic.Int64
	// activeSessions counts devices holding a session (cookies) now.
	activeSessions atomic.Int64
	// sessBytes / sessCount: the mean size of a session when its device finished.
	sessBytes, sessCount atomic.Int64
	rssBefore            int64 // resident set when the simulation started
	peakReset            bool  // the kernel's peak RSS was reset then
	finished             chan struct{}
	finOnce              sync.Once
	probeSlot            int64
	providers            []string
	rr                   atomic.Uint64

	violMu   sync.Mutex
	viol     map[string]int64
	examples []string
}

type latLng struct{ lat, lng float64 }

// msSince converts a local instant to ms since the simulation's start.
func (s *sim) ms(t time.Time) int32 { return int32(t.Sub(s.start) / time.Millisecond) }

func (s *sim) nowNS() int64 { return int64(time.Since(s.start)) }

func (s *sim) sec(t time.Time) int { return int(t.Sub(s.start) / time.Second) }

// base picks a node for a request of device uid (the simulated load
// balancer).
func (s *sim) base(uid int32) string {
	return s.t.URLs[s.node(uid)]
}

// node is the index of the node a request of uid goes to: with
// Config.Affinity the device's own every time, else the next in turn.
func (s *sim) node(uid int32) int {
	n := len(s.t.URLs)
	switch {
	case n == 1:
		return 0
	case s.cfg.Affinity:
		return int(uid) % n
	}
	return int(s.rr.Add(1) % uint64(n))
}

func (s *sim) violation(kind, example string) {
	s.violMu.Lock()
	if s.viol == nil {
		s.viol = map[string]int64{}
	}
	s.viol[kind]++
	if len(s.examples) < 50 && example != "" {
		s.examples = append(s.examples, kind+": "+example)
	}
	s.violMu.Unlock()
}

// rand returns a reproducible draw in [0, 1) for user uid.
func (s *sim) rand(uid int32) float64 {
	u := &s.users[uid]
	u.rn++
	x := s.cfg.Seed*0x9E3779B97F4A7C15 ^ uint64(uid)<<24 ^ uint64(u.rn)
	return unitFloat(mix64(x))
}

func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func unitFloat(x uint64) float64 { return float64(x>>11) / (1 << 53) }

// think is a human pause of lo…hi seconds, scaled by Config.Think.
func (s *sim) think(uid int32, lo, hi float64) time.Duration {
	if s.cfg.Think == 0 {
		return 0
	}
	return time.Duration((lo + (hi-lo)*s.rand(uid)) * s.cfg.Think * float64(time.Second))
}

// schedule puts the user in lane l after d.
func (s *sim) schedule(uid int32, l int, d time.Duration) {
	s.lanes[l].push(s.nowNS()+int64(d), uid)
}

// finish ends a user.
func (s *sim) finish(uid int32, outcome uint8) {
	u := &s.users[uid]
	if u.sess != nil {
		s.activeSessions.Add(-1)
		s.sessBytes.Add(u.sess.bytes())
		s.sessCount.Add(1)
	}
	u.state, u.sess = sDone, nil
	if u.outcome == oNone || outcome == oBooked {
		u.outcome = outcome
	}
	if s.left.Add(-1) == 0 {
		s.finOnce.Do(func() { close(s.finished) })
	}
}

// step runs one step of user uid and schedules the next.
func (s *sim) step(uid int32) {
	u := &s.users[uid]
	if s.ctx.Err() != nil {
		return
	}
	switch u.state {
	case sArrive:
		s.landing(uid)
	case sLogin:
		s.login(uid)
	case sMe:
		s.me(uid)
	case sProbe:
		s.probe(uid)
	case sJoin:
		s.join(uid)
	case sPoll:
		s.poll(uid)
	case sSearch:
		s.search(uid)
	case sSlots:
		s.slots(uid)
	case sBook:
		s.book(uid)
	case sDup:
		s.dup(uid)
	case sReplayPass:
		s.replayPass(uid)
	case sConfirm:
		s.confirm(uid)
	case sLater:
		s.later(uid)
	}
}

// send performs one request of user uid and records its latency under step.
func (s *sim) send(uid int32, step int, k call) (answer, time.Time, time.Time, error) {
	u := &s.users[uid]
	if u.flags&fClockForward != 0 {
		k.forged = s.forgedTime()
	}
	s.inFlight.Add(1)
	t0 := time.Now()
	a, err := s.c.do(s.ctx, &u.sess.jar, k)
	t1 := time.Now()
	s.inFlight.Add(-1)
	s.requests.Add(1)
	if err == nil {
		s.hists[step].add(t1.Sub(t0))
	} else {
		s.transports.Add(1)
		s.errs.add(s.sec(t1))
	}
	return a, t0, t1, err
}

// forgedTime is what a clock an hour ahead of the server says.
func (s *sim) forgedTime() string {
	return time.Now().Add(s.skew + time.Hour).UTC().Format(time.RFC1123)
}

// refusal records a non-2xx answer; it reports whether it was expected.
func (s *sim) refusal(uid int32, step int, code string, expected bool) {
	s.ref.add(stepNames[step], code, expected)
	if !expected {
		s.violation("unexpected refusal", fmt.Sprintf("person %d at %s: %s", s.users[uid].person, stepNames[step], code))
	}
}

// transient reports whether a refusal code means "try again later".
func transient(code string) bool {
	switch code {
	case string(vaxbook.CodeUnavailable), string(vaxbook.CodeRateLimited), string(vaxbook.CodeProviderUnavailable),
		"http_502", "http_503", "http_504":
		return true
	}
	return false
}

// retry schedules the same step again after a transient failure; it
// gives the person up after too many attempts.
func (s *sim) retry(uid int32, l int, retryMS int64) {
	u := &s.users[uid]
	u.tries++
	if u.tries > 12 {
		s.violation("gave up after errors", fmt.Sprintf("person %d at state %d", u.person, u.state))
		s.finish(uid, oFailed)
		return
	}
	d := time.Duration(retryMS) * time.Millisecond
	if u.flags&fRetry != 0 {
		d = 100 * time.Millisecond // retries at once, ignoring Retry-After
	} else {
		back := time.Duration(500*(1<<min(u.tries, 6))) * time.Millisecond
		d = max(d, back) + time.Duration(s.rand(uid)*float64(back)/2)
		d = min(d, 30*time.Second)
	}
	s.schedule(uid, l, d)
}

func (s *sim) next(uid int32, state uint8, l int, d time.Duration) {
	u := &s.users[uid]
	u.state, u.tries = state, 0
	s.schedule(uid, l, d)
}

// landing reads the traffic lights and picks a provider: the person's
// favourite unless it is red (then its suggested alternative) or yellow
// (then, half the time, a green one).
func (s *sim) landing(uid int32) {
	u := &s.users[uid]
	if u.sess == nil {
		u.sess = &session{}
		s.activeSessions.Add(1)
		s.arrivals.add(s.sec(time.Now()))
	}
	a, _, _, err := s.send(uid, stepLanding, call{method: "GET", url: s.base(uid) + "/api/v1/identity/providers"})
	if err != nil {
		s.retry(uid, laneIdentity, 0)
		return
	}
	var list struct {
		Providers []struct {
			Name        string `json:"name"`
			Light       string `json:"light"`
			Alternative string `json:"alternative"`
		} `json:"providers"`
	}
	err = json.Unmarshal(a.body, &list)
	s.c.release(&a)
	if err != nil || len(list.Providers) == 0 {
		s.refusal(uid, stepLanding, "bad_providers_answer", false)
		s.finish(uid, oFailed)
		return
	}
	fav := s.providers[u.provider%uint8(len(s.providers))]
	pick := fav
	for _, p := range list.Providers {
		if p.Name != fav {
			continue
		}
		switch {
		case p.Light == "red" && p.Alternative != "":
			pick = p.Alternative
		case p.Light == "red", p.Light == "yellow" && s.rand(uid) < 0.5:
			for _, q := range list.Providers {
				if q.Light == "green" {
					pick = q.Name
					break
				}
			}
		}
	}
	for i, n := range s.providers {
		if n == pick {
			u.provider = uint8(i)
		}
	}
	s.next(uid, sLogin, laneIdentity, s.think(uid, 0.5, 2))
}

// login runs start → provider authorize (login_hint) → callback on one
// node; success ends in a redirect to the queue page.
func (s *sim) login(uid int32) {
	u := &s.users[uid]
	u.sess.node = s.node(uid)
	base := s.t.URLs[u.sess.node]
	next := fmt.Sprintf("%s/auth/%s/start?login_hint=%d", base, s.providers[u.provider], u.person)
	t0 := time.Now()
	code := ""
	var retryMS int64
	ok := false
	for hop := 0; hop < 8 && !ok && code == ""; hop++ {
		s.inFlight.Add(1)
		k := call{method: "GET", url: next}
		if u.flags&fClockForward != 0 {
			k.forged = s.forgedTime()
		}
		a, err := s.c.do(s.ctx, &u.sess.jar, k)
		s.inFlight.Add(-1)
		s.requests.Add(1)
		if err != nil {
			s.transports.Add(1)
			s.errs.add(s.sec(time.Now()))
			s.retry(uid, laneIdentity, 0)
			return
		}
		switch {
		case a.status >= 300 && a.status < 400:
			loc, err := resolve(next, a.location)
			if err != nil {
				code = "bad_redirect"
				break
			}
			lu, _ := url.Parse(loc)
			switch {
			case strings.HasPrefix(lu.Path, "/auth/") || strings.HasPrefix(lu.Path, "/idp/"):
				next = loc
			case strings.HasPrefix(lu.Path, "/signin/refused"):
				code = lu.Query().Get("code")
			default:
				ok = true // the queue page: signed in
			}
		case a.status >= 400:
			code, retryMS = a.code, a.retryMS
		default:
			code = fmt.Sprintf("login_page_%d", a.status)
		}
		s.c.release(&a)
	}
	s.hists[stepLogin].add(time.Since(t0))
	if !ok && code == "" {
		code = "too_many_redirects"
	}
	if ok {
		s.logins.add(s.sec(time.Now()))
		if u.flags&fSecondDevice != 0 {
			s.refusal(uid, stepLogin, "signed_in_on_second_device", false)
			s.finish(uid, oFailed)
			return
		}
		if u.flags&fWrongDay != 0 {
			s.refusal(uid, stepLogin, "signed_in_on_wrong_day", false)
			s.finish(uid, oFailed)
			return
		}
		if u.flags&fHasSecond != 0 && u.other >= 0 {
			// The same person picks up another device (a phone after the laptop).
			o := &s.users[u.other]
			d := time.Duration(0.2*float64(time.Second) + s.rand(uid)*2*float64(time.Second))
			o.state, o.arrive = sArrive, s.ms(time.Now().Add(d))
			s.left.Add(1)
			s.schedule(u.other, laneIdentity, d)
		}
		s.next(uid, sMe, laneQueue, 0)
		return
	}
	expected := false
	switch {
	case transient(code):
		s.ref.add(stepNames[stepLogin], code, true)
		// Try another provider after the server's delay.
		u.provider = (u.provider + 1) % uint8(len(s.providers))
		u.state = sArrive
		s.retry(uid, laneIdentity, retryMS)
		return
	case u.flags&fSecondDevice != 0:
		expected = code == string(vaxbook.CodeDeviceLocked)
	case u.flags&fWrongDay != 0:
		expected = code == string(vaxbook.CodeOtherDay) || code == string(vaxbook.CodeNotOpenYet) || code == string(vaxbook.CodeClosed)
	}
	s.refusal(uid, stepLogin, code, expected)
	if expected {
		s.finish(uid, oRefused)
	} else {
		s.finish(uid, oFailed)
	}
}

// me reads the session's CSRF token and checks what the server says of
// the person now.
func (s *sim) me(uid int32) {
	u := &s.users[uid]
	a, _, _, err := s.send(uid, stepMe, call{method: "GET", url: s.base(uid) + "/api/v1/me"})
	if err != nil {
		s.retry(uid, laneQueue, 0)
		return
	}
	defer s.c.release(&a)
	if a.status != 200 {
		if transient(a.code) {
			s.ref.add(stepNames[stepMe], a.code, true)
			s.retry(uid, laneQueue, a.retryMS)
			return
		}
		s.refusal(uid, stepMe, a.code, false)
		s.finish(uid, oFailed)
		return
	}
	var me struct {
		CSRF   string `json:"csrf_token"`
		Person struct {
			Cohort int `json:"cohort"`
		} `json:"person"`
		Queue struct {
			Joinable bool `json:"joinable"`
		} `json:"queue"`
	}
	if err := json.Unmarshal(a.body, &me); err != nil || me.CSRF == "" {
		s.refusal(uid, stepMe, "bad_me_answer", false)
		s.finish(uid, oFailed)
		return
	}
	u.sess.csrf = me.CSRF
	if int(u.cohort) != me.Person.Cohort {
		s.violation("cohort differs", fmt.Sprintf("person %d: simulator %d, server %d", u.person, u.cohort, me.Person.Cohort))
	}
	if !me.Queue.Joinable && u.phase == 0 {
		s.refusal(uid, stepMe, "not_joinable", false)
		s.finish(uid, oFailed)
		return
	}
	if u.phase == 0 && u.flags&(fNoPass|fClockForward) != 0 {
		s.next(uid, sProbe, laneBooking, s.think(uid, 0.2, 1))
		return
	}
	s.next(uid, sJoin, laneQueue, s.think(uid, 0.1, 0.5))
}

// probe is a booking write that must be refused: without a pass (a
// bypass link), or before the opening by a device whose clock runs ahead.
func (s *sim) probe(uid int32) {
	u := &s.users[uid]
	body := []byte(`{"slot_id":` + strconv.FormatInt(s.probeSlot, 10) + `}`)
	k := call{method: "POST", url: s.base(uid) + "/api/v1/bookings?now=" + url.QueryEscape(s.forgedTime()), body: body,
		csrf: u.sess.csrf, idem: fmt.Sprintf("rush-%d-probe", u.person)}
	a, t0, t1, err := s.send(uid, stepProbe, k)
	if err != nil {
		s.retry(uid, laneBooking, 0)
		return
	}
	defer s.c.release(&a)
	if a.status < 300 {
		s.violation("booking without a pass accepted", fmt.Sprintf("person %d", u.person))
		s.next(uid, sJoin, laneQueue, 0)
		return
	}
	if transient(a.code) {
		s.ref.add(stepNames[stepProbe], a.code, true)
		s.retry(uid, laneBooking, a.retryMS)
		return
	}
	before := int64(t1.Sub(s.start)) < s.openNS-int64(s.unc)
	after := int64(t0.Sub(s.start)) > s.openNS+int64(s.unc)
	expected := false
	switch a.code {
	case string(vaxbook.CodeNotEligibleYet):
		expected = !after
	case string(vaxbook.CodePassRequired):
		expected = !before
	}
	s.refusal(uid, stepProbe, a.code, expected)
	s.next(uid, sJoin, laneQueue, s.think(uid, 0.2, 1))
}

// join enters the waiting room (or its pre-queue).
func (s *sim) join(uid int32) {
	u := &s.users[uid]
	a, _, t1, err := s.send(uid, stepJoin, call{method: "POST", url: s.base(uid) + "/api/v1/queue", csrf: u.sess.csrf})
	if err != nil {
		s.retry(uid, laneQueue, 0)
		return
	}
	defer s.c.release(&a)
	if a.status >= 300 {
		if transient(a.code) {
			s.ref.add(stepNames[stepJoin], a.code, true)
			s.retry(uid, laneQueue, a.retryMS)
			return
		}
		s.refusal(uid, stepJoin, a.code, false)
		s.finish(uid, oFailed)
		return
	}
	var q queueAnswer
	if err := json.Unmarshal(a.body, &q); err != nil {
		s.refusal(uid, stepJoin, "bad_queue_answer", false)
		s.finish(uid, oFailed)
		return
	}
	seq, ok := ticketSeq(q.Ticket)
	if !ok {
		s.violation("ticket unreadable", q.Ticket)
	}
	u.obs = s.obs.observe(u.obs, seq, q.State == string(vaxbook.QueuePrequeue), s.ms(t1))
	s.waiting.Add(1)
	u.state, u.tries = sPoll, 0
	s.handleQueue(uid, q, time.Time{}, t1)
}

type queueAnswer struct {
	Ticket       string `json:"ticket"`
	State        string `json:"state"`
	Position     int64  `json:"position"`
	RetryAfterMS int64  `json:"retry_after_ms"`
	Reason       string `json:"reason"`
	Pass         string `json:"pass"`
	PassExpires  string `json:"pass_expires"`
}

// poll asks for the person's place, when the server said to.
func (s *sim) poll(uid int32) {
	u := &s.users[uid]
	if u.flags&fAbandonQueue != 0 && u.phase == 0 && int32(s.nowNS()/1e6) >= u.abandonAt {
		s.waiting.Add(-1)
		s.finish(uid, oAbandoned)
		return
	}
	a, t0, t1, err := s.send(uid, stepPoll, call{method: "GET", url: s.base(uid) + "/api/v1/queue/status"})
	s.polls.add(s.sec(t1))
	if err != nil {
		s.retry(uid, lanePoll, 0)
		return
	}
	defer s.c.release(&a)
	if a.status >= 300 {
		if transient(a.code) {
			s.ref.add(stepNames[stepPoll], a.code, true)
			s.retry(uid, lanePoll, a.retryMS)
			return
		}
		s.refusal(uid, stepPoll, a.code, false)
		s.waiting.Add(-1)
		s.finish(uid, oFailed)
		return
	}
	var q queueAnswer
	if err := json.Unmarshal(a.body, &q); err != nil {
		s.refusal(uid, stepPoll, "bad_queue_answer", false)
		s.waiting.Add(-1)
		s.finish(uid, oFailed)
		return
	}
	u.tries = 0
	s.handleQueue(uid, q, t0, t1)
}

// handleQueue acts on a queue answer (from a join or a poll).
func (s *sim) handleQueue(uid int32, q queueAnswer, t0, t1 time.Time) {
	u := &s.users[uid]
	o := s.obs.at(u.obs)
	switch vaxbook.QueueState(q.State) {
	case vaxbook.QueuePrequeue, vaxbook.QueueWaiting:
		if q.State == string(vaxbook.QueueWaiting) && !t0.IsZero() && o != nil {
			o.wait = max(o.wait, s.ms(t0))
		}
		d := time.Duration(max(q.RetryAfterMS, 0)) * time.Millisecond
		if u.flags&fRetry != 0 && d > 10*time.Second {
			d = d / 2 // impatient, but still within the server's pacing order of magnitude
		}
		s.schedule(uid, lanePoll, d)
	case vaxbook.QueueAdmitted:
		if o != nil && o.adm == math.MaxInt32 {
			o.adm = s.ms(t1)
		}
		s.waiting.Add(-1)
		if q.Pass == "" {
			s.violation("admitted without a pass", fmt.Sprintf("person %d", u.person))
			s.finish(uid, oFailed)
			return
		}
		u.sess.pass = q.Pass
		u.sess.passExp = time.Time{}
		if exp, err := time.Parse(time.RFC3339, q.PassExpires); err == nil {
			u.sess.passExp = exp.Add(-s.skew)
		}
		if u.phase == 0 && u.admitted < 0 {
			u.admitted = s.ms(t1)
			s.admitted.add(s.sec(t1))
		}
		if u.flags&fAbandonAdmitted != 0 && u.phase == 0 {
			s.finish(uid, oAbandoned)
			return
		}
		u.widen, u.misses = 0, 0
		if u.phase == 2 {
			s.next(uid, sBook, laneBooking, s.think(uid, 0.5, 2))
			return
		}
		s.next(uid, sSearch, laneBooking, s.think(uid, 0.5, 2))
	case vaxbook.QueueExpired:
		s.waiting.Add(-1)
		if q.Reason == vaxbook.ReasonClosed {
			s.refusal(uid, stepPoll, "expired_"+q.Reason, false)
			s.finish(uid, oFailed)
			return
		}
		if q.Reason == vaxbook.ReasonNoShow {
			s.noShows.Add(1) // the simulator came back later than the claim deadline
		}
		s.ref.add(stepNames[stepPoll], "expired_"+q.Reason, true)
		u.sess.pass = ""
		s.next(uid, sJoin, laneQueue, 0)
	default:
		s.refusal(uid, stepPoll, "state_"+q.State, false)
		s.waiting.Add(-1)
		s.finish(uid, oFailed)
	}
}

type clinicPage struct {
	Clinics []struct {
		ID   int64 `json:"id"`
		Days []struct {
			Date      string `json:"date"`
			Remaining int    `json:"remaining"`
		} `json:"days"`
	} `json:"clinics"`
}

// search looks for clinics with room near home, widening the circle when
// nothing is left nearby; it picks a clinic (nearer ones are more popular)
// and a day (earlier days are more popular).
func (s *sim) search(uid int32) {
	u := &s.users[uid]
	ll, r := s.regions[u.region], 50.0
	if int(u.widen) < len(radii) {
		r = radii[u.widen]
	} else {
		ll = s.regions[int(s.rand(uid)*float64(len(s.regions)))]
	}
	q := fmt.Sprintf("/api/v1/clinics?available=true&limit=10&near=%.5f,%.5f&radius_km=%g", ll.lat, ll.lng, r)
	a, _, _, err := s.send(uid, stepSearch, call{method: "GET", url: s.base(uid) + q})
	if err != nil {
		s.retry(uid, laneBooking, 0)
		return
	}
	defer s.c.release(&a)
	if a.status != 200 {
		if transient(a.code) {
			s.ref.add(stepNames[stepSearch], a.code, true)
			s.retry(uid, laneBooking, a.retryMS)
			return
		}
		s.refusal(uid, stepSearch, a.code, false)
		s.finish(uid, oFailed)
		return
	}
	var page clinicPage
	if err := json.Unmarshal(a.body, &page); err != nil {
		s.refusal(uid, stepSearch, "bad_search_answer", false)
		s.finish(uid, oFailed)
		return
	}
	type opt struct {
		clinic int64
		date   string
		w      float64
	}
	var opts []opt
	total := 0.0
	rank := 0
	for _, c := range page.Clinics {
		open := 0
		for _, d := range c.Days {
			if d.Remaining > 0 {
				w := math.Pow(float64(rank+1), -1.2) * math.Exp(-float64(open)/4)
				opts = append(opts, opt{c.ID, d.Date, w})
				total += w
				open++
			}
		}
		if open > 0 {
			rank++
		}
	}
	if len(opts) == 0 {
		if int(u.widen) >= maxWiden {
			s.violation("no place left anywhere", fmt.Sprintf("person %d", u.person))
			s.finish(uid, oFailed)
			return
		}
		u.widen++
		s.next(uid, sSearch, laneBooking, 0)
		return
	}
	x := s.rand(uid) * total
	pick := opts[len(opts)-1]
	for _, o := range opts {
		if x < o.w {
			pick = o
			break
		}
		x -= o.w
	}
	u.sess.clinic = pick.clinic
	u.sess.cands = u.sess.cands[:0]
	s.slotsOf(uid, pick.clinic, pick.date)
}

// slotsOf reads a clinic's times on a day and keeps up to four candidates
// (earlier times first, with some spread).
func (s *sim) slotsOf(uid int32, clinic int64, date string) {
	u := &s.users[uid]
	a, _, _, err := s.send(uid, stepSlots, call{method: "GET", url: fmt.Sprintf("%s/api/v1/clinics/%d/slots?date=%s", s.base(uid), clinic, date)})
	if err != nil {
		u.state = sSearch
		s.retry(uid, laneBooking, 0)
		return
	}
	defer s.c.release(&a)
	if a.status != 200 {
		if transient(a.code) {
			u.state = sSearch
			s.ref.add(stepNames[stepSlots], a.code, true)
			s.retry(uid, laneBooking, a.retryMS)
			return
		}
		s.refusal(uid, stepSlots, a.code, false)
		s.finish(uid, oFailed)
		return
	}
	var sl struct {
		Slots []struct {
			ID        int64 `json:"id"`
			Remaining int   `json:"remaining"`
		} `json:"slots"`
	}
	if err := json.Unmarshal(a.body, &sl); err != nil {
		s.refusal(uid, stepSlots, "bad_slots_answer", false)
		s.finish(uid, oFailed)
		return
	}
	var open []int64
	for _, x := range sl.Slots {
		if x.Remaining > 0 {
			open = append(open, x.ID)
		}
	}
	if len(open) == 0 {
		s.missed(uid)
		return
	}
	// A favourite among the first few, then the next ones as fallbacks.
	first := int(s.rand(uid) * float64(min(len(open), 6)))
	u.sess.cands = append(u.sess.cands[:0], open[first])
	for i := 0; i < len(open) && len(u.sess.cands) < 4; i++ {
		if i != first {
			u.sess.cands = append(u.sess.cands, open[i])
		}
	}
	s.next(uid, sBook, laneBooking, s.think(uid, 1, 3))
}

// slots is the state form of slotsOf (after a retry).
func (s *sim) slots(uid int32) { s.search(uid) }

// missed: the chosen places are gone; search again (the index moved).
func (s *sim) missed(uid int32) {
	u := &s.users[uid]
	u.misses++
	if u.misses > 40 {
		s.violation("no place after many tries", fmt.Sprintf("person %d", u.person))
		s.finish(uid, oFailed)
		return
	}
	if u.misses%4 == 0 && int(u.widen) < maxWiden {
		u.widen++
	}
	s.next(uid, sSearch, laneBooking, s.think(uid, 0.3, 1))
}

type confirmation struct {
	Bookings []struct {
		ID     int64  `json:"id"`
		Dose   int    `json:"dose"`
		SlotID int64  `json:"slot_id"`
		Status string `json:"status"`
		Cohort int    `json:"cohort"`
	} `json:"bookings"`
	Replayed bool `json:"replayed"`
}

// book writes: book on the first visit, change or cancel on a later one.
func (s *sim) book(uid int32) {
	u := &s.users[uid]
	if u.sess.idem == "" {
		u.sess.writes++
		u.sess.idem = fmt.Sprintf("rush-%d-%d-%d", u.person, u.phase, u.sess.writes)
	}
	var k call
	step := stepBook
	switch u.phase {
	case 0:
		k = call{method: "POST", url: s.base(uid) + "/api/v1/bookings", body: slotBody(u.sess.cands[0])}
	case 1:
		step = stepChange
		k = call{method: "PATCH", url: fmt.Sprintf("%s/api/v1/bookings/%d", s.base(uid), u.b1), body: slotBody(u.sess.cands[0])}
	default:
		step = stepCancel
		k = call{method: "DELETE", url: fmt.Sprintf("%s/api/v1/bookings/%d", s.base(uid), u.b1)}
	}
	k.csrf, k.pass, k.idem = u.sess.csrf, u.sess.pass, u.sess.idem
	u.sess.wrote = k.url
	a, _, t1, err := s.send(uid, step, k)
	if err != nil {
		s.retry(uid, laneBooking, 0) // same key: a retry gets the first answer
		return
	}
	defer s.c.release(&a)
	if a.status < 300 {
		var c confirmation
		if err := json.Unmarshal(a.body, &c); err != nil || len(c.Bookings) == 0 {
			s.refusal(uid, step, "bad_confirmation", false)
			s.finish(uid, oFailed)
			return
		}
		s.acknowledge(uid, c, t1)
		u.sess.idem = ""
		switch {
		case u.phase == 0 && u.flags&fRetry != 0:
			u.sess.idem = k.idem // submit the same request again
			s.next(uid, sDup, laneBooking, s.think(uid, 0, 0.3))
		case u.phase == 0 && u.flags&fReplayPass != 0:
			s.next(uid, sReplayPass, laneBooking, s.think(uid, 0.5, 2))
		default:
			s.next(uid, sConfirm, laneBooking, s.think(uid, 0.3, 1))
		}
		return
	}
	switch a.code {
	case string(vaxbook.CodeSlotFull), string(vaxbook.CodeDose2Unavailable):
		s.ref.add(stepNames[step], a.code, true)
		u.sess.idem = ""
		u.sess.cands = u.sess.cands[1:]
		if len(u.sess.cands) > 0 {
			s.next(uid, sBook, laneBooking, s.think(uid, 0.3, 1))
		} else {
			s.missed(uid)
		}
		return
	case string(vaxbook.CodePassExpired):
		// Too slow: back to the waiting room.
		s.ref.add(stepNames[step], a.code, true)
		u.sess.idem, u.sess.pass = "", ""
		s.next(uid, sJoin, laneQueue, 0)
		return
	}
	if transient(a.code) {
		s.ref.add(stepNames[step], a.code, true)
		s.retry(uid, laneBooking, a.retryMS)
		return
	}
	s.refusal(uid, step, a.code, false)
	s.finish(uid, oFailed)
}

// sameNode reports whether two request URLs go to the same node.
func sameNode(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Host == ub.Host
}

func slotBody(slot int64) []byte { return []byte(`{"slot_id":` + strconv.FormatInt(slot, 10) + `}`) }

// acknowledge records what the server confirmed.
func (s *sim) acknowledge(uid int32, c confirmation, at time.Time) {
	u := &s.users[uid]
	var d1, d2 int64
	var sl1, sl2 int64
	cohort := -1
	for _, b := range c.Bookings {
		switch b.Dose {
		case 1:
			d1, sl1, cohort = b.ID, b.SlotID, b.Cohort
		case 2:
			d2, sl2 = b.ID, b.SlotID
		}
	}
	switch u.phase {
	case 0:
		u.b1, u.b2, u.s1, u.s2, u.status = d1, d2, sl1, sl2, 1
		if u.booked < 0 {
			u.booked = s.ms(at)
			s.booked.add(s.sec(at))
			s.journey.add(at.Sub(s.start) - time.Duration(u.arrive)*time.Millisecond)
		}
		if cohort != int(u.cohort) {
			s.violation("booked from another cohort's quota", fmt.Sprintf("person %d cohort %d took row %d", u.person, u.cohort, cohort))
		}
	case 1:
		if d1 != u.b1 {
			s.violation("change moved another booking", fmt.Sprintf("person %d: %d → %d", u.person, u.b1, d1))
		}
		u.s1, u.s2, u.b2 = sl1, sl2, d2
		s.changed.add(s.sec(at))
	case 2:
		u.status = 2
		s.cancelled.add(s.sec(at))
	}
}

// dup submits the booking again with the same Idempotency-Key (and the
// now spent pass): the answer must be the first one, replayed.
func (s *sim) dup(uid int32) {
	u := &s.users[uid]
	k := call{method: "POST", url: s.base(uid) + "/api/v1/bookings", body: slotBody(u.s1), csrf: u.sess.csrf,
		pass: u.sess.pass, idem: u.sess.idem}
	a, _, _, err := s.send(uid, stepReplay, k)
	if err != nil {
		s.retry(uid, laneBooking, 0)
		return
	}
	defer s.c.release(&a)
	if a.status >= 300 {
		if transient(a.code) {
			s.ref.add(stepNames[stepReplay], a.code, true)
			s.retry(uid, laneBooking, a.retryMS)
			return
		}
		if a.code == string(vaxbook.CodePassInvalid) {
			// The retry of a write that succeeded must get its first answer
			// (Idempotency-Key) wherever it lands; behind a load balancer it
			// often lands on another node than the write.
			where := "the same address"
			if !sameNode(k.url, u.sess.wrote) {
				where = "another node"
			}
			s.ref.add(stepNames[stepReplay], a.code, false)
			s.violation("idempotent retry refused instead of replayed", fmt.Sprintf("person %d, retry sent to %s", u.person, where))
		} else {
			s.refusal(uid, stepReplay, a.code, false)
		}
	} else {
		var c confirmation
		if err := json.Unmarshal(a.body, &c); err != nil || !c.Replayed || len(c.Bookings) == 0 || c.Bookings[0].ID != u.b1 {
			s.violation("retry with the same key not replayed", fmt.Sprintf("person %d: %.200s", u.person, a.body))
		}
	}
	u.sess.idem = ""
	if u.flags&fReplayPass != 0 {
		s.next(uid, sReplayPass, laneBooking, s.think(uid, 0.5, 2))
		return
	}
	s.next(uid, sConfirm, laneBooking, s.think(uid, 0.3, 1))
}

// replayPass uses the spent pass for a new write: pass_invalid.
func (s *sim) replayPass(uid int32) {
	u := &s.users[uid]
	u.sess.writes++
	k := call{method: "POST", url: s.base(uid) + "/api/v1/bookings", body: slotBody(s.probeSlot), csrf: u.sess.csrf,
		pass: u.sess.pass, idem: fmt.Sprintf("rush-%d-replay-%d", u.person, u.sess.writes)}
	a, _, t1, err := s.send(uid, stepReplay, k)
	if err != nil {
		s.retry(uid, laneBooking, 0)
		return
	}
	defer s.c.release(&a)
	if a.status < 300 {
		s.violation("spent pass accepted", fmt.Sprintf("person %d", u.person))
	} else if transient(a.code) {
		s.ref.add(stepNames[stepReplay], a.code, true)
		s.retry(uid, laneBooking, a.retryMS)
		return
	} else {
		// A spent pass is refused as spent; once it has also expired, as
		// expired (the node checks the expiry it signed before asking the
		// waiting room whether the pass was used).
		expired := a.code == string(vaxbook.CodePassExpired) && !u.sess.passExp.IsZero() && !t1.Before(u.sess.passExp.Add(-s.unc))
		s.refusal(uid, stepReplay, a.code, a.code == string(vaxbook.CodePassInvalid) || expired)
	}
	s.next(uid, sConfirm, laneBooking, s.think(uid, 0.3, 1))
}

// confirm reads the person's bookings: the acknowledged one must be there.
func (s *sim) confirm(uid int32) {
	u := &s.users[uid]
	a, _, _, err := s.send(uid, stepConfirm, call{method: "GET", url: s.base(uid) + "/api/v1/bookings/mine"})
	if err != nil {
		s.retry(uid, laneBooking, 0)
		return
	}
	defer s.c.release(&a)
	if a.status != 200 {
		if transient(a.code) {
			s.ref.add(stepNames[stepConfirm], a.code, true)
			s.retry(uid, laneBooking, a.retryMS)
			return
		}
		s.refusal(uid, stepConfirm, a.code, false)
		s.finish(uid, oBooked)
		return
	}
	var c confirmation
	if err := json.Unmarshal(a.body, &c); err != nil {
		s.refusal(uid, stepConfirm, "bad_mine_answer", false)
	}
	want := "active"
	if u.status == 2 {
		want = "cancelled"
	}
	found := false
	for _, b := range c.Bookings {
		if b.ID == u.b1 && b.SlotID == u.s1 && b.Status == want {
			found = true
		}
	}
	if !found {
		s.violation("acknowledged booking not shown", fmt.Sprintf("person %d booking %d slot %d %s: %.200s", u.person, u.b1, u.s1, want, a.body))
	}
	if u.phase == 0 && u.flags&(fChange|fCancel) != 0 {
		d := time.Duration(min(-math.Log(1-s.rand(uid)), 3) * float64(s.cfg.Later))
		s.next(uid, sLater, laneQueue, d)
		return
	}
	s.finish(uid, oBooked)
}

// later: the person comes back to change or cancel; through the waiting
// room again (a write needs a new pass).
func (s *sim) later(uid int32) {
	u := &s.users[uid]
	if u.flags&fChange != 0 {
		u.phase = 1
	} else {
		u.phase = 2
	}
	u.sess.pass = ""
	s.next(uid, sMe, laneQueue, 0)
}

// ticketSeq reads a ticket's sequence number (its place in arrival order):
// base64url('T' | epoch(8) | seq(uvarint) | …), as docs/waitroom.md
// documents. The MAC is the server's business.
func ticketSeq(t string) (uint32, bool) {
	var buf [32]byte
	n := base64.RawURLEncoding.DecodedLen(len(t))
	if n < 10 {
		return 0, false
	}
	raw := t
	if len(raw) > 40 {
		raw = raw[:40]
	}
	raw = raw[:len(raw)/4*4]
	d, err := base64.RawURLEncoding.Decode(buf[:], []byte(raw))
	if err != nil || d < 10 || buf[0] != 'T' {
		return 0, false
	}
	seq, k := binary.Uvarint(buf[9:d])
	if k <= 0 || seq > math.MaxUint32 {
		return 0, false
	}
	return uint32(seq), true
}

// obsStore keeps what the simulator saw of every ticket, in chunks that
// never move (workers write entries while others are appended).
type obsStore struct {
	mu     sync.Mutex
	n      int32
	chunks [1 << 13]*[1 << 16]ticketObs
}

// ticketObs is one ticket as seen from outside: its sequence number, when
// it was last seen waiting (request start) and first seen admitted (answer
// received), in ms since the start.
type ticketObs struct {
	seq  uint32
	pre  bool
	join int32
	wait int32
	adm  int32
}

func (o *obsStore) add(seq uint32, pre bool, join int32) int32 {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := o.n
	if int(i)>>16 >= len(o.chunks) {
		return -1
	}
	if o.chunks[i>>16] == nil {
		o.chunks[i>>16] = new([1 << 16]ticketObs)
	}
	o.n++
	o.chunks[i>>16][i&0xffff] = ticketObs{seq: seq, pre: pre, join: join, wait: math.MinInt32, adm: math.MaxInt32}
	return i
}

// observe records the ticket a join answered with and returns its
// observation; held is the person's current one (-1: none). A join that
// gives back the ticket already held (a retry, or a return before that
// ticket ended) is the same place: its first observation — in the
// pre-queue or not — stands.
func (o *obsStore) observe(held int32, seq uint32, pre bool, join int32) int32 {
	if h := o.at(held); h != nil && h.seq == seq {
		return held
	}
	return o.add(seq, pre, join)
}

func (o *obsStore) at(i int32) *ticketObs {
	if i < 0 {
		return nil
	}
	return &o.chunks[i>>16][i&0xffff]
}

func (o *obsStore) all() []ticketObs {
	o.mu.Lock()
	n := o.n
	o.mu.Unlock()
	out := make([]ticketObs, n)
	for i := range n {
		out[i] = *o.at(i)
	}
	return out
}

// chooseWindow picks the rotation window the rush is for and whether the
// simulator must move the target's clock to it.
func chooseWindow(c vaxbook.Campaign, now time.Time, armable bool, maxWait time.Duration) (vaxbook.Window, error) {
	var rot []vaxbook.Window
	for _, w := range c.Windows {
		if w.Kind == vaxbook.WindowRotation {
			rot = append(rot, w)
		}
	}
	sort.Slice(rot, func(i, j int) bool { return rot[i].Opens.Before(rot[j].Opens) })
	for _, w := range rot {
		if w.Opens.After(now) && (armable || w.Opens.Sub(now) <= maxWait) {
			return w, nil
		}
	}
	for _, w := range rot {
		if w.Contains(now) {
			return w, nil
		}
	}
	return vaxbook.Window{}, errors.New("no rotation day is open or opens soon on the target")
}

// regionsOf returns the home district centroid of every region code.
func regionsOf(gen *seed.Generator) (map[string]uint16, []latLng) {
	rs := gen.Regions()
	idx := make(map[string]uint16, len(rs))
	ll := make([]latLng, len(rs))
	for i, r := range rs {
		idx[r.SigunguCode] = uint16(i)
		ll[i] = latLng{r.Lat, r.Lng}
	}
	return idx, ll
}

// cohortOf is the person's quota row during the rotation.
func cohortOf(c vaxbook.Campaign, birth vaxbook.Date) int8 { return int8(campaign.Cohort(c, birth)) }
