package waitroom

import (
	"context"
	"fmt"
	"math"
	"time"

	"vaxbook"
	"vaxbook/internal/clock"
)

// Tick implements vaxbook.WaitRoom. Every node flushes its booking-stage
// observations and tries to take or renew the controller lease; the node
// holding it (exactly one at a time: the backend fences its writes with the
// lease token) opens rooms that are due, frees no-shows and expired passes,
// runs the controller and admits the next people of every open room.
func (s *Service) Tick(ctx context.Context, now time.Time) error {
	s.tickMu.Lock()
	defer s.tickMu.Unlock()
	sample := vaxbook.StageSample{
		Count:      s.stCount.Swap(0),
		Errors:     s.stErrors.Swap(0),
		LatencySum: time.Duration(s.stLatency.Swap(0)),
		InFlight:   s.stInFlight.Load(),
		Stays:      s.stStays.Swap(0),
		StaySum:    time.Duration(s.stStaySum.Swap(0)),
	}
	if err := s.b.AddStage(ctx, s.cfg.Node, sample, now); err != nil {
		return fmt.Errorf("waitroom: tick: report stage: %w", err)
	}
	l, err := s.b.Lease(ctx, s.cfg.Node, now, s.cfg.LeaseTTL)
	if err != nil {
		return fmt.Errorf("waitroom: tick: lease: %w", err)
	}
	holder := l.Holder
	s.leader.Store(&holder)
	g, err := s.b.Global(ctx)
	if err != nil {
		return fmt.Errorf("waitroom: tick: %w", err)
	}
	set := s.effective(g)
	s.settings.Store(&set)
	if !l.Held {
		s.ctrl = nil // a later leadership starts from the shared state
		return nil
	}
	if err := s.lead(ctx, l, g, set, now); err != nil {
		if vaxbook.ErrorCode(err) == vaxbook.CodeConflict { // lost the lease mid-tick
			s.ctrl = nil
			none := ""
			s.leader.Store(&none)
			return nil
		}
		return fmt.Errorf("waitroom: tick: %w", err)
	}
	return nil
}

func (s *Service) effective(g vaxbook.WaitRoomGlobal) vaxbook.WaitRoomSettings {
	if g.SettingsSet {
		return g.Settings
	}
	return s.cfg.Defaults
}

type roomTick struct {
	ri      *roomInfo
	c       vaxbook.RoomCounters
	waiting int64
	admit   int64
}

func (s *Service) lead(ctx context.Context, l vaxbook.Lease, g vaxbook.WaitRoomGlobal, set vaxbook.WaitRoomSettings, now time.Time) error {
	stage, err := s.b.TakeStage(ctx, l, now)
	if err != nil {
		return err
	}
	ids, err := s.b.RoomIDs(ctx)
	if err != nil {
		return err
	}
	var open []roomTick
	demand := false
	for _, id := range ids {
		c, err := s.b.Counters(ctx, id)
		if err != nil {
			if vaxbook.ErrorCode(err) == vaxbook.CodeNotInQueue {
				continue // dropped meanwhile
			}
			return err
		}
		ri := s.infoOf(c)
		if now.After(c.Closes.Add(s.cfg.Retention)) {
			if err := s.b.DropRoom(ctx, id); err != nil {
				return err
			}
			s.forget(id)
			continue
		}
		if _, err := s.b.Expire(ctx, id, now); err != nil {
			return err
		}
		if c.PreQueue < 0 && !now.Before(c.Opens) {
			var opened bool
			if c, opened, err = s.b.OpenRoom(ctx, id, now); err != nil {
				return err
			}
			if opened {
				s.auditShuffle(ctx, ri, c, now)
			}
		}
		if c.PreQueue < 0 || !now.Before(c.Closes) {
			continue
		}
		w := int64(c.Tail - c.Head)
		demand = demand || w > 0
		open = append(open, roomTick{ri: ri, c: c, waiting: w})
	}

	// Expiries changed the counts of people admitted and not finished.
	if g, err = s.b.Global(ctx); err != nil {
		return err
	}

	// The rate.
	dt := time.Duration(0)
	if !g.LastTick.IsZero() && now.After(g.LastTick) {
		dt = min(now.Sub(g.LastTick), s.cfg.MaxTickGap)
	}
	if s.ctrl == nil {
		start := g.Rate
		if start <= 0 {
			start = set.RatePerS
		}
		s.ctrl = NewController(s.cfg.Controller, start)
		if !g.Controller.At.IsZero() {
			s.ctrl.Restore(g.Controller)
		}
		s.acc, s.accFrom = vaxbook.StageSample{}, now
	}
	s.acc.Count += stage.Count
	s.acc.Errors += stage.Errors
	s.acc.LatencySum += stage.LatencySum
	s.acc.InFlight = stage.InFlight
	rate := g.Rate
	decision := ""
	switch set.Mode {
	case vaxbook.ModeAuto, vaxbook.ModeDrain:
		if interval := now.Sub(s.accFrom); interval >= s.cfg.ControlEvery || g.Rate <= 0 {
			rate = s.ctrl.Update(s.acc, interval, demand, set.MinRate, set.MaxRate, now)
			decision = s.ctrl.State().Decision
			s.acc, s.accFrom = vaxbook.StageSample{}, now
		} else {
			rate = clamp(s.ctrl.State().Rate, set.MinRate, set.MaxRate)
		}
	case vaxbook.ModeFixed:
		rate = set.RatePerS
		s.fixed(rate, now)
	case vaxbook.ModePaused:
		rate = 0
		s.fixed(s.ctrl.State().Rate, now)
	}

	// The budget: tokens at the rate, plus owed compensation for no-shows
	// and unused passes, within the bound on people admitted and not finished.
	tokens := g.Tokens + rate*dt.Seconds()
	tokens = math.Min(tokens, math.Max(rate*s.cfg.MaxTickGap.Seconds(), 1))
	if rate <= 0 {
		tokens = 0
	}
	budget := int64(tokens)
	var owed int64
	if rate > 0 {
		owed = min(g.Owed, int64(math.Ceil(rate*dt.Seconds())))
	}
	budget += owed
	st := s.stage(s.ctrl.State(), g.Stats, stage, now)
	s.ctrl.Restore(st)
	bound := st.StageBound
	if st.StageBound <= s.cfg.StageFloor && waitingIn(open) <= s.cfg.StageFloor {
		// The stage finishes hardly anyone and the line is short: the
		// places are held by people who left (freed only at the claim
		// deadline or the pass's expiry), and a line this short cannot
		// overfill the stage — do not keep it waiting for them.
		bound = math.MaxInt64
	}
	if set.MaxActive > 0 {
		bound = min(bound, set.MaxActive)
	}
	room := max(0, bound-g.Active-g.Unclaimed)
	paced := rate // the rate people in line are paced by
	if room < budget {
		budget = room
		paced = stagePace(rate, st.Finishing, bound, st.StageTime)
	}
	s.distribute(budget, open)

	withDemand := 0
	for _, rt := range open {
		if rt.waiting > 0 {
			withDemand++
		}
	}
	share := paced / float64(max(withDemand, 1))
	deadline := now.Add(s.cfg.ClaimTimeout)
	var admitted int64
	for _, rt := range open {
		// A sample of the outflow is valid only if the rate, not the
		// length of the line, limited the room.
		valid := rate > 0 && rt.admit < rt.waiting
		o := s.cfg.Outflow.advance(rt.c.Outflow, rt.c.Head+uint64(rt.admit), now, valid)
		n, err := s.b.Admit(ctx, l, rt.ri.id, rt.admit, now, deadline, share, o)
		if err != nil {
			return err
		}
		admitted += n
		rt.ri.cache.Store(nil)
	}
	fromTokens := min(admitted, budget-owed)
	owedUsed := admitted - fromTokens
	tokens -= float64(fromTokens)
	if !demand {
		tokens = math.Min(tokens, 1) // no burst saved up while nobody waits
	}
	st = s.ctrl.State()
	if set.Mode == vaxbook.ModeFixed || set.Mode == vaxbook.ModePaused {
		st.Decision = vaxbook.DecisionFixed
	}
	return s.b.SaveTick(ctx, l, vaxbook.TickState{Rate: rate, Tokens: tokens, OwedUsed: owedUsed, LastTick: now, Controller: st, Decision: decision})
}

func waitingIn(open []roomTick) int64 {
	var n int64
	for _, rt := range open {
		n += rt.waiting
	}
	return n
}

// finishWindow is the time constant of the stage's finishing pace.
const finishWindow = 10 * time.Second

// The measured stage time (Config.MeasureStageTime): stays are averaged over
// windows of at least stayWindow and stayWindowMin passes; the lowest
// window mean is kept for stayMemory (then the latest replaces it), and
// the stage time is twice it plus the leavers' time (at least
// LeaverAllowance), at most PassTTL/2.
const (
	stayWindow    = 10 * time.Second
	stayWindowMin = 20
	stayMemory    = 5 * time.Minute
)

// stage folds the stage's finishes since the last tick (passes used or
// given back so far, cluster-wide, in stats) into st's moving average of the
// finishing pace, the stays of the passes used since (sample) into the
// measured stay, and sets st.StageTime and st.StageBound: what the stage
// finishes in StageTime at that pace, at least StageFloor. By Little's law,
// people in the stage stay there about (people in it) ÷ (finishing pace);
// the bound keeps that stay within StageTime. With StageTime longer than
// people need, it binds only when the stage is overfull: a stage that is
// merely slow to fill finishes people at the pace it is given, which
// raises the bound as fast as it is used.
//
// The measured StageTime is twice the stay of the calmest recent window,
// as BBR keeps the minimum round trip rather than the latest: an overfull
// stage lengthens everyone's stay (searches and bookings slow down, more
// find their slot taken), and a bound that followed the latest stay would
// loosen just when it must hold. Added to it is the time the places of
// people who left are held (see leavers), which the bound counts until
// they expire: a 100,000-citizen rush whose simulated citizens book 3.3 s
// after collecting their pass, bounded at 10 s of the stage's pace, had
// its stage filled by the 2 % who left the line (no-shows, held 7 min) and
// the 1 % who left with a pass (held 10 min) within five minutes of the
// opening, and its pace fell from 300 to 46 a second.
func (s *Service) stage(st vaxbook.ControllerState, stats vaxbook.WaitRoomStats, sample vaxbook.StageSample, now time.Time) vaxbook.ControllerState {
	done := stats.Used + stats.Left
	switch dt := now.Sub(st.FinishedAt); {
	case st.FinishedAt.IsZero() || done < st.Finished || dt < 0:
		st.Finished, st.FinishedAt = done, now // first count, or counters restarted
	case dt > 0:
		a := 1 - math.Exp(-dt.Seconds()/finishWindow.Seconds())
		st.Finishing += a * (float64(done-st.Finished)/dt.Seconds() - st.Finishing)
		st.Finished, st.FinishedAt = done, now
	}
	st.Leavers = s.leavers(stats)
	st = s.stay(st, sample, now)
	st.StageBound = max(s.cfg.StageFloor, int64(st.Finishing*st.StageTime.Seconds()))
	return st
}

// leavers is how long, per admission so far, places were held by people
// who left: a no-show's for ClaimTimeout, an abandoned pass's for PassTTL
// (by Little's law, the stage holds that many seconds of its admissions
// in dead places). It counts only expiries that happened, so it trails
// the truth while the first admissions' deadlines are still ahead
// (LeaverAllowance covers that time).
func (s *Service) leavers(stats vaxbook.WaitRoomStats) time.Duration {
	if stats.Admitted <= 0 {
		return 0
	}
	held := float64(stats.NoShows)*s.cfg.ClaimTimeout.Seconds() + float64(stats.PassesExpired)*s.cfg.PassTTL.Seconds()
	return time.Duration(held / float64(stats.Admitted) * float64(time.Second))
}

// stay folds sample's stays into st's window and sets st.StageTime.
func (s *Service) stay(st vaxbook.ControllerState, sample vaxbook.StageSample, now time.Time) vaxbook.ControllerState {
	if st.StayWinFrom.IsZero() || now.Before(st.StayWinFrom) {
		st.StayWinFrom, st.StayWinSum, st.StayWinCount = now, 0, 0
	}
	st.StayWinSum += sample.StaySum
	st.StayWinCount += sample.Stays
	if now.Sub(st.StayWinFrom) >= stayWindow && st.StayWinCount >= stayWindowMin {
		mean := st.StayWinSum / time.Duration(st.StayWinCount)
		if st.Stay == 0 || mean < st.Stay || now.Sub(st.StayAt) > stayMemory {
			st.Stay, st.StayAt = mean, now
		}
		st.StayWinFrom, st.StayWinSum, st.StayWinCount = now, 0, 0
	}
	st.StageTime = s.cfg.StageTime
	if s.cfg.MeasureStageTime && st.Stay > 0 {
		st.StageTime = min(2*st.Stay+max(st.Leavers, s.cfg.LeaverAllowance), s.cfg.PassTTL/2)
	}
	return st
}

// stagePace is the admission rate while the stage's bound, not the rate,
// limits admissions: people enter as fast as others finish — the measured
// finishing pace, or what a stage of bound people staying StageTime lets
// in (Little's law; the floor before a pace is measured) — never more than
// rate. The line is paced by it: paced by the controller's rate, the front
// of a line the bound holds back polls as if admissions were running (a
// million-citizen rush: 75,000 waiting people polled 6,300 times a second,
// twice the poll budget, while the stage let ~235 a second in).
func stagePace(rate, finishing float64, bound int64, stageTime time.Duration) float64 {
	byBound := float64(bound) / stageTime.Seconds()
	return min(rate, max(finishing, byBound))
}

// fixed keeps the controller at the operator's rate, so that auto mode
// resumes from it.
func (s *Service) fixed(rate float64, now time.Time) {
	st := s.ctrl.State()
	st.Rate, st.Decision, st.At = rate, vaxbook.DecisionFixed, now
	s.ctrl.Restore(st)
	s.acc, s.accFrom = vaxbook.StageSample{}, now
}

// distribute splits budget over the rooms with people waiting: equal shares
// (water-filling: a room needing less gives the rest to the others), the
// indivisible remainder round-robin.
func (s *Service) distribute(budget int64, rooms []roomTick) {
	for budget > 0 {
		var need []int
		for i := range rooms {
			if rooms[i].admit < rooms[i].waiting {
				need = append(need, i)
			}
		}
		if len(need) == 0 {
			return
		}
		each := budget / int64(len(need))
		if each == 0 {
			for k := 0; k < len(need) && budget > 0; k++ {
				i := need[(s.rr+k)%len(need)]
				rooms[i].admit++
				budget--
			}
			s.rr++
			return
		}
		for _, i := range need {
			k := min(each, rooms[i].waiting-rooms[i].admit)
			rooms[i].admit += k
			budget -= k
		}
	}
}

// Run calls Tick every interval by clk until ctx ends, then gives up the
// controller lease so that another node takes over at once.
func (s *Service) Run(ctx context.Context, clk clock.Clock, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := s.Close(context.WithoutCancel(ctx)); err != nil {
				s.log.Error("waitroom: release lease", "err", err)
			}
			return
		case <-t.C:
			if err := s.Tick(ctx, clk.Now()); err != nil && ctx.Err() == nil {
				s.log.Error("waitroom: tick failed", "err", err)
			}
		}
	}
}

// Close gives up the controller lease if this node holds it.
func (s *Service) Close(ctx context.Context) error {
	s.tickMu.Lock()
	defer s.tickMu.Unlock()
	s.ctrl = nil
	none := ""
	s.leader.Store(&none)
	return s.b.ReleaseLease(ctx, s.cfg.Node)
}
