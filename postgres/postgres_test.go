package postgres

import (
	"context"
	"log/slog"
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
