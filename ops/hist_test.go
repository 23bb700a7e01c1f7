package ops

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistBuckets(t *testing.T) {
	// Buckets are ordered, each ≈9 % wide, and a value falls in the bucket
	// whose representative is within a bucket's width of it.
	prev := time.Duration(-1)
	for i := 1; i < histBuckets; i++ {
		v := histValue(i)
		if v <= prev {
			t.Fatalf("bucket %d: value %v not above bucket %d's %v", i, v, i-1, prev)
		}
		prev = v
	}
	for _, d := range []time.Duration{0, 500 * time.Nanosecond, time.Microsecond, 3 * time.Microsecond, 999 * time.Microsecond,
		time.Millisecond, 17 * time.Millisecond, 250 * time.Millisecond, 3 * time.Second, 100 * time.Second} {
		got := histValue(histIndex(d))
		if d < time.Microsecond {
			if got != 0 {
				t.Errorf("%v: bucket value %v, want 0", d, got)
			}
			continue
		}
		if rel := math.Abs(float64(got-d)) / float64(d); rel > 0.07 {
			t.Errorf("%v: bucket value %v is %.1f%% off", d, got, 100*rel)
		}
	}
	if histIndex(time.Hour) != histBuckets-1 {
		t.Errorf("an hour is not in the last bucket")
	}
}

func TestHistQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Hist
	var all []time.Duration
	for range 20_000 {
		// Log-normal-ish latencies around 20 ms.
		d := time.Duration(math.Exp(rng.NormFloat64()*0.8) * float64(20*time.Millisecond))
		h.Observe(d)
		all = append(all, d)
	}
	slices.Sort(all)
	var c HistCounts
	h.Snapshot(&c)
	if c.Count() != int64(len(all)) {
		t.Fatalf("count %d, want %d", c.Count(), len(all))
	}
	for _, q := range []float64{0.5, 0.95, 0.99} {
		want := all[int(math.Ceil(q*float64(len(all))))-1]
		got := c.Quantile(q)
		if rel := math.Abs(float64(got-want)) / float64(want); rel > 0.07 {
			t.Errorf("p%v: %v, exact %v (%.1f%% off)", 100*q, got, want, 100*rel)
		}
	}
	// The difference of two snapshots holds only what came between them.
	before := c
	for range 100 {
		h.Observe(5 * time.Second)
	}
	h.Snapshot(&c)
	d := c.Sub(&before)
	if d.Count() != 100 || d.Quantile(0.5) < 4*time.Second || d.Quantile(0.5) > 6*time.Second {
		t.Fatalf("window: %d observations, median %v", d.Count(), d.Quantile(0.5))
	}
	var empty HistCounts
	if empty.Quantile(0.99) != 0 {
		t.Fatal("an empty histogram has a quantile")
	}
}

func BenchmarkHistObserve(b *testing.B) {
	var h Hist
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(1)
		for pb.Next() {
			d = (d*7 + 13) % (10 * time.Second)
			h.Observe(d)
		}
	})
}
