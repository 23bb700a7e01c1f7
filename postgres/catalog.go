package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"time"

	"github.com/jackc/pgx/v5"

	"vaxbook"
)

// PersonByCIHash finds a person by the blind index of their stable
// identifier (CodeNotInRegistry if nobody has it).
func (db *DB) PersonByCIHash(ctx context.Context, ciHash []byte) (vaxbook.Person, error) {
	p, err := scanPerson(db.pool.QueryRow(ctx, `SELECT `+personCols+` FROM person WHERE ci_hash = $1`, ciHash))
	if err == pgx.ErrNoRows {
		return vaxbook.Person{}, vaxbook.Errorf(vaxbook.CodeNotInRegistry, "this person is not in the registry")
	}
	if err != nil {
		return vaxbook.Person{}, fmt.Errorf("postgres: person by ci hash: %w", err)
	}
	return p, nil
}

// PersonByID finds a person by registry id (CodeNotFound if none).
func (db *DB) PersonByID(ctx context.Context, id int64) (vaxbook.Person, error) {
	p, err := scanPerson(db.pool.QueryRow(ctx, `SELECT `+personCols+` FROM person WHERE id = $1`, id))
	if err != nil {
		return vaxbook.Person{}, notFound(err, "person %d not found", id)
	}
	return p, nil
}

const personCols = `id, ci_hash, birth_date, nationality, sigungu, name_sealed, phone_sealed`

func scanPerson(row pgx.Row) (vaxbook.Person, error) {
	var (
		p    vaxbook.Person
		born time.Time
		nat  string
	)
	if err := row.Scan(&p.ID, &p.CIHash, &born, &nat, &p.Sigungu, &p.NameSealed, &p.PhoneSealed); err != nil {
		return vaxbook.Person{}, err
	}
	p.BirthDate = vaxbook.DateOf(born)
	p.Nationality = vaxbook.Nationality(nat)
	return p, nil
}

// Regions returns every 시군구, ordered by code.
func (db *DB) Regions(ctx context.Context) ([]vaxbook.Region, error) {
	rows, err := db.pool.Query(ctx, `SELECT sido_code, sido_ko, sido_en, sigungu_code, sigungu_ko, sigungu_en, lat, lng
FROM region ORDER BY sigungu_code COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: regions: %w", err)
	}
	rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (vaxbook.Region, error) {
		var g vaxbook.Region
		err := r.Scan(&g.SidoCode, &g.SidoKo, &g.SidoEn, &g.SigunguCode, &g.SigunguKo, &g.SigunguEn, &g.Lat, &g.Lng)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: regions: %w", err)
	}
	return rs, nil
}

// Clinics returns every clinic, ordered by id.
func (db *DB) Clinics(ctx context.Context) ([]vaxbook.Clinic, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, name, sido_code, sigungu_code, address, phone, lat, lng, vaccine
FROM clinic ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: clinics: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (vaxbook.Clinic, error) {
		var c vaxbook.Clinic
		err := r.Scan(&c.ID, &c.Name, &c.SidoCode, &c.SigunguCode, &c.Address, &c.Phone, &c.Lat, &c.Lng, &c.Vaccine)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: clinics: %w", err)
	}
	return cs, nil
}

// Slots calls fn for every slot of the campaign in ascending id order.
func (db *DB) Slots(ctx context.Context, campaignID string, fn func(vaxbook.Slot) error) error {
	if !validText(campaignID) {
		return nil
	}
	rows, err := db.pool.Query(ctx, `SELECT id, campaign_id, clinic_id, starts_at FROM slot WHERE campaign_id = $1 ORDER BY id`, campaignID)
	if err != nil {
		return fmt.Errorf("postgres: slots: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s vaxbook.Slot
		if err := rows.Scan(&s.ID, &s.CampaignID, &s.ClinicID, &s.StartsAt); err != nil {
			return fmt.Errorf("postgres: slots: %w", err)
		}
		s.StartsAt = s.StartsAt.UTC()
		if err := fn(s); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: slots: %w", err)
	}
	return nil
}

// Campaigns returns every campaign, ordered by id.
func (db *DB) Campaigns(ctx context.Context) ([]vaxbook.Campaign, error) {
	rows, err := db.pool.Query(ctx, `SELECT doc FROM campaign ORDER BY id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: campaigns: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (vaxbook.Campaign, error) {
		var doc []byte
		if err := r.Scan(&doc); err != nil {
			return vaxbook.Campaign{}, err
		}
		return decodeCampaign(doc)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: campaigns: %w", err)
	}
	return cs, nil
}

// Campaign returns one campaign (CodeNotFound if none).
func (db *DB) Campaign(ctx context.Context, id string) (vaxbook.Campaign, error) {
	if !validText(id) {
		return vaxbook.Campaign{}, errNoCampaign(id)
	}
	var doc []byte
	if err := db.pool.QueryRow(ctx, `SELECT doc FROM campaign WHERE id = $1`, id).Scan(&doc); err != nil {
		return vaxbook.Campaign{}, notFound(err, "campaign %q not found", id)
	}
	c, err := decodeCampaign(doc)
	if err != nil {
		return vaxbook.Campaign{}, fmt.Errorf("postgres: campaign %q: %w", id, err)
	}
	return c, nil
}

func decodeCampaign(doc []byte) (vaxbook.Campaign, error) {
	var c vaxbook.Campaign
	if err := json.Unmarshal(doc, &c); err != nil {
		return vaxbook.Campaign{}, fmt.Errorf("decode campaign: %w", err)
	}
	return c, nil
}

// ShiftCampaign replaces the campaign with c and moves every slot of it by
// delta, in one transaction (CodeNotFound if the campaign does not exist).
func (db *DB) ShiftCampaign(ctx context.Context, c vaxbook.Campaign, delta time.Duration) error {
	if !validText(c.ID) {
		return errNoCampaign(c.ID)
	}
	doc, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("postgres: shift campaign: %w", err)
	}
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE campaign SET doc = $2 WHERE id = $1`, c.ID, doc)
		if err != nil {
			return fmt.Errorf("postgres: shift campaign: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return vaxbook.Errorf(vaxbook.CodeNotFound, "campaign %q not found", c.ID)
		}
		if _, err := tx.Exec(ctx, `UPDATE slot SET starts_at = starts_at + $2 * interval '1 microsecond' WHERE campaign_id = $1`,
			c.ID, delta.Microseconds()); err != nil {
			return fmt.Errorf("postgres: shift campaign slots: %w", err)
		}
		return nil
	})
}

// Load writes a dataset in one transaction, streaming people with COPY: an
// error from the People sequence or any constraint leaves the store as it
// was.
func (db *DB) Load(ctx context.Context, d vaxbook.Dataset) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error { return load(ctx, tx, d) })
	if err != nil {
		return fmt.Errorf("postgres: load: %w", err)
	}
	return nil
}

func load(ctx context.Context, tx pgx.Tx, d vaxbook.Dataset) error {
	for _, c := range d.Campaigns {
		doc, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("campaign %q: %w", c.ID, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO campaign (id, doc) VALUES ($1, $2)`, c.ID, doc); err != nil {
			return fmt.Errorf("campaign %q: %w", c.ID, err)
		}
	}
	copyRows := func(table string, cols []string, n int, row func(i int) []any) error {
		if n == 0 {
			return nil
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromSlice(n, func(i int) ([]any, error) { return row(i), nil }))
		if err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
		return nil
	}
	if err := copyRows("region", []string{"sido_code", "sido_ko", "sido_en", "sigungu_code", "sigungu_ko", "sigungu_en", "lat", "lng"},
		len(d.Regions), func(i int) []any {
			r := d.Regions[i]
			return []any{r.SidoCode, r.SidoKo, r.SidoEn, r.SigunguCode, r.SigunguKo, r.SigunguEn, r.Lat, r.Lng}
		}); err != nil {
		return err
	}
	if err := copyRows("clinic", []string{"id", "name", "sido_code", "sigungu_code", "address", "phone", "lat", "lng", "vaccine"},
		len(d.Clinics), func(i int) []any {
			c := d.Clinics[i]
			return []any{c.ID, c.Name, c.SidoCode, c.SigunguCode, c.Address, c.Phone, c.Lat, c.Lng, c.Vaccine}
		}); err != nil {
		return err
	}
	if err := copyRows("slot", []string{"id", "campaign_id", "clinic_id", "starts_at"}, len(d.Slots), func(i int) []any {
		s := d.Slots[i]
		return []any{s.ID, s.CampaignID, s.ClinicID, s.StartsAt}
	}); err != nil {
		return err
	}
	if len(d.Quotas) > 0 {
		campaignOf := make(map[int64]string, len(d.Slots))
		for _, s := range d.Slots {
			campaignOf[s.ID] = s.CampaignID
		}
		var missing []int64
		for _, q := range d.Quotas {
			if _, ok := campaignOf[q.SlotID]; !ok {
				missing = append(missing, q.SlotID)
			}
		}
		if len(missing) > 0 {
			rows, err := tx.Query(ctx, `SELECT id, campaign_id FROM slot WHERE id = ANY($1)`, missing)
			if err != nil {
				return fmt.Errorf("quota: %w", err)
			}
			var (
				id int64
				c  string
			)
			_, err = pgx.ForEachRow(rows, []any{&id, &c}, func() error { campaignOf[id] = c; return nil })
			if err != nil {
				return fmt.Errorf("quota: %w", err)
			}
		}
		for _, q := range d.Quotas {
			if _, ok := campaignOf[q.SlotID]; !ok {
				return vaxbook.Errorf(vaxbook.CodeInvalid, "quota row for slot %d, which does not exist", q.SlotID)
			}
		}
		for _, q := range d.Quotas {
			if q.Cohort < 0 || q.Cohort > vaxbook.CohortDose2 {
				return vaxbook.Errorf(vaxbook.CodeInvalid, "quota row for slot %d has cohort %d, want 0–%d", q.SlotID, q.Cohort, vaxbook.CohortDose2)
			}
		}
		if err := copyRows("quota", []string{"id", "slot_id", "cohort", "campaign_id", "capacity", "booked"}, len(d.Quotas), func(i int) []any {
			q := d.Quotas[i]
			return []any{quotaID(q.SlotID, q.Cohort), q.SlotID, int16(q.Cohort), campaignOf[q.SlotID], int32(q.Capacity), int32(q.Booked)}
		}); err != nil {
			return err
		}
	}
	if d.People != nil {
		src := &peopleSource{}
		src.next, src.stop = iter.Pull2(d.People)
		defer src.stop()
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"person"},
			[]string{"id", "ci_hash", "birth_date", "nationality", "sigungu", "name_sealed", "phone_sealed"}, src); err != nil {
			if src.err != nil {
				return fmt.Errorf("person: %w", src.err) // the sequence's own error, for errors.Is
			}
			return fmt.Errorf("person: %w", err)
		}
	}
	return nil
}

// peopleSource streams a People sequence into COPY.
type peopleSource struct {
	next func() (vaxbook.Person, error, bool)
	stop func()
	row  []any
	err  error
}

func (s *peopleSource) Next() bool {
	p, err, ok := s.next()
	if !ok {
		return false
	}
	if err != nil {
		s.err = err
		return false
	}
	ci := p.CIHash
	if ci == nil {
		ci = []byte{} // nil and empty are the same identifier; the column is NOT NULL
	}
	s.row = []any{p.ID, ci, time.Date(p.BirthDate.Year, p.BirthDate.Month, p.BirthDate.Day, 0, 0, 0, 0, time.UTC),
		string(p.Nationality), p.Sigungu, p.NameSealed, p.PhoneSealed}
	return true
}

func (s *peopleSource) Values() ([]any, error) { return s.row, nil }
func (s *peopleSource) Err() error             { return s.err }

// Counts reports how many rows the main tables hold.
func (db *DB) Counts(ctx context.Context) (vaxbook.StoreCounts, error) {
	var c vaxbook.StoreCounts
	err := db.pool.QueryRow(ctx, `SELECT
	(SELECT count(*) FROM campaign), (SELECT count(*) FROM region), (SELECT count(*) FROM clinic),
	(SELECT count(*) FROM slot), (SELECT count(*) FROM quota), (SELECT count(*) FROM person),
	(SELECT count(*) FROM booking WHERE status = 'active')`).Scan(
		&c.Campaigns, &c.Regions, &c.Clinics, &c.Slots, &c.Quotas, &c.People, &c.ActiveBookings)
	if err != nil {
		return vaxbook.StoreCounts{}, fmt.Errorf("postgres: counts: %w", err)
	}
	return c, nil
}
