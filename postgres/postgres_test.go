package postgres

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"vaxbook"
	"vaxbook/internal/testdb"
	"vaxbook/storetest"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// openTest opens a fresh migrated database with opts.
func openTest(t *testing.T, opts Options) *DB {
	t.Helper()
	url := testdb.Postgres(t)
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	db, err := Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestContract runs the store contract against group-commit Apply.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) vaxbook.Store { return openTest(t, Options{}) })
}

// TestContractNaive runs the booking contract against the naive baseline, so
// that the benchmark compares two implementations of the same semantics.
func TestContractNaive(t *testing.T) {
	open := func(t *testing.T) vaxbook.Store { return openTest(t, Options{NaiveApply: true}) }
	storetest.RunBooking(t, open)
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestPoolSize: Options.MaxConns, else the URL's pool_max_conns, else
// DefaultMaxConns.
func TestPoolSize(t *testing.T) {
	url := testdb.Postgres(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	for _, tc := range []struct {
		url  string
		opt  int32
		want int32
	}{
		{url, 0, DefaultMaxConns},
		{url + sep + "pool_max_conns=3", 0, 3},
		{url + sep + "pool_max_conns=3", 5, 5},
	} {
		db, err := Open(t.Context(), tc.url, Options{MaxConns: tc.opt, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		got := db.Pool().Config().MaxConns
		db.Close()
		if got != tc.want {
			t.Errorf("Open(%q, MaxConns %d): pool of %d, want %d", tc.url, tc.opt, got, tc.want)
		}
	}
}
