-- Core desk state: the inbox of accepted Slack events, tickets and their lifecycle,
-- thread conversations, escalations and a cache of Slack users.

CREATE TABLE inbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT    NOT NULL,                  -- message | command
    event_id     TEXT    UNIQUE,                    -- Slack's event_id (NULL for commands)
    channel      TEXT    NOT NULL,
    ts           TEXT    NOT NULL,                  -- the message ts (commands: a generated id)
    thread_ts    TEXT    NOT NULL,                  -- the thread the answer goes to
    user_id      TEXT    NOT NULL,
    text         TEXT    NOT NULL,
    payload      TEXT    NOT NULL DEFAULT '{}',     -- JSON: extra fields the worker needs
    status       TEXT    NOT NULL DEFAULT 'received', -- received | running | answered | failed
    attempts     INTEGER NOT NULL DEFAULT 0,
    reply_ts     TEXT,
    error        TEXT,
    received_at  REAL    NOT NULL,
    started_at   REAL,
    finished_at  REAL,
    UNIQUE (channel, ts)
);
CREATE INDEX inbox_by_status ON inbox (status, id);

CREATE TABLE tickets (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    channel            TEXT    NOT NULL,
    thread_ts          TEXT    NOT NULL,
    user_id            TEXT    NOT NULL,
    customer_id        INTEGER,
    status             TEXT    NOT NULL,            -- open | answered | escalated | claimed | resolved
    department         TEXT,
    agent_path         TEXT    NOT NULL DEFAULT '[]', -- JSON list of agent names, last run
    subject            TEXT    NOT NULL,
    assignee           TEXT,
    priority           TEXT    NOT NULL DEFAULT 'normal',
    created_at         REAL    NOT NULL,
    updated_at         REAL    NOT NULL,
    first_response_at  REAL,
    resolved_at        REAL,
    UNIQUE (channel, thread_ts)
);
CREATE INDEX tickets_by_user ON tickets (user_id, id);
CREATE INDEX tickets_by_status ON tickets (status, id);

CREATE TABLE ticket_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id  INTEGER NOT NULL REFERENCES tickets (id),
    status     TEXT    NOT NULL,
    actor      TEXT,
    note       TEXT,
    at         REAL    NOT NULL
);
CREATE INDEX ticket_events_by_ticket ON ticket_events (ticket_id, id);

CREATE TABLE conversation_items (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_key  TEXT    NOT NULL,
    turn        INTEGER NOT NULL,                   -- the inbox id of the turn that added it
    item        TEXT    NOT NULL,                   -- JSON of one SDK input item
    created_at  REAL    NOT NULL
);
CREATE INDEX conversation_items_by_thread ON conversation_items (thread_key, turn, id);

CREATE TABLE thread_summaries (
    thread_key  TEXT    PRIMARY KEY,
    summary     TEXT    NOT NULL,
    upto_turn   INTEGER NOT NULL,
    updated_at  REAL    NOT NULL
);

CREATE TABLE escalations (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id    INTEGER NOT NULL REFERENCES tickets (id),
    reason       TEXT    NOT NULL,
    summary      TEXT    NOT NULL,
    staff_channel TEXT,
    staff_ts     TEXT,
    created_at   REAL    NOT NULL
);
CREATE INDEX escalations_by_ticket ON escalations (ticket_id);

CREATE TABLE slack_users (
    user_id     TEXT PRIMARY KEY,
    email       TEXT,
    name        TEXT,
    is_bot      INTEGER NOT NULL DEFAULT 0,
    fetched_at  REAL NOT NULL
);
