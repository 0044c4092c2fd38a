-- One CSAT rating per ticket, given from the rating request the desk posted.
--
-- The rating request's message is remembered on the ticket when it is posted (on resolve);
-- a click counts only on that message, by the requester, while the ticket is resolved, and
-- a later click replaces the score. Before this, each click on any message made a new row.

ALTER TABLE tickets ADD COLUMN csat_prompt_channel TEXT;
ALTER TABLE tickets ADD COLUMN csat_prompt_ts TEXT;

-- Ratings stored twice before: keep each ticket's latest one.
DELETE FROM csat_ratings WHERE EXISTS (
    SELECT 1 FROM csat_ratings newer
    WHERE newer.ticket_id = csat_ratings.ticket_id
      AND (newer.rated_at > csat_ratings.rated_at
           OR (newer.rated_at = csat_ratings.rated_at AND newer.id > csat_ratings.id))
);

CREATE UNIQUE INDEX csat_ratings_one_per_ticket ON csat_ratings (ticket_id);
