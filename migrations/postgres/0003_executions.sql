-- Kernel runs (SPEC §2, §8): the record of every run of a cell, and whether a notebook in
-- thread mode lets editors other than a cell's author run it.

-- In thread mode only a cell's author runs it, unless this is set; the run then still
-- happens in the author's kernel. Changed like the mode, so it respects manual blocks.
ALTER TABLE notebooks ADD COLUMN others_may_run boolean NOT NULL DEFAULT false;

-- One row per run of one cell: written when the run is queued, updated when the kernel
-- starts it and when it ends, never deleted except with its notebook. Ids grow with time,
-- so "newest first" is `id DESC` and paging backwards is `id < before`.
CREATE TABLE executions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notebook_id     bigint NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    -- The cell's `id` in the document; not a foreign key, the cell may be deleted since.
    cell_id         text NOT NULL,
    -- Who asked for the run (in thread mode not necessarily the cell's author). No ON
    -- DELETE action and no index of its own: accounts are not deleted.
    user_id         bigint NOT NULL REFERENCES users (id),
    -- Opaque id of the kernel process session that ran it, and that kernel's kernelspec.
    kernel_id       text NOT NULL,
    kernelspec      text NOT NULL,
    -- The source as it was sent to the kernel; the cell may have been edited since.
    source          text NOT NULL,
    status          text NOT NULL CHECK (status IN ('queued', 'running', 'ok', 'error', 'aborted')),
    -- From the kernel's reply; NULL until then, and for runs that never got one.
    execution_count bigint,
    queued_at       timestamptz NOT NULL,
    started_at      timestamptz,
    ended_at        timestamptz,
    -- A short sentence for people when the status is error or aborted (`ename: evalue`,
    -- or why the run was aborted).
    error           text,
    -- A queued run has not started and a running one has; a run has an end time exactly
    -- when its status is final. (An aborted run may never have started.)
    CONSTRAINT executions_started CHECK (status <> 'queued' OR started_at IS NULL),
    CONSTRAINT executions_running CHECK (status <> 'running' OR started_at IS NOT NULL),
    CONSTRAINT executions_ended CHECK ((ended_at IS NULL) = (status IN ('queued', 'running')))
);
-- A notebook's runs newest first: all of them, one cell's or one user's (with both
-- filters, either index narrows the rows to few). Any of them also serves the cascade
-- from notebooks.
CREATE INDEX executions_notebook ON executions (notebook_id, id DESC);
CREATE INDEX executions_notebook_cell ON executions (notebook_id, cell_id, id DESC);
CREATE INDEX executions_notebook_user ON executions (notebook_id, user_id, id DESC);
-- Start-up aborts the runs a stopped server left unfinished; this index holds only those,
-- so that stays cheap however long the history grows.
CREATE INDEX executions_unfinished ON executions (id) WHERE status IN ('queued', 'running');
