package identity

import (
	"testing"
	"time"
)

var t0 = time.Date(2021, 8, 9, 20, 0, 0, 0, time.UTC)

func newTestLights() (*lights, *health, *health) {
	l := newLights(LightsConfig{})
	a := l.add("naver", "Naver", 100, 0)
	b := l.add("kakao", "Kakao", 0, 50)
	return l, a, b
}

// run records n logins starting at at, each taking d, with the outcome o.
func run(l *lights, h *health, at time.Time, n int, d time.Duration, o outcome) {
	for i := range n {
		start := at.Add(time.Duration(i) * time.Millisecond)
		if ok, _ := h.begin(start); !ok {
			continue
		}
		l.end(h, start, start.Add(d), o, "test")
	}
}

func find(list []ProviderLight, name string) ProviderLight {
	for _, p := range list {
		if p.Name == name {
			return p
		}
	}
	return ProviderLight{}
}

func TestLights(t *testing.T) {
	for _, tc := range []struct {
		name   string
		record func(l *lights, a *health)
		light  Light
		reason string
		at     time.Duration // snapshot time after t0 (default 9.5s)
	}{
		{"idle", func(*lights, *health) {}, Green, "optimal (no recent logins)", 0},
		{"healthy", func(l *lights, a *health) { run(l, a, t0, 100, 300*time.Millisecond, success) }, Green, "optimal", 0},
		{"slow", func(l *lights, a *health) { run(l, a, t0, 100, 7*time.Second, success) }, Yellow, "delayed: 95% of logins take up to 7.5s", 0},
		{"very slow", func(l *lights, a *health) { run(l, a, t0, 100, 20*time.Second, success) }, Red, "congested: 95% of logins take up to 23s", 25 * time.Second},
		{"some errors", func(l *lights, a *health) {
			run(l, a, t0, 90, 100*time.Millisecond, success)
			for i := range 10 { // interleaved, so the breaker never sees 5 in a row
				run(l, a, t0.Add(time.Duration(i)*time.Second), 1, 0, failure)
				run(l, a, t0.Add(time.Duration(i)*time.Second+time.Millisecond), 1, 0, success)
			}
		}, Yellow, "errors: 9% of 110 logins", 0},
		{"many errors", func(l *lights, a *health) {
			for i := range 40 {
				o := success
				if i%3 == 0 {
					o = failure
				}
				run(l, a, t0.Add(time.Duration(i)*100*time.Millisecond), 1, 0, o)
			}
		}, Red, "failing: 35% of 40 logins", 0},
		{"busy", func(l *lights, a *health) {
			// 85 logins a second for ten seconds against a capacity of 100/s.
			for s := range 10 {
				run(l, a, t0.Add(time.Duration(s)*time.Second), 85, 100*time.Millisecond, success)
			}
		}, Yellow, "busy: 85% of capacity", 0},
		{"over capacity", func(l *lights, a *health) {
			for s := range 10 {
				run(l, a, t0.Add(time.Duration(s)*time.Second), 120, 100*time.Millisecond, success)
			}
		}, Red, "congested: 120% of capacity", 0},
		{"errors age out", func(l *lights, a *health) {
			run(l, a, t0.Add(-2*time.Minute), 3, 0, failure)
			run(l, a, t0, 20, 100*time.Millisecond, success)
		}, Green, "optimal", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, a, _ := newTestLights()
			tc.record(l, a)
			at := tc.at
			if at == 0 {
				at = 9500 * time.Millisecond
			}
			got := find(l.snapshot(t0.Add(at)), "naver")
			if got.Light != tc.light || got.Reason != tc.reason {
				t.Errorf("%s %q, want %s %q (%+v)", got.Light, got.Reason, tc.light, tc.reason, got)
			}
		})
	}
}

func TestInFlightAgainstMaxInFlight(t *testing.T) {
	l, _, b := newTestLights()
	for i := range 45 { // started, not back
		b.begin(t0.Add(time.Duration(i) * time.Millisecond))
	}
	got := find(l.snapshot(t0.Add(time.Second)), "kakao")
	if got.InFlight != 45 || got.Light != Yellow || got.Reason != "busy: 90% of capacity" {
		t.Errorf("%+v", got)
	}
	// Thirty come back: in-flight falls.
	for i := range 30 {
		l.end(b, t0.Add(time.Duration(i)*time.Millisecond), t0.Add(2*time.Second), success, "")
	}
	got = find(l.snapshot(t0.Add(3*time.Second)), "kakao")
	if got.InFlight != 15 || got.Light != Green {
		t.Errorf("after returns: %+v", got)
	}
	// The rest are abandoned: after InFlightTTL they no longer count.
	got = find(l.snapshot(t0.Add(flowTTL+2*time.Second)), "kakao")
	if got.InFlight != 0 {
		t.Errorf("abandoned logins still in flight: %+v", got)
	}
}

func TestBreaker(t *testing.T) {
	l, a, _ := newTestLights()
	now := t0
	fail := func() {
		if ok, _ := a.begin(now); !ok {
			t.Fatalf("begin refused at %v", now)
		}
		l.end(a, now, now.Add(time.Millisecond), failure, "answered server_error")
		now = now.Add(time.Second)
	}
	for range 4 {
		fail()
	}
	if a.state != BreakerClosed {
		t.Fatalf("opened after 4 failures")
	}
	fail()
	if a.state != BreakerOpen {
		t.Fatalf("not open after 5 failures in a row")
	}
	got := find(l.snapshot(now), "naver")
	if got.Light != Red || got.Breaker != BreakerOpen || got.Reason != "unavailable: 5 failures in a row: answered server_error" {
		t.Errorf("open: %+v", got)
	}
	if ok, why := a.begin(now.Add(29 * time.Second)); ok || why == "" {
		t.Errorf("begin during cooldown: %v %q", ok, why)
	}
	// Cooldown over: half-open, two probes allowed.
	probeAt := t0.Add(35 * time.Second)
	if got := find(l.snapshot(probeAt), "naver"); got.Breaker != BreakerHalfOpen || got.Light != Yellow {
		t.Errorf("after cooldown: %+v", got)
	}
	ok1, _ := a.begin(probeAt)
	ok2, _ := a.begin(probeAt)
	ok3, _ := a.begin(probeAt)
	if !ok1 || !ok2 || ok3 {
		t.Errorf("probes: %v %v %v, want two", ok1, ok2, ok3)
	}
	// A failed probe opens it again.
	l.end(a, probeAt, probeAt.Add(time.Second), failure, "timeout")
	if a.state != BreakerOpen {
		t.Fatalf("failed probe: %s", a.state)
	}
	// Next round: a good probe closes it.
	next := probeAt.Add(time.Second + 30*time.Second)
	if ok, _ := a.begin(next); !ok {
		t.Fatal("no probe after the second cooldown")
	}
	l.end(a, next, next.Add(time.Second), success, "")
	if a.state != BreakerClosed {
		t.Errorf("good probe: %s", a.state)
	}
	if got := find(l.snapshot(next.Add(time.Second)), "naver"); got.Breaker != BreakerClosed {
		t.Errorf("snapshot after close: %+v (breaker changes must refresh the snapshot)", got)
	}
}

func TestBreakerOpensOnErrorRate(t *testing.T) {
	l, a, _ := newTestLights()
	// Alternating failures never make 5 in a row, but half of 20 failing opens it.
	for i := range 20 {
		o := success
		if i%2 == 1 {
			o = failure
		}
		run(l, a, t0.Add(time.Duration(i)*time.Second), 1, 0, o)
	}
	if a.state != BreakerOpen {
		t.Errorf("state %s after 50%% failures", a.state)
	}
}

func TestSnapshotIsCached(t *testing.T) {
	l, a, _ := newTestLights()
	s1 := l.snapshot(t0)
	run(l, a, t0, 10, time.Millisecond, success)
	s2 := l.snapshot(t0.Add(500 * time.Millisecond))
	if &s1[0] != &s2[0] {
		t.Error("snapshot recomputed within Refresh")
	}
	s3 := l.snapshot(t0.Add(1100 * time.Millisecond))
	if &s1[0] == &s3[0] || find(s3, "naver").Completed != 10 {
		t.Errorf("snapshot not refreshed after Refresh: %+v", find(s3, "naver"))
	}
}

func TestAlternatives(t *testing.T) {
	list := []ProviderLight{
		{Name: "naver", Light: Red},
		{Name: "kakao", Light: Yellow, InFlight: 3},
		{Name: "pass", Light: Green, InFlight: 9},
		{Name: "mobile", Light: Green, InFlight: 2},
		{Name: "cert", Light: Yellow},
	}
	suggestAlternatives(list)
	want := map[string]string{"naver": "mobile", "kakao": "mobile", "pass": "", "mobile": "", "cert": "mobile"}
	for _, p := range list {
		if p.Alternative != want[p.Name] {
			t.Errorf("%s: alternative %q, want %q", p.Name, p.Alternative, want[p.Name])
		}
	}
	allRed := []ProviderLight{{Name: "a", Light: Red}, {Name: "b", Light: Red}}
	suggestAlternatives(allRed)
	if allRed[0].Alternative != "" {
		t.Errorf("suggested %q when every provider is red", allRed[0].Alternative)
	}
}

func TestLatencyHistogram(t *testing.T) {
	for _, d := range []time.Duration{0, time.Millisecond, 37 * time.Millisecond, time.Second, 5 * time.Minute, time.Hour} {
		i := latIndex(d)
		if d > time.Millisecond && d < 10*time.Minute && (latUpper(i) < d || latUpper(i) > d*5/4+time.Millisecond) {
			t.Errorf("%v: bucket %d upper %v", d, i, latUpper(i))
		}
		if i < 0 || i >= latBuckets {
			t.Errorf("%v: bucket %d out of range", d, i)
		}
	}
}
