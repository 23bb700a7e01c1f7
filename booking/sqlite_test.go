package booking

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"vaxbook/sqlite"
)

// openSQLite opens (creating) a SQLite store; the caller closes it.
func openSQLite(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{Logger: slog.New(slog.DiscardHandler), Synchronous: os.Getenv("VAXBOOK_BENCH_SYNC")})
	if err != nil {
		t.Fatal(err)
	}
	return db
}
