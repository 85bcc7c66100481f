-- The history indexer writes a row per range of Yjs items each update inserted or deleted,
-- and a row per event, a thousand or more per step. Their foreign keys were checked row by
-- row: 1,000 span rows took 22 ms with them and 12 ms without, on the database the live
-- commits share, every time a room checkpoints.
--
-- They are not needed for integrity. A step's transaction first locks the notebook's
-- `history_progress` row, whose own foreign key fails the step if the notebook is gone;
-- deleting a notebook cascades to that row, so the delete waits for a running step, and
-- the trigger below then removes what the step wrote, as the cascades did. (The foreign
-- key cascades fire before this trigger: AFTER triggers run in name order, and theirs sort
-- first.) Users are never deleted.

ALTER TABLE history_spans
    DROP CONSTRAINT IF EXISTS history_spans_notebook_id_fkey;
ALTER TABLE history_events
    DROP CONSTRAINT IF EXISTS history_events_notebook_id_fkey,
    DROP CONSTRAINT IF EXISTS history_events_user_id_fkey;

CREATE OR REPLACE FUNCTION talkbook_drop_notebook_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM notebook_updates WHERE notebook_id = OLD.id;
    DELETE FROM history_spans WHERE notebook_id = OLD.id;
    DELETE FROM history_events WHERE notebook_id = OLD.id;
    RETURN NULL;
END
$$;
