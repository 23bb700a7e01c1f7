-- Run once as the database owner after `vaxbook migrate` (idempotent).
-- The role the nodes use: nothing on the hot path takes more than
-- milliseconds.
ALTER ROLE vaxbook SET statement_timeout = '30s';

-- quota: counters updated constantly; HOT updates (fillfactor set by the
-- migration) need vacuum to prune quickly.
ALTER TABLE quota SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_cost_limit = 2000);
-- booking and idempotency: insert-heavy; keep the visibility map fresh.
ALTER TABLE booking SET (autovacuum_vacuum_insert_scale_factor = 0.05);
ALTER TABLE idempotency SET (autovacuum_vacuum_insert_scale_factor = 0.05);
-- session and device_lock: churn at sign-in.
ALTER TABLE session SET (autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE device_lock SET (autovacuum_vacuum_scale_factor = 0.05);
-- The quota change feed is appended and pruned continuously.
ALTER TABLE quota_change SET (autovacuum_vacuum_scale_factor = 0.01);
