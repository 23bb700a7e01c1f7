package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"vaxbook"
	"vaxbook/storetest"
)

func TestMigrationsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	for i := range 2 {
		db, err := Open(context.Background(), path, Options{Logger: quiet})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		v, err := db.SchemaVersion(context.Background())
		if err != nil || v != LatestVersion() || v < 1 {
			t.Fatalf("open %d: schema version %d, %v; want %d", i, v, err, LatestVersion())
		}
		var n int
		if err := db.w.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != v {
			t.Fatalf("open %d: %d migration rows, %v; want %d", i, n, err, v)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// A database from a newer binary is refused, not downgraded.
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if db, err := Open(context.Background(), path, Options{Logger: quiet}); err == nil {
		db.Close()
		t.Fatal("Open of a database with a newer schema succeeded")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

func TestOpenOptions(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(context.Background(), filepath.Join(dir, "a.db"), Options{Synchronous: "OFF", Logger: quiet}); vaxbook.ErrorCode(err) != vaxbook.CodeInvalid {
		t.Fatalf("synchronous OFF: %v, want invalid_argument", err)
	}
	if _, err := Open(context.Background(), "", Options{Logger: quiet}); vaxbook.ErrorCode(err) != vaxbook.CodeInvalid {
		t.Fatalf("empty path: %v, want invalid_argument", err)
	}
	for _, mode := range []string{SyncFull, SyncNormal, "normal"} {
		db, err := Open(context.Background(), filepath.Join(dir, mode+".db"), Options{Synchronous: mode, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		var journal string
		var syncMode int
		if err := db.w.QueryRow(`PRAGMA journal_mode`).Scan(&journal); err != nil {
			t.Fatal(err)
		}
		if err := db.w.QueryRow(`PRAGMA synchronous`).Scan(&syncMode); err != nil {
			t.Fatal(err)
		}
		want := map[string]int{SyncFull: 2, SyncNormal: 1, "normal": 1}[mode]
		if journal != "wal" || syncMode != want {
			t.Errorf("%s: journal_mode %s, synchronous %d; want wal, %d", mode, journal, syncMode, want)
		}
		var fk int
		if err := db.r.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
			t.Errorf("%s: readers foreign_keys %d, %v", mode, fk, err)
		}
		db.Close()
	}
}

// TestReopenAfterKill books from a child process, kills it with SIGKILL
// while it is still writing, and checks that the database reopens, that every
// booking the child saw committed is there, and that the invariants hold.
func TestReopenAfterKill(t *testing.T) {
	if path := os.Getenv("VAXBOOK_SQLITE_CHILD_DB"); path != "" {
		childBooker(path)
		return
	}
	path := filepath.Join(t.TempDir(), "killed.db")
	db, err := Open(context.Background(), path, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Load(context.Background(), storetest.RushDatasetSized(2000, 200, 10, 100)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestReopenAfterKill$")
	cmd.Env = append(os.Environ(), "VAXBOOK_SQLITE_CHILD_DB="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[int64]int64{} // person → dose-1 booking id
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 300 {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "ack" {
			continue
		}
		p, _ := strconv.ParseInt(f[1], 10, 64)
		id, _ := strconv.ParseInt(f[2], 10, 64)
		acked[p] = id
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("child acknowledged only %d bookings before exiting", len(acked))
	}

	db, err = Open(context.Background(), path, Options{Logger: quiet})
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer db.Close()
	for p, id := range acked {
		b, err := db.Booking(context.Background(), id)
		if err != nil || b.PersonID != p || b.Status != vaxbook.BookingActive {
			t.Fatalf("acknowledged booking %d of person %d: %+v, %v", id, p, b, err)
		}
	}
	rep, err := db.CheckInvariants(context.Background(), storetest.RushCampaign)
	if err != nil || !rep.OK() || rep.ActiveBookings < 2*int64(len(acked)) {
		t.Fatalf("after reopen: %+v, %v (acknowledged %d)", rep, err, len(acked))
	}
	// The reopened store takes writes.
	p := firstKey(acked)
	outs, err := db.Apply(context.Background(), []vaxbook.Mutation{storetest.Cancel(p, storetest.RushCampaign, acked[p], time.Now())})
	if err != nil || outs[0].Err != nil {
		t.Fatalf("cancel after reopen: %v, %+v", err, outs)
	}
}

func firstKey(m map[int64]int64) int64 {
	for k := range m {
		return k
	}
	return 0
}

// childBooker books people one batch of 8 at a time and prints "ack PERSON
// DOSE1ID" for each committed booking, until it is killed.
func childBooker(path string) {
	db, err := Open(context.Background(), path, Options{Logger: quiet})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	at := time.Date(2021, 8, 19, 20, 0, 0, 0, storetest.KST)
	for p := int64(1); p <= 2000; p += 8 {
		var muts []vaxbook.Mutation
		for q := p; q < p+8; q++ {
			m := storetest.BookTwo(q, storetest.RushFirstSlot+q%200, at, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
			m.CampaignID = storetest.RushCampaign
			muts = append(muts, m)
		}
		outs, err := db.Apply(context.Background(), muts)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for i, o := range outs {
			if o.Err == nil {
				fmt.Fprintf(w, "ack %d %d\n", muts[i].PersonID, o.Bookings[0].ID)
			}
		}
		w.Flush()
	}
	// Stay alive until killed (the parent stops reading after enough acks).
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	<-stop
}
