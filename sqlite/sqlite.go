// Package sqlite is the embedded vaxbook.Store: one SQLite file in WAL mode
// with one writer connection and a pool of readers (github.com/mattn/go-sqlite3).
//
// Every write goes through the single writer connection, so writes are
// serialised by the connection pool and transactions start with BEGIN
// IMMEDIATE (no lock upgrades, no SQLITE_BUSY deadlocks). Reads use their own
// connections and see the last committed state (WAL snapshots) without
// blocking the writer. The booking engine batches many bookings into one
// Apply (group commit), so one fsync is shared by the whole batch; this is
// what makes synchronous=FULL cheap. The small writes of sign-ins (sessions,
// device locks, audit entries) share transactions the same way (writeGroup).
//
// The schema is in migrations/*.sql, embedded and applied by Open.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver

	"vaxbook"
)

// Synchronous modes (PRAGMA synchronous).
const (
	// SyncFull fsyncs the WAL at every commit: a committed transaction
	// survives a power loss. The default.
	SyncFull = "FULL"
	// SyncNormal fsyncs only at checkpoints: a commit survives a crash of the
	// process (the WAL is in the OS page cache), but the last transactions
	// before a power loss or kernel crash may be lost (never corrupted).
	SyncNormal = "NORMAL"
)

// Options configure Open. The zero value is a good default.
type Options struct {
	// Synchronous is SyncFull (default) or SyncNormal. See docs/storage.md
	// for the trade-off.
	Synchronous string
	// BusyTimeout is how long a connection waits for a lock held by another
	// process (default 5 s).
	BusyTimeout time.Duration
	// Readers is the size of the read pool (default max(4, 2×GOMAXPROCS)).
	Readers int
	// CacheKiB is the page cache per connection in KiB (default 64 MiB for
	// the writer, a quarter of it for each reader).
	CacheKiB int
	// Logger receives migration notes (default slog.Default()).
	Logger *slog.Logger
}

// DB is the SQLite store. It implements vaxbook.Store.
type DB struct {
	path string
	w    *sql.DB // exactly one connection: every write
	r    *sql.DB // readers
	log  *slog.Logger
	// cacheKiB is the writer's page cache (restored after a Load).
	cacheKiB int
	// quotaLogKeep and quotaLogPruneEvery size the quota change log.
	quotaLogKeep, quotaLogPruneEvery int64
	// group shares transactions among the small writes of sign-ins.
	group writeGroup
	// sqlText caches the text of multi-row statements by name and size.
	sqlText sync.Map
	once    sync.Once
	closed  error
}

var _ vaxbook.Store = (*DB)(nil)

// Open opens (creating if needed) the database file at path, creates its
// directory, applies pending migrations and returns the store.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, vaxbook.InvalidParam("db", "sqlite: empty database path")
	}
	sync := strings.ToUpper(opts.Synchronous)
	switch sync {
	case "":
		sync = SyncFull
	case SyncFull, SyncNormal:
	default:
		return nil, vaxbook.InvalidParam("synchronous", "sqlite: synchronous must be FULL or NORMAL, not %q", opts.Synchronous)
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.Readers <= 0 {
		opts.Readers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if opts.CacheKiB <= 0 {
		opts.CacheKiB = 64 << 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: create directory: %w", err)
		}
	}
	params := func(extra url.Values) string {
		v := url.Values{}
		v.Set("_busy_timeout", fmt.Sprint(opts.BusyTimeout.Milliseconds()))
		v.Set("_foreign_keys", "1")
		v.Set("_stmt_cache_size", "128")
		for k, vs := range extra {
			v[k] = vs
		}
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + v.Encode()
	}
	w, err := sql.Open("sqlite3", params(url.Values{
		"_journal_mode": {"WAL"},
		"_synchronous":  {sync},
		"_txlock":       {"immediate"},
		"_cache_size":   {fmt.Sprint(-opts.CacheKiB)},
	}))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db := &DB{path: path, w: w, log: opts.Logger, cacheKiB: opts.CacheKiB,
		quotaLogKeep: quotaLogKeep, quotaLogPruneEvery: quotaLogPruneEvery}
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// Keep the WAL file from staying at its largest size after a big
	// transaction (a Load) has been checkpointed.
	if _, err := w.ExecContext(ctx, `PRAGMA journal_size_limit = 67108864`); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite3", params(url.Values{
		"_query_only": {"1"},
		"_cache_size": {fmt.Sprint(-max(opts.CacheKiB/4, 2048))},
	}))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open readers %s: %w", path, err)
	}
	r.SetMaxOpenConns(opts.Readers)
	r.SetMaxIdleConns(opts.Readers)
	r.SetConnMaxIdleTime(0)
	db.r = r
	return db, nil
}

// Path returns the database file.
func (db *DB) Path() string { return db.path }

// Ping checks that both the writer and the readers answer.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping writer: %w", err)
	}
	if err := db.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping readers: %w", err)
	}
	return nil
}

// Close closes the store. A second call returns the first's result.
func (db *DB) Close() error {
	db.once.Do(func() {
		db.closed = errors.Join(db.r.Close(), db.w.Close())
	})
	return db.closed
}

// micros stores an instant as Unix microseconds.
func micros(t time.Time) int64 { return t.UnixMicro() }

// instant reads an instant stored by micros.
func instant(us int64) time.Time { return time.UnixMicro(us).UTC() }

// internal wraps an unexpected failure (its code is CodeInternal).
func internal(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("sqlite: %s: %w", what, err)
}
