package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// Group commit for the small writes of sign-ins and sessions.
//
// Every sign-in writes a device lock and a session, and on the one writer
// connection with synchronous=FULL each write is a transaction with its own
// fsync: in an opening-night rush the sign-ins alone were held to about one
// fsync's worth of logins per second and queued the booking engine's
// batches behind them. writeGroup shares one transaction (one fsync) among
// the writes that arrive while another group is committing, the way the
// booking engine does for bookings and PostgreSQL does for its WAL: the
// first caller to find no group committing leads — it takes every pending
// write, runs each in its own SAVEPOINT (a failed write is rolled back alone
// and gets its own error), commits, and hands the lead to the first caller
// that queued meanwhile. No goroutine of its own, nothing to stop on Close.
type writeGroup struct {
	mu      sync.Mutex
	pending []*groupWrite
	busy    bool // a leader is committing
	// single makes every write its own transaction (benchmark baseline).
	single bool
}

// groupWrite is one caller's write.
type groupWrite struct {
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error // the write's result, or errLead
}

// errLead tells a waiting caller that it now leads the next group.
var errLead = errors.New("sqlite: lead the next group")

// maxGroup bounds the writes one transaction takes.
const maxGroup = 512

// write runs fn in a transaction on the writer connection, shared with
// other callers' writes, and returns fn's error (or the transaction's). fn
// must not keep tx; it may run after ctx is done (a leader finishes the
// group it took), so its effects must be harmless to a caller that gave up.
func (db *DB) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	g := &db.group
	w := &groupWrite{fn: fn, done: make(chan error, 1)}
	g.mu.Lock()
	if g.single {
		g.mu.Unlock()
		db.commitGroup(ctx, []*groupWrite{w})
		return <-w.done
	}
	g.pending = append(g.pending, w)
	if g.busy {
		g.mu.Unlock()
		// Waiting ignores ctx: this caller may be handed the lead, and a
		// group commits in milliseconds.
		if err := <-w.done; !errors.Is(err, errLead) {
			return err
		}
		g.mu.Lock()
	}
	g.busy = true
	batch := g.pending[:min(len(g.pending), maxGroup)]
	g.pending = g.pending[len(batch):]
	g.mu.Unlock()

	db.commitGroup(context.WithoutCancel(ctx), batch)

	g.mu.Lock()
	if len(g.pending) > 0 {
		// busy stays true: the lead passes to the first writer that
		// queued meanwhile, whose write is in the group it will take.
		g.pending[0].done <- errLead
	} else {
		g.busy = false
	}
	g.mu.Unlock()
	return <-w.done
}

// commitGroup runs the writes in one transaction, each in a savepoint, and
// answers every one.
func (db *DB) commitGroup(ctx context.Context, batch []*groupWrite) {
	errs := make([]error, len(batch))
	fail := func(err error) {
		for _, w := range batch {
			w.done <- fmt.Errorf("group commit: %w", err)
		}
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		fail(err)
		return
	}
	defer tx.Rollback()
	for i, w := range batch {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT w`); err != nil {
			fail(err)
			return
		}
		if errs[i] = w.fn(ctx, tx); errs[i] != nil {
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO w`); err != nil {
				fail(fmt.Errorf("roll back a failed write: %w", err))
				return
			}
		}
		if _, err := tx.ExecContext(ctx, `RELEASE w`); err != nil {
			fail(err)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(err)
		return
	}
	for i, w := range batch {
		w.done <- errs[i]
	}
}
