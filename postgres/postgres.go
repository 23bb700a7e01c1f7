// Package postgres is the PostgreSQL adapter of vaxbook: a vaxbook.Store on
// pgx, for cluster mode, where any number of stateless nodes share one
// database.
//
// Open connects a pool and applies the embedded migrations (migrations/*.sql)
// under an advisory lock, so several nodes may start at once. Apply is the
// hot path: a whole batch of booking mutations is one transaction of four
// network round trips whatever its size (lock and read, decide in memory,
// write with set-based statements, commit); see apply.go. Options.NaiveApply
// switches to the one-transaction-per-booking design that the benchmark
// compares against.
//
// The database enforces the invariants (DESIGN.md §5): quota rows have
// CHECK (0 ≤ booked ≤ capacity) and bookings a partial unique index on the
// active (person, campaign, dose). See docs/postgres.md.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"vaxbook"
)

// Options configure a DB. The zero value is a sensible default.
type Options struct {
	// MaxConns is the pool size (default: pool_max_conns from the URL, else
	// DefaultMaxConns). Group commit needs few connections: a handful of
	// batches in flight saturate a server; the rest serve sessions, device
	// locks and reads.
	MaxConns int32
	// MinConns connections are kept open (default 0).
	MinConns int32
	// MaxRetries bounds how many times a batch is retried after a deadlock
	// (40P01), a serialization failure (40001) or a unique violation caused
	// by a concurrent transaction (default 10). Nothing was committed when
	// these happen, so a retry is invisible to the caller.
	MaxRetries int
	// NaiveApply makes Apply run each mutation in its own transaction with
	// one plain statement at a time: the baseline design the benchmark
	// measures group commit against. Do not use it in production.
	NaiveApply bool
	// SkipMigrate opens the database without applying migrations (the
	// schema must already be current).
	SkipMigrate bool
	// ChangeRetention is how long the quota change feed keeps its entries
	// (default 10 minutes); a node whose last poll is older reloads every
	// quota row of the campaign. A background goroutine prunes the feed every
	// ChangeRetention/4; a negative value turns it off (call
	// PruneQuotaChanges yourself).
	ChangeRetention time.Duration
	// Logger receives retries and migrations (default slog.Default()).
	Logger *slog.Logger
}

// DefaultMaxConns is the pool size when neither Options.MaxConns nor the
// URL's pool_max_conns sets one.
const DefaultMaxConns = 16

// DB is a vaxbook.Store on PostgreSQL. It is safe for concurrent use.
type DB struct {
	pool *pgxpool.Pool
	opts Options
	log  *slog.Logger

	stopPrune context.CancelFunc
	pruneDone chan struct{}
}

var _ vaxbook.Store = (*DB)(nil)

// Open connects to the database at url (postgres:// or postgresql://, with
// any libpq-style parameters pgx understands), applies pending migrations
// unless opts.SkipMigrate, and returns the store.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !strings.Contains(url, "pool_max_conns"):
		// A node runs several batches at once and serves sessions and
		// device locks beside them: pgx's default (max(4, NumCPU)) is small.
		cfg.MaxConns = max(cfg.MaxConns, DefaultMaxConns)
	}
	if opts.MinConns > 0 {
		cfg.MinConns = opts.MinConns
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "vaxbook"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if opts.ChangeRetention == 0 {
		opts.ChangeRetention = 10 * time.Minute
	}
	db := &DB{pool: pool, opts: opts, log: opts.Logger}
	if !opts.SkipMigrate {
		if err := db.Migrate(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	db.stopPrune, db.pruneDone = stop, make(chan struct{})
	go db.pruneLoop(pctx)
	return db, nil
}

// Close stops the background pruning and closes the pool. It may be called
// more than once.
func (db *DB) Close() error {
	db.stopPrune()
	<-db.pruneDone
	db.pool.Close()
	return nil
}

// pruneLoop prunes the quota change feed every ChangeRetention/4 until ctx
// ends.
func (db *DB) pruneLoop(ctx context.Context) {
	defer close(db.pruneDone)
	if db.opts.ChangeRetention < 0 {
		return
	}
	t := time.NewTicker(max(db.opts.ChangeRetention/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := db.PruneQuotaChanges(ctx, db.opts.ChangeRetention); err != nil && ctx.Err() == nil {
				db.log.Warn("postgres: pruning the quota change feed failed", "err", err)
			} else if n > 0 {
				db.log.Debug("postgres: quota change feed pruned", "entries", n)
			}
		}
	}
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Pool returns the underlying pool (for operators' tools and tests).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// sqlState returns the SQLSTATE of a PostgreSQL error in err's chain, or "".
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// retryable reports whether a failed transaction may simply be run again:
// nothing it did was committed and the cause was another transaction.
func retryable(err error) bool {
	switch sqlState(err) {
	case "40001", // serialization_failure (CockroachDB/YugabyteDB, SERIALIZABLE)
		"40P01", // deadlock_detected
		"23505": // unique_violation: a concurrent transaction inserted the same active booking or idempotency key first
		return true
	}
	return false
}

// backoff waits a little before retry attempt n (jittered, capped), or until
// ctx ends.
func backoff(ctx context.Context, n int) error {
	d := time.Duration(1<<min(n, 6)) * time.Millisecond
	d = d/2 + time.Duration(time.Now().UnixNano()%int64(d/2+1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// notFound maps pgx.ErrNoRows to a CodeNotFound error and wraps the rest.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return vaxbook.Errorf(vaxbook.CodeNotFound, format, args...)
	}
	return fmt.Errorf("postgres: "+format+": %w", append(args, err)...)
}

// ts normalises a time to what the database stores: UTC, microseconds.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
