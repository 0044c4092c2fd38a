-- SQLite's migration 016 (Stop anywhere, the questions of answers), for PostgreSQL.
-- The conversation of the answer's streamed message. It is not always the inbox row's own
-- channel: a request from the App Home form is answered in a DM thread the desk opens. Stop
-- on a streamed answer finds the answer by this channel and the stream's ts.
ALTER TABLE inbox ADD COLUMN stream_channel TEXT;

-- The message an AI answer replied to (secrets removed, as everywhere), so `export-tickets
-- --unhelpful` can write 👎-rated answers as rows for `eval` after the inbox row is pruned.
ALTER TABLE answers ADD COLUMN question TEXT;
