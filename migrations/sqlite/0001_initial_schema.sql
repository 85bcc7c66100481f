-- Talkbook's schema on SQLite, the embedded default: the same tables as
-- migrations/postgres (see the comments there), adapted to SQLite.
--
-- - Timestamps are INTEGER unix milliseconds (UTC).
-- - Tables are STRICT, so a wrongly typed value is an error instead of being stored.
-- - AUTOINCREMENT keeps ids of deleted rows from being reused: a stale link to a deleted
--   notebook must not open a newer one.
-- - Client ids are a JSON array of integers in TEXT (SQLite has no arrays); JSON integers
--   are read back as u64 exactly.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL CONSTRAINT users_name_unique UNIQUE,
    display_name  TEXT NOT NULL,
    color         TEXT NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    password_hash TEXT,
    created_at    INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
) STRICT;

CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    hash       BLOB NOT NULL CONSTRAINT tokens_hash_unique UNIQUE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('session', 'personal')),
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    expires_at INTEGER
) STRICT;
CREATE INDEX tokens_user_id ON tokens (user_id);

CREATE TABLE projects (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id    INTEGER NOT NULL REFERENCES users (id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    visibility  TEXT NOT NULL CHECK (visibility IN ('private', 'internal', 'public')),
    created_at  INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
) STRICT;
CREATE INDEX projects_owner_id ON projects (owner_id);

CREATE TABLE project_members (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    PRIMARY KEY (project_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX project_members_user_id ON project_members (user_id);
CREATE UNIQUE INDEX project_members_one_owner ON project_members (project_id) WHERE role = 'owner';

CREATE TABLE notebooks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    mode       TEXT NOT NULL CHECK (mode IN ('thread', 'pair')),
    kernelspec TEXT NOT NULL,
    created_by INTEGER NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    last_seq   INTEGER NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    CONSTRAINT notebooks_project_name_unique UNIQUE (project_id, name)
) STRICT;

CREATE TABLE notebook_updates (
    notebook_id INTEGER NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL CHECK (seq > 0),
    user_id     INTEGER REFERENCES users (id),
    client_ids  TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(client_ids)),
    at          INTEGER NOT NULL,
    data        BLOB NOT NULL,
    PRIMARY KEY (notebook_id, seq)
) STRICT;

CREATE TABLE checkpoints (
    notebook_id INTEGER NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL CHECK (seq >= 0),
    state       BLOB NOT NULL,
    created_at  INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    PRIMARY KEY (notebook_id, seq)
) STRICT;
