package waitroom

import (
	"math"
	"time"

	"vaxbook"
)

// Outflow measurement. The ETA of a person is their place in line divided by
// the rate at which the serving counter moves while people wait. The leader
// accumulates the counter's progress over sample periods of at least
// OutflowConfig.Sample and folds each period's rate into an exponentially
// weighted moving average (time constant Window) together with the mean
// absolute deviation of the samples. Periods during which the line ran empty
// or admissions were paused say nothing about capacity and are discarded.

// OutflowConfig tunes the measurement.
type OutflowConfig struct {
	Sample     time.Duration // minimum sample period (default 5 s)
	Window     time.Duration // EWMA time constant (default 30 s)
	MinMeasure time.Duration // measured this long before the ETA is trusted (default 30 s)
	// MaxDeviation is the deviation, relative to the rate, above which the
	// outflow is called unstable (default 0.5).
	MaxDeviation float64
}

func (c *OutflowConfig) defaults() {
	if c.Sample <= 0 {
		c.Sample = 5 * time.Second
	}
	if c.Window <= 0 {
		c.Window = 30 * time.Second
	}
	if c.MinMeasure <= 0 {
		c.MinMeasure = 30 * time.Second
	}
	if c.MaxDeviation <= 0 {
		c.MaxDeviation = 0.5
	}
}

// advance returns the outflow state after a tick at now that leaves the
// serving counter at head. valid is false when the period since the sample
// started must be discarded (line empty, paused, room not open).
func (c OutflowConfig) advance(o vaxbook.OutflowState, head uint64, now time.Time, valid bool) vaxbook.OutflowState {
	if !valid || o.SampleAt.IsZero() || head < o.SampleHead || now.Before(o.SampleAt) {
		o.SampleAt, o.SampleHead = now, head
		return o
	}
	dt := now.Sub(o.SampleAt)
	if dt < c.Sample {
		return o
	}
	inst := float64(head-o.SampleHead) / dt.Seconds()
	if o.Since.IsZero() {
		o.Rate, o.Dev, o.Since = inst, 0, o.SampleAt
	} else {
		a := 1 - math.Exp(-dt.Seconds()/c.Window.Seconds())
		o.Dev += a * (math.Abs(inst-o.Rate) - o.Dev)
		o.Rate += a * (inst - o.Rate)
	}
	o.SampleAt, o.SampleHead = now, head
	return o
}

// stable reports whether o is measured long enough and steady enough to
// base an ETA on.
func (c OutflowConfig) stable(o vaxbook.OutflowState, now time.Time) bool {
	return !o.Since.IsZero() && now.Sub(o.Since) >= c.MinMeasure && o.Rate > 0 && o.Dev <= c.MaxDeviation*o.Rate
}

// eta returns the expected wait of the person at position (1 = next) and
// whether it is uncertain. planned is the admission rate the leader last
// gave the room. A measured, stable outflow is used unless the plan has
// since dropped well below it (an operator slowed or paused admissions); a
// plan above it is not believed (the booking stage or the bound on active
// people is what limits). Without a stable measurement the plan is shown,
// flagged uncertain; with neither, the ETA is 0 and uncertain.
func (c OutflowConfig) eta(o vaxbook.OutflowState, planned float64, position int64, now time.Time) (time.Duration, bool) {
	if position <= 0 {
		return 0, false
	}
	rate, uncertain := o.Rate, false
	if !c.stable(o, now) || planned < (1-c.MaxDeviation)*o.Rate {
		rate, uncertain = planned, true
	}
	if rate <= 0 {
		return 0, true
	}
	sec := float64(position) / rate
	if sec > maxETA.Seconds() {
		return maxETA, true
	}
	return time.Duration(sec * float64(time.Second)), uncertain
}

// maxETA caps what is shown; anything longer is flagged uncertain.
const maxETA = 48 * time.Hour
