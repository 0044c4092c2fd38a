-- Refunds that need a person: over REFUND_APPROVAL_LIMIT, the requester's Confirm takes an
-- approval to `awaiting_staff`, and a staff member's Approve (`confirmed`) or Reject
-- (`rejected`, with a reason) settles it. Like the requester's answer, the review is one
-- conditional UPDATE, so two clicks (or two staff members) approve once. The row is the audit
-- trail: who confirmed and when, who reviewed, when and why.
ALTER TABLE approvals ADD COLUMN review TEXT;              -- JSON {policy, reasoning} for staff
ALTER TABLE approvals ADD COLUMN staff_channel TEXT;       -- the staff card
ALTER TABLE approvals ADD COLUMN staff_ts TEXT;
ALTER TABLE approvals ADD COLUMN reviewed_by TEXT;
ALTER TABLE approvals ADD COLUMN reviewed_turn INTEGER;    -- the inbox id of the staff click
ALTER TABLE approvals ADD COLUMN reviewed_at REAL;
ALTER TABLE approvals ADD COLUMN review_note TEXT;         -- the reason given with a rejection
ALTER TABLE approvals ADD COLUMN awaiting_since REAL;      -- when the requester confirmed
ALTER TABLE approvals ADD COLUMN reminders INTEGER NOT NULL DEFAULT 0;
ALTER TABLE approvals ADD COLUMN next_reminder_at REAL;
CREATE INDEX approvals_awaiting_staff ON approvals (status, next_reminder_at);
