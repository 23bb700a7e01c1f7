-- vaxbook schema for PostgreSQL (DESIGN.md §4). Same tables and semantics as
-- the SQLite adapter. Plain SQL only (no PL/pgSQL), so that a distributed SQL
-- engine speaking the PostgreSQL protocol can run it with few changes; the
-- PostgreSQL-only parts are marked "pg:".

CREATE TABLE campaign (
    id   text PRIMARY KEY,
    doc  jsonb NOT NULL            -- the vaxbook.Campaign as JSON
);

CREATE TABLE region (
    sigungu_code text PRIMARY KEY,
    sido_code    text NOT NULL,
    sido_ko      text NOT NULL,
    sido_en      text NOT NULL,
    sigungu_ko   text NOT NULL,
    sigungu_en   text NOT NULL,
    lat          double precision NOT NULL,
    lng          double precision NOT NULL
);

CREATE TABLE clinic (
    id           bigint PRIMARY KEY,
    name         text NOT NULL,
    sido_code    text NOT NULL,
    sigungu_code text NOT NULL,
    address      text NOT NULL,
    phone        text NOT NULL,
    lat          double precision NOT NULL,
    lng          double precision NOT NULL,
    vaccine      text NOT NULL
);

CREATE TABLE slot (
    id          bigint PRIMARY KEY,
    campaign_id text NOT NULL REFERENCES campaign (id),
    clinic_id   bigint NOT NULL REFERENCES clinic (id),
    starts_at   timestamptz NOT NULL
);
CREATE INDEX slot_campaign ON slot (campaign_id, id);

-- One row per slot and cohort (0–9 rotation cohorts, 10 pool, 11 dose 2).
-- id = slot_id * 16 + cohort: a single-column key, so that a batch finds,
-- locks and updates its rows with one index probe each (id = ANY($1)),
-- whatever the planner thinks of the table's size, and key order is
-- (slot, cohort) order. campaign_id is copied from the slot. No index
-- covers booked, so a counter update is a HOT update (no index is
-- touched); fillfactor leaves room on each page for it.
CREATE TABLE quota (
    id          bigint   PRIMARY KEY,
    slot_id     bigint   NOT NULL REFERENCES slot (id),
    cohort      smallint NOT NULL CHECK (cohort BETWEEN 0 AND 11),
    campaign_id text     NOT NULL,
    capacity    integer  NOT NULL CHECK (capacity >= 0),
    booked      integer  NOT NULL DEFAULT 0,
    CONSTRAINT quota_key CHECK (id = slot_id * 16 + cohort),
    CONSTRAINT quota_within_capacity CHECK (booked >= 0 AND booked <= capacity)
) WITH (fillfactor = 70);
CREATE INDEX quota_campaign ON quota (campaign_id, id);

-- The quota change feed that nodes poll (QuotaChanges): one row per
-- transaction and campaign that changed quota counters, naming the rows
-- (one row per batch, not per booking, and no index on quota changes, so
-- counter updates stay HOT). xid is the writing transaction's id (pg:
-- pg_current_xact_id()), not a sequence: see booking.go for why. Rows older
-- than the retention are pruned; quota_change_pruned.xid is the highest xid
-- pruned, and a poll from before it reads every quota row of the campaign.
CREATE TABLE quota_change (
    xid         bigint   NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    campaign_id text     NOT NULL,
    quota_ids   bigint[] NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quota_change_xid ON quota_change (campaign_id, xid);
CREATE TABLE quota_change_pruned (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    xid bigint  NOT NULL
);
INSERT INTO quota_change_pruned (xid) VALUES (0);

CREATE TABLE person (
    id           bigint PRIMARY KEY,
    ci_hash      bytea NOT NULL,
    birth_date   date  NOT NULL,
    nationality  text  NOT NULL,
    sigungu      text  NOT NULL,
    name_sealed  bytea,
    phone_sealed bytea
);
CREATE UNIQUE INDEX person_ci_hash ON person (ci_hash);

-- Bookings have no foreign keys on purpose: a foreign-key check takes a
-- KEY SHARE lock on the referenced row, and thousands of bookings a second
-- on the same slot would contend on it. Quota rows are the gate instead: a
-- booking exists only if its conditional quota update succeeded.
CREATE SEQUENCE booking_id_seq;
CREATE TABLE booking (
    id          bigint PRIMARY KEY DEFAULT nextval('booking_id_seq'),
    person_id   bigint   NOT NULL,
    campaign_id text     NOT NULL,
    dose        smallint NOT NULL CHECK (dose >= 1),
    slot_id     bigint   NOT NULL,
    cohort      smallint NOT NULL,
    status      text     NOT NULL CHECK (status IN ('active', 'cancelled')),
    version     integer  NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    active      boolean GENERATED ALWAYS AS (CASE WHEN status = 'active' THEN true END) STORED
);
ALTER SEQUENCE booking_id_seq OWNED BY booking.id;
-- No double booking: one active booking per person, campaign and dose.
-- Cancelled rows have active NULL, and NULLs are distinct in a unique
-- index, so this one index both enforces the rule and serves every lookup
-- by person (one index fewer to maintain per booking than a partial unique
-- index beside a plain one).
CREATE UNIQUE INDEX booking_person ON booking (person_id, campaign_id, dose, active);

-- First outcome of every write that carried an Idempotency-Key.
-- key and request_hash are bytea: clients choose them, and text would
-- refuse a NUL byte.
CREATE TABLE idempotency (
    person_id    bigint NOT NULL,
    key          bytea  NOT NULL,
    request_hash bytea  NOT NULL,
    outcome      text   NOT NULL,  -- JSON, read back only by vaxbook
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (person_id, key)
);

CREATE TABLE session (
    id         text PRIMARY KEY,
    person_id  bigint NOT NULL,
    operator   text   NOT NULL,
    provider   text   NOT NULL,
    device_id  text   NOT NULL,
    csrf_token text   NOT NULL,
    created_at timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL
);
CREATE INDEX session_last_seen ON session (last_seen);

CREATE TABLE device_lock (
    person_id   bigint NOT NULL,
    campaign_id text   NOT NULL,
    window_id   text   NOT NULL,
    device_hash text   NOT NULL,
    provider    text   NOT NULL,
    locked_at   timestamptz NOT NULL,
    expires     timestamptz NOT NULL,
    PRIMARY KEY (person_id, campaign_id, window_id)
);

CREATE TABLE audit (
    id     bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at     timestamptz NOT NULL,
    actor  text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    detail text NOT NULL
);
