-- Kernel runs on SQLite: the same as migrations/postgres/0003 (see the comments there),
-- adapted to SQLite.
--
-- - `others_may_run` is INTEGER 0/1, like `users.is_admin`.
-- - Timestamps are INTEGER unix milliseconds (UTC), like every timestamp here.
-- - AUTOINCREMENT keeps ids growing even after the newest rows were deleted (with their
--   notebook), so `id` stays the order of runs and `id < before` pages correctly.

ALTER TABLE notebooks ADD COLUMN others_may_run INTEGER NOT NULL DEFAULT 0
    CHECK (others_may_run IN (0, 1));

CREATE TABLE executions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    notebook_id     INTEGER NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    cell_id         TEXT NOT NULL,
    user_id         INTEGER NOT NULL REFERENCES users (id),
    kernel_id       TEXT NOT NULL,
    kernelspec      TEXT NOT NULL,
    source          TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'ok', 'error', 'aborted')),
    execution_count INTEGER,
    queued_at       INTEGER NOT NULL,
    started_at      INTEGER,
    ended_at        INTEGER,
    error           TEXT,
    CONSTRAINT executions_started CHECK (status <> 'queued' OR started_at IS NULL),
    CONSTRAINT executions_running CHECK (status <> 'running' OR started_at IS NOT NULL),
    CONSTRAINT executions_ended CHECK ((ended_at IS NULL) = (status IN ('queued', 'running')))
) STRICT;
CREATE INDEX executions_notebook ON executions (notebook_id, id DESC);
CREATE INDEX executions_notebook_cell ON executions (notebook_id, cell_id, id DESC);
CREATE INDEX executions_notebook_user ON executions (notebook_id, user_id, id DESC);
CREATE INDEX executions_unfinished ON executions (id) WHERE status IN ('queued', 'running');
