-- SQLite's migration 016 (models found down, shared by the cluster), for PostgreSQL.
-- Models found down (a timeout, a 5xx, a refused connection), shared by every worker of the
-- cluster: a model that failed in one process is skipped by the others until `down_until`.
CREATE TABLE model_outages (
    model       TEXT PRIMARY KEY,
    down_until  DOUBLE PRECISION NOT NULL,
    found_at    DOUBLE PRECISION NOT NULL
);
