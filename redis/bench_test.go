package redis_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"vaxbook"
	"vaxbook/internal/testdb"
	"vaxbook/redis"
	"vaxbook/waitroom"
	"vaxbook/waitroom/waitroomtest"
)

// backends returns the embedded backend and a Redis one (fresh prefix), so
// that each benchmark measures both in the same run: compare the joins/s and
// polls/s of the two sub-benchmarks for the ratio.
func backends(b *testing.B) []struct {
	name string
	b    vaxbook.WaitRoomBackend
} {
	addr, db := testdb.Redis(b)
	c := goredis.NewClient(&goredis.Options{Addr: addr, DB: db, PoolSize: 64})
	b.Cleanup(func() { c.Close() })
	prefix := fmt.Sprintf("bench%d-%d", os.Getpid(), prefixSeq.Add(1))
	return []struct {
		name string
		b    vaxbook.WaitRoomBackend
	}{{"embedded", waitroom.NewMemory()}, {"redis", redis.NewWaitRoom(c, prefix)}}
}

func service(b *testing.B, be vaxbook.WaitRoomBackend) *waitroom.Service {
	s, err := waitroom.New(waitroom.Config{Backend: be, Secret: waitroomtest.Secret, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkJoin: concurrent joins (64 in flight) of new people after the
// opening.
func BenchmarkJoin(b *testing.B) {
	for _, be := range backends(b) {
		b.Run(be.name, func(b *testing.B) {
			s := service(b, be.b)
			ctx, room, now := context.Background(), waitroomtest.Room("d9"), waitroomtest.Opening.Add(time.Second)
			var next atomic.Int64
			b.SetParallelism(32)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Join(ctx, room, next.Add(1), "session", now); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "joins/s")
		})
	}
}

// BenchmarkStatus: concurrent status polls (64 in flight) of waiting
// tickets, without and with the counters cache (CountersMaxAge 250 ms; the
// injected clock follows the wall clock here).
func BenchmarkStatus(b *testing.B) {
	for _, be := range backends(b) {
		for _, cache := range []time.Duration{0, 250 * time.Millisecond} {
			name := be.name
			if cache > 0 {
				name += "-cached"
			}
			b.Run(name, func(b *testing.B) {
				s, err := waitroom.New(waitroom.Config{Backend: be.b, Secret: waitroomtest.Secret,
					Log: slog.New(slog.DiscardHandler), CountersMaxAge: cache})
				if err != nil {
					b.Fatal(err)
				}
				ctx, room, at := context.Background(), waitroomtest.Room(fmt.Sprintf("s%d", cache)), waitroomtest.Opening.Add(time.Second)
				tickets := make([]string, 1024)
				for p := range tickets {
					st, err := s.Join(ctx, room, int64(p+1), "session", at)
					if err != nil {
						b.Fatal(err)
					}
					tickets[p] = st.Ticket
				}
				var i atomic.Int64
				b.SetParallelism(32)
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						k := i.Add(1)
						now := at.Add(time.Since(start))
						st, err := s.Status(ctx, tickets[k%1024], k%1024+1, "session", now)
						if err != nil || st.State != vaxbook.QueueWaiting {
							b.Fatalf("status: %+v %v", st, err)
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "polls/s")
			})
		}
	}
}
