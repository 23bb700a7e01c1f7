package rush

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// LoadConfig configures a closed-loop HTTP load: Conns workers, each with
// its own keep-alive connection, send a request, read the whole answer and
// send the next, until Duration passes, Requests have been sent, or the
// requests run out. The benchmarks compare vaxbook's endpoints with a bare
// handler under the same load generator.
type LoadConfig struct {
	Conns    int
	Duration time.Duration // bound in time (required)
	Requests int64         // bound in count (0: none)
	// Request returns request number i (from 0), or nil when there are no
	// more (each booking needs its own pass).
	Request func(i int64) *http.Request
	// OK says whether a status counts as a success (default: 2xx).
	OK func(status int) bool
}

// LoadResult is what a load run measured.
type LoadResult struct {
	Requests  int64         `json:"requests"`
	Errors    int64         `json:"errors"` // transport failures and non-OK statuses
	Elapsed   time.Duration `json:"elapsed_ns"`
	PerSecond float64       `json:"per_second"` // successful requests per second
	P50MS     float64       `json:"p50_ms"`
	P99MS     float64       `json:"p99_ms"`
	Bytes     int64         `json:"bytes"` // response bodies read
	Statuses  map[int]int64 `json:"statuses"`
}

// Load runs the load and returns what it measured.
func Load(ctx context.Context, cfg LoadConfig) LoadResult {
	if cfg.Conns < 1 {
		cfg.Conns = 1
	}
	if cfg.OK == nil {
		cfg.OK = func(s int) bool { return s >= 200 && s < 300 }
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: cfg.Conns,
		MaxConnsPerHost:     cfg.Conns,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var h hist
	var next, ok, errs, nbytes atomic.Int64
	var mu sync.Mutex
	statuses := map[int]int64{}
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := new(bytes.Buffer)
			local := map[int]int64{}
			defer func() {
				mu.Lock()
				for k, v := range local {
					statuses[k] += v
				}
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if cfg.Requests > 0 && i >= cfg.Requests {
					return
				}
				req := cfg.Request(i)
				if req == nil {
					return
				}
				t0 := time.Now()
				resp, err := tr.RoundTrip(req.WithContext(ctx))
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				buf.Reset()
				n, err := io.Copy(buf, resp.Body)
				resp.Body.Close()
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				h.add(time.Since(t0))
				nbytes.Add(n)
				local[resp.StatusCode]++
				if cfg.OK(resp.StatusCode) {
					ok.Add(1)
				} else {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	return LoadResult{
		Requests: ok.Load() + errs.Load(), Errors: errs.Load(), Elapsed: el,
		PerSecond: float64(ok.Load()) / el.Seconds(),
		P50MS:     round3(h.quantile(0.5)), P99MS: round3(h.quantile(0.99)), Bytes: nbytes.Load(), Statuses: statuses,
	}
}

// BareServer is the ceiling of the HTTP benchmarks: a net/http server whose
// handler answers every request with the same JSON body, doing nothing else.
type BareServer struct {
	URL string
	srv *http.Server
	ln  net.Listener
}

// StartBare serves body (as application/json, with status) on a free
// loopback port. The request body, if any, is read and discarded.
func StartBare(body []byte, status int) (*BareServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	})
	s := &BareServer{URL: "http://" + ln.Addr().String(), ln: ln,
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *BareServer) Close() error { return s.srv.Close() }
