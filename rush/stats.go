package rush

import (
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// hist is a lock-free latency histogram with log-spaced buckets (about 4 %
// wide) from 10 µs to ~20 minutes: fixed memory whatever the count.
type hist struct {
	b     [histBuckets]atomic.Int64
	n     atomic.Int64
	sumUS atomic.Int64
	maxUS atomic.Int64
}

const (
	histBuckets = 480
	histMinUS   = 10.0
	histGrowth  = 1.04
)

var histLogGrowth = math.Log(histGrowth)

func histBucket(us float64) int {
	if us <= histMinUS {
		return 0
	}
	i := int(math.Log(us/histMinUS)/histLogGrowth) + 1
	return min(i, histBuckets-1)
}

// upper bound of bucket i in µs
func histUpper(i int) float64 { return histMinUS * math.Pow(histGrowth, float64(i)) }

func (h *hist) add(d time.Duration) {
	us := d.Microseconds()
	h.b[histBucket(float64(us))].Add(1)
	h.n.Add(1)
	h.sumUS.Add(us)
	for {
		m := h.maxUS.Load()
		if us <= m || h.maxUS.CompareAndSwap(m, us) {
			break
		}
	}
}

// quantile returns the q-quantile (0…1) in milliseconds (upper bucket bound).
func (h *hist) quantile(q float64) float64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	var seen int64
	for i := range h.b {
		seen += h.b[i].Load()
		if seen >= rank {
			return math.Min(histUpper(i), float64(h.maxUS.Load())) / 1000
		}
	}
	return float64(h.maxUS.Load()) / 1000
}

// Latency summarises one step's latencies in milliseconds.
type Latency struct {
	Count  int64   `json:"count"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
}

func (h *hist) summary() Latency {
	n := h.n.Load()
	l := Latency{Count: n}
	if n == 0 {
		return l
	}
	l.MeanMS = round3(float64(h.sumUS.Load()) / float64(n) / 1000)
	l.P50MS = round3(h.quantile(0.50))
	l.P90MS = round3(h.quantile(0.90))
	l.P99MS = round3(h.quantile(0.99))
	l.MaxMS = round3(float64(h.maxUS.Load()) / 1000)
	return l
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// series counts events per second since the simulation started, in a
// fixed array (the run is bounded in time).
type series struct {
	v []atomic.Int32
}

func newSeries(seconds int) *series { return &series{v: make([]atomic.Int32, seconds)} }

func (s *series) add(sec int) {
	if sec >= 0 && sec < len(s.v) {
		s.v[sec].Add(1)
	}
}

func (s *series) values(n int) []int32 {
	n = min(n, len(s.v))
	out := make([]int32, n)
	for i := range out {
		out[i] = s.v[i].Load()
	}
	return out
}

// refusals counts non-2xx answers by step and code, and whether each was
// what the simulator expected at that point.
type refusals struct {
	mu sync.Mutex
	m  map[refusalKey]int64
}

type refusalKey struct {
	step     string
	code     string
	expected bool
}

// Refusal is one line of the refusal table.
type Refusal struct {
	Step     string `json:"step"`
	Code     string `json:"code"`
	Expected bool   `json:"expected"`
	Count    int64  `json:"count"`
}

func (r *refusals) add(step, code string, expected bool) {
	r.mu.Lock()
	if r.m == nil {
		r.m = map[refusalKey]int64{}
	}
	r.m[refusalKey{step, code, expected}]++
	r.mu.Unlock()
}

func (r *refusals) list() []Refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Refusal, 0, len(r.m))
	for k, n := range r.m {
		out = append(out, Refusal{Step: k.step, Code: k.code, Expected: k.expected, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Step != b.Step {
			return a.Step < b.Step
		}
		if a.Code != b.Code {
			return a.Code < b.Code
		}
		return !a.Expected && b.Expected
	})
	return out
}

// quantiles of a sorted slice of float64 (nearest rank).
func quantileSorted(s []float64, q float64) float64 {
	if len(s) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}
