package booking

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/inmem"
)

// bookRun books people first…first+n-1 from `callers` goroutines into
// random dose-1 slots and returns the writes per second and how many
// succeeded.
func bookRun(b *testing.B, e *Engine, k *country, first, n int64, callers int) (perSec float64, ok int64) {
	b.Helper()
	ctx := context.Background()
	now := poolOpen.Add(time.Hour)
	var next, good atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), uint64(first)))
			for {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				_, err := e.Book(ctx, newPerson(first+i), k.dose1[rng.IntN(len(k.dose1))].ID, "", now)
				switch vaxbook.ErrorCode(err) {
				case "":
					good.Add(1)
				case vaxbook.CodeSlotFull:
				default:
					failed.Store(err)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	return float64(n) / elapsed.Seconds(), good.Load()
}

// catalogs of the booking benchmarks: "hot" concentrates the writes on 2,000
// dose-1 slots (200 clinics × 10 days × 1 hour), "wide" spreads them over
// 80,000 (1,000 clinics × 10 days × 8 hours), like a national rush where
// people book all over the country. Capacity is sized so that every booking
// finds room.
var benchCatalogs = []struct {
	name    string
	clinics int
	hours   []int
}{
	{"hot", 200, []int{9}},
	{"wide", 1000, []int{9, 10, 11, 12, 13, 14, 15, 16}},
}

func benchSpec(clinics int, hours []int, people int64) spec {
	slots := int64(clinics * 10 * len(hours))
	return spec{Clinics: clinics, Days: 10, Hours: hours, Cap: int(people*3/(slots*vaxbook.Cohorts) + 1), People: int(people)}
}

// BenchmarkBookSQLite measures bookings per second through the engine on a
// SQLite file (synchronous=FULL) from many concurrent callers, with group
// commit (MaxBatch 256) and, in the same run and on the same file, with
// MaxBatch 1 (one transaction per booking) as the baseline. Each operation
// is one booking (dose 1 + dose 2). Run with a fixed count, e.g.
//
//	go test -run '^$' -bench BookSQLite -benchtime 100000x ./booking
func BenchmarkBookSQLite(b *testing.B) {
	for _, cat := range benchCatalogs {
		for _, callers := range []int{256, 1024} {
			b.Run(fmt.Sprintf("%s/callers=%d", cat.name, callers), func(b *testing.B) {
				n := int64(b.N)
				base := max(n/10, 2000)
				k := buildCountry(testCampaign(b), benchSpec(cat.clinics, cat.hours, n+base))
				db := openSQLite(b, filepath.Join(b.TempDir(), "bench.db"))
				defer db.Close()
				if err := db.Load(context.Background(), k.data); err != nil {
					b.Fatal(err)
				}
				group, err := New(context.Background(), db, k.c, Config{MaxBatch: 256}, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				rate, ok := bookRun(b, group, k, 1, n, callers)
				b.StopTimer()
				st := group.Stats()
				group.Close()

				single, err := New(context.Background(), db, k.c, Config{MaxBatch: 1}, nil)
				if err != nil {
					b.Fatal(err)
				}
				baseRate, _ := bookRun(b, single, k, n+1, base, callers)
				single.Close()

				b.ReportMetric(rate, "bookings/s")
				b.ReportMetric(baseRate, "batch1-bookings/s")
				b.ReportMetric(rate/baseRate, "x-batch1")
				b.ReportMetric(st.MeanBatch, "mean-batch")
				b.ReportMetric(st.ApplySeconds/float64(st.Batches)*1000, "ms/apply")
				b.ReportMetric(float64(ok)/float64(n), "ok-share")
				checkInvariants(b, db, k.c.ID)
			})
		}
	}
}

// BenchmarkBookInmem is the engine's own ceiling: the same workload on the
// in-memory store (no I/O), group commit against MaxBatch 1.
func BenchmarkBookInmem(b *testing.B) {
	n := int64(b.N)
	base := max(n/10, 2000)
	k := buildCountry(testCampaign(b), benchSpec(1000, []int{9, 10, 11, 12, 13, 14, 15, 16}, n+base))
	store := inmem.New()
	if err := store.Load(context.Background(), k.data); err != nil {
		b.Fatal(err)
	}
	group, err := New(context.Background(), store, k.c, Config{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	rate, _ := bookRun(b, group, k, 1, n, 1024)
	b.StopTimer()
	st := group.Stats()
	group.Close()
	single, err := New(context.Background(), store, k.c, Config{MaxBatch: 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	baseRate, _ := bookRun(b, single, k, n+1, base, 1024)
	single.Close()
	b.ReportMetric(rate, "bookings/s")
	b.ReportMetric(baseRate, "batch1-bookings/s")
	b.ReportMetric(st.MeanBatch, "mean-batch")
}
