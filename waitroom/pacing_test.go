package waitroom

import (
	"math"
	"slices"
	"sort"
	"testing"
	"time"

	"vaxbook"
)

func TestOutflowETA(t *testing.T) {
	cfg := OutflowConfig{}
	cfg.defaults()
	t0 := time.Unix(0, 0)
	// A steady 100/s measured for a minute, sampled every 5 s.
	var o vaxbook.OutflowState
	head := uint64(0)
	for s := 0; s <= 60; s++ {
		o = cfg.advance(o, head, t0.Add(time.Duration(s)*time.Second), true)
		head += 100
	}
	now := t0.Add(60 * time.Second)
	for _, tc := range []struct {
		name      string
		o         vaxbook.OutflowState
		planned   float64
		position  int64
		want      time.Duration
		uncertain bool
	}{
		{"steady", o, 100, 6000, time.Minute, false},
		{"plan above the measurement is not believed", o, 400, 6000, time.Minute, false},
		{"operator slowed down", o, 20, 6000, 5 * time.Minute, true},
		{"paused", o, 0, 6000, 0, true},
		{"not measured: the plan, flagged", vaxbook.OutflowState{}, 50, 6000, 2 * time.Minute, true},
		{"nothing known", vaxbook.OutflowState{}, 0, 6000, 0, true},
		{"too young", vaxbook.OutflowState{Rate: 100, Since: now.Add(-10 * time.Second)}, 100, 6000, time.Minute, true},
		{"unstable", vaxbook.OutflowState{Rate: 100, Dev: 80, Since: t0}, 100, 6000, time.Minute, true},
		{"a trickle is capped, never a 100-hour guess", vaxbook.OutflowState{}, 1, 1_000_000, maxETA, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, unc := cfg.eta(tc.o, tc.planned, tc.position, now)
			if unc != tc.uncertain || math.Abs(got.Seconds()-tc.want.Seconds()) > 0.01*tc.want.Seconds()+0.001 {
				t.Fatalf("eta = %s uncertain %v, want %s uncertain %v", got, unc, tc.want, tc.uncertain)
			}
		})
	}
	if math.Abs(o.Rate-100) > 0.5 || o.Dev > 1 {
		t.Fatalf("steady outflow measured as %.1f ± %.1f", o.Rate, o.Dev)
	}
}

func TestOutflowIgnoresBurstsAndIdle(t *testing.T) {
	cfg := OutflowConfig{}
	cfg.defaults()
	t0 := time.Unix(0, 0)
	var o vaxbook.OutflowState
	// A burst (2,000/s for 5 s), then a steady 100/s.
	o = cfg.advance(o, 0, t0, true)
	o = cfg.advance(o, 10_000, t0.Add(5*time.Second), true)
	head := uint64(10_000)
	sec := 5
	run := func(until int) {
		for ; sec < until; sec++ {
			head += 100
			o = cfg.advance(o, head, t0.Add(time.Duration(sec+1)*time.Second), true)
		}
	}
	run(60)
	if eta, unc := cfg.eta(o, 100, 6000, t0.Add(60*time.Second)); !unc || eta != time.Minute {
		t.Fatalf("a minute after a burst: ETA %s uncertain %v, want the plan (1m) flagged uncertain (outflow %+v)", eta, unc, o)
	}
	run(300)
	now := t0.Add(300 * time.Second)
	if eta, unc := cfg.eta(o, 100, 6000, now); unc || math.Abs(eta.Seconds()-60) > 6 {
		t.Fatalf("after five steady minutes: ETA %s uncertain %v (outflow %+v), want about 1m and certain", eta, unc, o)
	}
	// The line runs empty for a minute: those periods are discarded, so
	// the outflow is not measured as zero (which would make ETAs explode).
	for ; sec < 360; sec++ {
		o = cfg.advance(o, head, t0.Add(time.Duration(sec+1)*time.Second), false)
	}
	if math.Abs(o.Rate-100) > 10 || !cfg.stable(o, t0.Add(360*time.Second)) {
		t.Fatalf("an idle line changed the outflow to %+v", o)
	}
}

// TestPollingLoad computes the polling load of a national opening: a
// pre-queue of people drawn at the opening instant and admitted at a rate
// that is steady, or low during a sign-in surge and then high. Every
// person's polls are followed from the first one after opening (spread by
// prequeueRetry) until the one that finds them admitted, paced as Status
// paces them (the ETA from the rate of the moment, never slower than the
// poll budget allows for the line). The busiest second must stay within a
// few thousand polls, and nobody may learn of their admission so late that
// the claim deadline passes — after a rise of the rate, not even a minute.
func TestPollingLoad(t *testing.T) {
	s, err := New(Config{Backend: NewMemory(), Secret: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		n       int64
		rates   []float64 // people admitted per second, second by second; the last holds
		maxLate time.Duration
		busiest int // polls in the busiest second at most
	}{
		// Before the budget pacing: 6.0 polls a person, 4,829 in the busiest second.
		{"a million at a steady 500/s", 1_000_000, []float64{500}, s.cfg.ClaimTimeout, 5000},
		// The rush's shape: the sign-in surge holds admissions low, then
		// the controller's slow start lets 3,000/s in. Paced by the ETA
		// alone, the first cohort learned of admission 5 minutes late. At
		// most the poll budget plus one poll per admission.
		{"100,000 at 30/s for two minutes, then 3,000/s", 100_000, append(slices.Repeat([]float64{30}, 120), 3000), 90 * time.Second, 6000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// admittedBy[i]: people admitted by second i.
			var admittedBy []float64
			sum := 0.0
			for i := 0; sum < float64(tc.n); i++ {
				admittedBy = append(admittedBy, sum)
				sum += tc.rates[min(i, len(tc.rates)-1)]
			}
			admittedBy = append(admittedBy, sum)
			headAt := func(at time.Duration) float64 {
				i := int(at / time.Second)
				if i >= len(admittedBy)-1 {
					return float64(tc.n)
				}
				f := (at - time.Duration(i)*time.Second).Seconds()
				return admittedBy[i] + f*(admittedBy[i+1]-admittedBy[i])
			}
			rateAt := func(at time.Duration) float64 { return tc.rates[min(int(at/time.Second), len(tc.rates)-1)] }
			horizon := len(admittedBy) + int(s.cfg.MaxRetry.Seconds()) + 60
			perSecond := make([]int, horizon)
			opens := time.Unix(1_628_506_800, 0)
			ri := &roomInfo{opens: opens}
			c := vaxbook.RoomCounters{Tail: uint64(tc.n)}
			var total int
			var maxLate time.Duration
			for seq := uint64(0); seq < uint64(tc.n); seq++ {
				// A random place: the draw makes place and first poll independent.
				place := int64(sipHash(1, 2, seq)%uint64(tc.n)) + 1
				at := s.prequeueRetry(ri, c, seq, opens.Add(-time.Second)) - time.Second
				i := sort.SearchFloat64s(admittedBy, float64(place))
				admitted := time.Duration(i) * time.Second
				for {
					total++
					perSecond[int(at/time.Second)]++
					if at >= admitted {
						maxLate = max(maxLate, at-admitted)
						break
					}
					head := headAt(at)
					ahead := place - int64(head)
					eta := time.Duration(float64(ahead) / rateAt(at) * float64(time.Second))
					at += s.pollRetry(ahead, eta, tc.n-int64(head), seq, opens.Add(at))
				}
			}
			busiest, when := 0, 0
			for i, p := range perSecond {
				if p > busiest {
					busiest, when = p, i
				}
			}
			t.Logf("busiest second: %d s after the opening", when)
			t.Logf("%.1f polls per person, %d in the busiest second; latest news of admission %s",
				float64(total)/float64(tc.n), busiest, maxLate.Round(time.Second))
			if busiest > tc.busiest {
				t.Fatalf("busiest second has %d polls for %d waiting, want at most %d", busiest, tc.n, tc.busiest)
			}
			if maxLate >= tc.maxLate {
				t.Fatalf("someone learned of admission %s late, want under %s", maxLate, tc.maxLate)
			}
		})
	}
}

func TestPaceETA(t *testing.T) {
	for _, tc := range []struct {
		name     string
		eta      time.Duration
		position int64
		planned  float64
		want     time.Duration
	}{
		{"plan raised above the measurement", 10 * time.Minute, 60_000, 1000, time.Minute},
		{"plan below the measurement", time.Minute, 6000, 10, time.Minute},
		{"no plan (paused)", time.Minute, 6000, 0, time.Minute},
		{"no measurement", 0, 6000, 100, time.Minute},
		{"nothing known", 0, 6000, 0, 0},
	} {
		if got := paceETA(tc.eta, tc.position, tc.planned); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestBudgetRetry(t *testing.T) {
	s, err := New(Config{Backend: NewMemory(), Secret: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_628_506_800, 0)
	for _, tc := range []struct {
		waiting int64
		period  time.Duration // 2 × waiting ÷ budget
	}{
		{0, 0},
		{3000, 2 * time.Second},
		{90_000, time.Minute},
		{1_000_000, 666666666666},
	} {
		// A thousand people polling within the same second come back
		// between half and the whole period (never sooner than MinRetry),
		// and spread over it.
		var buckets [10]int
		for seq := range uint64(1000) {
			r := s.budgetRetry(tc.waiting, seq, now.Add(time.Duration(seq)*time.Millisecond))
			lo := max(tc.period/2, DefaultMinRetry)
			if r < lo || r > max(tc.period, DefaultMinRetry) {
				t.Fatalf("%d waiting: retry %s, want within [%s, %s]", tc.waiting, r, lo, tc.period)
			}
			if tc.period > 0 {
				buckets[min(int(10*(r-tc.period/2)/(tc.period/2)), 9)]++
			}
		}
		if tc.period > 10*DefaultMinRetry {
			for i, n := range buckets {
				if n < 50 || n > 150 {
					t.Fatalf("%d waiting: polls bunch, tenth %d of the range has %d of 1000 (%v)", tc.waiting, i, n, buckets)
				}
			}
		}
	}
}

func TestRetryBounds(t *testing.T) {
	s, err := New(Config{Backend: NewMemory(), Secret: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		position int64
		eta      time.Duration
		min, max time.Duration
	}{
		{1, 0, DefaultMinRetry, DefaultMinRetry},
		{1, 10 * time.Millisecond, DefaultMinRetry, DefaultMinRetry},
		{5000, 10 * time.Second, 9 * time.Second, 10 * time.Second},
		{1_000_000, 30 * time.Minute, 0, DefaultMaxRetry},
		{1_000_000, 0, 0, DefaultMaxRetry}, // unknown ETA: paced for the highest rate allowed
	} {
		for seq := uint64(0); seq < 100; seq++ {
			r := s.waitRetry(tc.position, tc.eta, seq)
			if r < tc.min || r > tc.max || r < DefaultMinRetry {
				t.Fatalf("retry for position %d eta %s = %s, want within [%s, %s]", tc.position, tc.eta, r, tc.min, tc.max)
			}
		}
	}
}
