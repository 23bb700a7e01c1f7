package rush

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/node"
	"vaxbook/seed"
)

// BenchmarkHTTPRatios measures, in one run and with one load generator
// (Load: closed loop, keep-alive, BENCH_CONNS connections):
//
//   - the ceiling: a bare net/http handler answering JSON of the size of
//     each real answer, to the same requests;
//   - POST /api/v1/bookings by admitted people, each with a valid pass (a
//     pass is single-use, so BENCH_HTTP_PEOPLE people are prepared first) —
//     goal ≥ 0.5 of the ceiling;
//   - GET /api/v1/queue/status of people waiting in line — goal ≥ 0.8.
//
// The machine is shared and its speed drifts by tens of percent within a
// minute, so each endpoint is measured in BENCH_ROUNDS rounds (default 3),
// each a ceiling, the endpoint and the ceiling again; a round's ratio is
// the endpoint over the mean of its two ceilings, and the reported ratio is
// the median round's. Run with -benchtime 1x (the work is bounded by time
// and by the prepared people, not by b.N). BENCH_PROFILE_DIR, if set,
// receives CPU profiles of the first round's booking and poll phases
// (booking.cpu.pprof, poll.cpu.pprof) and of the ceiling measured right
// after each (booking-ceiling.cpu.pprof, poll-ceiling.cpu.pprof).
func BenchmarkHTTPRatios(b *testing.B) {
	conns := envInt("BENCH_CONNS", 64)
	people := envInt("BENCH_HTTP_PEOPLE", 12_000)
	rounds := envInt("BENCH_ROUNDS", 3)
	dur := time.Duration(envInt("BENCH_SECONDS", 3)) * time.Second
	ctx := context.Background()
	for range b.N {
		book := prepareBooking(b, ctx, people)
		polls := preparePolls(b, ctx, 2_000)
		b.Logf("conns %d, %d rounds; booking answer %d B, poll answer %d B", conns, rounds, len(book.sample), len(polls.sample))

		var next atomic.Int64 // the next prepared booking: each pass is used once
		perRound := int64(len(book.reqs) / rounds)
		rb := measureRounds(b, "POST /api/v1/bookings", "booking", rounds, func() LoadResult {
			return ceiling(b, ctx, book.sample, book.status, book.reqs, conns, dur)
		}, func() LoadResult {
			last := next.Load() + perRound
			return Load(ctx, LoadConfig{Conns: conns, Duration: 4 * dur, Request: func(int64) *http.Request {
				i := next.Add(1) - 1
				if i >= last || i >= int64(len(book.reqs)) {
					return nil
				}
				return book.reqs[i]()
			}, OK: func(s int) bool { return s == http.StatusCreated }})
		})
		rp := measureRounds(b, "GET /api/v1/queue/status", "poll", rounds, func() LoadResult {
			return ceiling(b, ctx, polls.sample, 200, polls.reqs, conns, dur)
		}, func() LoadResult {
			return Load(ctx, LoadConfig{Conns: conns, Duration: dur, Request: func(i int64) *http.Request {
				return polls.reqs[i%int64(len(polls.reqs))]()
			}, OK: func(s int) bool { return s == http.StatusOK }})
		})

		b.ReportMetric(rb.ceiling, "ceiling-booking-req/s")
		b.ReportMetric(rb.real, "booking-req/s")
		b.ReportMetric(rb.ratio, "booking-ratio")
		b.ReportMetric(rp.ceiling, "ceiling-poll-req/s")
		b.ReportMetric(rp.real, "poll-req/s")
		b.ReportMetric(rp.ratio, "poll-ratio")
		book.close()
		polls.close()
	}
}

// roundsResult is the median round of measureRounds.
type roundsResult struct{ real, ceiling, ratio float64 }

// measureRounds runs rounds of ceiling, endpoint, ceiling, logs each and
// returns the round with the median ratio. The first round's endpoint
// phase is CPU-profiled as profileName.
func measureRounds(b *testing.B, name, profileName string, rounds int, ceil, real func() LoadResult) roundsResult {
	var rs []roundsResult
	for i := range rounds {
		c1 := ceil()
		if i == 0 {
			profile(b, profileName)
		}
		r := real()
		if i == 0 {
			pprof.StopCPUProfile()
			profile(b, profileName+"-ceiling")
		}
		c2 := ceil()
		if i == 0 {
			pprof.StopCPUProfile()
		}
		c := (c1.PerSecond + c2.PerSecond) / 2
		rs = append(rs, roundsResult{real: r.PerSecond, ceiling: c, ratio: r.PerSecond / c})
		b.Logf("%s round %d: %.0f req/s over %d requests (p50 %.2f ms, p99 %.2f ms, errors %d %v); ceiling %.0f and %.0f req/s (p99 %.2f ms) — %.3f",
			name, i+1, r.PerSecond, r.Requests-r.Errors, r.P50MS, r.P99MS, r.Errors, r.Statuses, c1.PerSecond, c2.PerSecond, c1.P99MS, r.PerSecond/c)
	}
	slices.SortFunc(rs, func(a, b roundsResult) int { return cmp.Compare(a.ratio, b.ratio) })
	m := rs[len(rs)/2]
	b.Logf("%s: median ratio %.3f (rounds %.3f … %.3f)", name, m.ratio, rs[0].ratio, rs[len(rs)-1].ratio)
	return m
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func profile(b *testing.B, name string) {
	dir := os.Getenv("BENCH_PROFILE_DIR")
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, name+".cpu.pprof"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
}

// ceiling runs the same requests against a bare handler answering a body
// of the same size.
func ceiling(b *testing.B, ctx context.Context, sample []byte, status int, reqs []func() *http.Request, conns int, dur time.Duration) LoadResult {
	srv, err := StartBare(sample, status)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	return Load(ctx, LoadConfig{Conns: conns, Duration: dur, Request: func(i int64) *http.Request {
		r := reqs[i%int64(len(reqs))]()
		u := *r.URL
		u.Host = strings.TrimPrefix(srv.URL, "http://")
		r.URL = &u
		r.Host = u.Host
		return r
	}})
}

// prepared is a node with people ready to send one kind of request.
type prepared struct {
	reqs   []func() *http.Request
	sample []byte // a real answer
	status int
	close  func()
}

// benchTarget starts a node with a country where people of the open
// rotation day number at least cohort.
func benchTarget(b *testing.B, ctx context.Context, cohort int, wr vaxbook.WaitRoomSettings) (*Target, []int64) {
	camp, err := campaign.Load(campaign.Default)
	if err != nil {
		b.Fatal(err)
	}
	sc := seed.DefaultConfig()
	sc.Clinics = 2000
	country, err := CountryFor(sc, camp, cohort)
	if err != nil {
		b.Fatal(err)
	}
	t, err := StartEmbedded(ctx, ServeConfig{Dir: b.TempDir(), Country: country, Clinics: sc.Clinics, WaitRoom: wr, Log: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	n := t.Nodes[0]
	gen, err := seed.NewGenerator(n.Seed, n.Campaign)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	var w vaxbook.Window
	for _, x := range n.Campaign.Windows {
		if x.Kind == vaxbook.WindowRotation && x.Contains(now) {
			w = x
		}
	}
	pop := SelectPeople(gen, n.Campaign, w, cohort, 0, int64(n.Seed.People))
	if len(pop.Cohort) < cohort {
		b.Fatalf("only %d people on the open day", len(pop.Cohort))
	}
	return t, pop.Cohort
}

// session is one signed-in device, as a load request needs it.
type benchPerson struct {
	id   int64
	jar  jar
	csrf string
	pass string
}

// signIn logs people in and queues them (concurrently), polling until
// admitted when admit is set.
func signIn(b *testing.B, ctx context.Context, base string, ids []int64, admit bool) []*benchPerson {
	c := newClient(64, 30*time.Second)
	defer c.close()
	out := make([]*benchPerson, len(ids))
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ids) {
					return
				}
				p := &benchPerson{id: ids[i]}
				if err := p.login(ctx, c, base); err != nil {
					fail(err)
					return
				}
				a, err := c.do(ctx, &p.jar, call{method: "POST", url: base + "/api/v1/queue", csrf: p.csrf})
				if err != nil || a.status >= 300 {
					fail(fmt.Errorf("join %d: %v %d %s", p.id, err, a.status, a.code))
					return
				}
				c.release(&a)
				for admit && p.pass == "" {
					a, err := c.do(ctx, &p.jar, call{method: "GET", url: base + "/api/v1/queue/status"})
					if err != nil || a.status != 200 {
						fail(fmt.Errorf("status %d: %v %d", p.id, err, a.status))
						return
					}
					var q queueAnswer
					_ = json.Unmarshal(a.body, &q)
					c.release(&a)
					if q.State == "admitted" {
						p.pass = q.Pass
						break
					}
					time.Sleep(50 * time.Millisecond) // setup, not measured
				}
				out[i] = p
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	return out
}

func (p *benchPerson) login(ctx context.Context, c *client, base string) error {
	next := fmt.Sprintf("%s/auth/naver/start?login_hint=%d", base, p.id)
	for hop := 0; ; hop++ {
		a, err := c.do(ctx, &p.jar, call{method: "GET", url: next})
		if err != nil {
			return err
		}
		loc := a.location
		st := a.status
		c.release(&a)
		if st < 300 || st >= 400 || hop > 6 {
			return fmt.Errorf("login %d: status %d %s", p.id, st, a.code)
		}
		if next, err = resolve(next, loc); err != nil {
			return err
		}
		if !strings.Contains(next, "/auth/") && !strings.Contains(next, "/idp/") {
			break
		}
	}
	a, err := c.do(ctx, &p.jar, call{method: "GET", url: base + "/api/v1/me"})
	if err != nil {
		return err
	}
	defer c.release(&a)
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.Unmarshal(a.body, &me); err != nil || me.CSRF == "" {
		return fmt.Errorf("me %d: %d %v", p.id, a.status, err)
	}
	p.csrf = me.CSRF
	return nil
}

// freeSlots lists, for the open day's cohort, slot ids with their room,
// read from the node's engine.
func freeSlots(b *testing.B, n *node.Node, cohort int, need int) []int64 {
	now := time.Now()
	var out []int64
	clinics := n.Seed.Clinics
	for id := int64(1); id <= int64(clinics) && len(out) < need; id++ {
		cv, err := n.Engine.Clinic(id)
		if err != nil {
			continue
		}
		for _, d := range cv.Days {
			if d.Remaining == 0 {
				continue
			}
			ss, err := n.Engine.Slots(id, d.Date, cohort, now)
			if err != nil {
				b.Fatal(err)
			}
			for _, s := range ss {
				for k := 0; k < s.Remaining && len(out) < need; k++ {
					out = append(out, s.ID)
				}
			}
		}
	}
	if len(out) < need {
		b.Fatalf("only %d places for cohort %d", len(out), cohort)
	}
	return out
}

func prepareBooking(b *testing.B, ctx context.Context, people int) prepared {
	t, ids := benchTarget(b, ctx, people+1, vaxbook.WaitRoomSettings{Mode: vaxbook.ModeFixed, RatePerS: 5000, MaxRate: 10000, MaxActive: 200_000})
	n := t.Nodes[0]
	base := t.URLs[0]
	start := time.Now()
	ps := signIn(b, ctx, base, ids, true)
	gen, _ := seed.NewGenerator(n.Seed, n.Campaign)
	cohort := campaign.Cohort(n.Campaign, gen.Citizen(ids[0]).BirthDate)
	slots := freeSlots(b, n, cohort, len(ps))
	b.Logf("prepared %d admitted people with passes in %s", len(ps), time.Since(start).Round(time.Second))
	mk := func(p *benchPerson, slot int64) func() *http.Request {
		body := []byte(`{"slot_id":` + strconv.FormatInt(slot, 10) + `}`)
		cookie := p.jar.header()
		key := fmt.Sprintf("bench-%d", p.id)
		return func() *http.Request {
			r, _ := http.NewRequest("POST", base+"/api/v1/bookings", bytes.NewReader(body))
			r.Header = http.Header{"Accept": acceptJSON, "Content-Type": acceptJSON, "Cookie": {cookie},
				"X-Csrf-Token": {p.csrf}, "X-Queue-Pass": {p.pass}, "Idempotency-Key": {key}}
			return r
		}
	}
	// One real booking gives the size of the answer the ceiling mimics.
	first := mk(ps[0], slots[0])()
	resp, err := http.DefaultTransport.RoundTrip(first)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("first booking: %d %s", resp.StatusCode, buf.String())
	}
	reqs := make([]func() *http.Request, 0, len(ps)-1)
	for i, p := range ps[1:] {
		reqs = append(reqs, mk(p, slots[i+1]))
	}
	return prepared{reqs: reqs, sample: buf.Bytes(), status: http.StatusCreated, close: func() { t.Close() }}
}

func preparePolls(b *testing.B, ctx context.Context, people int) prepared {
	// Admissions at one a second: everyone prepared stays in line.
	t, ids := benchTarget(b, ctx, people, vaxbook.WaitRoomSettings{Mode: vaxbook.ModeFixed, RatePerS: 1})
	base := t.URLs[0]
	ps := signIn(b, ctx, base, ids, false)
	ps = ps[len(ps)/2:] // the back half: nobody here is admitted during the run
	reqs := make([]func() *http.Request, len(ps))
	for i, p := range ps {
		cookie := p.jar.header()
		reqs[i] = func() *http.Request {
			r, _ := http.NewRequest("GET", base+"/api/v1/queue/status", nil)
			r.Header = http.Header{"Accept": acceptJSON, "Cookie": {cookie}}
			return r
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(reqs[0]())
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(buf.String(), `"waiting"`) {
		b.Fatalf("poll: %d %s", resp.StatusCode, buf.String())
	}
	return prepared{reqs: reqs, sample: buf.Bytes(), status: 200, close: func() { t.Close() }}
}
