-- SQLite's migration 019, for PostgreSQL: the ticket a bug report was filed from and the turn
-- that filed it; a turn files one report per title (`BusinessRepo.create_bug_report`).
ALTER TABLE bug_reports ADD COLUMN ticket_id BIGINT;
ALTER TABLE bug_reports ADD COLUMN turn BIGINT;
CREATE UNIQUE INDEX bug_reports_once_per_turn ON bug_reports (ticket_id, turn, title);
