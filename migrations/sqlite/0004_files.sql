-- Project files on SQLite: the same table as migrations/postgres/0004 (see the comments
-- there), adapted to SQLite.
--
-- - Timestamps are INTEGER unix milliseconds (UTC).
-- - `path` uses SQLite's default BINARY collation, which compares bytes like PostgreSQL's
--   "C": the entries inside folder F are the paths in [`F/`, `F0`).

CREATE TABLE project_files (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id   INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    path         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('file', 'folder')),
    size         INTEGER NOT NULL CHECK (size >= 0),
    sha256       BLOB,
    content      BLOB,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    updated_by   INTEGER NOT NULL REFERENCES users (id),
    blocked_by   INTEGER REFERENCES users (id),
    blocked_at   INTEGER,
    block_reason TEXT CHECK (block_reason IN ('manual', 'console')),
    CONSTRAINT project_files_path_unique UNIQUE (project_id, path),
    CONSTRAINT project_files_kind CHECK (
        CASE kind
            WHEN 'file' THEN content IS NOT NULL AND sha256 IS NOT NULL AND length(sha256) = 32
            ELSE content IS NULL AND sha256 IS NULL AND size = 0 AND blocked_by IS NULL
        END),
    CONSTRAINT project_files_block_complete CHECK (
        (blocked_by IS NULL) = (blocked_at IS NULL) AND (blocked_by IS NULL) = (block_reason IS NULL))
) STRICT;
