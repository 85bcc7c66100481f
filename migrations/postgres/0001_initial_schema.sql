-- Talkbook's schema on PostgreSQL: accounts, projects, notebooks, and each notebook's
-- append-only update log with its checkpoints (SPEC §2, §7).
--
-- Closed sets (roles, kinds, modes, visibility) are text with CHECK constraints rather
-- than enum types: adding a value is then one constraint swap, not an enum migration.

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Login name, `[a-z0-9_.-]`.
    name          text NOT NULL CONSTRAINT users_name_unique UNIQUE,
    display_name  text NOT NULL,
    -- `#rrggbb`, shown next to the user's cells and cursor.
    color         text NOT NULL,
    is_admin      boolean NOT NULL DEFAULT false,
    -- argon2 PHC string; NULL for accounts that sign in only with tokens.
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Only the SHA-256 of a token's secret is stored, so a database leak leaks no sessions.
CREATE TABLE tokens (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hash       bytea NOT NULL CONSTRAINT tokens_hash_unique UNIQUE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('session', 'personal')),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz
);
CREATE INDEX tokens_user_id ON tokens (user_id);

CREATE TABLE projects (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Also present in project_members with role 'owner'; an owner cannot be deleted
    -- while they own projects (ownership must be handed over first).
    owner_id    bigint NOT NULL REFERENCES users (id),
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    visibility  text NOT NULL CHECK (visibility IN ('private', 'internal', 'public')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_owner_id ON projects (owner_id);

CREATE TABLE project_members (
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id)
);
-- "Which projects may this user see": the primary key leads with project_id.
CREATE INDEX project_members_user_id ON project_members (user_id);
-- SPEC §2: a project has exactly one owner.
CREATE UNIQUE INDEX project_members_one_owner ON project_members (project_id) WHERE role = 'owner';

CREATE TABLE notebooks (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       text NOT NULL,
    mode       text NOT NULL CHECK (mode IN ('thread', 'pair')),
    kernelspec text NOT NULL,
    created_by bigint NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- The highest sequence number handed out. Appends reserve numbers with
    -- `UPDATE … SET last_seq = last_seq + n RETURNING last_seq`, whose row lock orders
    -- concurrent appends, even from several server processes.
    last_seq   bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    CONSTRAINT notebooks_project_name_unique UNIQUE (project_id, name)
);

-- The history of every notebook: never updated, only appended to (and deleted with its
-- notebook). The primary key serves every read, which are all ranges of one notebook.
CREATE TABLE notebook_updates (
    notebook_id bigint NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    seq         bigint NOT NULL CHECK (seq > 0),
    -- NULL for the server's own edits (kernel outputs, restores). No index on it: user
    -- deletion is rare and the hot path should maintain as few indexes as possible.
    user_id     bigint REFERENCES users (id),
    -- Yjs client ids (< 2^53 in practice); values >= 2^63 are kept as their
    -- two's-complement bigint so that any u64 round-trips.
    client_ids  bigint[] NOT NULL DEFAULT '{}',
    at          timestamptz NOT NULL,
    -- The Yjs update, v1 encoding.
    data        bytea NOT NULL,
    PRIMARY KEY (notebook_id, seq)
);

-- Full document states; loading reads the newest and the log after it.
CREATE TABLE checkpoints (
    notebook_id bigint NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    seq         bigint NOT NULL CHECK (seq >= 0),
    state       bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (notebook_id, seq)
);
