package waitroom

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"vaxbook"
)

// maxRateBound is the largest rate an operator may set (people per second).
const maxRateBound = 1_000_000

// ValidateSettings checks operator settings; the error is an *vaxbook.Error
// with CodeInvalid naming the field.
func ValidateSettings(s vaxbook.WaitRoomSettings) error {
	switch s.Mode {
	case vaxbook.ModeAuto, vaxbook.ModeFixed, vaxbook.ModePaused, vaxbook.ModeDrain:
	default:
		return vaxbook.InvalidParam("mode", "mode must be auto, fixed, paused or drain")
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"rate_per_s", s.RatePerS}, {"min_rate", s.MinRate}, {"max_rate", s.MaxRate}} {
		if !finite(f.v) || f.v < 0 || f.v > maxRateBound {
			return vaxbook.InvalidParam(f.name, "%s must be between 0 and %d", f.name, maxRateBound)
		}
	}
	switch {
	case s.MaxRate <= 0:
		return vaxbook.InvalidParam("max_rate", "max_rate must be positive")
	case s.MinRate > s.MaxRate:
		return vaxbook.InvalidParam("min_rate", "min_rate must not exceed max_rate")
	case s.Mode == vaxbook.ModeFixed && s.RatePerS <= 0:
		return vaxbook.InvalidParam("rate_per_s", "fixed mode needs a positive rate_per_s")
	case s.MaxActive < 0:
		return vaxbook.InvalidParam("max_active", "max_active must not be negative (0: no bound)")
	}
	return nil
}

// Set implements vaxbook.WaitRoom. Invalid settings change nothing. The
// change is audited (who, when, from, to) before it is applied.
func (s *Service) Set(ctx context.Context, actor string, set vaxbook.WaitRoomSettings, now time.Time) (vaxbook.WaitRoomState, error) {
	if actor == "" {
		return vaxbook.WaitRoomState{}, vaxbook.Errorf(vaxbook.CodeForbidden, "an operator is required")
	}
	if err := ValidateSettings(set); err != nil {
		return vaxbook.WaitRoomState{}, err
	}
	g, err := s.b.Global(ctx)
	if err != nil {
		return vaxbook.WaitRoomState{}, fmt.Errorf("waitroom: set: %w", err)
	}
	prev := s.effective(g)
	detail, _ := json.Marshal(map[string]vaxbook.WaitRoomSettings{"from": prev, "to": set})
	if err := s.audit(ctx, vaxbook.AuditEntry{At: now, Actor: actor, Action: "waitroom.set", Target: "waitroom", Detail: string(detail)}); err != nil {
		return vaxbook.WaitRoomState{}, fmt.Errorf("waitroom: set: audit: %w", err)
	}
	if err := s.b.SetSettings(ctx, set); err != nil {
		return vaxbook.WaitRoomState{}, fmt.Errorf("waitroom: set: %w", err)
	}
	s.settings.Store(&set)
	s.log.Info("waitroom: settings changed", "actor", actor, "mode", set.Mode, "rate_per_s", set.RatePerS,
		"max_active", set.MaxActive, "min_rate", set.MinRate, "max_rate", set.MaxRate)
	return s.State(ctx, now)
}

// State implements vaxbook.WaitRoom.
func (s *Service) State(ctx context.Context, now time.Time) (vaxbook.WaitRoomState, error) {
	g, err := s.b.Global(ctx)
	if err != nil {
		return vaxbook.WaitRoomState{}, fmt.Errorf("waitroom: state: %w", err)
	}
	st := vaxbook.WaitRoomState{
		Settings: s.effective(g), Rate: g.Rate, Unclaimed: g.Unclaimed, Active: g.Active,
		Node: s.cfg.Node, Controller: g.Controller, Rooms: []vaxbook.RoomState{},
	}
	if g.Lease.Holder != "" && now.Before(g.Lease.Until) {
		st.Leader = g.Lease.Holder
	}
	ids, err := s.b.RoomIDs(ctx)
	if err != nil {
		return vaxbook.WaitRoomState{}, fmt.Errorf("waitroom: state: %w", err)
	}
	for _, id := range ids {
		c, err := s.b.Counters(ctx, id)
		if err != nil {
			if vaxbook.ErrorCode(err) == vaxbook.CodeNotInQueue {
				continue
			}
			return vaxbook.WaitRoomState{}, fmt.Errorf("waitroom: state: %w", err)
		}
		rs := vaxbook.RoomState{ID: id, Opens: c.Opens, Closes: c.Closes, Opened: c.PreQueue >= 0,
			Issued: int64(c.Tail), Admitted: int64(c.Head), Outflow: c.Outflow.Rate,
			Stable: s.cfg.Outflow.stable(c.Outflow, now)}
		if rs.Opened {
			rs.Prequeue = c.PreQueue
			rs.Waiting = int64(c.Tail - c.Head)
			k := ShuffleKey(s.cfg.Secret, id)
			rs.ShuffleKey = hex.EncodeToString(k[:])
			st.Waiting += rs.Waiting
			st.Outflow += rs.Outflow
		} else {
			rs.Prequeue = int64(c.Tail)
			st.Prequeue += rs.Prequeue
		}
		st.Rooms = append(st.Rooms, rs)
	}
	st.Stats = g.Stats
	st.Stats.Waiting, st.Stats.Prequeue = st.Waiting, st.Prequeue
	st.Stats.Unclaimed, st.Stats.Active = st.Unclaimed, st.Active
	st.Stats.Rate, st.Stats.Outflow = st.Rate, st.Outflow
	st.Stats.Finishing, st.Stats.StageBound = g.Controller.Finishing, g.Controller.StageBound
	st.Stats.StageTime, st.Stats.Stay = g.Controller.StageTime, g.Controller.Stay
	return st, nil
}

// Stats implements vaxbook.WaitRoom: the cluster's counters and gauges.
func (s *Service) Stats(ctx context.Context) (vaxbook.WaitRoomStats, error) {
	st, err := s.State(ctx, time.Time{})
	if err != nil {
		return vaxbook.WaitRoomStats{}, err
	}
	return st.Stats, nil
}
