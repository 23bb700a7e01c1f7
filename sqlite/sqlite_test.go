package sqlite

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"vaxbook"
	"vaxbook/storetest"
)

var quiet = slog.New(slog.DiscardHandler)

func openTemp(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "data", "vaxbook.db"), Options{Logger: quiet})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) vaxbook.Store { return openTemp(t) })
}
