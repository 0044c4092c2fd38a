-- The approval a refund was issued under (the requester's confirmation, and a staff member's
-- approval when one was needed): what `eval` reads to tell a staff-approved exception to the
-- refund policy from a refund outside the window.
ALTER TABLE refunds ADD COLUMN approval_id INTEGER;
