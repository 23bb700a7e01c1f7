package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"vaxbook"
)

// batchInsert inserts rows with multi-row INSERT statements of up to
// rowsPerStmt rows, prepared once per Load (fewer round trips through
// database/sql and cgo than one statement per row).
type batchInsert struct {
	tx      *sql.Tx
	table   string
	cols    int
	perStmt int
	head    string
	full    *sql.Stmt
	args    []any
	n       int64
}

func newBatchInsert(tx *sql.Tx, table string, columns string) *batchInsert {
	cols := strings.Count(columns, ",") + 1
	return &batchInsert{tx: tx, table: table, cols: cols, perStmt: max(1, 16000/cols),
		head: "INSERT INTO " + table + " (" + columns + ") VALUES "}
}

func (b *batchInsert) query(rows int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", b.cols), ",") + ")"
	return b.head + strings.TrimSuffix(strings.Repeat(one+",", rows), ",")
}

func (b *batchInsert) add(ctx context.Context, args ...any) error {
	b.args = append(b.args, args...)
	if len(b.args) >= b.perStmt*b.cols {
		return b.flush(ctx)
	}
	return nil
}

func (b *batchInsert) flush(ctx context.Context) error {
	rows := len(b.args) / b.cols
	if rows == 0 {
		return nil
	}
	var err error
	if rows == b.perStmt {
		if b.full == nil {
			if b.full, err = b.tx.PrepareContext(ctx, b.query(rows)); err != nil {
				return fmt.Errorf("prepare %s insert: %w", b.table, err)
			}
		}
		_, err = b.full.ExecContext(ctx, b.args...)
	} else {
		_, err = b.tx.ExecContext(ctx, b.query(rows), b.args...)
	}
	if err != nil {
		return fmt.Errorf("insert into %s: %w", b.table, err)
	}
	b.n += int64(rows)
	b.args = b.args[:0]
	return nil
}

func (b *batchInsert) close() {
	if b.full != nil {
		b.full.Close()
	}
}

// loadCacheKiB is the page cache of a Load transaction.
const loadCacheKiB = 1 << 20

// personCIIndex is the unique blind index of the registry, as in the
// migration.
const personCIIndex = `CREATE UNIQUE INDEX person_ci_hash ON person (ci_hash)`

// Load implements vaxbook.Loader: everything in one transaction.
func (db *DB) Load(ctx context.Context, d vaxbook.Dataset) (err error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return internal("load: begin", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
		// After the transaction ended (the writer has one connection):
		// the normal cache, its excess pages freed, and the C heap's
		// free pages returned to the system.
		db.w.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA cache_size = %d`, -db.cacheKiB))
		db.w.ExecContext(context.WithoutCancel(ctx), `PRAGMA shrink_memory`)
		releaseCHeap()
	}()
	// A large load dirties more pages than the normal cache holds; spilled
	// pages would be written to the WAL again each time they change. Give
	// this transaction a large cache and put the normal one back after.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = %d`, -loadCacheKiB)); err != nil {
		return internal("load: cache size", err)
	}
	// Into an empty registry, build the CI index once at the end (sorted)
	// instead of maintaining it through a million random inserts.
	var anyone int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM person LIMIT 1)`).Scan(&anyone); err != nil {
		return internal("load: people", err)
	}
	rebuildIndex := anyone == 0 && d.People != nil
	if rebuildIndex {
		if _, err := tx.ExecContext(ctx, `DROP INDEX person_ci_hash`); err != nil {
			return internal("load: drop index", err)
		}
	}
	insert := func(table, columns string, n int, row func(i int) []any) error {
		b := newBatchInsert(tx, table, columns)
		defer b.close()
		for i := range n {
			if err := b.add(ctx, row(i)...); err != nil {
				return err
			}
		}
		return b.flush(ctx)
	}
	for _, c := range d.Campaigns {
		body, err := json.Marshal(c)
		if err != nil {
			return vaxbook.Errorf(vaxbook.CodeInvalid, "campaign %q: %w", c.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO campaign (id, body) VALUES (?, ?)`, c.ID, string(body)); err != nil {
			return fmt.Errorf("sqlite: load campaign %q: %w", c.ID, err)
		}
	}
	if err := insert("region", "sigungu_code, sido_code, sido_ko, sido_en, sigungu_ko, sigungu_en, lat, lng", len(d.Regions), func(i int) []any {
		r := d.Regions[i]
		return []any{r.SigunguCode, r.SidoCode, r.SidoKo, r.SidoEn, r.SigunguKo, r.SigunguEn, r.Lat, r.Lng}
	}); err != nil {
		return fmt.Errorf("sqlite: load: %w", err)
	}
	if err := insert("clinic", "id, name, sido_code, sigungu_code, address, phone, lat, lng, vaccine", len(d.Clinics), func(i int) []any {
		c := d.Clinics[i]
		return []any{c.ID, c.Name, c.SidoCode, c.SigunguCode, c.Address, c.Phone, c.Lat, c.Lng, c.Vaccine}
	}); err != nil {
		return fmt.Errorf("sqlite: load: %w", err)
	}
	if err := insert("slot", "id, campaign_id, clinic_id, starts_at", len(d.Slots), func(i int) []any {
		s := d.Slots[i]
		return []any{s.ID, s.CampaignID, s.ClinicID, micros(s.StartsAt)}
	}); err != nil {
		return fmt.Errorf("sqlite: load: %w", err)
	}
	if err := insert("quota", "slot_id, cohort, capacity, booked", len(d.Quotas), func(i int) []any {
		q := d.Quotas[i]
		return []any{q.SlotID, q.Cohort, q.Capacity, q.Booked}
	}); err != nil {
		return fmt.Errorf("sqlite: load: %w", err)
	}
	if d.People != nil {
		b := newBatchInsert(tx, "person", "id, ci_hash, birth_date, nationality, sigungu, name_enc, phone_enc")
		defer b.close()
		i := 0
		for p, perr := range d.People {
			if perr != nil {
				return fmt.Errorf("sqlite: load people (after %d): %w", i, perr)
			}
			if i%65536 == 0 {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("sqlite: load people: %w", err)
				}
			}
			i++
			if err := b.add(ctx, p.ID, p.CIHash, p.BirthDate.String(), string(p.Nationality), p.Sigungu,
				nonNil(p.NameSealed), nonNil(p.PhoneSealed)); err != nil {
				return fmt.Errorf("sqlite: load: %w", err)
			}
		}
		if err := b.flush(ctx); err != nil {
			return fmt.Errorf("sqlite: load: %w", err)
		}
	}
	if rebuildIndex {
		if _, err := tx.ExecContext(ctx, personCIIndex); err != nil {
			return fmt.Errorf("sqlite: load: people: %w", err) // a duplicate CI hash
		}
	}
	if err := tx.Commit(); err != nil {
		return internal("load: commit", err)
	}
	// Move the load out of the WAL now rather than in the middle of the
	// first bookings (best effort: a busy reader only delays it).
	db.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
