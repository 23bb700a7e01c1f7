package waitroom_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/waitroom"
	"vaxbook/waitroom/waitroomtest"
)

func benchService(b *testing.B) *waitroom.Service {
	s, err := waitroom.New(waitroom.Config{Backend: waitroom.NewMemory(), Secret: waitroomtest.Secret, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkJoin joins new people concurrently (64 goroutines) after the
// opening; joins/s is the figure of merit (target ≥ 20,000/s).
func BenchmarkJoin(b *testing.B) {
	s := benchService(b)
	ctx, room, now := context.Background(), waitroomtest.Room("d9"), waitroomtest.Opening.Add(time.Second)
	var next atomic.Int64
	b.ReportAllocs()
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
}

// BenchmarkStatus polls the status of waiting tickets
// concurrently (a quarter million in line): what every waiting browser does.
func BenchmarkStatus(b *testing.B) {
	for _, tc := range []struct {
		name     string
		prequeue bool
	}{{"fifo", false}, {"shuffled", true}} {
		b.Run(tc.name, func(b *testing.B) {
			s := benchService(b)
			ctx, room := context.Background(), waitroomtest.Room("d9")
			at := waitroomtest.Opening.Add(time.Second)
			if tc.prequeue {
				at = waitroomtest.Opening.Add(-time.Minute)
			}
			const n = 262_144
			tickets := make([]string, 1024)
			for p := int64(1); p <= n; p++ {
				st, err := s.Join(ctx, room, p, "session", at)
				if err != nil {
					b.Fatal(err)
				}
				if p%(n/1024) == 0 && int(p/(n/1024))-1 < len(tickets) {
					tickets[p/(n/1024)-1] = st.Ticket
				}
			}
			now := waitroomtest.Opening.Add(2 * time.Second)
			var i atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := i.Add(1) % 1024
					st, err := s.Status(ctx, tickets[k], (k+1)*(n/1024), "session", now)
					if err != nil || st.State != vaxbook.QueueWaiting {
						b.Fatalf("status: %+v %v", st, err)
					}
				}
			})
		})
	}
}
