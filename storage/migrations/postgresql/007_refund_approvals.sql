-- SQLite's migration 018, for PostgreSQL: the approval a refund was issued under (the
-- requester's confirmation, and a staff member's approval when one was needed).
ALTER TABLE refunds ADD COLUMN approval_id BIGINT;
