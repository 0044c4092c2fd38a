-- Reports made by the slash-command pipelines (/research, /debate, /support-report).
--
-- One row per command run (keyed by its inbox row, so a command resumed after a crash finds
-- its report instead of making a second one) and one per re-post of a report. The row is
-- created before the progress message is posted; `message_ts` is that message, which ends as
-- the report; `delivered_at` is set once the report (and its file, when long) is in Slack.

CREATE TABLE reports (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    inbox_id      INTEGER UNIQUE,                  -- the command that made it
    source_id     INTEGER REFERENCES reports (id), -- set on a re-post: the report re-posted
    kind          TEXT    NOT NULL,                -- research | debate | support-report
    user_id       TEXT    NOT NULL,
    channel       TEXT    NOT NULL,                -- where it is (or will be) posted
    title         TEXT    NOT NULL,
    request       TEXT    NOT NULL DEFAULT '',     -- the command's text
    status        TEXT    NOT NULL DEFAULT 'running', -- running | complete | partial | failed
    body          TEXT    NOT NULL DEFAULT '',     -- the report, Markdown
    notes         TEXT    NOT NULL DEFAULT '[]',   -- JSON list: what failed, for the reader
    steps         TEXT    NOT NULL DEFAULT '[]',   -- JSON list: {name, status, seconds}
    data          TEXT    NOT NULL DEFAULT '{}',   -- JSON: the typed result's own fields
    message_ts    TEXT,                            -- the progress message, then the report
    file_id       TEXT,                            -- the Markdown upload of a long report
    created_at    REAL    NOT NULL,
    finished_at   REAL,
    delivered_at  REAL
);
CREATE INDEX reports_by_user ON reports (user_id, id);

-- The per-user limit on running pipelines counts a user's open command rows.
CREATE INDEX inbox_open_commands ON inbox (user_id, kind, status);
