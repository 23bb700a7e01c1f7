-- vaxbook schema, version 1 (DESIGN §4). Portable SQL: integer ids, text,
-- integer instants (Unix microseconds, UTC), blobs for hashes and sealed data.
-- WITHOUT ROWID is SQLite's clustered primary key; elsewhere drop the clause.

CREATE TABLE campaign (
    id   TEXT PRIMARY KEY,
    body TEXT NOT NULL -- the campaign as JSON
);

CREATE TABLE region (
    sigungu_code TEXT PRIMARY KEY,
    sido_code    TEXT NOT NULL,
    sido_ko      TEXT NOT NULL,
    sido_en      TEXT NOT NULL,
    sigungu_ko   TEXT NOT NULL,
    sigungu_en   TEXT NOT NULL,
    lat          REAL NOT NULL,
    lng          REAL NOT NULL
);

CREATE TABLE clinic (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    sido_code    TEXT NOT NULL,
    sigungu_code TEXT NOT NULL,
    address      TEXT NOT NULL,
    phone        TEXT NOT NULL,
    lat          REAL NOT NULL,
    lng          REAL NOT NULL,
    vaccine      TEXT NOT NULL
);

CREATE TABLE slot (
    id          INTEGER PRIMARY KEY,
    campaign_id TEXT NOT NULL REFERENCES campaign (id),
    clinic_id   INTEGER NOT NULL REFERENCES clinic (id),
    starts_at   INTEGER NOT NULL
);
CREATE INDEX slot_campaign ON slot (campaign_id, id);

-- One row per slot and cohort (0–9 rotation cohorts, 10 pool, 11 dose 2).
-- seq is the quota change sequence number of the last commit that changed
-- the row (QuotaChanges).
CREATE TABLE quota (
    slot_id  INTEGER NOT NULL REFERENCES slot (id),
    cohort   INTEGER NOT NULL CHECK (cohort BETWEEN 0 AND 11),
    capacity INTEGER NOT NULL CHECK (capacity >= 0),
    booked   INTEGER NOT NULL DEFAULT 0,
    seq      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (slot_id, cohort),
    CHECK (booked BETWEEN 0 AND capacity)
) WITHOUT ROWID;
CREATE INDEX quota_seq ON quota (seq);

-- The change sequence of quota rows: one row, bumped once per commit that
-- changes quotas.
CREATE TABLE quota_clock (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO quota_clock (id, seq) VALUES (1, 0);

CREATE TABLE person (
    id          INTEGER PRIMARY KEY,
    ci_hash     BLOB NOT NULL,
    birth_date  TEXT NOT NULL, -- YYYY-MM-DD
    nationality TEXT NOT NULL,
    sigungu     TEXT NOT NULL,
    name_enc    BLOB,
    phone_enc   BLOB
);
CREATE UNIQUE INDEX person_ci_hash ON person (ci_hash);

CREATE TABLE booking (
    id          INTEGER PRIMARY KEY,
    person_id   INTEGER NOT NULL REFERENCES person (id),
    campaign_id TEXT NOT NULL REFERENCES campaign (id),
    dose        INTEGER NOT NULL CHECK (dose >= 1),
    slot_id     INTEGER NOT NULL REFERENCES slot (id),
    cohort      INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('active', 'cancelled')),
    version     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
-- No double booking: one active booking per person, campaign and dose.
CREATE UNIQUE INDEX booking_active ON booking (person_id, campaign_id, dose) WHERE status = 'active';
CREATE INDEX booking_person ON booking (person_id, campaign_id, dose, id);

-- Stored outcomes of idempotent writes, per person and key.
CREATE TABLE idempotency (
    person_id    INTEGER NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    outcome      TEXT NOT NULL, -- JSON
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (person_id, key)
) WITHOUT ROWID;

CREATE TABLE session (
    id         TEXT PRIMARY KEY,
    person_id  INTEGER NOT NULL,
    operator   TEXT NOT NULL,
    provider   TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL
);
CREATE INDEX session_last_seen ON session (last_seen);

CREATE TABLE device_lock (
    person_id   INTEGER NOT NULL,
    campaign_id TEXT NOT NULL,
    window_id   TEXT NOT NULL,
    device_hash TEXT NOT NULL,
    provider    TEXT NOT NULL,
    locked_at   INTEGER NOT NULL,
    expires     INTEGER NOT NULL,
    PRIMARY KEY (person_id, campaign_id, window_id)
) WITHOUT ROWID;

CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
