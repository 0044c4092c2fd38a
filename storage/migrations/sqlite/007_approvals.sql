-- Acting tools that wait for a person's yes (a refund waits for the requester's Confirm).
--
-- The interrupted agent run is kept whole (`state`: the Agents SDK's RunState JSON), so a
-- Confirm resumes it exactly where it stopped, after a restart too. A row moves from
-- `pending` to `confirmed` / `cancelled` (the requester's answer), `superseded` (the thread
-- moved on before an answer) or `expired`; only one update can take it from `pending`, which
-- is what makes two clicks issue one refund.

CREATE TABLE approvals (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id     INTEGER NOT NULL REFERENCES tickets (id),
    channel       TEXT    NOT NULL,
    thread_ts     TEXT    NOT NULL,
    requester     TEXT    NOT NULL,                 -- the Slack user who must answer
    approver      TEXT    NOT NULL DEFAULT 'requester', -- who may say yes: requester (later: staff)
    turn          INTEGER NOT NULL,                 -- the inbox id of the interrupted turn
    start_agent   TEXT    NOT NULL,                 -- the agent the run started at
    actions       TEXT    NOT NULL,                 -- JSON list: {tool, call_id, description}
    state         TEXT    NOT NULL,                 -- JSON of the SDK RunState
    status        TEXT    NOT NULL DEFAULT 'pending', -- pending|confirmed|cancelled|superseded|expired
    message_ts    TEXT,                             -- the Confirm / Cancel message
    decided_by    TEXT,
    decided_turn  INTEGER,                          -- the inbox id of the answer
    decided_at    REAL,
    created_at    REAL    NOT NULL,
    expires_at    REAL    NOT NULL
);
CREATE INDEX approvals_by_thread ON approvals (channel, thread_ts, status);
