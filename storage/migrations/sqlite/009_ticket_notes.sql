-- What staff write in the staff thread of an escalation: an internal note (never shown to the
-- user) or a reply the desk relayed to the user's thread. One row per Slack message and kind,
-- so a redelivery or a restart records it once.
CREATE TABLE ticket_notes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id   INTEGER NOT NULL REFERENCES tickets (id),
    author      TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('note', 'reply')),
    text        TEXT    NOT NULL,
    source_ts   TEXT    NOT NULL,
    created_at  REAL    NOT NULL,
    UNIQUE (ticket_id, kind, source_ts)
);
CREATE INDEX ticket_notes_by_ticket ON ticket_notes (ticket_id, id);
