-- SLA warnings: each clock of an escalation (a person's first response = the claim, and the
-- resolution) is warned about once in its staff thread, before the target is breached. A
-- conditional UPDATE books each warning, so a restart or a second process never repeats it.
ALTER TABLE escalations ADD COLUMN sla_first_warned_at REAL;
ALTER TABLE escalations ADD COLUMN sla_resolution_warned_at REAL;
