-- Routing labels from the desk's own traffic (`support-desk export-tickets`).
--
-- `opening_text` is the whole first message of the ticket (`subject` is cut to 120 characters,
-- and inbox rows are pruned after INBOX_RETENTION_DAYS). `corrected_department` is set by staff
-- from the escalation message when the desk's department was wrong; exported labels are
-- COALESCE(corrected_department, department).

ALTER TABLE tickets ADD COLUMN opening_text TEXT;
ALTER TABLE tickets ADD COLUMN corrected_department TEXT;

-- Tickets opened before this migration: the first user message kept in the thread's memory.
UPDATE tickets SET opening_text = (
    SELECT json_extract(c.item, '$.content') FROM conversation_items c
    WHERE c.thread_key = tickets.channel || ':' || tickets.thread_ts
      AND json_extract(c.item, '$.role') = 'user'
      AND json_type(c.item, '$.content') = 'text'
    ORDER BY c.turn, c.id LIMIT 1
) WHERE opening_text IS NULL;

CREATE INDEX tickets_by_resolution ON tickets (status, resolved_at);
