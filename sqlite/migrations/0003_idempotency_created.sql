-- Stored outcomes are forgotten after a retention (DeleteIdempotencyBefore,
-- swept by every node): the index finds the old ones without a scan. Rows
-- arrive in time order, so an insert touches the index's last page.
CREATE INDEX idempotency_created ON idempotency (created_at);
