package ops

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// stepClock advances by step at every reading: each request "takes" step.
type stepClock struct {
	t    time.Time
	step time.Duration
}

func (c *stepClock) now() time.Time { c.t = c.t.Add(c.step); return c.t }

func problem(code string, status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"type":"https://vaxbook.invalid/problems/%s","title":"t","status":%d,"detail":"a \"code\":\"fake\" in text","code":%q}`+"\n", code, status, code)
	}
}

func TestEdge(t *testing.T) {
	m := NewMetrics()
	m.SetProviders([]string{"naver", "kakao"})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/bookings", problem("slot_full", http.StatusConflict))
	mux.HandleFunc("GET /api/v1/clinics", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"code":"not a problem"}`) })
	mux.HandleFunc("GET /api/v1/queue/status", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("POST /book/confirm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(CodeHeader, "slot_full")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprint(w, "<p>full</p>")
	})
	mux.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "x", http.StatusInternalServerError) })
	mux.HandleFunc("GET /auth/{p}/callback", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("case") {
		case "ok":
			http.Redirect(w, r, "/queue", http.StatusFound)
		case "locked":
			http.Redirect(w, r, "/signin/refused?code=device_locked", http.StatusFound)
		case "json":
			problem("not_in_registry", http.StatusForbidden)(w, r)
		}
	})
	clk := &stepClock{t: time.Unix(0, 0), step: 10 * time.Millisecond}
	h := m.Wrap(mux, clk.now)
	do := func(method, target string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
		return rec.Code
	}
	for range 3 {
		do("POST", "/api/v1/bookings")
	}
	do("POST", "/book/confirm")
	do("GET", "/api/v1/clinics?q=x")
	do("GET", "/api/v1/queue/status")
	do("GET", "/boom")
	do("GET", "/auth/naver/callback?case=ok")
	do("GET", "/auth/naver/callback?case=ok")
	do("GET", "/auth/kakao/callback?case=locked")
	do("GET", "/auth/naver/callback?case=json")
	do("GET", "/auth/made-up/callback?case=ok")

	tot := m.edge.totals()
	if got := tot.codes; got["slot_full"] != 4 || got["device_locked"] != 1 || got["not_in_registry"] != 1 || len(got) != 3 {
		t.Errorf("refusal codes: %v", got)
	}
	if tot.errors != 1 {
		t.Errorf("server errors: %d, want 1", tot.errors)
	}
	wantLogins := map[[2]string]int64{{"naver", "success"}: 2, {"kakao", "device_locked"}: 1, {"naver", "not_in_registry"}: 1, {"unknown", "success"}: 1}
	for k, n := range wantLogins {
		if tot.logins[k] != n {
			t.Errorf("logins %v: %d, want %d (all: %v)", k, tot.logins[k], n, tot.logins)
		}
	}
	// Each request took one clock step (10 ms).
	for _, tc := range []struct {
		stage Stage
		n     int64
	}{{StageBooking, 4}, {StageSearch, 1}, {StageQueue, 1}, {StageSignIn, 5}} {
		c := tot.stages[tc.stage]
		if c.Count() != tc.n {
			t.Errorf("stage %s: %d requests, want %d", tc.stage, c.Count(), tc.n)
		}
		if q := c.Quantile(0.5); q < 9*time.Millisecond || q > 11*time.Millisecond {
			t.Errorf("stage %s: median %v, want ≈10ms", tc.stage, q)
		}
	}
	reg := m.Registry()
	if v, _ := metric(t, reg, "vaxbook_refusals_total", map[string]string{"code": "slot_full"}); v != 4 {
		t.Errorf("vaxbook_refusals_total{code=slot_full} = %v", v)
	}
	if v, _ := metric(t, reg, "vaxbook_identity_logins_total", map[string]string{"provider": "kakao", "outcome": "device_locked"}); v != 1 {
		t.Errorf("vaxbook_identity_logins_total{kakao,device_locked} = %v", v)
	}
	if v, _ := metric(t, reg, "vaxbook_stage_duration_seconds", map[string]string{"stage": "signin"}); v != 5 {
		t.Errorf("signin stage histogram count = %v", v)
	}
	if n := series(t, reg, "vaxbook_stage_duration_seconds"); n != 4 {
		t.Errorf("stage histogram series: %d", n)
	}
}

func TestStageRules(t *testing.T) {
	e := newEdge()
	for _, tc := range []struct {
		method, path string
		want         Stage
	}{
		{"GET", "/auth/naver/callback", StageSignIn},
		{"GET", "/auth/naver/start", -1},
		{"POST", "/api/v1/queue", StageQueue},
		{"GET", "/api/v1/queue/status", StageQueue},
		{"GET", "/queue", StageQueue},
		{"GET", "/api/v1/clinics/12/slots", StageSearch},
		{"GET", "/book", StageSearch},
		{"GET", "/book/clinic/7", StageSearch},
		{"GET", "/bookings", -1},
		{"GET", "/api/v1/bookings/mine", -1},
		{"POST", "/api/v1/bookings", StageBooking},
		{"PATCH", "/api/v1/bookings/3", StageBooking},
		{"POST", "/book/confirm", StageBooking},
		{"POST", "/bookings/3/cancel", StageBooking},
		{"GET", "/ops/events", -1},
	} {
		if got := e.stageOf(tc.method, tc.path); got != tc.want {
			t.Errorf("%s %s: stage %v, want %v", tc.method, tc.path, got, tc.want)
		}
	}
}

func TestEdgeBounds(t *testing.T) {
	m := NewMetrics()
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problem(strings.TrimPrefix(r.URL.Path, "/"), http.StatusBadRequest)(w, r)
	}), time.Now)
	for i := range 200 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", fmt.Sprintf("/code_%d", i), nil))
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/Not-A-Code", nil))
	tot := m.edge.totals()
	if len(tot.codes) > maxCodes+1 {
		t.Fatalf("%d distinct codes kept", len(tot.codes))
	}
	var sum int64
	for _, n := range tot.codes {
		sum += n
	}
	if sum != 201 || tot.codes["other"] < 201-maxCodes {
		t.Fatalf("codes beyond the bound are not counted as other: %v", tot.codes)
	}
}

// TestEdgeFlush checks that streams (Server-Sent Events) still flush
// through the wrapper.
func TestEdgeFlush(t *testing.T) {
	m := NewMetrics()
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the edge writer: %v", err)
		}
	}), time.Now)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/ops/events", nil))
	if !rec.Flushed {
		t.Fatal("not flushed")
	}
}

func BenchmarkEdge(b *testing.B) {
	m := NewMetrics()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"bare", ok}, {"wrapped", m.Wrap(ok, time.Now)}} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/api/v1/queue/status", nil)
			b.RunParallel(func(pb *testing.PB) {
				w := httptest.NewRecorder()
				for pb.Next() {
					bc.h.ServeHTTP(w, req)
				}
			})
		})
	}
}
