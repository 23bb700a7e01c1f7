package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"vaxbook"
)

const personColumns = `id, ci_hash, birth_date, nationality, sigungu, name_enc, phone_enc`

func scanPerson(row interface{ Scan(...any) error }) (vaxbook.Person, error) {
	var p vaxbook.Person
	var birth, nat string
	if err := row.Scan(&p.ID, &p.CIHash, &birth, &nat, &p.Sigungu, &p.NameSealed, &p.PhoneSealed); err != nil {
		return p, err
	}
	d, err := vaxbook.ParseDate(birth)
	if err != nil {
		return p, fmt.Errorf("person %d: %w", p.ID, err)
	}
	p.BirthDate, p.Nationality = d, vaxbook.Nationality(nat)
	return p, nil
}

// PersonByCIHash implements vaxbook.Registry.
func (db *DB) PersonByCIHash(ctx context.Context, ciHash []byte) (vaxbook.Person, error) {
	p, err := scanPerson(db.r.QueryRowContext(ctx, `SELECT `+personColumns+` FROM person WHERE ci_hash = ?`, ciHash))
	if errors.Is(err, sql.ErrNoRows) {
		return p, vaxbook.Errorf(vaxbook.CodeNotInRegistry, "no person with this identity in the registry")
	}
	return p, internal("person by ci hash", err)
}

// PersonByID implements vaxbook.Registry.
func (db *DB) PersonByID(ctx context.Context, id int64) (vaxbook.Person, error) {
	p, err := scanPerson(db.r.QueryRowContext(ctx, `SELECT `+personColumns+` FROM person WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return p, vaxbook.Errorf(vaxbook.CodeNotFound, "no person %d", id)
	}
	return p, internal("person by id", err)
}

// Regions implements vaxbook.Catalog.
func (db *DB) Regions(ctx context.Context) ([]vaxbook.Region, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT sido_code, sido_ko, sido_en, sigungu_code, sigungu_ko, sigungu_en, lat, lng
		FROM region ORDER BY sigungu_code`)
	if err != nil {
		return nil, internal("regions", err)
	}
	defer rows.Close()
	var out []vaxbook.Region
	for rows.Next() {
		var r vaxbook.Region
		if err := rows.Scan(&r.SidoCode, &r.SidoKo, &r.SidoEn, &r.SigunguCode, &r.SigunguKo, &r.SigunguEn, &r.Lat, &r.Lng); err != nil {
			return nil, internal("regions", err)
		}
		out = append(out, r)
	}
	return out, internal("regions", rows.Err())
}

// Clinics implements vaxbook.Catalog.
func (db *DB) Clinics(ctx context.Context) ([]vaxbook.Clinic, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, name, sido_code, sigungu_code, address, phone, lat, lng, vaccine
		FROM clinic ORDER BY id`)
	if err != nil {
		return nil, internal("clinics", err)
	}
	defer rows.Close()
	var out []vaxbook.Clinic
	for rows.Next() {
		var c vaxbook.Clinic
		if err := rows.Scan(&c.ID, &c.Name, &c.SidoCode, &c.SigunguCode, &c.Address, &c.Phone, &c.Lat, &c.Lng, &c.Vaccine); err != nil {
			return nil, internal("clinics", err)
		}
		out = append(out, c)
	}
	return out, internal("clinics", rows.Err())
}

// Slots implements vaxbook.Catalog.
func (db *DB) Slots(ctx context.Context, campaignID string, fn func(vaxbook.Slot) error) error {
	rows, err := db.r.QueryContext(ctx, `SELECT id, clinic_id, starts_at FROM slot WHERE campaign_id = ? ORDER BY id`, campaignID)
	if err != nil {
		return internal("slots", err)
	}
	defer rows.Close()
	for rows.Next() {
		s := vaxbook.Slot{CampaignID: campaignID}
		var at int64
		if err := rows.Scan(&s.ID, &s.ClinicID, &at); err != nil {
			return internal("slots", err)
		}
		s.StartsAt = instant(at)
		if err := fn(s); err != nil {
			return err
		}
	}
	return internal("slots", rows.Err())
}

// Campaigns implements vaxbook.CampaignStore.
func (db *DB) Campaigns(ctx context.Context) ([]vaxbook.Campaign, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, body FROM campaign ORDER BY id`)
	if err != nil {
		return nil, internal("campaigns", err)
	}
	defer rows.Close()
	var out []vaxbook.Campaign
	for rows.Next() {
		var id, body string
		if err := rows.Scan(&id, &body); err != nil {
			return nil, internal("campaigns", err)
		}
		var c vaxbook.Campaign
		if err := json.Unmarshal([]byte(body), &c); err != nil {
			return nil, internal("campaign "+id, err)
		}
		out = append(out, c)
	}
	return out, internal("campaigns", rows.Err())
}

// Campaign implements vaxbook.CampaignStore.
func (db *DB) Campaign(ctx context.Context, id string) (vaxbook.Campaign, error) {
	var c vaxbook.Campaign
	var body string
	err := db.r.QueryRowContext(ctx, `SELECT body FROM campaign WHERE id = ?`, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return c, vaxbook.Errorf(vaxbook.CodeNotFound, "no campaign %q", id)
	}
	if err != nil {
		return c, internal("campaign", err)
	}
	return c, internal("campaign "+id, json.Unmarshal([]byte(body), &c))
}

// ShiftCampaign implements vaxbook.CampaignStore.
func (db *DB) ShiftCampaign(ctx context.Context, c vaxbook.Campaign, delta time.Duration) error {
	body, err := json.Marshal(c)
	if err != nil {
		return vaxbook.Errorf(vaxbook.CodeInvalid, "campaign %q: %w", c.ID, err)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return internal("shift campaign", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE campaign SET body = ? WHERE id = ?`, string(body), c.ID)
	if err != nil {
		return internal("shift campaign", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return vaxbook.Errorf(vaxbook.CodeNotFound, "no campaign %q", c.ID)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE slot SET starts_at = starts_at + ? WHERE campaign_id = ?`,
		delta.Microseconds(), c.ID); err != nil {
		return internal("shift slots", err)
	}
	return internal("shift campaign commit", tx.Commit())
}

// Counts implements vaxbook.Loader.
func (db *DB) Counts(ctx context.Context) (vaxbook.StoreCounts, error) {
	var c vaxbook.StoreCounts
	err := db.r.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM campaign), (SELECT COUNT(*) FROM region), (SELECT COUNT(*) FROM clinic),
		(SELECT COUNT(*) FROM slot), (SELECT COUNT(*) FROM quota), (SELECT COUNT(*) FROM person),
		(SELECT COUNT(*) FROM booking WHERE status = 'active')`).
		Scan(&c.Campaigns, &c.Regions, &c.Clinics, &c.Slots, &c.Quotas, &c.People, &c.ActiveBookings)
	return c, internal("counts", err)
}
