-- Project files (SPEC §2, §9): each project's folder tree, kept in the database like
-- everything else, so every server node sees the same files and no request ever names a
-- path on the server's disk.

CREATE TABLE project_files (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id   bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- Relative and normalized (`data/2024/raw.csv`): no leading or trailing `/`, no empty,
    -- `.` or `..` components; the server checks this before a path gets here. Every folder
    -- above an entry is an entry of its own. COLLATE "C" compares bytes, as SQLite does:
    -- the entries inside folder F are exactly the paths in [`F/`, `F0`) (`0` follows `/`),
    -- a range the unique index below serves.
    path         text COLLATE "C" NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('file', 'folder')),
    -- Bytes of a file; 0 for a folder.
    size         bigint NOT NULL CHECK (size >= 0),
    -- A file's SHA-256 and bytes; NULL for a folder.
    sha256       bytea,
    content      bytea,
    created_at   timestamptz NOT NULL,
    -- The last change of a file's bytes (a folder's creation) and who made it; moving an
    -- entry keeps both. No ON DELETE action: accounts are not deleted.
    updated_at   timestamptz NOT NULL,
    updated_by   bigint NOT NULL REFERENCES users (id),
    -- A block (files only): only the holder may change, move or delete the file. `manual`
    -- blocks are lifted by the holder or broken by the project's owner; `console` blocks
    -- go when the console holding the file closes.
    blocked_by   bigint REFERENCES users (id),
    blocked_at   timestamptz,
    block_reason text CHECK (block_reason IN ('manual', 'console')),
    CONSTRAINT project_files_path_unique UNIQUE (project_id, path),
    CONSTRAINT project_files_kind CHECK (
        CASE kind
            WHEN 'file' THEN content IS NOT NULL AND sha256 IS NOT NULL AND octet_length(sha256) = 32
            ELSE content IS NULL AND sha256 IS NULL AND size = 0 AND blocked_by IS NULL
        END),
    -- All three set or none.
    CONSTRAINT project_files_block_complete CHECK (
        (blocked_by IS NULL) = (blocked_at IS NULL) AND (blocked_by IS NULL) = (block_reason IS NULL))
);
