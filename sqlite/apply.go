package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"vaxbook"
)

// Apply runs a batch in one write transaction, in four steps:
//
//  1. read, in a few multi-row queries, everything the batch can touch: the
//     stored idempotent outcomes, the active bookings of its people, the
//     bookings it names, the quota rows of its legs and of those bookings;
//  2. apply the mutations one by one, in order, to that in-memory copy: a
//     refused mutation is undone in memory, so it changes nothing;
//  3. write the net effect with multi-row statements: booking updates,
//     booking inserts, quota updates and stored outcomes;
//  4. commit (one fsync for the whole batch: group commit).
//
// The database still enforces every invariant: each quota row is written
// with a conditional update (the row must still hold the value read and
// the new value must be within capacity; CHECK (booked BETWEEN 0 AND
// capacity) backs it up), the partial unique index allows one active booking
// per person, campaign and dose, and foreign keys hold. If a write does not
// match (which only another writer bypassing this store could cause), the
// whole batch fails and nothing is written. Writes go through the single
// writer connection, so the in-memory copy cannot go stale within the
// transaction.

// refusal is a mutation refused by the rules (as opposed to a failure of
// the batch).
type refusal = *vaxbook.Error

// storedOutcome is what the idempotency table keeps.
type storedOutcome struct {
	Bookings []vaxbook.Booking `json:"bookings,omitempty"`
	Code     vaxbook.Code      `json:"code,omitempty"`
	Message  string            `json:"message,omitempty"`
}

type personCampaign struct {
	person   int64
	campaign string
}

type idemKey struct {
	person int64
	key    string
}

type idemEntry struct {
	hash    string
	outcome storedOutcome
	isNew   bool
	at      int64
}

type quotaKey struct {
	slot   int64
	cohort int
}

type quotaRow struct {
	capacity, booked, read int
	missing                bool // not in the database (a corrupt booking points at it)
}

// bk is a booking as the batch sees it.
type bk struct {
	vaxbook.Booking
	isNew bool // inserted by this batch
	dirty bool // an existing row changed by this batch
}

// batch is the in-memory copy of what one Apply can touch.
type batch struct {
	campaigns map[string]bool
	people    map[int64]bool
	idem      map[idemKey]*idemEntry
	active    map[personCampaign][]*bk // in dose order
	byID      map[int64]*bk
	quota     map[quotaKey]*quotaRow
	nextID    int64
	inserted  []*bk
}

// Apply implements vaxbook.BookingStore.
func (db *DB) Apply(ctx context.Context, muts []vaxbook.Mutation) ([]vaxbook.Outcome, error) {
	outs := make([]vaxbook.Outcome, len(muts))
	if len(muts) == 0 {
		return outs, nil
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, internal("apply: begin", err)
	}
	defer tx.Rollback()
	b, seq, err := db.readBatch(ctx, tx, muts)
	if err != nil {
		return nil, err
	}
	for i := range muts {
		outs[i] = b.apply(&muts[i])
	}
	if err := b.write(ctx, db, tx, seq+1); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, internal("apply: commit", err)
	}
	return outs, nil
}

// rowset is a list of rows of bound values for a multi-row statement.
type rowset struct {
	cols int
	args []any
}

func (r *rowset) add(vals ...any) { r.args = append(r.args, vals...) }
func (r *rowset) n() int          { return len(r.args) / r.cols }

// maxChunk is the largest number of rows one statement binds (a power of
// two, and at most about 16,000 values).
func maxChunk(cols int) int {
	n := 256
	for n*cols > 16000 {
		n /= 2
	}
	return n
}

// multiRowSQL returns build applied to a VALUES list of n rows of cols
// placeholders, cached by name (statements of a few sizes are reused and
// stay in the connection's prepared-statement cache).
func (db *DB) multiRowSQL(name string, cols, n int, build func(values string) string) string {
	key := name + "/" + strconv.Itoa(n)
	if q, ok := db.sqlText.Load(key); ok {
		return q.(string)
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	q := build(strings.TrimSuffix(strings.Repeat(row+",", n), ","))
	db.sqlText.Store(key, q)
	return q
}

// queryRows runs a multi-row query over rs and scans every result row. The
// rows are sent in chunks padded to a power of two by repeating the last
// row (so a few statement sizes serve every batch); scan must tolerate the
// duplicates that padding may produce.
func (db *DB) queryRows(ctx context.Context, tx *sql.Tx, name string, rs rowset, build func(values string) string, scan func(*sql.Rows) error) error {
	total, chunk := rs.n(), maxChunk(rs.cols)
	for start := 0; start < total; start += chunk {
		n := min(chunk, total-start)
		size := 1
		for size < n {
			size *= 2
		}
		args := rs.args[start*rs.cols : (start+n)*rs.cols]
		if size > n {
			args = append([]any(nil), args...)
			last := args[len(args)-rs.cols:]
			for range size - n {
				args = append(args, last...)
			}
		}
		rows, err := tx.QueryContext(ctx, db.multiRowSQL(name, rs.cols, size, build), args...)
		if err != nil {
			return internal("apply: read "+name, err)
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return internal("apply: read "+name, err)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return internal("apply: read "+name, err)
		}
	}
	return nil
}

// execRows runs a multi-row statement over rs in power-of-two chunks and
// checks that it wrote exactly one row per row of rs.
func (db *DB) execRows(ctx context.Context, tx *sql.Tx, name string, rs rowset, build func(values string) string) error {
	total, chunk := rs.n(), maxChunk(rs.cols)
	for start := 0; start < total; {
		n := chunk
		for n > total-start {
			n /= 2
		}
		res, err := tx.ExecContext(ctx, db.multiRowSQL(name, rs.cols, n, build), rs.args[start*rs.cols:(start+n)*rs.cols]...)
		if err != nil {
			return internal("apply: "+name, err)
		}
		got, err := res.RowsAffected()
		if err != nil {
			return internal("apply: "+name, err)
		}
		if int(got) != n {
			return internal("apply: "+name, fmt.Errorf("%d rows written, want %d: the database changed under the batch", got, n))
		}
		start += n
	}
	return nil
}
