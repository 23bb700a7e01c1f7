//go:build memory

package booking

// The memory measurement (not part of `make test`; minutes long):
//
//	go test -tags memory -run TestMemory -v -timeout 30m ./booking
//
// Phase 1 (this process): seed's default country (1,000,000 people, 14,000
// clinics, supply 1.1× the group) is loaded into a SQLite file and every
// eligible person books through the engine (about 920,000 people: 1.84
// million booking rows, dose 1 + dose 2). Phase 2 (a fresh child process,
// like a restarted node): open the file, start the engine, serve 20,000
// searches and 2,000 changes, and report peak RSS (VmHWM).

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/internal/procstatus"
	"vaxbook/pii"
	"vaxbook/seed"
	"vaxbook/sqlite"
)

const memoryChildEnv = "VAXBOOK_BOOKING_MEMORY_CHILD"

func init() { childMains[memoryChildEnv] = memoryChild }

// procStatus returns a field of /proc/self/status in KiB (-1 if absent).
func procStatus(field string) int64 {
	b, err := procstatus.Bytes("self", field)
	if err != nil {
		return -1
	}
	return b >> 10
}

func memoryCampaign() vaxbook.Campaign {
	c, err := campaign.Load("kr-2021-18-49")
	if err != nil {
		panic(err)
	}
	return c
}

func TestMemory(t *testing.T) {
	ctx := context.Background()
	c := memoryCampaign()
	g, err := seed.NewGenerator(seed.DefaultConfig(), c)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := g.Dataset(pii.DemoKeys())
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("VAXBOOK_MEMORY_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "memory.db")
	os.Remove(path)
	db, err := sqlite.Open(ctx, path, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := db.Load(ctx, ds); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d clinics, %d slots, %d quota rows, %d people in %v", len(ds.Clinics), len(ds.Slots), len(ds.Quotas), seed.DefaultConfig().People, time.Since(start).Round(time.Second))
	ds = vaxbook.Dataset{}

	e, err := New(ctx, db, c, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var dose1 []int64
	for _, s := range e.ix.slots {
		if s.day >= 0 && s.pair >= 0 {
			dose1 = append(dose1, s.id)
		}
	}
	now := c.Quota.PoolFrom.Add(time.Hour)
	var next, booked, refused atomic.Int64
	var wg sync.WaitGroup
	start = time.Now()
	people := int64(seed.DefaultConfig().People)
	for w := range 512 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 5))
			for {
				id := next.Add(1)
				if id > people {
					return
				}
				cz := g.Citizen(id)
				p := vaxbook.Person{ID: id, BirthDate: cz.BirthDate, Nationality: cz.Nationality}
				for try := 0; ; try++ {
					_, err := e.Book(ctx, p, dose1[rng.IntN(len(dose1))], "", now)
					code := vaxbook.ErrorCode(err)
					if code == "" {
						booked.Add(1)
						break
					}
					if code == vaxbook.CodeSlotFull && try < 50 {
						continue
					}
					refused.Add(1)
					break
				}
				if id%100_000 == 0 {
					t.Logf("%d people tried, %d booked, %v", id, booked.Load(), time.Since(start).Round(time.Second))
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	t.Logf("booked %d people (%d booking rows) in %v (%.0f/s); %d refused (not in the group or no room); engine %+v",
		booked.Load(), 2*booked.Load(), el.Round(time.Second), float64(booked.Load())/el.Seconds(), refused.Load(), e.Stats())
	e.Close()
	rep := checkInvariants(t, db, c.ID)
	t.Logf("invariants: %+v", rep)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("phase 1 (seed + book) peak RSS %d MiB", procStatus("VmHWM")/1024)

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), memoryChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var hwm, rss int64
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		t.Log("child: " + sc.Text())
		fmt.Sscanf(sc.Text(), "peak-rss-kib %d rss-kib %d", &hwm, &rss)
	}
	if hwm <= 0 {
		t.Fatal("the child reported no memory figures")
	}
	if hwm > 1<<20 {
		t.Fatalf("peak RSS %d MiB, over 1 GiB", hwm/1024)
	}
}

// memoryChild is a restarted node: it opens the booked file, starts the
// engine and serves searches and changes, then prints its peak RSS.
func memoryChild(path string) int {
	ctx := context.Background()
	start := time.Now()
	db, err := sqlite.Open(ctx, path, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println("open:", err)
		return 3
	}
	defer db.Close()
	c := memoryCampaign()
	e, err := New(ctx, db, c, Config{}, nil)
	if err != nil {
		fmt.Println("engine:", err)
		return 3
	}
	defer e.Close()
	counts, _ := db.Counts(ctx)
	fmt.Printf("opened in %v: %+v; engine %d slots, %d quota rows; after load RSS %d MiB\n",
		time.Since(start).Round(time.Millisecond), counts, len(e.ix.slots), len(e.ix.capacity), procStatus("VmRSS")/1024)
	rng := rand.New(rand.NewPCG(9, 9))
	regions := e.Regions()
	at := c.Quota.PoolFrom.Add(2 * time.Hour)
	for i := range 20_000 {
		q := Query{Sigungu: regions[rng.IntN(len(regions))].SigunguCode, Available: true, Cohort: -1, At: at}
		if i%2 == 1 {
			cl := e.ix.clinics[rng.IntN(len(e.ix.clinics))]
			q = Query{Near: &LatLng{cl.Lat, cl.Lng}, Available: true, Cohort: rng.IntN(10), At: at}
		}
		if _, err := e.Search(q); err != nil {
			fmt.Println("search:", err)
			return 3
		}
	}
	var dose1 []int64
	for _, s := range e.ix.slots {
		if s.day >= 0 && s.pair >= 0 {
			dose1 = append(dose1, s.id)
		}
	}
	g, _ := seed.NewGenerator(seed.DefaultConfig(), c)
	var wg sync.WaitGroup
	var changed atomic.Int64
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for range 2000 / 64 {
				id := int64(rng.IntN(1_000_000) + 1)
				cz := g.Citizen(id)
				p := vaxbook.Person{ID: id, BirthDate: cz.BirthDate, Nationality: cz.Nationality}
				mine, err := e.Mine(ctx, p)
				if err != nil || len(mine) == 0 || mine[0].Status != vaxbook.BookingActive {
					continue
				}
				if _, err := e.Change(ctx, p, mine[0].ID, dose1[rng.IntN(len(dose1))], "", at); err == nil {
					changed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("served 20000 searches and %d changes; Go heap in use %d MiB, Go sys %d MiB\n", changed.Load(), ms.HeapInuse>>20, ms.Sys>>20)
	fmt.Printf("peak-rss-kib %d rss-kib %d\n", procStatus("VmHWM"), procStatus("VmRSS"))
	return 0
}
