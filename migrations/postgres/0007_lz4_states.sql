-- Full document states (room checkpoints, history snapshots) are compressed with LZ4
-- instead of the default pglz where the server supports it: a large notebook's checkpoint
-- is megabytes, and pglz spent over 100 ms of CPU on each of them while rooms were
-- committing edits beside it. Only values written from now on are affected. A server
-- built without LZ4, or older than PostgreSQL 14, keeps pglz.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE checkpoints ALTER COLUMN state SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE history_snapshots ALTER COLUMN state SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    RAISE NOTICE 'document states stay compressed with pglz: %', SQLERRM;
END
$$;
