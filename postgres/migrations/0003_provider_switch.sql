-- Operators' switches of identity providers (a provider without a row is
-- on): every node reads them, so a switch holds across the cluster and
-- across restarts.
CREATE TABLE provider_switch (
    provider   text PRIMARY KEY,
    enabled    boolean NOT NULL,
    changed_by text NOT NULL,
    changed_at timestamptz NOT NULL
);
