package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"strings"
	"time"

	"vaxbook"
)

// CreateSession implements vaxbook.SessionStore. Sign-ins share
// transactions (group commit, see writeGroup).
func (db *DB) CreateSession(ctx context.Context, s vaxbook.Session) error {
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO session (id, person_id, operator, provider, device_id, csrf_token, created_at, last_seen)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, s.ID, s.PersonID, s.Operator, s.Provider, s.DeviceID, s.CSRFToken,
			micros(s.CreatedAt), micros(s.LastSeen))
		return err
	})
	if err != nil && strings.Contains(err.Error(), "UNIQUE") {
		return vaxbook.Errorf(vaxbook.CodeConflict, "session id already exists")
	}
	return internal("create session", err)
}

// Session implements vaxbook.SessionStore.
func (db *DB) Session(ctx context.Context, id string) (vaxbook.Session, error) {
	s := vaxbook.Session{ID: id}
	var created, seen int64
	err := db.r.QueryRowContext(ctx, `SELECT person_id, operator, provider, device_id, csrf_token, created_at, last_seen
		FROM session WHERE id = ?`, id).Scan(&s.PersonID, &s.Operator, &s.Provider, &s.DeviceID, &s.CSRFToken, &created, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return s, vaxbook.Errorf(vaxbook.CodeNotSignedIn, "not signed in")
	}
	s.CreatedAt, s.LastSeen = instant(created), instant(seen)
	return s, internal("session", err)
}

// TouchSession implements vaxbook.SessionStore.
func (db *DB) TouchSession(ctx context.Context, id string, at time.Time) error {
	var n int64
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE session SET last_seen = ? WHERE id = ?`, micros(at), id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return internal("touch session", err)
	}
	if n == 0 {
		return vaxbook.Errorf(vaxbook.CodeNotSignedIn, "not signed in")
	}
	return nil
}

// DeleteSession implements vaxbook.SessionStore.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	return internal("delete session", db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM session WHERE id = ?`, id)
		return err
	}))
}

// DeleteSessionsBefore implements vaxbook.SessionStore.
func (db *DB) DeleteSessionsBefore(ctx context.Context, t time.Time) (int, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM session WHERE last_seen < ?`, micros(t))
	if err != nil {
		return 0, internal("delete sessions", err)
	}
	n, err := res.RowsAffected()
	return int(n), internal("delete sessions", err)
}

const sqlReadLock = `SELECT device_hash, provider, locked_at, expires FROM device_lock
	WHERE person_id = ? AND campaign_id = ? AND window_id = ?`

func scanLock(row interface{ Scan(...any) error }, l *vaxbook.DeviceLock) error {
	var locked, expires int64
	err := row.Scan(&l.DeviceHash, &l.Provider, &locked, &expires)
	l.LockedAt, l.Expires = instant(locked), instant(expires)
	return err
}

// AcquireDeviceLock implements vaxbook.DeviceLockStore. Writes are
// serialised on the writer connection, so the read and the write are one
// atomic step.
//
// Every booking write checks the lock its sign-in took, so the common case —
// a live lock is already held — is answered from a read connection without
// queueing behind the booking engine's batches on the one writer; only an
// absent or expired lock takes the writer.
func (db *DB) AcquireDeviceLock(ctx context.Context, l vaxbook.DeviceLock, now time.Time) (vaxbook.DeviceLock, error) {
	held := vaxbook.DeviceLock{PersonID: l.PersonID, CampaignID: l.CampaignID, WindowID: l.WindowID}
	err := scanLock(db.r.QueryRowContext(ctx, sqlReadLock, l.PersonID, l.CampaignID, l.WindowID), &held)
	switch {
	case err == nil && held.Expires.After(now):
		return held, nil
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return l, internal("acquire device lock", err)
	}
	err = db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// Again inside the write: another sign-in may have taken it since.
		err := scanLock(tx.QueryRowContext(ctx, sqlReadLock, l.PersonID, l.CampaignID, l.WindowID), &held)
		switch {
		case err == nil && held.Expires.After(now):
			return nil
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		}
		held = l
		_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO device_lock
		(person_id, campaign_id, window_id, device_hash, provider, locked_at, expires) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			l.PersonID, l.CampaignID, l.WindowID, l.DeviceHash, l.Provider, micros(l.LockedAt), micros(l.Expires))
		return err
	})
	if err != nil {
		return l, internal("acquire device lock", err)
	}
	return held, nil
}

// DeviceLock implements vaxbook.DeviceLockStore.
func (db *DB) DeviceLock(ctx context.Context, personID int64, campaignID, windowID string) (vaxbook.DeviceLock, error) {
	l := vaxbook.DeviceLock{PersonID: personID, CampaignID: campaignID, WindowID: windowID}
	err := scanLock(db.r.QueryRowContext(ctx, sqlReadLock, personID, campaignID, windowID), &l)
	if errors.Is(err, sql.ErrNoRows) {
		return l, vaxbook.Errorf(vaxbook.CodeNotFound, "no device lock")
	}
	return l, internal("device lock", err)
}

// ReleaseDeviceLock implements vaxbook.DeviceLockStore.
func (db *DB) ReleaseDeviceLock(ctx context.Context, personID int64, campaignID, windowID string) error {
	var n int64
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM device_lock WHERE person_id = ? AND campaign_id = ? AND window_id = ?`,
			personID, campaignID, windowID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return internal("release device lock", err)
	}
	if n == 0 {
		return vaxbook.Errorf(vaxbook.CodeNotFound, "no device lock")
	}
	return nil
}

// Audit implements vaxbook.AuditLog.
func (db *DB) Audit(ctx context.Context, e vaxbook.AuditEntry) error {
	return internal("audit", db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)`,
			micros(e.At), e.Actor, e.Action, e.Target, e.Detail)
		return err
	}))
}

// AuditEntries implements vaxbook.AuditLog.
func (db *DB) AuditEntries(ctx context.Context, before int64, limit int) ([]vaxbook.AuditEntry, error) {
	if limit <= 0 {
		return nil, vaxbook.InvalidParam("limit", "limit must be positive, not %d", limit)
	}
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id, at, actor, action, target, detail FROM audit
		WHERE id < ? ORDER BY id DESC LIMIT ?`, before, limit)
	if err != nil {
		return nil, internal("audit entries", err)
	}
	defer rows.Close()
	out := []vaxbook.AuditEntry{}
	for rows.Next() {
		var e vaxbook.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, internal("audit entries", err)
		}
		e.At = instant(at)
		out = append(out, e)
	}
	return out, internal("audit entries", rows.Err())
}

// SetProviderSwitch implements vaxbook.ProviderSwitchStore.
func (db *DB) SetProviderSwitch(ctx context.Context, sw vaxbook.ProviderSwitch) error {
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO provider_switch (provider, enabled, changed_by, changed_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (provider) DO UPDATE SET enabled = excluded.enabled, changed_by = excluded.changed_by, changed_at = excluded.changed_at`,
			sw.Provider, sw.Enabled, sw.By, micros(sw.At))
		return err
	})
	return internal("set provider switch", err)
}

// ProviderSwitches implements vaxbook.ProviderSwitchStore.
func (db *DB) ProviderSwitches(ctx context.Context) ([]vaxbook.ProviderSwitch, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT provider, enabled, changed_by, changed_at FROM provider_switch ORDER BY provider`)
	if err != nil {
		return nil, internal("provider switches", err)
	}
	defer rows.Close()
	var out []vaxbook.ProviderSwitch
	for rows.Next() {
		var sw vaxbook.ProviderSwitch
		var at int64
		if err := rows.Scan(&sw.Provider, &sw.Enabled, &sw.By, &at); err != nil {
			return nil, internal("provider switches", err)
		}
		sw.At = instant(at)
		out = append(out, sw)
	}
	return out, internal("provider switches", rows.Err())
}
