-- A thread's unfinished rows, found fast: a claim takes a row only when the earlier rows of
-- its thread are finished or running in the same worker (`InboxRepo.claim`).
CREATE INDEX inbox_by_thread ON inbox (channel, thread_ts, id);
