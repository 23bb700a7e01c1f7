package waitroom

import (
	"math"
	"testing"
	"time"

	"vaxbook"
)

// stage is a fluid model of the booking stage: requests arrive (one per
// admitted person), are served at capacity per second, and wait behind the
// backlog: latency = base + backlog ÷ capacity. Requests waiting longer than
// timeout fail.
type stage struct {
	capacity float64
	base     time.Duration
	timeout  time.Duration
	backlog  float64
}

// step runs one second with arrivals and returns the sample the controller sees.
func (s *stage) step(arrivals float64) vaxbook.StageSample {
	s.backlog += arrivals
	served := math.Min(s.backlog, s.capacity)
	s.backlog -= served
	lat := s.base + time.Duration(s.backlog/s.capacity*float64(time.Second))
	sample := vaxbook.StageSample{Count: int64(served), LatencySum: lat * time.Duration(int64(served)),
		InFlight: int64(s.backlog + served*s.base.Seconds())}
	if s.timeout > 0 && lat > s.timeout {
		sample.Errors = sample.Count / 2
	}
	return sample
}

func TestControllerFollowsStage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		slow    stage // injected from 200 s to 300 s
		timeout time.Duration
	}{
		{"slower", stage{capacity: 100, base: 200 * time.Millisecond}, 0},
		{"erroring", stage{capacity: 60, base: 300 * time.Millisecond}, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewController(ControllerConfig{}, 50)
			st := &stage{capacity: 400, base: 50 * time.Millisecond, timeout: tc.timeout}
			t0 := time.Unix(0, 0)
			var rates []float64
			rate := 50.0
			for sec := 1; sec <= 500; sec++ {
				if sec == 200 {
					st.capacity, st.base = tc.slow.capacity, tc.slow.base
				}
				if sec == 300 {
					st.capacity, st.base = 400, 50*time.Millisecond
				}
				sample := st.step(rate)
				rate = c.Update(sample, time.Second, true, 5, 2000, t0.Add(time.Duration(sec)*time.Second))
				rates = append(rates, rate)
			}
			normal, slow, recovered := mean(rates[180:200]), mean(rates[280:300]), mean(rates[460:500])
			t.Logf("rate %.0f/s normal (capacity 400), %.0f/s slow (capacity %.0f), %.0f/s recovered", normal, slow, tc.slow.capacity, recovered)
			if normal < 300 || normal > 600 {
				t.Fatalf("normal rate %.0f/s is not near the capacity 400/s", normal)
			}
			if slow > 1.5*tc.slow.capacity {
				t.Fatalf("slow-stage rate %.0f/s stays far above its capacity %.0f/s", slow, tc.slow.capacity)
			}
			if recovered < 0.8*normal {
				t.Fatalf("rate recovered only to %.0f/s of %.0f/s", recovered, normal)
			}
		})
	}
}

// TestControllerSlowStart: from a cautious 100/s, a stage that can take
// 5,000/s is reached within a minute (√rate steps alone would take over
// ten), and the rate then stays near the capacity without overshooting it
// for long.
func TestControllerSlowStart(t *testing.T) {
	c := NewController(ControllerConfig{}, 100)
	st := &stage{capacity: 5000, base: 50 * time.Millisecond, timeout: time.Second}
	t0 := time.Unix(0, 0)
	rate, reached := 100.0, 0
	var rates []float64
	for sec := 1; sec <= 300; sec++ {
		rate = c.Update(st.step(rate), time.Second, true, 5, 20000, t0.Add(time.Duration(sec)*time.Second))
		rates = append(rates, rate)
		if reached == 0 && rate >= 0.8*st.capacity {
			reached = sec
		}
	}
	steady := mean(rates[200:])
	t.Logf("80%% of capacity after %d s; steady %.0f/s (capacity %.0f)", reached, steady, st.capacity)
	if reached == 0 || reached > 60 {
		t.Fatalf("80%% of the capacity reached after %d s (0: never), want within 60 s", reached)
	}
	if steady < 0.7*st.capacity || steady > 1.3*st.capacity {
		t.Fatalf("steady rate %.0f/s, capacity %.0f/s", steady, st.capacity)
	}
}

func TestControllerDecisions(t *testing.T) {
	t0 := time.Unix(1000, 0)
	healthy := vaxbook.StageSample{Count: 100, LatencySum: 100 * 50 * time.Millisecond, InFlight: 5}
	for _, tc := range []struct {
		name     string
		warm     bool // a healthy interval first (sets the baseline)
		sample   vaxbook.StageSample
		demand   bool
		min, max float64
		want     string
		check    func(rate float64) bool
	}{
		{"grows with demand", true, healthy, true, 1, 1000, vaxbook.DecisionIncrease, func(r float64) bool { return r > 100 }},
		{"no growth without demand", true, healthy, false, 1, 1000, vaxbook.DecisionHold, func(r float64) bool { return r <= 100 }},
		{"errors back off", true, vaxbook.StageSample{Count: 100, Errors: 20, LatencySum: 100 * 50 * time.Millisecond}, true, 1, 1000,
			vaxbook.DecisionDecreaseErrors, func(r float64) bool { return r < 75 }},
		{"latency backs off", true, vaxbook.StageSample{Count: 100, LatencySum: 100 * 400 * time.Millisecond, InFlight: 40}, true, 1, 1000,
			vaxbook.DecisionDecreaseLatency, func(r float64) bool { return r < 100 }},
		{"stalled stage backs off", true, vaxbook.StageSample{Count: 0, InFlight: 500}, true, 1, 1000,
			vaxbook.DecisionDecreaseLatency, func(r float64) bool { return r < 100 }},
		{"queueing seen in flight", true, vaxbook.StageSample{Count: 100, LatencySum: 100 * 50 * time.Millisecond, InFlight: 60}, true, 1, 1000,
			vaxbook.DecisionDecreaseLatency, func(r float64) bool { return r < 100 }},
		{"no signal holds", false, vaxbook.StageSample{}, true, 1, 1000, vaxbook.DecisionHold, func(r float64) bool { return r == 100 }},
		{"upper bound", true, healthy, true, 1, 100, vaxbook.DecisionHold, func(r float64) bool { return r == 100 }},
		{"lower bound", true, vaxbook.StageSample{Count: 100, Errors: 100, LatencySum: time.Second}, true, 90, 1000,
			vaxbook.DecisionDecreaseErrors, func(r float64) bool { return r == 90 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewController(ControllerConfig{}, 100)
			if tc.warm {
				c.Update(healthy, time.Second, false, tc.min, 100, t0)
			}
			rate := c.Update(tc.sample, time.Second, tc.demand, tc.min, tc.max, t0.Add(time.Second))
			if st := c.State(); st.Decision != tc.want || !tc.check(rate) || st.Rate != rate {
				t.Fatalf("rate %.1f, state %+v; want decision %q", rate, st, tc.want)
			}
		})
	}
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
