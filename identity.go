package vaxbook

import (
	"context"
	"time"
)

// Session is a signed-in browser (server side; the cookie holds only ID).
type Session struct {
	ID        string    // 256-bit random, base64url
	PersonID  int64     // 0 for an operator session
	Operator  string    // operator account name for an ops session, "" for citizens
	Provider  string    // identity provider used ("naver", "kakao", …)
	DeviceID  string    // hash of the device cookie the session was created on
	CSRFToken string    // per-session token for forms and page API calls
	CreatedAt time.Time // absolute timeout counts from here
	LastSeen  time.Time // idle timeout counts from here
}

// SessionStore keeps sessions. A missing session is an *Error with
// CodeNotSignedIn.
type SessionStore interface {
	CreateSession(ctx context.Context, s Session) error
	Session(ctx context.Context, id string) (Session, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	DeleteSession(ctx context.Context, id string) error
	// DeleteSessionsBefore removes sessions last seen before t; it returns how many.
	DeleteSessionsBefore(ctx context.Context, t time.Time) (int, error)
}

// DeviceLock binds one person's booking window to the first device that
// completed identity verification for it.
type DeviceLock struct {
	PersonID   int64     `json:"person_id"`
	CampaignID string    `json:"campaign_id"`
	WindowID   string    `json:"window_id"`
	DeviceHash string    `json:"-"` // hex SHA-256 of the device id; never shown
	Provider   string    `json:"provider"`
	LockedAt   time.Time `json:"locked_at"`
	Expires    time.Time `json:"expires"` // the window's close
}

// DeviceLockStore keeps device locks.
type DeviceLockStore interface {
	// AcquireDeviceLock stores l unless an unexpired lock (Expires after now)
	// already holds (PersonID, CampaignID, WindowID); it returns the lock
	// that holds after the call, so the caller compares DeviceHash to know
	// whether it won. Concurrent calls for one key: exactly one wins.
	AcquireDeviceLock(ctx context.Context, l DeviceLock, now time.Time) (DeviceLock, error)
	// DeviceLock returns the lock for the key (CodeNotFound if none).
	DeviceLock(ctx context.Context, personID int64, campaignID, windowID string) (DeviceLock, error)
	// ReleaseDeviceLock removes it (CodeNotFound if none).
	ReleaseDeviceLock(ctx context.Context, personID int64, campaignID, windowID string) error
}

// ProviderSwitch is an operator's switch of one identity provider, kept in
// the store so that every node of a cluster, and a node that restarts,
// honours it. A provider without one is on.
type ProviderSwitch struct {
	Provider string    `json:"provider"`
	Enabled  bool      `json:"enabled"`
	By       string    `json:"by"` // the operator
	At       time.Time `json:"at"`
}

// ProviderSwitchStore keeps the switches.
type ProviderSwitchStore interface {
	// SetProviderSwitch stores s, replacing the provider's previous one.
	SetProviderSwitch(ctx context.Context, s ProviderSwitch) error
	// ProviderSwitches returns every stored switch, ordered by provider.
	ProviderSwitches(ctx context.Context) ([]ProviderSwitch, error)
}
