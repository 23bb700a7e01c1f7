package ops

import (
	"time"

	"vaxbook"
)

// WaitRoomCounts are the waiting room's cumulative counters as the ops API
// and dashboard show them (cluster totals).
type WaitRoomCounts struct {
	Arrivals         int64 `json:"arrivals"`
	Rejoins          int64 `json:"rejoins"`
	Admitted         int64 `json:"admitted"`
	Claimed          int64 `json:"claimed"`
	PassesUsed       int64 `json:"passes_used"`
	Left             int64 `json:"left"`
	NoShows          int64 `json:"no_shows"`
	PassesExpired    int64 `json:"passes_expired"`
	Increases        int64 `json:"controller_increases"`
	LatencyDecreases int64 `json:"controller_latency_decreases"`
	ErrorDecreases   int64 `json:"controller_error_decreases"`
	Holds            int64 `json:"controller_holds"`
}

// CountsOf returns the counters of s.
func CountsOf(s vaxbook.WaitRoomStats) WaitRoomCounts {
	return WaitRoomCounts{Arrivals: s.Arrivals, Rejoins: s.Rejoins, Admitted: s.Admitted, Claimed: s.Claimed,
		PassesUsed: s.Used, Left: s.Left, NoShows: s.NoShows, PassesExpired: s.PassesExpired,
		Increases: s.Increases, LatencyDecreases: s.LatencyDecreases, ErrorDecreases: s.ErrorDecreases, Holds: s.Holds}
}

// ControllerView is the admission controller's state with durations in
// milliseconds.
type ControllerView struct {
	Rate       float64   `json:"rate"`
	BaselineMS float64   `json:"baseline_ms"`
	LatencyMS  float64   `json:"latency_ms"`
	ErrorRate  float64   `json:"error_rate"`
	InFlight   int64     `json:"in_flight"`
	Decision   string    `json:"decision"`
	At         time.Time `json:"at,omitzero"`
	// The booking stage's pace (people finishing it per second) and the
	// bound on people admitted and not finished derived from it.
	FinishingPerS float64 `json:"finishing_per_s"`
	StageBound    int64   `json:"stage_bound"`
	// The stage time the bound is derived from, and the measured time from
	// collecting a pass to booking with it (0 until measured).
	StageTimeS float64 `json:"stage_time_s"`
	StayS      float64 `json:"stay_s"`
	// How long places of people who left were held, per admission.
	LeaversS float64 `json:"leavers_s"`
}

// ControllerViewOf returns the view of c.
func ControllerViewOf(c vaxbook.ControllerState) ControllerView {
	return ControllerView{Rate: c.Rate, BaselineMS: ms(c.Baseline), LatencyMS: ms(c.Latency), ErrorRate: c.ErrorRate,
		InFlight: c.InFlight, Decision: c.Decision, At: c.At, FinishingPerS: c.Finishing, StageBound: c.StageBound,
		StageTimeS: c.StageTime.Seconds(), StayS: c.Stay.Seconds(), LeaversS: c.Leavers.Seconds()}
}
