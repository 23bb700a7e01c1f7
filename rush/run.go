package rush

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/schollz/progressbar/v3"

	"vaxbook"
	"vaxbook/internal/procstatus"
	"vaxbook/seed"
	"vaxbook/waitroom"
)

// Run simulates the rush against t over HTTP, then audits t's database and
// writes the report (and, with Config.Out, report.json and the plots). The
// error is for a rush that could not run; violations are in the report
// (Report.OK).
func Run(ctx context.Context, t *Target, cfg Config) (*Report, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(t.URLs) == 0 {
		return nil, vaxbook.InvalidParam("target", "the target has no URL")
	}
	s := &sim{cfg: cfg, t: t, c: newClient(cfg.Workers, cfg.RequestTimeout), finished: make(chan struct{})}
	defer s.c.close()
	log := cfg.Log

	camp, serverNow, err := s.fetchCampaign(ctx)
	if err != nil {
		return nil, err
	}
	if t.Armable() {
		serverNow = t.ServerNow()
	}
	if s.win, err = chooseWindow(camp, serverNow, t.Armable(), cfg.MaxWait); err != nil {
		return nil, err
	}
	if cfg.Lead > waitroomLead(camp) {
		return nil, vaxbook.InvalidParam("lead", "lead %s is longer than the campaign's pre-queue (%s)", cfg.Lead, waitroomLead(camp))
	}
	s.camp, s.room = camp, waitroom.RoomOf(camp, s.win).ID
	s.loc, _ = time.LoadLocation(camp.TimeZone)
	if s.loc == nil {
		s.loc = time.UTC
	}
	gen, err := seed.NewGenerator(t.Seed, camp)
	if err != nil {
		return nil, fmt.Errorf("the target's country: %w", err)
	}
	nWrong := int(math.Round(float64(cfg.People) * cfg.Mix.WrongDay))
	nCohort := cfg.People - nWrong
	sel := time.Now()
	pop := SelectPeople(gen, camp, s.win, cfg.Skip+nCohort, cfg.Skip+nWrong, int64(t.Seed.People))
	pop.Cohort = pop.Cohort[min(cfg.Skip, len(pop.Cohort)):]
	pop.WrongDay = pop.WrongDay[min(cfg.Skip, len(pop.WrongDay)):]
	log.Info("rush: people chosen", "window", s.win.ID, "cohort", len(pop.Cohort), "wrong_day", len(pop.WrongDay),
		"scanned", pop.Scanned, "took", time.Since(sel).Round(time.Millisecond).String())
	if len(pop.Cohort) < nCohort {
		return nil, fmt.Errorf("the country of %d people has only %d eligible on %s, %d wanted: seed a larger one", t.Seed.People, len(pop.Cohort), s.win.ID, nCohort)
	}
	regionIdx, regions := regionsOf(gen)
	s.regions = regions
	s.providers = append(s.providers, "naver", "kakao", "pass", "mobile", "cert")
	if s.probeSlot, err = s.anySlot(ctx); err != nil {
		return nil, err
	}

	// The clock: in process, the window opens Lead after the start;
	// elsewhere the start is Lead before the opening (or now if it passed).
	if t.Armable() {
		t.arm(s.win.Opens, cfg.Lead)
		s.start = time.Now()
		s.skew = time.Until(t.ServerNow())
		s.unc = 20 * time.Millisecond
	} else {
		_, sn, err := s.fetchCampaign(ctx)
		if err != nil {
			return nil, err
		}
		s.skew = time.Until(sn)
		s.unc = 1500 * time.Millisecond // the server says its time to the second
		localOpen := s.win.Opens.Add(-s.skew)
		s.start = time.Now()
		if st := localOpen.Add(-cfg.Lead); st.After(s.start) {
			s.start = st
		}
	}
	s.openNS = int64(s.win.Opens.Add(-s.skew).Sub(s.start))
	entries := s.build(gen, camp, pop, regionIdx)
	seconds := int(cfg.Timeout/time.Second) + int(cfg.Lead/time.Second) + 120
	for _, p := range []**series{&s.arrivals, &s.logins, &s.admitted, &s.booked, &s.changed, &s.cancelled, &s.polls, &s.errs} {
		*p = newSeries(seconds)
	}
	for i := range s.lanes {
		s.lanes[i] = newLane([]string{"identity", "queue", "poll", "booking"}[i])
	}
	s.lanes[laneIdentity].load(entries)
	log.Info("rush: start", "target", t.Kind, "people", cfg.People, "devices", len(s.users), "profile", cfg.Profile,
		"opens", s.win.Opens.In(s.loc).Format(time.RFC3339), "in", time.Duration(s.openNS).Round(time.Millisecond).String())

	s.rssBefore = currentRSS()
	s.peakReset = resetPeakRSS()
	runCtx, cancel := context.WithTimeout(ctx, time.Until(s.start)+cfg.Timeout)
	defer cancel()
	s.ctx = runCtx
	w := cfg.Workers
	// Workers: identity 3/8, queue (me, join) 2/8, polls 1/8, booking 2/8.
	split := [numLanes]int{max(1, w*3/8), max(1, w*2/8), max(1, w/8), max(1, w-w*3/8-w*2/8-w/8)}
	laneDone := make(chan struct{}, numLanes)
	for i, l := range s.lanes {
		go func() {
			l.run(runCtx, s.start, split[i], s.step)
			laneDone <- struct{}{}
		}()
	}
	mon := s.monitor(runCtx)
	timedOut, interrupted := false, false
	select {
	case <-s.finished:
	case <-cfg.Stop:
		interrupted = true
	case <-runCtx.Done():
		timedOut = ctx.Err() == nil
	}
	end := time.Now()
	cancel()
	for range s.lanes {
		<-laneDone
	}
	samples := <-mon
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if cfg.HeapProfile != "" {
		if err := writeHeapProfile(cfg.HeapProfile+".end", true); err != nil {
			log.Warn("rush: heap profile", "err", err)
		}
	}
	r := s.report(samples, end, timedOut)
	r.Interrupted = interrupted
	log.Info("rush: simulation over; auditing the database", "took", end.Sub(s.start).Round(time.Second).String())
	auditCtx, cancelAudit := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Minute)
	defer cancelAudit()
	a, err := s.audit(auditCtx)
	if err != nil {
		return r, fmt.Errorf("audit: %w", err)
	}
	r.Audit = a
	r.finish()
	if cfg.Out != "" {
		if err := r.write(cfg.Out); err != nil {
			return r, err
		}
	}
	return r, nil
}

func waitroomLead(c vaxbook.Campaign) time.Duration {
	if c.PreQueue > 0 {
		return time.Duration(c.PreQueue)
	}
	return 30 * time.Minute
}

// fetchCampaign reads the campaign the target serves and its clock.
func (s *sim) fetchCampaign(ctx context.Context) (vaxbook.Campaign, time.Time, error) {
	var j jar
	a, err := s.c.do(ctx, &j, call{method: "GET", url: s.t.URLs[0] + "/api/v1/campaigns/current"})
	if err != nil {
		return vaxbook.Campaign{}, time.Time{}, fmt.Errorf("the target does not answer: %w", err)
	}
	defer s.c.release(&a)
	if a.status != 200 {
		return vaxbook.Campaign{}, time.Time{}, fmt.Errorf("GET /api/v1/campaigns/current: %d %s", a.status, a.code)
	}
	var cur struct {
		vaxbook.Campaign
		Now string `json:"now"`
	}
	if err := json.Unmarshal(a.body, &cur); err != nil {
		return vaxbook.Campaign{}, time.Time{}, fmt.Errorf("campaigns/current: %w", err)
	}
	now, err := time.Parse(time.RFC3339, cur.Now)
	if err != nil {
		return vaxbook.Campaign{}, time.Time{}, fmt.Errorf("campaigns/current now %q: %w", cur.Now, err)
	}
	return cur.Campaign, now, nil
}

// anySlot finds one slot id (the misbehaving writes name it; they must be
// refused before it matters).
func (s *sim) anySlot(ctx context.Context) (int64, error) {
	var j jar
	a, err := s.c.do(ctx, &j, call{method: "GET", url: s.t.URLs[0] + "/api/v1/clinics?available=true&limit=1&near=37.5665,126.9780&radius_km=50"})
	if err != nil {
		return 0, err
	}
	var page clinicPage
	err = json.Unmarshal(a.body, &page)
	s.c.release(&a)
	if err != nil || len(page.Clinics) == 0 || len(page.Clinics[0].Days) == 0 {
		return 0, fmt.Errorf("the target has no clinic with places (search: %v)", err)
	}
	cl := page.Clinics[0]
	a, err = s.c.do(ctx, &j, call{method: "GET", url: fmt.Sprintf("%s/api/v1/clinics/%d/slots?date=%s", s.t.URLs[0], cl.ID, cl.Days[0].Date)})
	if err != nil {
		return 0, err
	}
	defer s.c.release(&a)
	var sl struct {
		Slots []struct {
			ID int64 `json:"id"`
		} `json:"slots"`
	}
	if err := json.Unmarshal(a.body, &sl); err != nil || len(sl.Slots) == 0 {
		return 0, fmt.Errorf("clinic %d has no slots on %s", cl.ID, cl.Days[0].Date)
	}
	return sl.Slots[0].ID, nil
}

// build makes the devices and their arrival times.
func (s *sim) build(gen *seed.Generator, camp vaxbook.Campaign, pop Population, regionIdx map[string]uint16) []entry {
	cfg := s.cfg
	m := cfg.Mix
	n := len(pop.Cohort) + len(pop.WrongDay)
	s.users = make([]user, 0, n+int(float64(n)*m.SecondDevice*1.2)+16)
	draw := func(id int64, salt uint64) float64 {
		return unitFloat(mix64(cfg.Seed*0xD1B54A32D192ED03 ^ uint64(id)*0x9E3779B97F4A7C15 ^ salt))
	}
	canEarly := s.openNS > int64(time.Second)
	newUser := func(id int64, flags uint16) user {
		ct := gen.Citizen(id)
		fav := 0
		x := draw(id, 99)
		for i, p := range s.providers {
			x -= providerWeights[p]
			if x < 0 {
				fav = i
				break
			}
		}
		return user{person: id, flags: flags, region: regionIdx[ct.Sigungu], cohort: cohortOf(camp, ct.BirthDate),
			provider: uint8(fav), admitted: -1, booked: -1, obs: -1, other: -1}
	}
	var entries []entry
	arrive := func(uid int32, id int64, early bool) {
		u := &s.users[uid]
		var at int64
		if early && canEarly {
			lead := min(int64(cfg.Lead), s.openNS)
			at = s.openNS - lead/20 - int64(draw(id, 7)*float64(lead)*0.9)
		} else {
			at = s.openNS + int64(arrivalOffset(cfg.Profile, draw(id, 8), cfg.Duration, cfg.Compress))
		}
		at = max(at, 0)
		u.arrive = int32(at / 1e6)
		if u.flags&fAbandonQueue != 0 {
			u.abandonAt = u.arrive + int32(-math.Log(1-draw(id, 9))*float64(cfg.Patience/time.Millisecond))
		}
		entries = append(entries, entry{at: at, uid: uid})
	}
	for _, id := range pop.Cohort {
		var f uint16
		for _, b := range []struct {
			share float64
			flag  uint16
		}{{m.SecondDevice, fHasSecond}, {m.Early, fEarly}, {m.ClockForward, fClockForward | fEarly}, {m.NoPass, fNoPass},
			{m.ReplayPass, fReplayPass}, {m.AbandonQueue, fAbandonQueue}, {m.AbandonAdmitted, fAbandonAdmitted},
			{m.Retry, fRetry}} {
			if draw(id, uint64(b.flag)) < b.share {
				f |= b.flag
			}
		}
		if x := draw(id, 1<<20); x < m.Change {
			f |= fChange
		} else if x < m.Change+m.Cancel {
			f |= fCancel
		}
		if !canEarly {
			f &^= fEarly | fClockForward
		}
		uid := int32(len(s.users))
		s.users = append(s.users, newUser(id, f))
		arrive(uid, id, f&fEarly != 0)
		if f&fHasSecond != 0 {
			sid := int32(len(s.users))
			d := newUser(id, fSecondDevice)
			d.other = uid
			d.arrive = -1
			s.users = append(s.users, d)
			s.users[uid].other = sid
		}
	}
	for _, id := range pop.WrongDay {
		uid := int32(len(s.users))
		s.users = append(s.users, newUser(id, fWrongDay))
		arrive(uid, id, false)
	}
	started := 0
	for i := range s.users {
		if s.users[i].flags&fSecondDevice == 0 {
			started++
		}
	}
	s.left.Store(int64(started)) // second devices count from when they start
	if len(s.users) == 0 {
		s.finOnce.Do(func() { close(s.finished) })
	}
	return entries
}

// arrivalOffset maps a uniform draw r to an arrival time after the opening.
func arrivalOffset(profile string, r float64, day time.Duration, compress float64) time.Duration {
	switch profile {
	case ProfileSteady:
		return time.Duration(r * float64(day))
	case ProfileAug2021:
		// 40 % within the first 30 minutes (exponential, τ = 10 min,
		// truncated), the other 60 % over the rest of the day (τ = 3 h).
		const head = 0.4
		first := 30 * time.Minute
		var t float64
		if r < head {
			tau := float64(10 * time.Minute)
			t = -tau * math.Log(1-(r/head)*(1-math.Exp(-float64(first)/tau)))
		} else {
			tau := float64(3 * time.Hour)
			rest := float64(day - first)
			t = float64(first) - tau*math.Log(1-((r-head)/(1-head))*(1-math.Exp(-rest/tau)))
		}
		return time.Duration(t / compress)
	}
	return time.Duration(r * float64(time.Second))
}

// monitor samples gauges and traffic lights every second and drives the
// progress bar; it sends its samples when ctx ends.
func (s *sim) monitor(ctx context.Context) <-chan samples {
	out := make(chan samples, 1)
	var bar *progressbar.ProgressBar
	if s.cfg.Progress != nil {
		bar = progressbar.NewOptions(len(s.users),
			progressbar.OptionSetWriter(s.cfg.Progress),
			progressbar.OptionSetDescription("rush"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(250*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetPredictTime(false),
		)
	}
	go func() {
		var sm samples
		sm.lights = make(map[string][]int8)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var j jar
		var peak *heapPeak
		if s.cfg.HeapProfile != "" {
			peak = newHeapPeak(s.cfg.HeapProfile)
		}
		for {
			select {
			case <-ctx.Done():
				if bar != nil {
					_ = bar.Finish()
					fmt.Fprintln(s.cfg.Progress)
				}
				out <- sm
				return
			case <-tick.C:
			}
			if time.Now().Before(s.start) {
				continue
			}
			sm.waiting = append(sm.waiting, s.waiting.Load())
			heap, total := goMemory()
			sm.rss = append(sm.rss, int32(currentRSS()>>20))
			sm.heap = append(sm.heap, int32(heap>>20))
			sm.goTotal = append(sm.goTotal, int32(total>>20))
			if _, err := peak.observe(heap); err != nil {
				s.cfg.Log.Warn("rush: heap profile", "err", err)
				peak = nil
			}
			if a := s.activeSessions.Load(); a > sm.peakSessions {
				sm.peakSessions = a
			}
			sm.inFlight = append(sm.inFlight, s.inFlight.Load())
			lights := s.lightsNow(ctx, &j)
			for _, p := range s.providers {
				v, ok := lights[p]
				if !ok {
					v = -1
				}
				sm.lights[p] = append(sm.lights[p], v)
			}
			if bar != nil {
				done := int64(len(s.users)) - s.left.Load()
				bar.Describe(fmt.Sprintf("rush: waiting %d · booked %d", s.waiting.Load(), s.bookedCount()))
				_ = bar.Set64(done)
			}
		}
	}()
	return out
}

type samples struct {
	waiting  []int64
	inFlight []int64
	lights   map[string][]int8 // provider → per second: 0 green, 1 yellow, 2 red, -1 unknown
	// Memory each second, MiB: resident set, live Go heap, all the Go
	// runtime holds; and the most devices with a live session at once.
	rss, heap, goTotal []int32
	peakSessions       int64
}

func (s *sim) bookedCount() int64 {
	var n int64
	for _, v := range s.booked.values(len(s.booked.v)) {
		n += int64(v)
	}
	return n
}

// lightsNow reads the traffic lights (not counted as a person's request).
func (s *sim) lightsNow(ctx context.Context, j *jar) map[string]int8 {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	a, err := s.c.do(cctx, j, call{method: "GET", url: s.t.URLs[0] + "/api/v1/identity/providers"})
	if err != nil {
		return nil
	}
	defer s.c.release(&a)
	var list struct {
		Providers []struct {
			Name  string `json:"name"`
			Light string `json:"light"`
		} `json:"providers"`
	}
	if json.Unmarshal(a.body, &list) != nil {
		return nil
	}
	out := map[string]int8{}
	for _, p := range list.Providers {
		switch p.Light {
		case "green":
			out[p.Name] = 0
		case "yellow":
			out[p.Name] = 1
		case "red":
			out[p.Name] = 2
		}
	}
	return out
}

// peakRSS returns a process's peak resident set (VmHWM) in bytes, 0 if
// it cannot be read.
func peakRSS(pid string) int64 {
	b, _ := procstatus.Bytes(pid, "VmHWM")
	return b
}

// sortedCopy returns v sorted.
func sortedCopy(v []float64) []float64 {
	out := append([]float64(nil), v...)
	sort.Float64s(out)
	return out
}
