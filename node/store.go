// Package node assembles one vaxbook node from its configuration: the store
// (SQLite file or PostgreSQL URL), the booking engine, the waiting room, the
// identity providers and the web server. cmd/vaxbook and rush --embedded use
// it; it is the only library package allowed to import adapters.
package node

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"vaxbook"
	"vaxbook/postgres"
	"vaxbook/sqlite"
)

// OpenStore opens (creating and migrating as needed) the store named by db:
// a postgres:// or postgresql:// URL for PostgreSQL, otherwise a SQLite file
// path (a directory gets "vaxbook.db" inside it).
func OpenStore(ctx context.Context, db string) (vaxbook.Store, error) {
	return openStore(ctx, db, nil)
}

// openStore is OpenStore with a logger for the adapter (nil: slog.Default()).
func openStore(ctx context.Context, db string, log *slog.Logger) (vaxbook.Store, error) {
	if db == "" {
		return nil, vaxbook.InvalidParam("db", "no database given: a SQLite file or directory, or a postgres:// URL")
	}
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		s, err := postgres.Open(ctx, db, postgres.Options{Logger: log})
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return s, nil
	}
	if fi, err := os.Stat(db); (err == nil && fi.IsDir()) || strings.HasSuffix(db, string(os.PathSeparator)) {
		db = filepath.Join(db, "vaxbook.db")
	}
	s, err := sqlite.Open(ctx, db, sqlite.Options{Logger: log})
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return s, nil
}
