-- Authorship history (SPEC §1, §7): who the server's own edits were made for, and the
-- indexes the history API reads. The update log stays the one source of truth: every
-- table here except `notebook_updates.actor_id` is derived from it by the history indexer,
-- which replays the log in order and can always rebuild them.

-- For the server's own edits made on someone's behalf (a run's outputs: the user who ran
-- the cell), that user; NULL otherwise. `user_id` keeps its meaning (whose connection sent
-- the update, which is what client ids are bound to).
ALTER TABLE notebook_updates ADD COLUMN actor_id bigint REFERENCES users (id);

-- How far each notebook's log has been indexed. A separate table, not a column of
-- `notebooks`: appends lock the notebook row, and indexing must not wait on them.
CREATE TABLE history_progress (
    notebook_id bigint PRIMARY KEY REFERENCES notebooks (id) ON DELETE CASCADE,
    indexed_seq bigint NOT NULL CHECK (indexed_seq >= 0)
);

-- Readable changes (cell created, source edited, …), one row per event. Consecutive
-- updates of one user to the same part of one cell are one event while they are closer
-- than the grouping gap, so a row grows (last_seq, counts) while its group is open.
CREATE TABLE history_events (
    notebook_id bigint NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    -- The update that started the event, and the event's place among those it started.
    first_seq   bigint NOT NULL,
    part        integer NOT NULL,
    last_seq    bigint NOT NULL,
    -- Who: the editor, or the user a server edit was made for; NULL for the server.
    user_id     bigint REFERENCES users (id),
    kind        text NOT NULL,
    -- NULL for notebook-wide events (mode, block, notebook metadata).
    cell_id     text,
    first_at    timestamptz NOT NULL,
    last_at     timestamptz NOT NULL,
    updates     integer NOT NULL CHECK (updates > 0),
    -- Characters (Unicode scalar values) added and removed, for source edits.
    added       integer NOT NULL DEFAULT 0,
    removed     integer NOT NULL DEFAULT 0,
    -- What else the kind tells: positions of a move, the new mode, a block's holder…
    detail      jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (notebook_id, first_seq, part)
);
CREATE INDEX history_events_cell ON history_events (notebook_id, cell_id, first_seq);
CREATE INDEX history_events_user ON history_events (notebook_id, user_id, first_seq);

-- Which update inserted (deleted = false) or deleted (deleted = true) each range of Yjs
-- clocks: blame maps a character's item id to its update, and so to a user and a time.
-- Two concurrent updates may delete the same range; both rows are kept.
CREATE TABLE history_spans (
    notebook_id bigint NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    deleted     boolean NOT NULL,
    -- As in notebook_updates.client_ids: ids >= 2^63 as their two's-complement bigint.
    client_id   bigint NOT NULL,
    clock_start bigint NOT NULL,
    clock_end   bigint NOT NULL CHECK (clock_end > clock_start),
    seq         bigint NOT NULL,
    PRIMARY KEY (notebook_id, deleted, client_id, clock_start, seq)
);

-- Full document states along the history, written by the indexer every few thousand
-- updates and kept (unlike the room's checkpoints, of which only the newest few stay):
-- showing the notebook at a past moment starts from the nearest one before it.
CREATE TABLE history_snapshots (
    notebook_id bigint NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    seq         bigint NOT NULL CHECK (seq >= 0),
    state       bytea NOT NULL,
    PRIMARY KEY (notebook_id, seq)
);

-- Undo reads the spans of a range of updates.
CREATE INDEX history_spans_seq ON history_spans (notebook_id, seq);

-- Events a user has undone (`POST …/undo`), so the next undo steps further back instead
-- of undoing the same change again. Keyed like the event.
CREATE TABLE history_undone (
    notebook_id bigint NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    first_seq   bigint NOT NULL,
    part        integer NOT NULL,
    user_id     bigint NOT NULL REFERENCES users (id),
    undone_at   timestamptz NOT NULL,
    PRIMARY KEY (notebook_id, first_seq, part)
);
