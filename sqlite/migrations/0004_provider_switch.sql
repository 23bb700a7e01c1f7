-- Operators' switches of identity providers (a provider without a row is
-- on): every node reads them, so a switch holds across the cluster and
-- across restarts.
CREATE TABLE provider_switch (
    provider   TEXT PRIMARY KEY,
    enabled    INTEGER NOT NULL,
    changed_by TEXT NOT NULL,
    changed_at INTEGER NOT NULL
) WITHOUT ROWID;
