package sqlite

import (
	"context"
	"encoding/json"
	"strconv"

	"vaxbook"
)

// Apply runs a batch in one write transaction, in four steps:
//
//  1. read, in a few set-based queries, everything the batch can touch: the
//     stored idempotent outcomes, the active bookings of its people, the
//     bookings it names, the quota rows of its legs and of those bookings;
//  2. apply the mutations one by one, in order, to that in-memory copy: a
//     refused mutation is undone in memory, so it changes nothing;
//  3. write the net effect with set-based statements: booking updates,
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
	b, seq, err := readBatch(ctx, tx, muts)
	if err != nil {
		return nil, err
	}
	for i := range muts {
		outs[i] = b.apply(&muts[i])
	}
	if err := b.write(ctx, tx, seq+1); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, internal("apply: commit", err)
	}
	return outs, nil
}

// jsonArray builds a JSON array of small arrays for json_each parameters.
type jsonArray struct{ b []byte }

func (j *jsonArray) open() {
	if len(j.b) == 0 {
		j.b = append(j.b, '[')
	} else {
		j.b = append(j.b, ',')
	}
	j.b = append(j.b, '[')
}
func (j *jsonArray) int(v int64) *jsonArray {
	if j.b[len(j.b)-1] != '[' {
		j.b = append(j.b, ',')
	}
	j.b = strconv.AppendInt(j.b, v, 10)
	return j
}
func (j *jsonArray) str(s string) *jsonArray {
	if j.b[len(j.b)-1] != '[' {
		j.b = append(j.b, ',')
	}
	q, _ := json.Marshal(s) // never fails for a string; invalid UTF-8 becomes U+FFFD
	j.b = append(j.b, q...)
	return j
}
func (j *jsonArray) close()      { j.b = append(j.b, ']') }
func (j *jsonArray) empty() bool { return len(j.b) == 0 }
func (j *jsonArray) String() string {
	if len(j.b) == 0 {
		return "[]"
	}
	return string(j.b) + "]"
}
