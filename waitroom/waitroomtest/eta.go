package waitroomtest

import (
	"math"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/waitroom"
)

// testETASteady admits at a steady 50 people per second and checks that the
// ETA told to people far back is within ±20 % of when they are admitted,
// and that it is flagged uncertain before the outflow has been measured.
func testETASteady(t *testing.T, newBackend Factory) {
	e := newEnv(t, newBackend)
	s := e.service("n1", noStageBound) // nobody here finishes the stage
	e.at(0)
	const rate = 50
	e.set(s, fixed(rate, 0))
	tk := e.joinMany(s, 1, 3500)
	e.ticks(s, 1, 2)
	early := e.status(s, tk[2000], 2000)
	if !early.ETAUncertain {
		t.Fatalf("ETA %s after 2 s of outflow is not flagged uncertain", early.ETA)
	}
	e.ticks(s, 3, 40)
	admitted := e.stats(s).Admitted
	type probe struct {
		person int64
		asked  time.Time
		eta    time.Duration
	}
	var probes []probe
	for _, ahead := range []int64{500, 1000, 1500} {
		p := admitted + ahead
		st := e.status(s, tk[p], p)
		if st.State != vaxbook.QueueWaiting || st.ETAUncertain || st.ETA <= 0 {
			t.Fatalf("person %d after 40 s of steady outflow: %+v, want a certain ETA", p, st)
		}
		if st.RetryAfter > st.ETA || st.RetryAfter < waitroom.DefaultMinRetry {
			t.Fatalf("person %d told to come back in %s with an ETA of %s", p, st.RetryAfter, st.ETA)
		}
		probes = append(probes, probe{p, e.now(), st.ETA})
	}
	for sec := 41; len(probes) > 0; sec++ {
		if sec > 120 {
			t.Fatalf("%d probes still waiting after 120 s", len(probes))
		}
		e.at(time.Duration(sec) * time.Second)
		e.tick(s)
		rest := probes[:0]
		for _, pr := range probes {
			st := e.status(s, tk[pr.person], pr.person)
			if st.State != vaxbook.QueueAdmitted {
				rest = append(rest, pr)
				continue
			}
			actual := e.now().Sub(pr.asked)
			if off := math.Abs(actual.Seconds()-pr.eta.Seconds()) / actual.Seconds(); off > 0.2 {
				t.Fatalf("person %d: ETA %s, admitted after %s (%.0f %% off)", pr.person, pr.eta, actual, off*100)
			}
		}
		probes = rest
	}
}

// testControllerSlowStage runs the automatic controller against a simulated
// booking stage (a fluid queue: capacity per second, base latency, waiting
// time = backlog ÷ capacity) that slows to a quarter of its capacity for a
// minute: the rate must come down while it is slow and recover after.
func testControllerSlowStage(t *testing.T, newBackend Factory) {
	e := newEnv(t, newBackend)
	s := e.service("n1", noStageBound) // the fluid stage below uses no passes
	e.at(0)
	e.set(s, vaxbook.WaitRoomSettings{Mode: vaxbook.ModeAuto, RatePerS: 20, MinRate: 2, MaxRate: 200})
	next := int64(1)
	topUp := func(n int) {
		for i := 0; i < n; i++ {
			e.join(s, next)
			next++
		}
	}
	topUp(400)
	var (
		backlog   float64
		lastAdmit int64
		rates     []float64
	)
	for sec := 1; sec <= 240; sec++ {
		now := e.at(time.Duration(sec) * time.Second)
		e.tick(s)
		st := e.stats(s)
		rates = append(rates, st.Rate)
		capacity, base := 40.0, 0.05
		if sec > 80 && sec <= 140 {
			capacity, base = 10, 0.2 // the injected slow stage
		}
		backlog += float64(st.Admitted - lastAdmit) // each admitted person makes one request
		lastAdmit = st.Admitted
		served := math.Min(backlog, capacity)
		backlog -= served
		latency := time.Duration((base + backlog/capacity) * float64(time.Second))
		for i := 0; i < int(served); i++ {
			s.Observe(latency, nil, now)
		}
		if st.Waiting < 200 {
			topUp(300)
		}
	}
	normal := mean(rates[60:80])
	slow := mean(rates[120:140])
	recovered := mean(rates[220:240])
	t.Logf("controller: rate %.1f/s normal, %.1f/s with the slow stage, %.1f/s after recovery", normal, slow, recovered)
	if slow > 0.6*normal {
		t.Fatalf("with the stage at a quarter capacity the rate only fell from %.1f to %.1f", normal, slow)
	}
	if recovered < 0.8*normal {
		t.Fatalf("after the stage recovered the rate came back only to %.1f of %.1f", recovered, normal)
	}
	if st := e.stats(s); st.LatencyDecreases == 0 || st.Increases == 0 {
		t.Fatalf("controller decisions %+v: want both increases and latency decreases", st)
	}
}
