package waitroom

import (
	"math"
	"time"

	"vaxbook"
)

// Controller sets the admission rate (people per second let into the
// booking stage) from the stage's health, in the manner of the gradient
// limiter of Netflix's concurrency-limits (Gradient2), with an AIMD-style
// multiplicative decrease on errors:
//
//   - errors: when more than MaxErrorRate of an interval's requests fail for
//     the stage's own reasons, the rate is multiplied by Backoff;
//   - latency: the gradient Tolerance × baseline ÷ latency (clamped to
//     [0.5, 1]) scales the rate down when the interval's mean latency rises
//     above Tolerance times the long-term baseline;
//   - in flight: by Little's law a stage without queueing holds about
//     throughput × baseline requests; more than Tolerance times that means
//     requests are queueing (or hanging, which latency alone only shows once
//     they complete), with the same gradient;
//   - growth: when the gradient is 1 and people are waiting, the rate grows
//     by √rate (the "queue allowance"), so it probes upwards quickly when
//     low and carefully when high — and while the stage shows no queueing
//     at all (latency at its baseline, in flight within Little's law), it
//     doubles instead (slow start, as TCP), so that a cautious starting rate
//     does not hold a rush at a fraction of the stage's capacity;
//   - smoothing: each update moves the rate only Smoothing of the way to the
//     new value, and the result is clamped to the operator's [min, max].
//
// The baseline is an EWMA of the interval latencies over BaselineWindow
// updates; when the latency falls well below it (the stage recovered) it
// decays quickly so that the controller does not keep accepting a slow
// stage as normal. Time is injected: Update takes the interval's length.
type Controller struct {
	cfg ControllerConfig
	st  vaxbook.ControllerState
}

// ControllerConfig tunes the controller; zero fields take the defaults.
type ControllerConfig struct {
	Tolerance      float64 // latency may reach Tolerance × baseline before the rate backs off (1.5)
	Backoff        float64 // multiplicative decrease on errors (0.7)
	MaxErrorRate   float64 // error fraction that triggers Backoff (0.05)
	Smoothing      float64 // share of the step applied per update (0.2)
	BaselineWindow float64 // updates the baseline averages over (100)
	MinSamples     int64   // requests an interval needs to judge latency or errors (5)
}

func (c *ControllerConfig) defaults() {
	if c.Tolerance <= 1 {
		c.Tolerance = 1.5
	}
	if c.Backoff <= 0 || c.Backoff >= 1 {
		c.Backoff = 0.7
	}
	if c.MaxErrorRate <= 0 {
		c.MaxErrorRate = 0.05
	}
	if c.Smoothing <= 0 || c.Smoothing > 1 {
		c.Smoothing = 0.2
	}
	if c.BaselineWindow < 1 {
		c.BaselineWindow = 100
	}
	if c.MinSamples <= 0 {
		c.MinSamples = 5
	}
}

// NewController returns a controller starting at rate.
func NewController(cfg ControllerConfig, rate float64) *Controller {
	cfg.defaults()
	return &Controller{cfg: cfg, st: vaxbook.ControllerState{Rate: rate, Decision: vaxbook.DecisionHold}}
}

// State returns the controller's state (to persist or show).
func (c *Controller) State() vaxbook.ControllerState { return c.st }

// Restore continues from a persisted state (a new leader picks up where the
// last one stopped).
func (c *Controller) Restore(st vaxbook.ControllerState) { c.st = st }

// Update folds in the booking stage's sample over the last interval dt and
// returns the new rate, within [minRate, maxRate]. demand says people are
// waiting (a rate nobody uses is not grown).
func (c *Controller) Update(s vaxbook.StageSample, dt time.Duration, demand bool, minRate, maxRate float64, now time.Time) float64 {
	cfg := c.cfg
	rate := clamp(c.st.Rate, minRate, maxRate)
	old := rate
	c.st.At, c.st.InFlight = now, s.InFlight
	c.st.Latency, c.st.ErrorRate = 0, 0
	if s.Count > 0 {
		c.st.Latency = s.LatencySum / time.Duration(s.Count)
		c.st.ErrorRate = float64(s.Errors) / float64(s.Count)
	}
	short := c.st.Latency.Seconds()
	stalled := s.Count < cfg.MinSamples && s.InFlight >= cfg.MinSamples
	decision := vaxbook.DecisionHold
	switch {
	case s.Count >= cfg.MinSamples && c.st.ErrorRate > cfg.MaxErrorRate:
		rate *= cfg.Backoff
		decision = vaxbook.DecisionDecreaseErrors
	case s.Count >= cfg.MinSamples || stalled:
		base := c.st.Baseline.Seconds()
		if s.Count >= cfg.MinSamples {
			if base == 0 {
				base = short
			}
			base += (short - base) / cfg.BaselineWindow
			if base > 2*short {
				base *= 0.9 // recovered: do not keep a slow past as the norm
			}
			c.st.Baseline = time.Duration(base * float64(time.Second))
		}
		grad := 1.0
		if short > 0 {
			grad = clamp(cfg.Tolerance*base/short, 0.5, 1)
		}
		// idle: the stage shows no queueing at all — latency at its
		// baseline and no more in flight than Little's law gives for it.
		idle := !stalled && short <= 1.1*base
		if stalled {
			grad = 0.5
		} else if s.InFlight > 0 && dt > 0 {
			// Little's law with room for the noise of a sampled gauge.
			expected := float64(s.Count) / dt.Seconds() * base
			limit := cfg.Tolerance*expected + 3*math.Sqrt(expected) + float64(cfg.MinSamples)
			grad = math.Min(grad, clamp(limit/float64(s.InFlight), 0.5, 1))
			idle = idle && float64(s.InFlight) <= expected+math.Sqrt(expected)+float64(cfg.MinSamples)
		}
		next := rate * grad
		switch {
		case grad >= 1 && demand && idle:
			// Slow start: an idle stage with people waiting doubles
			// (before smoothing: ×1.2 an update), so a cautious starting
			// rate reaches a large stage's capacity in tens of seconds,
			// not the tens of minutes √rate steps would take.
			next += math.Max(rate, 1)
		case grad >= 1 && demand:
			next += math.Sqrt(math.Max(rate, 1))
		}
		rate += cfg.Smoothing * (next - rate)
		if grad < 1 {
			decision = vaxbook.DecisionDecreaseLatency
		}
	}
	rate = clamp(rate, minRate, maxRate)
	if decision == vaxbook.DecisionHold && rate > old {
		decision = vaxbook.DecisionIncrease
	}
	c.st.Rate, c.st.Decision = rate, decision
	return rate
}

func clamp(x, lo, hi float64) float64 {
	if x < lo {
		return lo
	}
	if hi > 0 && x > hi {
		return hi
	}
	return x
}
