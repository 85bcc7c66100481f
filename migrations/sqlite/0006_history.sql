-- Authorship history on SQLite: the same as migrations/postgres/0006 (see the comments
-- there), adapted to SQLite: timestamps are INTEGER unix milliseconds (UTC), booleans
-- INTEGER 0/1, `detail` JSON text.

ALTER TABLE notebook_updates ADD COLUMN actor_id INTEGER REFERENCES users (id);

CREATE TABLE history_progress (
    notebook_id INTEGER PRIMARY KEY REFERENCES notebooks (id) ON DELETE CASCADE,
    indexed_seq INTEGER NOT NULL CHECK (indexed_seq >= 0)
) STRICT;

CREATE TABLE history_events (
    notebook_id INTEGER NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    first_seq   INTEGER NOT NULL,
    part        INTEGER NOT NULL,
    last_seq    INTEGER NOT NULL,
    user_id     INTEGER REFERENCES users (id),
    kind        TEXT NOT NULL,
    cell_id     TEXT,
    first_at    INTEGER NOT NULL,
    last_at     INTEGER NOT NULL,
    updates     INTEGER NOT NULL CHECK (updates > 0),
    added       INTEGER NOT NULL DEFAULT 0,
    removed     INTEGER NOT NULL DEFAULT 0,
    detail      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),
    PRIMARY KEY (notebook_id, first_seq, part)
) STRICT;
CREATE INDEX history_events_cell ON history_events (notebook_id, cell_id, first_seq);
CREATE INDEX history_events_user ON history_events (notebook_id, user_id, first_seq);

CREATE TABLE history_spans (
    notebook_id INTEGER NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    deleted     INTEGER NOT NULL CHECK (deleted IN (0, 1)),
    client_id   INTEGER NOT NULL,
    clock_start INTEGER NOT NULL,
    clock_end   INTEGER NOT NULL CHECK (clock_end > clock_start),
    seq         INTEGER NOT NULL,
    PRIMARY KEY (notebook_id, deleted, client_id, clock_start, seq)
) STRICT;

CREATE TABLE history_snapshots (
    notebook_id INTEGER NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL CHECK (seq >= 0),
    state       BLOB NOT NULL,
    PRIMARY KEY (notebook_id, seq)
) STRICT;
CREATE INDEX history_spans_seq ON history_spans (notebook_id, seq);

CREATE TABLE history_undone (
    notebook_id INTEGER NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    first_seq   INTEGER NOT NULL,
    part        INTEGER NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    undone_at   INTEGER NOT NULL,
    PRIMARY KEY (notebook_id, first_seq, part)
) STRICT;
