-- Access control on SQLite: the same as migrations/postgres/0002 (see the comments
-- there), adapted to SQLite.
--
-- - `blocked_at` is INTEGER unix milliseconds (UTC), like every timestamp here.
-- - SQLite cannot add a table constraint to an existing table, so "both set or neither"
--   is a CHECK on the second column, which SQLite lets refer to the first.
-- - Client ids are INTEGER in two's complement (ids >= 2^63 stored as negative numbers),
--   as on PostgreSQL.

ALTER TABLE notebooks ADD COLUMN blocked_by INTEGER REFERENCES users (id);
ALTER TABLE notebooks ADD COLUMN blocked_at INTEGER
    CONSTRAINT notebooks_block_complete CHECK ((blocked_by IS NULL) = (blocked_at IS NULL));

CREATE TABLE notebook_clients (
    notebook_id INTEGER NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    client_id   INTEGER NOT NULL,
    user_id     INTEGER REFERENCES users (id),
    PRIMARY KEY (notebook_id, client_id)
) STRICT, WITHOUT ROWID;

-- Bind the client ids of logs written before this migration: the earliest update that
-- carried an id decides whose it is (rows are inserted in `seq` order and the first
-- stays). The log's JSON arrays hold ids >= 2^63 as numbers SQLite reads as REAL; Yjs
-- never makes such ids, and they are left unbound rather than failing the migration.
INSERT INTO notebook_clients (notebook_id, client_id, user_id)
SELECT u.notebook_id, c.value, u.user_id
FROM notebook_updates u, json_each(u.client_ids) c
WHERE typeof(c.value) = 'integer'
ORDER BY u.notebook_id, u.seq
ON CONFLICT (notebook_id, client_id) DO NOTHING;
