-- Background jobs on SQLite: the same tables as migrations/postgres/0005 (see the
-- comments there), adapted to SQLite.
--
-- - Timestamps are INTEGER unix milliseconds (UTC).
-- - AUTOINCREMENT keeps ids growing even after the newest jobs were deleted, so `id`
--   stays the order of creation and a deleted job's id is never reused.
-- - `path` uses SQLite's default BINARY collation, which compares bytes like PostgreSQL's
--   "C": the paths inside folder F are those in [`F/`, `F0`).

CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    owner       INTEGER NOT NULL REFERENCES users (id),
    script      TEXT NOT NULL,
    stdout_path TEXT NOT NULL,
    stderr_path TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('queued', 'running', 'finished', 'failed', 'terminated')),
    exit_code   INTEGER,
    error       TEXT,
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    ended_at    INTEGER,
    CONSTRAINT jobs_started CHECK (state <> 'queued' OR started_at IS NULL),
    CONSTRAINT jobs_running CHECK (state <> 'running' OR started_at IS NOT NULL),
    CONSTRAINT jobs_ended CHECK ((ended_at IS NULL) = (state IN ('queued', 'running'))),
    CONSTRAINT jobs_id_project UNIQUE (id, project_id)
) STRICT;
CREATE INDEX jobs_project ON jobs (project_id, id DESC);
CREATE INDEX jobs_unfinished ON jobs (id) WHERE state IN ('queued', 'running');

CREATE TABLE job_files (
    job_id     INTEGER NOT NULL,
    project_id INTEGER NOT NULL,
    path       TEXT NOT NULL,
    PRIMARY KEY (job_id, path),
    FOREIGN KEY (job_id, project_id) REFERENCES jobs (id, project_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX job_files_project_path ON job_files (project_id, path);
