package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"vaxbook"
)

// Apply runs the mutations in one transaction, in order, each with its own
// outcome (see vaxbook.BookingStore). With Options.NaiveApply it runs the
// baseline instead (see applyNaive).
//
// Group commit on PostgreSQL costs four round trips per batch, whatever its
// size:
//
//  1. BEGIN.
//  2. One pipelined read: lock (SELECT … FOR UPDATE, in id order) every
//     booking the batch can touch and every quota row it can take from or
//     give back to (in (slot, cohort) order, so concurrent batches on other
//     nodes cannot deadlock on them), read the idempotency records of its
//     keys, and reserve booking ids.
//  3. Decide every mutation in order, in memory, against those locked rows
//     (each mutation is all or nothing: a refusal changes nothing).
//  4. One pipelined write of the net effect with set-based statements
//     (UPDATE … FROM unnest(…), INSERT … SELECT FROM unnest(…)), then
//     COMMIT.
//
// The quota update is still conditional (0 ≤ booked+delta ≤ capacity) and
// the table's CHECK and the unique index on active bookings stay the final
// word: if a concurrent transaction got there first (a unique violation), or
// PostgreSQL reports a deadlock or a serialization failure, nothing was
// committed and the whole batch is retried, up to Options.MaxRetries times.
func (db *DB) Apply(ctx context.Context, muts []vaxbook.Mutation) ([]vaxbook.Outcome, error) {
	if db.opts.NaiveApply {
		return db.applyNaive(ctx, muts)
	}
	for attempt := 0; ; attempt++ {
		outs, err := db.applyBatch(ctx, muts)
		if err == nil {
			return outs, nil
		}
		if !retryable(err) || attempt >= db.opts.MaxRetries || ctx.Err() != nil {
			return nil, fmt.Errorf("postgres: apply %d mutations: %w", len(muts), err)
		}
		db.log.Debug("postgres: batch retried", "attempt", attempt+1, "sqlstate", sqlState(err), "mutations", len(muts))
		if err := backoff(ctx, attempt); err != nil {
			return nil, fmt.Errorf("postgres: apply: %w", err)
		}
	}
}

// quotaID is the key of quota row (slot, cohort): slot*16 + cohort.
func quotaID(slot int64, cohort int) int64 { return slot<<4 | int64(cohort) }

type qkey struct {
	slot   int64
	cohort int
}

type qrow struct {
	campaign string
	capacity int
	booked   int // as locked, plus the effect of the mutations decided so far
	delta    int // net change to write
}

type ikey struct {
	person int64
	key    string
}

type idemRec struct {
	hash    string
	outcome []byte
}

// batch is the state a group of mutations is decided against: the locked
// rows and what the mutations decided so far did to them.
type batch struct {
	campaigns map[string]bool
	people    map[int64]bool
	quotas    map[qkey]*qrow
	bookings  map[int64]*vaxbook.Booking   // every booking read or created
	active    map[int64][]*vaxbook.Booking // person → active bookings
	idem      map[ikey]idemRec
	ids       []int64 // reserved booking ids, used in order

	inserted []*vaxbook.Booking
	updated  map[int64]bool // ids of existing bookings changed
	newIdem  []idemWrite
}

type idemWrite struct {
	k       ikey
	hash    string
	outcome string
	at      time.Time
}

// readSet is what a batch may touch, gathered before the first round trip.
type readSet struct {
	people, refIDs, movers, qids []int64
	campaigns                    []string
	iPeople                      []int64
	iKeys                        [][]byte
	legs                         int
}

func newReadSet(muts []vaxbook.Mutation) readSet {
	var r readSet
	seen := map[string]bool{}
	for _, m := range muts {
		r.people = append(r.people, m.PersonID)
		if validText(m.CampaignID) && !seen[m.CampaignID] {
			seen[m.CampaignID] = true
			r.campaigns = append(r.campaigns, m.CampaignID)
		}
		if m.IdempotencyKey != "" {
			r.iPeople = append(r.iPeople, m.PersonID)
			r.iKeys = append(r.iKeys, []byte(m.IdempotencyKey))
		}
		if m.Kind == vaxbook.MutationChange || m.Kind == vaxbook.MutationCancel {
			r.refIDs = append(r.refIDs, m.BookingID)
			r.movers = append(r.movers, m.PersonID)
		}
		if m.Kind == vaxbook.MutationBook || m.Kind == vaxbook.MutationChange {
			for _, l := range m.Legs {
				for _, c := range l.Cohorts {
					if c >= 0 && c < 16 {
						r.qids = append(r.qids, quotaID(l.SlotID, c))
					}
				}
				r.legs++
			}
		}
	}
	return r
}

func (db *DB) applyBatch(ctx context.Context, muts []vaxbook.Mutation) (outs []vaxbook.Outcome, err error) {
	outs = make([]vaxbook.Outcome, len(muts))
	if len(muts) == 0 {
		return outs, nil
	}
	b := &batch{
		campaigns: map[string]bool{},
		people:    map[int64]bool{},
		quotas:    map[qkey]*qrow{},
		bookings:  map[int64]*vaxbook.Booking{},
		active:    map[int64][]*vaxbook.Booking{},
		idem:      map[ikey]idemRec{},
		updated:   map[int64]bool{},
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err := b.read(ctx, tx, newReadSet(muts)); err != nil {
		return nil, err
	}
	for i, m := range muts {
		if outs[i], err = b.decide(m); err != nil {
			return nil, err
		}
	}
	if err := b.write(ctx, tx); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return outs, nil
}

const (
	bookingCols = `id, person_id, campaign_id, dose, slot_id, cohort, status, version, created_at, updated_at`

	sqlReadCampaigns = `SELECT id FROM campaign WHERE id = ANY($1)`
	sqlReadPeople    = `SELECT id FROM person WHERE id = ANY($1)`

	sqlLockBookings = `SELECT ` + bookingCols + ` FROM booking
WHERE (person_id = ANY($1) AND status = 'active') OR id = ANY($2)
ORDER BY id FOR UPDATE`

	// The quota rows the legs name, and the rows the active bookings of
	// people who change or cancel were taken from (locked by the statement
	// before, so they cannot move under us).
	sqlLockQuotas = `SELECT id, campaign_id, capacity, booked FROM quota
WHERE id = ANY($1::bigint[] || ARRAY(
	SELECT b.slot_id * 16 + b.cohort FROM booking b WHERE b.person_id = ANY($2) AND b.status = 'active'))
ORDER BY id FOR NO KEY UPDATE`

	sqlReadIdem = `SELECT i.person_id, i.key, i.request_hash, i.outcome FROM idempotency i
WHERE (i.person_id, i.key) IN (SELECT * FROM unnest($1::bigint[], $2::bytea[]))`

	sqlReserveIDs = `SELECT nextval('booking_id_seq') FROM generate_series(1, $1)`
)

// read runs the locking reads as one pipelined round trip.
func (b *batch) read(ctx context.Context, tx pgx.Tx, r readSet) error {
	var pb pgx.Batch
	if len(r.campaigns) > 0 {
		pb.Queue(sqlReadCampaigns, r.campaigns).Query(func(rows pgx.Rows) error {
			var id string
			_, err := pgx.ForEachRow(rows, []any{&id}, func() error { b.campaigns[id] = true; return nil })
			return err
		})
	}
	pb.Queue(sqlReadPeople, r.people).Query(func(rows pgx.Rows) error {
		var id int64
		_, err := pgx.ForEachRow(rows, []any{&id}, func() error { b.people[id] = true; return nil })
		return err
	})
	pb.Queue(sqlLockBookings, r.people, r.refIDs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			bk, err := scanBooking(rows)
			if err != nil {
				return err
			}
			p := &bk
			b.bookings[bk.ID] = p
			if bk.Status == vaxbook.BookingActive {
				b.active[bk.PersonID] = append(b.active[bk.PersonID], p)
			}
		}
		return rows.Err()
	})
	if len(r.qids) > 0 || len(r.movers) > 0 {
		pb.Queue(sqlLockQuotas, r.qids, r.movers).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var (
					id int64
					qr qrow
				)
				if err := rows.Scan(&id, &qr.campaign, &qr.capacity, &qr.booked); err != nil {
					return err
				}
				b.quotas[qkey{id >> 4, int(id & 15)}] = &qr
			}
			return rows.Err()
		})
	}
	if len(r.iKeys) > 0 {
		pb.Queue(sqlReadIdem, r.iPeople, r.iKeys).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var (
					person    int64
					key, hash []byte
					rec       idemRec
				)
				if err := rows.Scan(&person, &key, &hash, &rec.outcome); err != nil {
					return err
				}
				rec.hash = string(hash)
				b.idem[ikey{person, string(key)}] = rec
			}
			return rows.Err()
		})
	}
	if r.legs > 0 {
		pb.Queue(sqlReserveIDs, r.legs).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					return err
				}
				b.ids = append(b.ids, id)
			}
			return rows.Err()
		})
	}
	return tx.SendBatch(ctx, &pb).Close()
}

// decide applies one mutation to the batch state and returns its outcome.
// The order of the checks is the contract's: the idempotency key, then the
// mutation's form, then the campaign and the person, then the kind's own.
// The error is for broken invariants of the batch itself.
func (b *batch) decide(m vaxbook.Mutation) (vaxbook.Outcome, error) {
	var k ikey
	if m.IdempotencyKey != "" {
		if !utf8.ValidString(m.IdempotencyKey) {
			return vaxbook.Outcome{Err: errKey()}, nil
		}
		k = ikey{m.PersonID, m.IdempotencyKey}
		if rec, ok := b.idem[k]; ok {
			if rec.hash != m.RequestHash {
				return vaxbook.Outcome{Err: errKeyReused()}, nil
			}
			return decodeOutcome(rec.outcome)
		}
	}
	if m.ReplayOnly {
		return vaxbook.Outcome{Err: vaxbook.ErrNoReplay}, nil
	}
	if err := validate(m); err != nil {
		return vaxbook.Outcome{Err: err}, nil // a malformed mutation is not remembered
	}
	var out vaxbook.Outcome
	switch {
	case !b.campaigns[m.CampaignID]:
		out = vaxbook.Outcome{Err: errNoCampaign(m.CampaignID)}
	case !b.people[m.PersonID]:
		out = vaxbook.Outcome{Err: errNoPerson(m.PersonID)}
	case m.Kind == vaxbook.MutationBook:
		out = b.book(m)
	case m.Kind == vaxbook.MutationChange:
		out = b.change(m)
	case m.Kind == vaxbook.MutationCancel:
		out = b.cancel(m)
	}
	if m.IdempotencyKey != "" && vaxbook.ErrorCode(out.Err) != vaxbook.CodeInvalid {
		enc, err := encodeOutcome(out)
		if err != nil {
			return vaxbook.Outcome{}, err
		}
		b.idem[k] = idemRec{hash: m.RequestHash, outcome: []byte(enc)}
		b.newIdem = append(b.newIdem, idemWrite{k: k, hash: m.RequestHash, outcome: enc, at: ts(m.At)})
	}
	return out, nil
}

// activeOf returns the person's active bookings of the campaign.
func (b *batch) activeOf(person int64, campaign string) []*vaxbook.Booking {
	var r []*vaxbook.Booking
	for _, bk := range b.active[person] {
		if bk.CampaignID == campaign && bk.Status == vaxbook.BookingActive {
			r = append(r, bk)
		}
	}
	return r
}

func (b *batch) outcomeOf(person int64, campaign string) vaxbook.Outcome {
	var bs []vaxbook.Booking
	for _, bk := range b.activeOf(person, campaign) {
		bs = append(bs, *bk)
	}
	sortBookings(bs)
	return vaxbook.Outcome{Bookings: bs}
}

// place is one leg's decided place.
type place struct {
	slot   int64
	cohort int
}

// take finds a place for every leg, given the tentative releases in rel
// (quota rows given back by the same mutation first). It changes nothing.
func (b *batch) take(m vaxbook.Mutation, rel map[qkey]int) ([]place, error) {
	ps := make([]place, len(m.Legs))
	tent := map[qkey]int{}
	for i, l := range m.Legs {
		found := false
		for _, c := range l.Cohorts {
			k := qkey{l.SlotID, c}
			q, ok := b.quotas[k]
			if !ok || q.campaign != m.CampaignID {
				continue
			}
			if q.booked-rel[k]+tent[k] < q.capacity {
				tent[k]++
				ps[i] = place{l.SlotID, c}
				found = true
				break
			}
		}
		if !found {
			return nil, errNoRoom(i, l)
		}
	}
	return ps, nil
}

func (b *batch) adjust(k qkey, d int) error {
	q, ok := b.quotas[k]
	if !ok {
		return fmt.Errorf("quota row (%d, %d) of an active booking was not locked", k.slot, k.cohort)
	}
	q.booked += d
	q.delta += d
	return nil
}

func (b *batch) nextID() int64 {
	id := b.ids[0]
	b.ids = b.ids[1:]
	return id
}

func (b *batch) book(m vaxbook.Mutation) vaxbook.Outcome {
	act := b.activeOf(m.PersonID, m.CampaignID)
	for _, l := range m.Legs {
		for _, bk := range act {
			if bk.Dose == l.Dose {
				return vaxbook.Outcome{Err: errAlreadyBooked(l.Dose)}
			}
		}
	}
	ps, err := b.take(m, nil)
	if err != nil {
		return vaxbook.Outcome{Err: err}
	}
	at := ts(m.At)
	for i, l := range m.Legs {
		_ = b.adjust(qkey{ps[i].slot, ps[i].cohort}, +1)
		nb := newBooking(b.nextID(), m, l.Dose, ps[i].slot, ps[i].cohort, at)
		p := &nb
		b.bookings[nb.ID] = p
		b.active[m.PersonID] = append(b.active[m.PersonID], p)
		b.inserted = append(b.inserted, p)
	}
	return b.outcomeOf(m.PersonID, m.CampaignID)
}

func (b *batch) target(m vaxbook.Mutation) error {
	bk := b.bookings[m.BookingID]
	return checkTarget(m, bk)
}

func (b *batch) change(m vaxbook.Mutation) vaxbook.Outcome {
	if err := b.target(m); err != nil {
		return vaxbook.Outcome{Err: err}
	}
	act := b.activeOf(m.PersonID, m.CampaignID)
	moving, err := matchLegs(m, act)
	if err != nil {
		return vaxbook.Outcome{Err: err}
	}
	rel := map[qkey]int{}
	for _, bk := range moving {
		rel[qkey{bk.SlotID, bk.Cohort}]++
	}
	ps, err := b.take(m, rel)
	if err != nil {
		return vaxbook.Outcome{Err: err}
	}
	at := ts(m.At)
	for k, n := range rel {
		if err := b.adjust(k, -n); err != nil {
			return vaxbook.Outcome{Err: fmt.Errorf("postgres: %w", err)}
		}
	}
	for i, bk := range moving {
		_ = b.adjust(qkey{ps[i].slot, ps[i].cohort}, +1)
		bk.SlotID, bk.Cohort = ps[i].slot, ps[i].cohort
		bk.Version++
		bk.UpdatedAt = at
		b.touch(bk)
	}
	return b.outcomeOf(m.PersonID, m.CampaignID)
}

func (b *batch) cancel(m vaxbook.Mutation) vaxbook.Outcome {
	if err := b.target(m); err != nil {
		return vaxbook.Outcome{Err: err}
	}
	at := ts(m.At)
	var out []vaxbook.Booking
	for _, bk := range b.activeOf(m.PersonID, m.CampaignID) {
		if err := b.adjust(qkey{bk.SlotID, bk.Cohort}, -1); err != nil {
			return vaxbook.Outcome{Err: fmt.Errorf("postgres: %w", err)}
		}
		bk.Status = vaxbook.BookingCancelled
		bk.Version++
		bk.UpdatedAt = at
		b.touch(bk)
		out = append(out, *bk)
	}
	b.active[m.PersonID] = slices.DeleteFunc(b.active[m.PersonID], func(bk *vaxbook.Booking) bool {
		return bk.Status != vaxbook.BookingActive
	})
	sortBookings(out)
	return vaxbook.Outcome{Bookings: out}
}

// touch records that bk changed: an existing row is updated, a row created
// by this batch is simply inserted in its final state.
func (b *batch) touch(bk *vaxbook.Booking) {
	for _, n := range b.inserted {
		if n == bk {
			return
		}
	}
	b.updated[bk.ID] = true
}

const (
	// The conditional update of the counters and, in the same statement,
	// the change-feed entry naming the rows (one per campaign). It
	// returns how many rows it updated. "q.id = ANY($1)" as well as the join:
	// the rows are found by index probes, never by a scan of the table.
	sqlWriteQuotas = `WITH u AS (
	UPDATE quota q SET booked = q.booked + d.delta
	FROM unnest($1::bigint[], $2::int[]) AS d(id, delta)
	WHERE q.id = ANY($1) AND q.id = d.id AND q.booked + d.delta BETWEEN 0 AND q.capacity
	RETURNING q.id, q.campaign_id),
f AS (
	INSERT INTO quota_change (campaign_id, quota_ids)
	SELECT campaign_id, array_agg(id) FROM u GROUP BY campaign_id)
SELECT count(*) FROM u`

	sqlUpdateBookings = `UPDATE booking b
SET slot_id = u.slot_id, cohort = u.cohort, status = u.status, version = u.version, updated_at = u.updated_at
FROM unnest($1::bigint[], $2::bigint[], $3::smallint[], $4::text[], $5::int[], $6::timestamptz[])
	AS u(id, slot_id, cohort, status, version, updated_at)
WHERE b.id = u.id`

	sqlInsertBookings = `INSERT INTO booking (` + bookingCols + `)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::smallint[], $5::bigint[], $6::smallint[],
	$7::text[], $8::int[], $9::timestamptz[], $10::timestamptz[])`

	sqlInsertIdem = `INSERT INTO idempotency (person_id, key, request_hash, outcome, created_at)
SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::text[], $5::timestamptz[])`
)

// columns of bookings for unnest.
type bookingCols10 struct {
	id, person, slot []int64
	campaign, status []string
	dose, cohort     []int16
	version          []int32
	created, updated []time.Time
}

func (c *bookingCols10) add(bk *vaxbook.Booking) {
	c.id = append(c.id, bk.ID)
	c.person = append(c.person, bk.PersonID)
	c.campaign = append(c.campaign, bk.CampaignID)
	c.dose = append(c.dose, int16(bk.Dose))
	c.slot = append(c.slot, bk.SlotID)
	c.cohort = append(c.cohort, int16(bk.Cohort))
	c.status = append(c.status, string(bk.Status))
	c.version = append(c.version, int32(bk.Version))
	c.created = append(c.created, bk.CreatedAt)
	c.updated = append(c.updated, bk.UpdatedAt)
}

// write sends the net effect of the batch as one pipelined round trip.
func (b *batch) write(ctx context.Context, tx pgx.Tx) error {
	var pb pgx.Batch
	// Quota rows in key order (the order they were locked in).
	var keys []qkey
	for k, q := range b.quotas {
		if q.delta != 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		slices.SortFunc(keys, func(x, y qkey) int {
			if x.slot != y.slot {
				if x.slot < y.slot {
					return -1
				}
				return 1
			}
			return x.cohort - y.cohort
		})
		ids := make([]int64, len(keys))
		deltas := make([]int32, len(keys))
		for i, k := range keys {
			ids[i], deltas[i] = quotaID(k.slot, k.cohort), int32(b.quotas[k].delta)
		}
		want := int64(len(keys))
		pb.Queue(sqlWriteQuotas, ids, deltas).QueryRow(func(row pgx.Row) error {
			var n int64
			if err := row.Scan(&n); err != nil {
				return err
			}
			if n != want {
				return fmt.Errorf("postgres: quota update hit %d rows of %d: a counter would leave [0, capacity]", n, want)
			}
			return nil
		})
	}
	if len(b.updated) > 0 {
		ids := make([]int64, 0, len(b.updated))
		for id := range b.updated {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		var c bookingCols10
		for _, id := range ids {
			c.add(b.bookings[id])
		}
		pb.Queue(sqlUpdateBookings, c.id, c.slot, c.cohort, c.status, c.version, c.updated)
	}
	if len(b.inserted) > 0 {
		var c bookingCols10
		for _, bk := range b.inserted {
			c.add(bk)
		}
		pb.Queue(sqlInsertBookings, c.id, c.person, c.campaign, c.dose, c.slot, c.cohort, c.status, c.version, c.created, c.updated)
	}
	if len(b.newIdem) > 0 {
		slices.SortFunc(b.newIdem, func(x, y idemWrite) int {
			if x.k.person != y.k.person {
				if x.k.person < y.k.person {
					return -1
				}
				return 1
			}
			switch {
			case x.k.key < y.k.key:
				return -1
			case x.k.key > y.k.key:
				return 1
			}
			return 0
		})
		n := len(b.newIdem)
		ps, ks, hs, os := make([]int64, n), make([][]byte, n), make([][]byte, n), make([]string, n)
		ats := make([]time.Time, n)
		for i, w := range b.newIdem {
			ps[i], ks[i], hs[i], os[i], ats[i] = w.k.person, []byte(w.k.key), []byte(w.hash), w.outcome, w.at
		}
		pb.Queue(sqlInsertIdem, ps, ks, hs, os, ats)
	}
	if pb.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, &pb).Close()
}
