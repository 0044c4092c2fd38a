-- SQLite's migration 020, for PostgreSQL: the ticket a demo request was asked from and the
-- turn that asked; a turn asks for one demo (`BusinessRepo.create_demo_request`).
ALTER TABLE demo_requests ADD COLUMN ticket_id BIGINT;
ALTER TABLE demo_requests ADD COLUMN turn BIGINT;
CREATE UNIQUE INDEX demo_requests_once_per_turn ON demo_requests (ticket_id, turn);
