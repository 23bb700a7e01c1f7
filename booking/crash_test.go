package booking

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/campaign"
	"vaxbook/sqlite"
)

// The crash test's child: the test binary re-executed with these variables.
const (
	crashChildEnv = "VAXBOOK_BOOKING_CRASH_CHILD" // the SQLite file the child books into
)

// childMains are the child processes this test binary can become, by
// environment variable (its value is the child's argument).
var childMains = map[string]func(arg string) int{crashChildEnv: crashChild}

func TestMain(m *testing.M) {
	for env, child := range childMains {
		if arg := os.Getenv(env); arg != "" {
			os.Exit(child(arg))
		}
	}
	os.Exit(m.Run())
}

var crashSpec = spec{Clinics: 30, Days: 4, Hours: []int{9, 10, 11, 13, 14, 15}, Cap: 3, People: 30_000}

// crashChild books (and now and then cancels) from many goroutines until it
// is killed, printing every acknowledged write on stdout:
//
//	b <booking id> <person id>   a booking the engine confirmed
//	c? <booking id>              a cancel about to be sent
//	c <booking id>               a cancel the engine confirmed
func crashChild(path string) int {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: sqlite.SyncFull, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	k := buildCountry(mustCampaign(), crashSpec)
	e, err := New(ctx, db, k.c, Config{}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	var (
		out  sync.Mutex
		next atomic.Int64
	)
	say := func(format string, args ...any) {
		out.Lock()
		fmt.Fprintf(os.Stdout, format+"\n", args...) // unbuffered: one write per line
		out.Unlock()
	}
	say("ready")
	now := poolOpen.Add(time.Hour)
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 99))
			for {
				id := next.Add(1)
				if id > int64(crashSpec.People) {
					return
				}
				p := newPerson(id)
				c, err := e.Book(ctx, p, k.dose1[rng.IntN(len(k.dose1))].ID, "", now)
				if err != nil {
					continue // slot full
				}
				say("b %d %d", c.Bookings[0].ID, p.ID)
				if rng.IntN(10) == 0 {
					say("c? %d", c.Bookings[0].ID)
					if _, err := e.Cancel(ctx, p, c.Bookings[0].ID, "", now); err == nil {
						say("c %d", c.Bookings[0].ID)
					}
				}
			}
		}()
	}
	wg.Wait()
	say("done")
	return 0
}

func mustCampaign() vaxbook.Campaign {
	c, err := campaign.Load("kr-2021-18-49")
	if err != nil {
		panic(err)
	}
	return c
}

// TestCrashKeepsAcknowledgedBookings kills a child that books continuously
// through the engine on a SQLite file (SIGKILL, mid-run), reopens the file
// and checks that every booking the child acknowledged is there and active
// (or cancelled, if its cancel was under way), and that the store's
// invariants hold.
func TestCrashKeepsAcknowledgedBookings(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	db := openSQLite(t, path)
	k := buildCountry(testCampaign(t), crashSpec)
	if err := db.Load(context.Background(), k.data); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	const killAfter = 3000 // acknowledged bookings
	booked := map[int64]int64{}
	cancelling := map[int64]bool{}
	cancelled := map[int64]bool{}
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 3 && f[0] == "b":
			id, _ := strconv.ParseInt(f[1], 10, 64)
			person, _ := strconv.ParseInt(f[2], 10, 64)
			booked[id] = person
		case len(f) == 2 && f[0] == "c?":
			id, _ := strconv.ParseInt(f[1], 10, 64)
			cancelling[id] = true
		case len(f) == 2 && f[0] == "c":
			id, _ := strconv.ParseInt(f[1], 10, 64)
			cancelled[id] = true
		case len(f) == 1 && (f[0] == "ready" || f[0] == "done"):
		}
		if len(booked) >= killAfter && !killed {
			// SIGKILL: no deferred functions, no Close, no flush.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	// Lines already in the pipe when the child died were acknowledged too.
	werr := cmd.Wait()
	if !killed {
		t.Fatalf("the child ended before it was killed (%v) after %d bookings", werr, len(booked))
	}
	t.Logf("child killed after %d acknowledged bookings (%d cancels acknowledged, %d under way)",
		len(booked), len(cancelled), len(cancelling)-len(cancelled))

	db = openSQLite(t, path)
	defer db.Close()
	ctx := context.Background()
	for id, person := range booked {
		b, err := db.Booking(ctx, id)
		if err != nil {
			t.Fatalf("acknowledged booking %d of person %d: %v", id, person, err)
		}
		switch {
		case b.PersonID != person || b.Dose != 1:
			t.Fatalf("booking %d: %+v, want dose 1 of person %d", id, b, person)
		case cancelled[id] && b.Status != vaxbook.BookingCancelled:
			t.Fatalf("booking %d: cancel acknowledged, status %s", id, b.Status)
		case !cancelling[id] && b.Status != vaxbook.BookingActive:
			t.Fatalf("acknowledged booking %d is %s", id, b.Status)
		}
		all, err := db.Bookings(ctx, person, k.c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 2 || all[1].Dose != 2 || all[1].Status != b.Status {
			t.Fatalf("person %d: dose 2 not consistent with dose 1: %+v", person, all)
		}
	}
	rep := checkInvariants(t, db, k.c.ID)
	t.Logf("after the crash: %+v", rep)
	if rep.ActiveBookings < int64(2*(len(booked)-len(cancelling))) {
		t.Fatalf("%d active bookings, fewer than acknowledged", rep.ActiveBookings)
	}
	// A new engine starts on the recovered file and agrees with it.
	e := newEngine(t, db, k.c, Config{})
	sameIndex(t, e, db)
}
