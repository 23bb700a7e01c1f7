package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/booking"
	"vaxbook/identity"
)

// fakeSources stand in for the waiting room, engine and providers: plain
// values the test sets (the real ones are exercised by the web tests).
type fakeSources struct {
	mu    sync.Mutex
	state vaxbook.WaitRoomState
	err   error
	stats booking.Stats
	left  booking.Remaining
}

func (f *fakeSources) waitRoom(ctx context.Context, now time.Time) (vaxbook.WaitRoomState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state, f.err
}

func (f *fakeSources) Stats() booking.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

func (f *fakeSources) Remaining(at time.Time) booking.Remaining {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.left
}

func (f *fakeSources) Providers(now time.Time) []identity.ProviderLight {
	return []identity.ProviderLight{{Name: "naver", Title: "네이버", Light: identity.Yellow, Reason: "slow"}, {Name: "kakao", Light: identity.Green}}
}

func (f *fakeSources) set(fn func(f *fakeSources)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func newTestBoard(t *testing.T, history int) (*Board, *fakeSources, *Metrics) {
	t.Helper()
	m := NewMetrics()
	f := &fakeSources{}
	f.state.Settings = vaxbook.WaitRoomSettings{Mode: vaxbook.ModeFixed, RatePerS: 7, MaxRate: 100}
	f.left = booking.Remaining{Total: 1234, ByDay: []booking.DayRemaining{{Remaining: 1234}}, BySido: []booking.SidoRemaining{{Code: "11", Remaining: 1234}}}
	b := NewBoard(BoardConfig{Node: "n1", Metrics: m, WaitRoom: f.waitRoom, Engine: f, Lights: f, History: history, LatencyWindow: 3,
		Log:       slog.New(slog.DiscardHandler),
		Emulation: func() []EmulationStatus { return []EmulationStatus{{Name: "naver", Capacity: 300}} }})
	return b, f, m
}

func TestBoardRates(t *testing.T) {
	b, f, m := newTestBoard(t, 100)
	ctx := context.Background()
	t0 := time.Date(2021, 8, 9, 20, 0, 0, 0, time.UTC)

	s0 := b.Sample(ctx, t0)
	if s0.Seq != 1 || s0.Flow.ArrivalsPerS != 0 || s0.Node != "n1" || s0.Remaining.Total != 1234 {
		t.Fatalf("first sample: %+v", s0)
	}
	if len(s0.Providers) != 2 || s0.Providers[0].Emulation == nil || s0.Providers[0].Emulation.Capacity != 300 || s0.Providers[1].Emulation != nil {
		t.Fatalf("providers: %+v", s0.Providers)
	}

	// Two seconds later: 50 more arrivals, 20 admitted, 10 writes of which
	// 2 refused and 1 replayed; two device-lock conflicts and a 5xx at the edge.
	f.set(func(f *fakeSources) {
		f.state.Stats.Arrivals, f.state.Stats.Admitted = 50, 20
		f.state.Waiting, f.state.Active, f.state.Rate, f.state.Outflow = 30, 12, 7, 6.5
		f.stats = booking.Stats{Mutations: 10, Refused: 2, Replayed: 1}
	})
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boom" {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		problem("device_locked", http.StatusConflict)(w, r)
	}), time.Now)
	for _, p := range []string{"/api/v1/bookings", "/api/v1/bookings", "/boom"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", p, nil))
	}
	s1 := b.Sample(ctx, t0.Add(2*time.Second))
	if s1.Interval != 2 || s1.Flow.ArrivalsPerS != 25 || s1.Flow.AdmittedPerS != 10 || s1.Flow.BookingsPerS != 3.5 {
		t.Fatalf("rates: interval %v, flow %+v", s1.Interval, s1.Flow)
	}
	if s1.Flow.Waiting != 30 || s1.Flow.Rate != 7 || s1.Flow.Outflow != 6.5 || s1.WaitRoom.Settings.RatePerS != 7 {
		t.Fatalf("gauges: %+v %+v", s1.Flow, s1.WaitRoom)
	}
	if s1.Conflicts != (Count{Total: 2, PerS: 1}) || s1.Errors != (Count{Total: 1, PerS: 0.5}) {
		t.Fatalf("conflicts %+v, errors %+v", s1.Conflicts, s1.Errors)
	}
	if len(s1.Refusals) != 1 || s1.Refusals[0].Code != "device_locked" || s1.Refusals[0].Total != 2 {
		t.Fatalf("refusals: %+v", s1.Refusals)
	}
	if st := s1.Stages[StageBooking]; st.Stage != "booking" || st.Count != 2 {
		t.Fatalf("booking stage: %+v", st)
	}

	// A sample at the same instant (a stopped clock) keeps the rates and
	// adds no point.
	s2 := b.Sample(ctx, t0.Add(2*time.Second))
	if s2.Flow.ArrivalsPerS != 25 || s2.Seq != 3 || len(b.Series().T) != 2 {
		t.Fatalf("same-instant sample: %+v, %d points", s2.Flow, len(b.Series().T))
	}
	ser := b.Series()
	if ser.T[1] != t0.Add(2*time.Second).Unix() || ser.Arrivals[1] != 25 || ser.Rate[1] != 7 || len(ser.P95ms) != 4 || len(ser.Stages) != 4 {
		t.Fatalf("series: %+v", ser)
	}

	// A failing source is reported and the rest still published.
	f.set(func(f *fakeSources) { f.err = errors.New("redis down") })
	s3 := b.Sample(ctx, t0.Add(3*time.Second))
	if len(s3.Problems) != 1 || !strings.Contains(s3.Problems[0], "waitroom") || s3.Remaining.Total != 1234 || s3.Flow.ArrivalsPerS != 0 {
		t.Fatalf("with a failing source: %+v", s3)
	}
}

func TestBoardLatencyWindow(t *testing.T) {
	b, _, m := newTestBoard(t, 100)
	ctx := context.Background()
	clk := &stepClock{t: time.Unix(0, 0)}
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), clk.now)
	search := func(n int, d time.Duration) {
		clk.step = d // the clock moves d between the two readings of a request
		for range n {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/v1/clinics", nil))
		}
	}
	t0 := time.Date(2021, 8, 9, 20, 0, 0, 0, time.UTC)
	b.Sample(ctx, t0)
	search(100, 200*time.Millisecond) // slow, in the first second
	s := b.Sample(ctx, t0.Add(time.Second))
	if st := s.Stages[StageSearch]; st.Count != 100 || st.P50ms < 180 || st.P50ms > 220 || st.PerS != 100 {
		t.Fatalf("slow second: %+v", st)
	}
	for i := 2; i <= 4; i++ {
		search(100, 10*time.Millisecond)
		s = b.Sample(ctx, t0.Add(time.Duration(i)*time.Second))
	}
	// The window is 3 samples: the slow second has left it.
	if st := s.Stages[StageSearch]; st.Count != 300 || st.P99ms > 11 || st.PerS != 100 {
		t.Fatalf("after the window moved: %+v", st)
	}
}

func TestBoardHistoryBound(t *testing.T) {
	b, _, _ := newTestBoard(t, 5)
	t0 := time.Date(2021, 8, 9, 20, 0, 0, 0, time.UTC)
	for i := range 12 {
		b.Sample(context.Background(), t0.Add(time.Duration(i)*time.Second))
	}
	ser := b.Series()
	if len(ser.T) != 5 || ser.T[4] != t0.Add(11*time.Second).Unix() || ser.T[0] != t0.Add(7*time.Second).Unix() {
		t.Fatalf("series after 12 samples with room for 5: %v", ser.T)
	}
}

// sseEvents parses SSE frames into event name → data.
func sseEvents(t *testing.T, b []byte) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, frame := range bytes.Split(bytes.TrimSpace(b), []byte("\n\n")) {
		ev := map[string]string{}
		for _, line := range strings.Split(string(frame), "\n") {
			k, v, _ := strings.Cut(line, ": ")
			ev[k] = v
		}
		if !json.Valid([]byte(ev["data"])) {
			t.Fatalf("frame data is not JSON: %q", frame)
		}
		out = append(out, ev)
	}
	return out
}

func TestBoardStream(t *testing.T) {
	b, _, _ := newTestBoard(t, 100)
	ctx := context.Background()
	t0 := time.Date(2021, 8, 9, 20, 0, 0, 0, time.UTC)
	b.Sample(ctx, t0)
	b.Sample(ctx, t0.Add(time.Second))
	first, seq := b.Stream()
	evs := sseEvents(t, first)
	if len(evs) != 2 || evs[0]["event"] != "series" || evs[1]["event"] != "snapshot" || evs[1]["id"] != "2" || seq != 2 {
		t.Fatalf("first frames: %v (seq %d)", evs, seq)
	}
	var ser Series
	if err := json.Unmarshal([]byte(evs[0]["data"]), &ser); err != nil || len(ser.T) != 2 {
		t.Fatalf("series frame: %v %+v", err, ser)
	}
	// A second watcher gets the very same bytes (built once per sample).
	again, _ := b.Stream()
	if !bytes.Equal(first, again) {
		t.Fatal("the stream start is rebuilt per watcher")
	}

	got := make(chan []byte)
	go func() {
		frame, next, ok := b.Next(ctx, seq)
		if !ok || next != 3 {
			t.Errorf("Next: ok %v next %d", ok, next)
		}
		got <- frame
	}()
	b.Sample(ctx, t0.Add(2*time.Second))
	if evs := sseEvents(t, <-got); evs[0]["id"] != "3" {
		t.Fatalf("next frame: %v", evs)
	}

	// Close ends the watchers waiting.
	done := make(chan bool)
	go func() {
		_, _, ok := b.Next(ctx, 3)
		done <- ok
	}()
	b.Close()
	if <-done {
		t.Fatal("Next returned a frame after Close")
	}
	b.Close() // twice is fine
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, ok := b.Next(cctx, 99); ok {
		t.Fatal("Next with an ended context")
	}
}
