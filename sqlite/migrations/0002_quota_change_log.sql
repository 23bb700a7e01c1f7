-- Quota changes as an append-only log instead of a per-row sequence number
-- with an index on it: a booking then dirties only its quota row's page
-- (not a random page of a sequence index as well), and the log appends.
DROP INDEX quota_seq;
ALTER TABLE quota DROP COLUMN seq;

-- One row per quota row changed by the commit with sequence number seq.
-- Apply prunes it to the last few thousand commits; a reader asking for
-- changes from before kept_from gets every row instead (a full resync).
CREATE TABLE quota_change (
    seq     INTEGER NOT NULL,
    slot_id INTEGER NOT NULL,
    cohort  INTEGER NOT NULL,
    PRIMARY KEY (seq, slot_id, cohort)
) WITHOUT ROWID;

-- kept_from: the oldest sequence number whose changes are still in the log.
ALTER TABLE quota_clock ADD COLUMN kept_from INTEGER NOT NULL DEFAULT 1;
UPDATE quota_clock SET kept_from = seq + 1;
