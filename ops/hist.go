package ops

import (
	"math"
	"sync/atomic"
	"time"
)

// Latency histograms for the dashboard's percentiles. Buckets are
// logarithmic with eight per power of two (each about 9 % wide), from 1 µs
// to about 137 s; observing is one atomic add, and a percentile over any
// interval is the difference of two snapshots.
const (
	histSub     = 8  // buckets per power of two
	histOctaves = 28 // 1 µs · 2^28 ≈ 268 s
	histBuckets = histSub*histOctaves + 1
)

// Hist counts durations in logarithmic buckets. The zero value is ready;
// it is safe for concurrent use.
type Hist struct {
	counts [histBuckets]atomic.Int64
}

// HistCounts is a snapshot of a Hist (or the difference of two).
type HistCounts [histBuckets]int64

// histIndex returns the bucket of d: 0 for anything under 1 µs, then eight
// buckets per power of two, the last bucket for everything beyond.
func histIndex(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us < 1 {
		return 0
	}
	bits := math.Float64bits(us)
	exp := int(bits>>52&0x7ff) - 1023
	sub := int(bits >> (52 - 3) & (histSub - 1))
	i := 1 + exp*histSub + sub
	return min(i, histBuckets-1)
}

// histValue is a representative duration of bucket i (its geometric
// middle).
func histValue(i int) time.Duration {
	if i <= 0 {
		return 0
	}
	i--
	exp, sub := i/histSub, i%histSub
	lo := math.Ldexp(1+float64(sub)/histSub, exp)
	hi := math.Ldexp(1+float64(sub+1)/histSub, exp)
	return time.Duration(math.Sqrt(lo*hi) * float64(time.Microsecond))
}

// Observe counts one duration.
func (h *Hist) Observe(d time.Duration) { h.counts[histIndex(d)].Add(1) }

// Snapshot copies the counts into dst.
func (h *Hist) Snapshot(dst *HistCounts) {
	for i := range h.counts {
		dst[i] = h.counts[i].Load()
	}
}

// Sub returns c − prev (the observations between two snapshots).
func (c *HistCounts) Sub(prev *HistCounts) HistCounts {
	var out HistCounts
	for i := range c {
		out[i] = c[i] - prev[i]
	}
	return out
}

// Count is the number of observations.
func (c *HistCounts) Count() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

// Quantile returns the q-quantile (0 < q ≤ 1) of the observations, within
// a bucket's width (≈9 %); 0 when there are none.
func (c *HistCounts) Quantile(q float64) time.Duration {
	n := c.Count()
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	rank = max(1, min(rank, n))
	var seen int64
	for i, v := range c {
		seen += v
		if seen >= rank {
			return histValue(i)
		}
	}
	return histValue(histBuckets - 1)
}
