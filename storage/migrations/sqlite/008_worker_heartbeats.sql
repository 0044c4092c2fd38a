-- Supervision: each worker process writes a heartbeat about every second, and every inbox row
-- it claims names it. `/readyz` is not ready while no worker has a fresh heartbeat, and rows
-- left running by a worker whose heartbeat went stale (it died) are queued again by the
-- worker that is alive, without waiting for a restart.

CREATE TABLE worker_heartbeats (
    worker_id   TEXT PRIMARY KEY,          -- unique per worker process (host:pid:random)
    host        TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    started_at  REAL    NOT NULL,
    beat_at     REAL    NOT NULL
);

ALTER TABLE inbox ADD COLUMN claimed_by TEXT;  -- worker_id of the worker answering a running row

-- `/readyz` proves that the database takes writes by rewriting this one row.
CREATE TABLE write_probe (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at  REAL    NOT NULL
);
