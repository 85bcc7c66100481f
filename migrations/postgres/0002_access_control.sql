-- Access control (SPEC §2, §6, §9): manual notebook blocks, and which user each Yjs
-- client id of a notebook belongs to.

-- A manual block: while it is set, only the holder may change the notebook (its document,
-- name, mode, existence). Set by a conditional UPDATE (`… WHERE blocked_by IS NULL OR
-- blocked_by = holder`), so of two concurrent block requests only one wins. No ON DELETE
-- action: accounts are not deleted, and a holder's block must be lifted by hand.
ALTER TABLE notebooks
    ADD COLUMN blocked_by bigint REFERENCES users (id),
    ADD COLUMN blocked_at timestamptz,
    -- Both set or neither.
    ADD CONSTRAINT notebooks_block_complete CHECK ((blocked_by IS NULL) = (blocked_at IS NULL));

-- Each Yjs client id used in a notebook is bound to the user whose update first carried
-- it (SPEC §6): an update that carries items under a client id bound to someone else is
-- refused, which is what makes authorship trustworthy. Rows are written in the same
-- transaction as the update that binds them (`ON CONFLICT DO NOTHING`: the first binding
-- stays) and go with their notebook.
CREATE TABLE notebook_clients (
    notebook_id bigint NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    -- As in notebook_updates.client_ids: ids >= 2^63 are stored as their
    -- two's-complement bigint.
    client_id   bigint NOT NULL,
    -- NULL: the server's own edits (kernel outputs, restores).
    user_id     bigint REFERENCES users (id),
    PRIMARY KEY (notebook_id, client_id)
);

-- Logs written before this migration bind their client ids too: the earliest update that
-- carried an id decides whose it is.
INSERT INTO notebook_clients (notebook_id, client_id, user_id)
SELECT DISTINCT ON (u.notebook_id, c.client_id) u.notebook_id, c.client_id, u.user_id
FROM notebook_updates u CROSS JOIN LATERAL unnest(u.client_ids) AS c (client_id)
ORDER BY u.notebook_id, c.client_id, u.seq;
