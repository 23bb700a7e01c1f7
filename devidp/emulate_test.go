package devidp

import (
	"slices"
	"testing"
	"time"

	"vaxbook"
)

func TestLatencyDistribution(t *testing.T) {
	e := newEmulator(Emulation{Latency: Latency{Median: vaxbook.Duration(200 * time.Millisecond), P99: vaxbook.Duration(2 * time.Second)}}, 7)
	const n = 20000
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = e.sampleLatency()
	}
	slices.Sort(s)
	p50, p99 := s[n/2], s[n*99/100]
	if p50 < 180*time.Millisecond || p50 > 220*time.Millisecond {
		t.Errorf("median %v, want ≈200ms", p50)
	}
	if p99 < 1700*time.Millisecond || p99 > 2300*time.Millisecond {
		t.Errorf("p99 %v, want ≈2s", p99)
	}
	fixed := newEmulator(Emulation{Latency: Latency{Median: vaxbook.Duration(time.Second)}}, 1)
	if d := fixed.sampleLatency(); d != time.Second {
		t.Errorf("median only: %v, want a constant 1s", d)
	}
	if d := newEmulator(Emulation{}, 1).sampleLatency(); d != 0 {
		t.Errorf("no latency: %v", d)
	}
}

func TestErrorRate(t *testing.T) {
	e := newEmulator(Emulation{ErrorRate: 0.3}, 3)
	now := time.Unix(0, 0)
	fails := 0
	for range 10000 {
		if _, _, f := e.plan(now); f == failServer {
			fails++
		}
	}
	if fails < 2800 || fails > 3200 {
		t.Errorf("%d of 10000 failed, want ≈3000", fails)
	}
}

func TestAdmissionRefillsWithTime(t *testing.T) {
	e := newEmulator(Emulation{Capacity: 100, MaxQueue: vaxbook.Duration(100 * time.Millisecond)}, 1)
	now := time.Unix(1000, 0)
	admitted := func(at time.Time, n int) (ok int) {
		for range n {
			if _, _, f := e.plan(at); f == failNone {
				ok++
			}
		}
		return ok
	}
	// Burst 10 (a tenth of a second) + 10 queued within 100ms + the first at once.
	if got := admitted(now, 50); got != 21 {
		t.Errorf("at once: %d admitted, want 21", got)
	}
	// One second later the bucket is full again, not fuller.
	if got := admitted(now.Add(time.Second), 50); got != 21 {
		t.Errorf("a second later: %d admitted, want 21", got)
	}
	// Steady 100/s: one every 10ms never queues past the limit.
	later := now.Add(10 * time.Second)
	for i := range 500 {
		q, _, f := e.plan(later.Add(time.Duration(i) * 10 * time.Millisecond))
		if f != failNone || q > 0 {
			t.Fatalf("steady load, login %d: queue %v fail %q", i, q, f)
		}
	}
}

func TestParseEmulation(t *testing.T) {
	e, err := ParseEmulation(Emulation{}, "capacity=300, median=200ms,p99=2s,errors=0.02,max-queue=3s")
	want := Emulation{Capacity: 300, MaxQueue: vaxbook.Duration(3 * time.Second), ErrorRate: 0.02,
		Latency: Latency{Median: vaxbook.Duration(200 * time.Millisecond), P99: vaxbook.Duration(2 * time.Second)}}
	if err != nil || e != want {
		t.Errorf("got %+v %v, want %+v", e, err, want)
	}
	if back, err := ParseEmulation(Emulation{}, e.String()); err != nil || back != e {
		t.Errorf("String round trip: %q → %+v %v", e.String(), back, err)
	}
	if e, err := ParseEmulation(want, "outage"); err != nil || !e.Outage || e.Capacity != 300 {
		t.Errorf("outage over base: %+v %v", e, err)
	}
	for _, bad := range []string{"capacity=x", "speed=3", "errors=1.5", "median=2s,p99=1s", "p99=100ms", "outage=maybe", "capacity=-2"} {
		if got, err := ParseEmulation(want, bad); err == nil || vaxbook.ErrorCode(err) != vaxbook.CodeInvalid || got != want {
			t.Errorf("%q: %+v %v, want a CodeInvalid error and the base unchanged", bad, got, err)
		}
	}
}
