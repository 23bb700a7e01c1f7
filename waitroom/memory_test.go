package waitroom_test

import (
	"context"
	"errors"
	"io/fs"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"vaxbook/internal/procstatus"
	"vaxbook/waitroom"
	"vaxbook/waitroom/waitroomtest"
)

// rss returns the resident set size of this process in bytes.
func rss(t *testing.T) int64 {
	t.Helper()
	b, err := procstatus.Bytes("self", "VmRSS")
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("no /proc/self/status: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func settle() runtime.MemStats {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}

// TestMemoryTwoMillionWaiting joins two million people to one room of the
// in-process backend (through the service, as the web layer does) and
// measures what they cost: under 256 MiB of extra RSS. Under the race
// detector (whose shadow memory inflates RSS, and which is slow) it joins
// 100,000 and checks the Go heap per person instead.
func TestMemoryTwoMillionWaiting(t *testing.T) {
	n := 2_000_000
	if raceEnabled {
		n = 100_000
	}
	const budget = 256 << 20
	ctx := context.Background()
	s, err := waitroom.New(waitroom.Config{Backend: waitroom.NewMemory(), Secret: waitroomtest.Secret})
	if err != nil {
		t.Fatal(err)
	}
	room := waitroomtest.Room("d9")
	now := waitroomtest.Opening.Add(time.Second)
	if _, err := s.Join(ctx, room, 1, "s", now); err != nil {
		t.Fatal(err)
	}
	before := settle()
	rss0 := rss(t)
	const workers = 4
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := 2 + w; p <= n+1; p += workers {
				if _, err := s.Join(ctx, room, int64(p), "s", now); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	after := settle()
	rss1 := rss(t)
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Waiting != int64(n)+1 {
		t.Fatalf("%d waiting, want %d", st.Waiting, n+1)
	}
	heap := int64(after.HeapInuse) - int64(before.HeapInuse)
	perPerson := float64(heap) / float64(n)
	t.Logf("%d waiting: +%d MiB RSS, +%d MiB Go heap in use (%.1f bytes a person)", n, (rss1-rss0)>>20, heap>>20, perPerson)
	if raceEnabled {
		if extrapolated := perPerson * 2_000_000; extrapolated >= budget {
			t.Fatalf("heap per person %.1f B: 2,000,000 would take %.0f MiB", perPerson, extrapolated/(1<<20))
		}
		return
	}
	if extra := rss1 - rss0; extra >= budget {
		t.Fatalf("2,000,000 waiting cost %d MiB of RSS, want < 256 MiB", extra>>20)
	}
	runtime.KeepAlive(s)
}
