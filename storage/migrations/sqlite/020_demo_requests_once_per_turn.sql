-- The ticket a demo request was asked from, and the turn (the inbox id of the message) that
-- asked: a turn asks sales for one demo, however often a model calls `request_demo`
-- (`BusinessRepo.create_demo_request`). Requests made before have neither (NULLs never collide).
ALTER TABLE demo_requests ADD COLUMN ticket_id INTEGER;
ALTER TABLE demo_requests ADD COLUMN turn INTEGER;
CREATE UNIQUE INDEX demo_requests_once_per_turn ON demo_requests (ticket_id, turn);
