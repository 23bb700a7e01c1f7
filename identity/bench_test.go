package identity_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report adds the wall rate, the CPU time per operation and the rate two
// dedicated cores would sustain at that CPU cost (the machine is shared, so
// the wall rate alone says more about the neighbours than about the code).
func report(b *testing.B, unit string, wall, cpu time.Duration) {
	n := float64(b.N)
	b.ReportMetric(n/wall.Seconds(), unit+"/s")
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/op")
	b.ReportMetric(2*n/cpu.Seconds(), unit+"/s@2cores")
}

// benchClient is a browser for benchmarks: a fresh cookie jar per login
// (every login is a new person on a new device), connections shared, and it
// stops at the page the login ends on instead of loading it.
func benchClient(tr *http.Transport) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == "/queue" || req.URL.Path == "/signin/refused" || req.URL.Path == "/end" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

func benchTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 1024
	return tr
}

// BenchmarkLogin measures complete logins with the relying party and the
// dev IdP in one process over loopback HTTP: start → authorize with
// login_hint → callback → token exchange (client auth, PKCE) → ES256
// ID-token verification → registry lookup by blind index → eligibility →
// device lock → session. Every login is a different person on a new device.
// Run with -benchtime=Nx where N ≤ the people loaded (60,000).
//
//	go test ./identity -run '^$' -bench 'Login|Baseline' -benchtime 20000x -cpu 2
func BenchmarkLogin(b *testing.B) {
	b.Run("tcp-back-channel", func(b *testing.B) { benchmarkLogin(b) })
	b.Run("in-memory-back-channel", func(b *testing.B) { benchmarkLogin(b, withInMemoryBackChannel()) })
}

func benchmarkLogin(b *testing.B, opts ...envOption) {
	const people = 60000
	if b.N > people {
		b.Fatalf("b.N %d > %d people loaded: use -benchtime with at most %dx", b.N, people, people)
	}
	e := newEnv(b, append([]envOption{withBulk(people)}, opts...)...)
	// The late window (Aug 19 20:00 – Sep 18 18:00) is open to everyone in
	// the group, so every bulk person may book.
	e.clock.Set(time.Date(2021, 8, 20, 10, 0, 0, 0, kst))
	tr := benchTransport()
	providers := e.idp.Providers()
	var next atomic.Int64
	var refused atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8) // 8 browsers per core: loopback latency overlaps with work
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			id := bulkFrom + n
			c := benchClient(tr)
			resp, err := c.Get(fmt.Sprintf("%s/auth/%s/start?login_hint=%d", e.srv.URL, providers[n%5], id))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "/queue" {
				refused.Add(1)
			}
		}
	})
	el, cpu := time.Since(start), cpuTime(b)-cpu0
	b.StopTimer()
	report(b, "logins", el, cpu)
	if r := refused.Load(); r > 0 {
		b.Fatalf("%d of %d logins did not end at /queue", r, b.N)
	}
}

// BenchmarkBaselineRedirectChain is the same HTTP shape with no work: a
// redirect chain of three hops on one loopback server plus one
// server-to-server POST, ending in a 302, as a login does. The ratio
// BenchmarkLogin/this is what OIDC, crypto and vaxbook's checks cost.
func BenchmarkBaselineRedirectChain(b *testing.B) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	inner := &http.Client{Transport: benchTransport()}
	mux.HandleFunc("GET /a", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "x", Value: "1", Path: "/"})
		http.Redirect(w, r, srv.URL+"/b", http.StatusFound)
	})
	mux.HandleFunc("GET /b", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, srv.URL+"/c?code=x", http.StatusFound)
	})
	mux.HandleFunc("GET /c", func(w http.ResponseWriter, r *http.Request) {
		resp, err := inner.Post(srv.URL+"/token", "application/x-www-form-urlencoded", nil)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		http.Redirect(w, r, "/end", http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"access_token":"x","token_type":"Bearer"}`)
	})
	tr := benchTransport()
	b.ReportAllocs()
	b.SetParallelism(8) // 8 browsers per core: loopback latency overlaps with work
	b.SetParallelism(8)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := benchClient(tr).Get(srv.URL + "/a")
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	report(b, "chains", time.Since(start), cpuTime(b)-cpu0)
}
