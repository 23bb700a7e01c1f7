package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"vaxbook"
)

const sessionCols = `id, person_id, operator, provider, device_id, csrf_token, created_at, last_seen`

func errNoSession() error {
	return vaxbook.Errorf(vaxbook.CodeNotSignedIn, "not signed in")
}

// CreateSession stores a new session.
func (db *DB) CreateSession(ctx context.Context, s vaxbook.Session) error {
	for _, f := range []string{s.ID, s.Operator, s.Provider, s.DeviceID, s.CSRFToken} {
		if !validText(f) {
			return vaxbook.Errorf(vaxbook.CodeInvalid, "session fields must be UTF-8 text without NUL")
		}
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO session (`+sessionCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		s.ID, s.PersonID, s.Operator, s.Provider, s.DeviceID, s.CSRFToken, ts(s.CreatedAt), ts(s.LastSeen))
	if err != nil {
		return fmt.Errorf("postgres: create session: %w", err)
	}
	return nil
}

// Session returns a session (CodeNotSignedIn if there is none).
func (db *DB) Session(ctx context.Context, id string) (vaxbook.Session, error) {
	if !validText(id) {
		return vaxbook.Session{}, errNoSession()
	}
	var s vaxbook.Session
	err := db.pool.QueryRow(ctx, `SELECT `+sessionCols+` FROM session WHERE id = $1`, id).Scan(
		&s.ID, &s.PersonID, &s.Operator, &s.Provider, &s.DeviceID, &s.CSRFToken, &s.CreatedAt, &s.LastSeen)
	if errors.Is(err, pgx.ErrNoRows) {
		return vaxbook.Session{}, errNoSession()
	}
	if err != nil {
		return vaxbook.Session{}, fmt.Errorf("postgres: session: %w", err)
	}
	s.CreatedAt, s.LastSeen = s.CreatedAt.UTC(), s.LastSeen.UTC()
	return s, nil
}

// TouchSession records activity at at (CodeNotSignedIn if there is no such
// session).
func (db *DB) TouchSession(ctx context.Context, id string, at time.Time) error {
	if !validText(id) {
		return errNoSession()
	}
	tag, err := db.pool.Exec(ctx, `UPDATE session SET last_seen = $2 WHERE id = $1`, id, ts(at))
	if err != nil {
		return fmt.Errorf("postgres: touch session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return errNoSession()
	}
	return nil
}

// DeleteSession removes a session; a missing one is not an error (logging
// out twice is fine).
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	if !validText(id) {
		return nil
	}
	if _, err := db.pool.Exec(ctx, `DELETE FROM session WHERE id = $1`, id); err != nil {
		return fmt.Errorf("postgres: delete session: %w", err)
	}
	return nil
}

// DeleteSessionsBefore removes sessions last seen before t.
func (db *DB) DeleteSessionsBefore(ctx context.Context, t time.Time) (int, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM session WHERE last_seen < $1`, ts(t))
	if err != nil {
		return 0, fmt.Errorf("postgres: delete sessions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

const lockCols = `person_id, campaign_id, window_id, device_hash, provider, locked_at, expires`

func scanLock(row pgx.Row) (vaxbook.DeviceLock, error) {
	var l vaxbook.DeviceLock
	if err := row.Scan(&l.PersonID, &l.CampaignID, &l.WindowID, &l.DeviceHash, &l.Provider, &l.LockedAt, &l.Expires); err != nil {
		return vaxbook.DeviceLock{}, err
	}
	l.LockedAt, l.Expires = l.LockedAt.UTC(), l.Expires.UTC()
	return l, nil
}

// AcquireDeviceLock stores l unless an unexpired lock holds its key, and
// returns the lock that holds after the call. INSERT … ON CONFLICT makes
// concurrent callers for one key agree on exactly one winner.
func (db *DB) AcquireDeviceLock(ctx context.Context, l vaxbook.DeviceLock, now time.Time) (vaxbook.DeviceLock, error) {
	for _, f := range []string{l.CampaignID, l.WindowID, l.DeviceHash, l.Provider} {
		if !validText(f) {
			return vaxbook.DeviceLock{}, vaxbook.Errorf(vaxbook.CodeInvalid, "device lock fields must be UTF-8 text without NUL")
		}
	}
	got, err := scanLock(db.pool.QueryRow(ctx, `INSERT INTO device_lock (`+lockCols+`)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (person_id, campaign_id, window_id) DO UPDATE
SET device_hash = excluded.device_hash, provider = excluded.provider, locked_at = excluded.locked_at, expires = excluded.expires
WHERE device_lock.expires <= $8
RETURNING `+lockCols, l.PersonID, l.CampaignID, l.WindowID, l.DeviceHash, l.Provider, ts(l.LockedAt), ts(l.Expires), ts(now)))
	if err == nil {
		return got, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return vaxbook.DeviceLock{}, fmt.Errorf("postgres: acquire device lock: %w", err)
	}
	// An unexpired lock holds the key; it was committed before the insert
	// gave way, so a new statement sees it.
	got, err = db.DeviceLock(ctx, l.PersonID, l.CampaignID, l.WindowID)
	if err != nil {
		return vaxbook.DeviceLock{}, fmt.Errorf("postgres: acquire device lock: %w", err)
	}
	return got, nil
}

// DeviceLock returns the lock for the key (CodeNotFound if none).
func (db *DB) DeviceLock(ctx context.Context, personID int64, campaignID, windowID string) (vaxbook.DeviceLock, error) {
	if !validText(campaignID) || !validText(windowID) {
		return vaxbook.DeviceLock{}, vaxbook.Errorf(vaxbook.CodeNotFound, "no device lock for person %d in window %q", personID, windowID)
	}
	l, err := scanLock(db.pool.QueryRow(ctx, `SELECT `+lockCols+` FROM device_lock
WHERE person_id = $1 AND campaign_id = $2 AND window_id = $3`, personID, campaignID, windowID))
	if err != nil {
		return vaxbook.DeviceLock{}, notFound(err, "no device lock for person %d in window %q", personID, windowID)
	}
	return l, nil
}

// ReleaseDeviceLock removes the lock (CodeNotFound if none).
func (db *DB) ReleaseDeviceLock(ctx context.Context, personID int64, campaignID, windowID string) error {
	if !validText(campaignID) || !validText(windowID) {
		return vaxbook.Errorf(vaxbook.CodeNotFound, "no device lock for person %d in window %q", personID, windowID)
	}
	tag, err := db.pool.Exec(ctx, `DELETE FROM device_lock WHERE person_id = $1 AND campaign_id = $2 AND window_id = $3`,
		personID, campaignID, windowID)
	if err != nil {
		return fmt.Errorf("postgres: release device lock: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return vaxbook.Errorf(vaxbook.CodeNotFound, "no device lock for person %d in window %q", personID, windowID)
	}
	return nil
}

// Audit appends an entry (its ID is assigned by the database).
func (db *DB) Audit(ctx context.Context, e vaxbook.AuditEntry) error {
	for _, f := range []string{e.Actor, e.Action, e.Target, e.Detail} {
		if !validText(f) {
			return vaxbook.Errorf(vaxbook.CodeInvalid, "audit fields must be UTF-8 text without NUL")
		}
	}
	detail := e.Detail
	_, err := db.pool.Exec(ctx, `INSERT INTO audit (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)`,
		ts(e.At), e.Actor, e.Action, e.Target, detail)
	if err != nil {
		return fmt.Errorf("postgres: audit: %w", err)
	}
	return nil
}

// AuditEntries returns up to limit entries with ID < before (0: newest),
// newest first.
func (db *DB) AuditEntries(ctx context.Context, before int64, limit int) ([]vaxbook.AuditEntry, error) {
	if limit <= 0 {
		return []vaxbook.AuditEntry{}, nil
	}
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := db.pool.Query(ctx, `SELECT id, at, actor, action, target, detail FROM audit WHERE id < $1 ORDER BY id DESC LIMIT $2`,
		before, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: audit entries: %w", err)
	}
	es, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (vaxbook.AuditEntry, error) {
		var e vaxbook.AuditEntry
		err := r.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.Target, &e.Detail)
		e.At = e.At.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: audit entries: %w", err)
	}
	return es, nil
}

// SetProviderSwitch implements vaxbook.ProviderSwitchStore.
func (db *DB) SetProviderSwitch(ctx context.Context, sw vaxbook.ProviderSwitch) error {
	if !validText(sw.Provider) || !validText(sw.By) {
		return vaxbook.InvalidParam("provider", "provider and operator names must be UTF-8 text without NUL")
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO provider_switch (provider, enabled, changed_by, changed_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (provider) DO UPDATE SET enabled = excluded.enabled, changed_by = excluded.changed_by, changed_at = excluded.changed_at`,
		sw.Provider, sw.Enabled, sw.By, ts(sw.At)); err != nil {
		return fmt.Errorf("postgres: set provider switch: %w", err)
	}
	return nil
}

// ProviderSwitches implements vaxbook.ProviderSwitchStore.
func (db *DB) ProviderSwitches(ctx context.Context) ([]vaxbook.ProviderSwitch, error) {
	rows, err := db.pool.Query(ctx, `SELECT provider, enabled, changed_by, changed_at FROM provider_switch ORDER BY provider COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: provider switches: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (vaxbook.ProviderSwitch, error) {
		var sw vaxbook.ProviderSwitch
		err := row.Scan(&sw.Provider, &sw.Enabled, &sw.By, &sw.At)
		sw.At = sw.At.UTC()
		return sw, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: provider switches: %w", err)
	}
	return out, nil
}
