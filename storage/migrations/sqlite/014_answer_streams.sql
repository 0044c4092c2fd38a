-- Streamed answers: the ts of the answer's streamed message, written as soon as Slack started
-- the stream and before anything is appended, so a worker that dies mid-stream is followed
-- by one that finishes (or replaces) that same message instead of posting a second answer.
ALTER TABLE inbox ADD COLUMN stream_ts TEXT;
-- The requester clicked Stop on the streamed answer: the worker cancels the run.
ALTER TABLE inbox ADD COLUMN stop_requested INTEGER NOT NULL DEFAULT 0;

-- Every AI answer the desk delivered (its message), with what produced it, so a 👍 / 👎 on it
-- is stored with the agent path, the tools and the model; one rating per answer and person
-- (a second click changes it).
CREATE TABLE answers (
    channel     TEXT    NOT NULL,
    ts          TEXT    NOT NULL,
    ticket_id   INTEGER NOT NULL REFERENCES tickets(id),
    inbox_id    INTEGER NOT NULL,
    requester   TEXT    NOT NULL,
    department  TEXT,
    agent_path  TEXT    NOT NULL DEFAULT '[]',  -- JSON list
    tools       TEXT    NOT NULL DEFAULT '[]',  -- JSON list
    model       TEXT,
    created_at  REAL    NOT NULL,
    PRIMARY KEY (channel, ts)
);

CREATE TABLE answer_ratings (
    channel     TEXT    NOT NULL,
    ts          TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    helpful     INTEGER NOT NULL CHECK (helpful IN (0, 1)),
    rated_at    REAL    NOT NULL,
    PRIMARY KEY (channel, ts, user_id),
    FOREIGN KEY (channel, ts) REFERENCES answers(channel, ts)
);
CREATE INDEX answer_ratings_by_time ON answer_ratings(rated_at);

-- Assistant threads (Slack's AI app view): the desk greets them, sets their status while it
-- works and their title to the ticket's subject. `context_channel`: the channel the user was
-- viewing (assistant_thread_started / _context_changed).
CREATE TABLE assistant_threads (
    channel          TEXT NOT NULL,
    thread_ts        TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    context_channel  TEXT,
    started_at       REAL NOT NULL,
    PRIMARY KEY (channel, thread_ts)
);
