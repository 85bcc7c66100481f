-- Background jobs (SPEC §9): a project's script file run in the background, its stdout
-- and stderr stored as project files next to it, and every file it generated, which
-- cannot be removed while the job exists.

-- One row per job: written when it is queued, updated when it starts and when it ends,
-- deleted by hand (or with its project). Ids grow with time, so "newest first" is
-- `id DESC`.
CREATE TABLE jobs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id  bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- Who started it. No ON DELETE action and no index of its own: accounts are not
    -- deleted.
    owner       bigint NOT NULL REFERENCES users (id),
    -- Project paths (normalized, as `project_files.path`): the script it runs and its
    -- two log files. Not foreign keys: the files may be moved or deleted since.
    script      text NOT NULL,
    stdout_path text NOT NULL,
    stderr_path text NOT NULL,
    state       text NOT NULL CHECK (state IN ('queued', 'running', 'finished', 'failed', 'terminated')),
    -- The script's exit code, once it exited; NULL until then, and for a job that never
    -- started or was killed by a signal.
    exit_code   integer,
    -- A short sentence for people when it failed or was terminated (why, and by whom).
    error       text,
    created_at  timestamptz NOT NULL,
    started_at  timestamptz,
    ended_at    timestamptz,
    -- As for executions: a queued job has not started and a running one has; a job has an
    -- end time exactly when its state is final. (A job failed or terminated in the queue
    -- never started.)
    CONSTRAINT jobs_started CHECK (state <> 'queued' OR started_at IS NULL),
    CONSTRAINT jobs_running CHECK (state <> 'running' OR started_at IS NOT NULL),
    CONSTRAINT jobs_ended CHECK ((ended_at IS NULL) = (state IN ('queued', 'running'))),
    -- The key `job_files` refers to, so that a generated path's project is its job's.
    CONSTRAINT jobs_id_project UNIQUE (id, project_id)
);
-- A project's jobs newest first; also serves the cascade from projects.
CREATE INDEX jobs_project ON jobs (project_id, id DESC);
-- Start-up fails the jobs a stopped server left unfinished; this index holds only those.
CREATE INDEX jobs_unfinished ON jobs (id) WHERE state IN ('queued', 'running');

-- Every path a job generated (its two logs, then whatever it wrote), as long as the job
-- exists: such a path, or a folder holding one, cannot be deleted.
CREATE TABLE job_files (
    job_id     bigint NOT NULL,
    -- The job's project, repeated here so that "which jobs hold this path" is one range
    -- of the index below; the foreign key keeps it equal to the job's.
    project_id bigint NOT NULL,
    -- COLLATE "C", as `project_files.path`: the paths inside folder F are exactly those
    -- in [`F/`, `F0`).
    path       text COLLATE "C" NOT NULL,
    PRIMARY KEY (job_id, path),
    FOREIGN KEY (job_id, project_id) REFERENCES jobs (id, project_id) ON DELETE CASCADE
);
CREATE INDEX job_files_project_path ON job_files (project_id, path);
