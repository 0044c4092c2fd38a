-- SQLite's migration 015, for PostgreSQL: tickets asked for from messages (a 🎫 reaction, the
-- "Create support ticket" shortcut), by the person who asked, for TICKETS_FROM_MESSAGES_PER_HOUR.
CREATE TABLE ticket_requests (
    requested_by TEXT             NOT NULL,
    inbox_id     BIGINT           NOT NULL,
    requested_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX ticket_requests_by_user ON ticket_requests (requested_by, requested_at);
