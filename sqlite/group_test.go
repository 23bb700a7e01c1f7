package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/storetest"
)

func openGroupDB(t testing.TB) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "g.db"), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Load(context.Background(), storetest.NewFixture().Dataset()); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestWriteGroup: concurrent writes share transactions, each keeps its own
// result, and a failing write is rolled back alone.
func TestWriteGroup(t *testing.T) {
	db := openGroupDB(t)
	ctx := context.Background()
	at := time.Date(2021, 8, 9, 20, 0, 0, 0, time.UTC)
	const n = 200
	sess := func(i int) vaxbook.Session {
		return vaxbook.Session{ID: fmt.Sprintf("s%d", i%(n-10)), PersonID: int64(i%10 + 1), Provider: "naver",
			DeviceID: "d", CSRFToken: "c", CreatedAt: at, LastSeen: at}
	}
	// Ten ids repeat: of each pair exactly one insert wins, the other is a
	// conflict, and neither disturbs the writes it was grouped with.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.CreateSession(ctx, sess(i))
		}()
	}
	wg.Wait()
	conflicts := 0
	for i, err := range errs {
		switch {
		case err == nil:
		case vaxbook.ErrorCode(err) == vaxbook.CodeConflict:
			conflicts++
		default:
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if conflicts != 10 {
		t.Fatalf("%d conflicts, want 10", conflicts)
	}
	for i := range n - 10 {
		if _, err := db.Session(ctx, fmt.Sprintf("s%d", i)); err != nil {
			t.Fatalf("session s%d lost: %v", i, err)
		}
	}

	// A write that fails after writing is rolled back alone.
	boom := errors.New("boom")
	var wg2 sync.WaitGroup
	results := make([]error, 50)
	for i := range 50 {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			results[i] = db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO audit (at, actor, action, target, detail) VALUES (0, 'test', 'x', ?, '')`, fmt.Sprint(i)); err != nil {
					return err
				}
				if i%5 == 0 {
					return boom
				}
				return nil
			})
		}()
	}
	wg2.Wait()
	var kept int
	if err := db.r.QueryRow(`SELECT count(*) FROM audit WHERE actor = 'test'`).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	for i, err := range results {
		if (i%5 == 0) != errors.Is(err, boom) {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if kept != 40 {
		t.Fatalf("%d audit rows kept, want 40 (the 10 failed writes rolled back, the rest committed)", kept)
	}
}

// BenchmarkSignInWrites: the writes of one sign-in (device lock, session)
// from many concurrent sign-ins, with group commit and with one
// transaction per write (the baseline), synchronous=FULL.
func BenchmarkSignInWrites(b *testing.B) {
	for _, mode := range []struct {
		name   string
		single bool
	}{{"grouped", false}, {"one-per-transaction", true}} {
		b.Run(mode.name, func(b *testing.B) {
			db := openGroupDB(b)
			db.group.single = mode.single
			ctx := context.Background()
			at := time.Date(2021, 8, 9, 20, 0, 0, 0, time.UTC)
			var mu sync.Mutex
			next := int64(0)
			b.SetParallelism(64)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mu.Lock()
					next++
					i := next
					mu.Unlock()
					l := vaxbook.DeviceLock{PersonID: i%storetest.People + 1, CampaignID: storetest.CampaignID, WindowID: fmt.Sprintf("w%d", i),
						DeviceHash: "d", Provider: "naver", LockedAt: at, Expires: at.Add(time.Hour)}
					if _, err := db.AcquireDeviceLock(ctx, l, at); err != nil {
						b.Error(err)
						return
					}
					if err := db.CreateSession(ctx, vaxbook.Session{ID: fmt.Sprintf("s%d", i), PersonID: l.PersonID, Provider: "naver",
						DeviceID: "d", CSRFToken: "c", CreatedAt: at, LastSeen: at}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sign-ins/s")
		})
	}
}
