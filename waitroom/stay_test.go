package waitroom

import (
	"testing"
	"time"

	"vaxbook"
)

// TestStay follows the measured stage time window by window: the calmest
// recent window's mean stay is kept (a congested window does not loosen
// the bound) until it is stayMemory old; twice it plus the leavers'
// allowance (1 min here) is the stage time, at most PassTTL/2; not
// measuring, the configured StageTime holds.
func TestStay(t *testing.T) {
	type window struct {
		after time.Duration // since the previous one
		stays int64
		mean  time.Duration
		// want, after folding it in
		stay, stageTime time.Duration
	}
	for _, tc := range []struct {
		name     string
		operator time.Duration
		windows  []window
	}{
		{"calm then congested then calmer", 0, []window{
			{10 * time.Second, 100, 15 * time.Second, 15 * time.Second, 90 * time.Second},
			{10 * time.Second, 100, 40 * time.Second, 15 * time.Second, 90 * time.Second},  // congested: held
			{10 * time.Second, 100, 12 * time.Second, 12 * time.Second, 84 * time.Second},  // calmer: taken
			{4 * time.Minute, 100, 40 * time.Second, 12 * time.Second, 84 * time.Second},   // still remembered
			{70 * time.Second, 100, 40 * time.Second, 40 * time.Second, 140 * time.Second}, // 5 min 10 s on: the latest
		}},
		{"too few passes to close a window", 0, []window{
			{10 * time.Second, 19, 15 * time.Second, 0, DefaultPassTTL / 4},
			{time.Second, 1, 15 * time.Second, 15 * time.Second, 90 * time.Second}, // 20 over 11 s
		}},
		{"a window is at least 10 s", 0, []window{
			{9 * time.Second, 500, 15 * time.Second, 0, DefaultPassTTL / 4},
		}},
		{"a script's 2-s stay still leaves room for the leavers", 0, []window{
			{10 * time.Second, 100, 2 * time.Second, 2 * time.Second, 64 * time.Second},
		}},
		{"nor slow people lengthen it past half a pass's life", 0, []window{
			{10 * time.Second, 100, 4 * time.Minute, 4 * time.Minute, DefaultPassTTL / 2},
		}},
		{"not measuring: the operator's stage time", 45 * time.Second, []window{
			{0, 0, 0, 0, 45 * time.Second},
			{10 * time.Second, 100, 15 * time.Second, 15 * time.Second, 45 * time.Second},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{StageTime: DefaultPassTTL / 4, MeasureStageTime: true, PassTTL: DefaultPassTTL, LeaverAllowance: time.Minute}
			if tc.operator > 0 {
				cfg.StageTime, cfg.MeasureStageTime = tc.operator, false
			}
			s := &Service{cfg: cfg}
			now := time.Date(2021, 8, 9, 20, 0, 0, 0, time.UTC)
			st := s.stay(vaxbook.ControllerState{}, vaxbook.StageSample{}, now)
			for i, w := range tc.windows {
				now = now.Add(w.after)
				st = s.stay(st, vaxbook.StageSample{Stays: w.stays, StaySum: time.Duration(w.stays) * w.mean}, now)
				if st.Stay != w.stay || st.StageTime != w.stageTime {
					t.Fatalf("window %d: stay %s, stage time %s; want %s and %s", i, st.Stay, st.StageTime, w.stay, w.stageTime)
				}
			}
		})
	}
}

// TestLeavers: the time places of people who left were held, per
// admission, and how it enters the stage time (instead of the allowance
// when longer).
func TestLeavers(t *testing.T) {
	s := &Service{cfg: Config{PassTTL: 10 * time.Minute, ClaimTimeout: 7 * time.Minute, LeaverAllowance: 20 * time.Second, MeasureStageTime: true}}
	for _, tc := range []struct {
		name  string
		stats vaxbook.WaitRoomStats
		want  time.Duration
	}{
		{"nobody admitted", vaxbook.WaitRoomStats{}, 0},
		{"nobody left", vaxbook.WaitRoomStats{Admitted: 1000}, 0},
		// 50 × 420 s + 20 × 600 s over 1,000 admissions
		{"5 % no-shows, 2 % abandoned passes", vaxbook.WaitRoomStats{Admitted: 1000, NoShows: 50, PassesExpired: 20}, 33 * time.Second},
		{"2 % no-shows, 1 % abandoned passes", vaxbook.WaitRoomStats{Admitted: 100_000, NoShows: 2000, PassesExpired: 1000}, 14400 * time.Millisecond},
	} {
		if got := s.leavers(tc.stats); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	now := time.Date(2021, 8, 9, 20, 0, 0, 0, time.UTC)
	st := vaxbook.ControllerState{StayWinFrom: now}
	st.Leavers = 14400 * time.Millisecond // shorter than the allowance: the allowance
	st = s.stay(st, vaxbook.StageSample{Stays: 100, StaySum: 100 * 3 * time.Second}, now.Add(10*time.Second))
	if st.StageTime != 26*time.Second {
		t.Fatalf("stay 3 s, leavers 14.4 s, allowance 20 s: stage time %s, want 26s", st.StageTime)
	}
	st.Leavers = 33 * time.Second // longer: the measurement
	if st = s.stay(st, vaxbook.StageSample{}, now.Add(11*time.Second)); st.StageTime != 39*time.Second {
		t.Fatalf("stay 3 s, leavers 33 s: stage time %s, want 39s", st.StageTime)
	}
}
