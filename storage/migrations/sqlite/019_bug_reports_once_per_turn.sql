-- The ticket a bug report was filed from, and the turn (the inbox id of the message) that
-- filed it: a turn files one report per title, however often a model calls `report_bug`
-- (`BusinessRepo.create_bug_report`). Reports filed before have neither (NULLs never collide).
ALTER TABLE bug_reports ADD COLUMN ticket_id INTEGER;
ALTER TABLE bug_reports ADD COLUMN turn INTEGER;
CREATE UNIQUE INDEX bug_reports_once_per_turn ON bug_reports (ticket_id, turn, title);
