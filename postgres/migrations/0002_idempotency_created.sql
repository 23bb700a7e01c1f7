-- Stored outcomes are forgotten after a retention (DeleteIdempotencyBefore,
-- swept by every node): the index finds the old ones without a scan. Rows
-- arrive in about time order, so inserts go to the index's right edge.
CREATE INDEX idempotency_created ON idempotency (created_at);
