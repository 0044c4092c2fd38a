-- Tickets asked for from messages (a 🎫 reaction, the "Create support ticket" shortcut), by
-- the person who asked: TICKETS_FROM_MESSAGES_PER_HOUR is counted here (`InboxRepo.accept_ticket`).
CREATE TABLE ticket_requests (
    requested_by TEXT    NOT NULL,
    inbox_id     INTEGER NOT NULL,
    requested_at REAL    NOT NULL
);
CREATE INDEX ticket_requests_by_user ON ticket_requests (requested_by, requested_at);
