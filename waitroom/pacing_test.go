package waitroom

import (
	"math"
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
// pre-queue of a million people drawn at the opening instant and admitted
// at 500 per second (1.8 million an hour). Every person's polls are
// followed from the first one after opening (spread by prequeueRetry) until
// the one that finds them admitted, as the service paces them, with the
// ETA from a stable measured outflow. The busiest second must stay within a
// few thousand polls, and nobody may learn of their admission so late that
// the claim deadline passes.
func TestPollingLoad(t *testing.T) {
	s, err := New(Config{Backend: NewMemory(), Secret: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	const (
		n    = 1_000_000
		rate = 500.0
	)
	opens := time.Unix(1_628_506_800, 0)
	ri := &roomInfo{opens: opens}
	c := vaxbook.RoomCounters{Tail: n}
	horizon := int(n/rate) + int(s.cfg.MaxRetry.Seconds()) + 60
	perSecond := make([]int, horizon)
	var total int
	var maxLate time.Duration
	for seq := uint64(0); seq < n; seq++ {
		// A random place: the draw makes place and first poll independent.
		place := int64(sipHash(1, 2, seq)%n) + 1
		// The first poll after opening, as told at the last pre-queue poll.
		at := s.prequeueRetry(ri, c, seq, opens.Add(-time.Second)) - time.Second
		admitted := time.Duration(float64(place) / rate * float64(time.Second))
		for {
			total++
			perSecond[int(at/time.Second)]++
			if at >= admitted {
				maxLate = max(maxLate, at-admitted)
				break
			}
			ahead := place - int64(at.Seconds()*rate)
			eta := time.Duration(float64(ahead) / rate * float64(time.Second))
			at += s.waitRetry(ahead, eta, seq)
		}
	}
	busiest := 0
	for _, p := range perSecond {
		busiest = max(busiest, p)
	}
	perPerson := float64(total) / n
	t.Logf("%d waiting at %v/s: %.1f polls per person, %.0f/s on average, %d in the busiest second; latest news of admission %s",
		n, rate, perPerson, float64(total)/(n/rate), busiest, maxLate)
	if busiest > 5000 {
		t.Fatalf("busiest second has %d polls for %d waiting: more than a few thousand", busiest, n)
	}
	if maxLate >= s.cfg.ClaimTimeout {
		t.Fatalf("someone learned of admission %s late, past the claim timeout %s", maxLate, s.cfg.ClaimTimeout)
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

func TestBudgetPace(t *testing.T) {
	s, err := New(Config{Backend: NewMemory(), Secret: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		waiting int64
		want    time.Duration
	}{
		{0, DefaultMinRetry},
		{3000, DefaultMinRetry},
		{90_000, 30 * time.Second},
		{1_000_000, 333333333333},
	} {
		if got := s.budgetPace(tc.waiting); got != tc.want {
			t.Errorf("%d waiting: %s, want %s", tc.waiting, got, tc.want)
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
