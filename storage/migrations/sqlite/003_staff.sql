-- Human escalations worked from Slack: claims, what each staff message shows, reminders of
-- unclaimed escalations (kept here so they survive a restart) and CSAT ratings.

ALTER TABLE tickets ADD COLUMN claimed_at REAL;             -- last time a staff member claimed it

ALTER TABLE escalations ADD COLUMN agent_path TEXT NOT NULL DEFAULT '[]'; -- JSON, at escalation
ALTER TABLE escalations ADD COLUMN department TEXT;
ALTER TABLE escalations ADD COLUMN thread_link TEXT;         -- permalink of the user's thread
ALTER TABLE escalations ADD COLUMN notice_ts TEXT;           -- the handover message to the user
ALTER TABLE escalations ADD COLUMN notice_text TEXT;         -- its text as posted (to update it)
ALTER TABLE escalations ADD COLUMN reminders INTEGER NOT NULL DEFAULT 0;
ALTER TABLE escalations ADD COLUMN reminded_at REAL;
ALTER TABLE escalations ADD COLUMN next_reminder_at REAL;    -- NULL: created_at + the interval

CREATE INDEX escalations_by_staff_message ON escalations (staff_channel, staff_ts);
CREATE INDEX tickets_by_assignee ON tickets (assignee, status);

CREATE TABLE csat_ratings (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id  INTEGER NOT NULL REFERENCES tickets (id),
    user_id    TEXT    NOT NULL,
    score      INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    prompt_ts  TEXT    NOT NULL,                 -- the rating request it answers (one a resolve)
    rated_at   REAL    NOT NULL,
    UNIQUE (ticket_id, prompt_ts)                -- a second click on the same request changes it
);
CREATE INDEX csat_ratings_by_time ON csat_ratings (rated_at);
