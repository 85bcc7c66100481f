//! The history index on PostgreSQL: what the history indexer writes (events, clock spans,
//! snapshots, its progress) and what the history API reads back, plus the log's metadata.

use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Postgres, Row, Transaction};

use crate::store::sql_common::{
    batch_events, client_id_from_sql, client_id_to_sql, clock_from_sql, constraint_error, detail_from_sql,
    detail_to_sql, events_cursor,
};
use crate::store::{
    Checkpoint, ClockSpan, HistoryBatch, HistoryEventRow, HistoryFilter, NotebookId, Seq, StoreResult,
    Timestamp, UpdateMeta, UserId,
};

/// The columns [`event_from_row`] reads. `detail` comes back as text: the store has no
/// JSON codec of its own, and serde_json reads what jsonb prints.
macro_rules! event_columns {
    () => {
        "notebook_id, first_seq, part, last_seq, user_id, kind, cell_id, first_at, last_at, updates,
         added, removed, detail::text AS detail"
    };
}

/// The event listing with the filters given: `$1` notebook, `$2`/`$3` the cursor, `$4`/`$5`
/// the time window (NULL: open), then the cell and/or user, then the limit; in `$order`.
macro_rules! events_where {
    ($filters:literal, $order:literal, $limit:literal) => {
        concat!(
            "SELECT ",
            event_columns!(),
            " FROM history_events
             WHERE notebook_id = $1 AND (first_seq, part) > ($2, $3)
               AND ($4::timestamptz IS NULL OR last_at >= $4)
               AND ($5::timestamptz IS NULL OR first_at <= $5)",
            $filters,
            " ORDER BY first_seq ",
            $order,
            ", part ",
            $order,
            " LIMIT ",
            $limit
        )
    };
}

pub(super) async fn history_progress(pool: &PgPool, notebook: NotebookId) -> StoreResult<Seq> {
    let seq: Option<Seq> =
        sqlx::query_scalar("SELECT indexed_seq FROM history_progress WHERE notebook_id = $1")
            .bind(notebook.0)
            .fetch_optional(pool)
            .await?;
    Ok(seq.unwrap_or(0))
}

/// One transaction that holds the notebook's progress row locked from the check to the
/// commit, so of two indexers that started from the same progress only the first writes;
/// the second waits for the lock, then sees the new progress and writes nothing.
pub(super) async fn write_history(pool: &PgPool, batch: &HistoryBatch) -> StoreResult<bool> {
    let events = batch_events(batch)?;
    let mut tx = pool.begin().await?;
    if lock_progress(&mut tx, batch.notebook_id).await? != batch.after {
        tx.rollback().await?;
        return Ok(false);
    }
    upsert_events(&mut tx, batch.notebook_id, &events).await?;
    insert_spans(&mut tx, batch).await?;
    if let Some((seq, state)) = &batch.snapshot {
        sqlx::query(
            "INSERT INTO history_snapshots (notebook_id, seq, state) VALUES ($1, $2, $3)
             ON CONFLICT (notebook_id, seq) DO NOTHING",
        )
        .bind(batch.notebook_id.0)
        .bind(seq)
        .bind(state)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("UPDATE history_progress SET indexed_seq = $2 WHERE notebook_id = $1")
        .bind(batch.notebook_id.0)
        .bind(batch.upto)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// The stored progress, its row locked until the transaction ends. The row is created
/// (at 0) first if missing: `FOR UPDATE` locks only rows that exist, so two indexers of a
/// new notebook would otherwise both read "nothing indexed" and both write.
async fn lock_progress(tx: &mut Transaction<'static, Postgres>, notebook: NotebookId) -> StoreResult<Seq> {
    sqlx::query(
        "INSERT INTO history_progress (notebook_id, indexed_seq) VALUES ($1, 0)
         ON CONFLICT (notebook_id) DO NOTHING",
    )
    .bind(notebook.0)
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        constraint_error(e, || format!("progress of notebook {notebook}"), || format!("notebook {notebook}"))
    })?;
    let seq =
        sqlx::query_scalar("SELECT indexed_seq FROM history_progress WHERE notebook_id = $1 FOR UPDATE")
            .bind(notebook.0)
            .fetch_one(&mut **tx)
            .await?;
    Ok(seq)
}

/// Every event in one statement (a batch holds thousands), its columns as arrays as in
/// `log::insert_rows`. A grown group replaces its stored row whole.
async fn upsert_events(
    tx: &mut Transaction<'static, Postgres>,
    notebook: NotebookId,
    events: &[&HistoryEventRow],
) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let first_seqs: Vec<Seq> = events.iter().map(|e| e.first_seq).collect();
    let parts: Vec<i32> = events.iter().map(|e| e.part).collect();
    let last_seqs: Vec<Seq> = events.iter().map(|e| e.last_seq).collect();
    let users: Vec<Option<i64>> = events.iter().map(|e| e.user_id.map(|u| u.0)).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let cells: Vec<Option<&str>> = events.iter().map(|e| e.cell_id.as_deref()).collect();
    let first_ats: Vec<Timestamp> = events.iter().map(|e| e.first_at).collect();
    let last_ats: Vec<Timestamp> = events.iter().map(|e| e.last_at).collect();
    let updates: Vec<i64> = events.iter().map(|e| e.updates).collect();
    let added: Vec<i64> = events.iter().map(|e| e.added).collect();
    let removed: Vec<i64> = events.iter().map(|e| e.removed).collect();
    let details: Vec<String> = events.iter().map(|e| detail_to_sql(&e.detail)).collect();
    sqlx::query(
        "INSERT INTO history_events (notebook_id, first_seq, part, last_seq, user_id, kind, cell_id,
                                     first_at, last_at, updates, added, removed, detail)
         SELECT $1, first_seq, part, last_seq, user_id, kind, cell_id, first_at, last_at,
                updates, added, removed, detail::jsonb
         FROM UNNEST($2::bigint[], $3::integer[], $4::bigint[], $5::bigint[], $6::text[], $7::text[],
                     $8::timestamptz[], $9::timestamptz[], $10::bigint[], $11::bigint[], $12::bigint[],
                     $13::text[])
           AS e(first_seq, part, last_seq, user_id, kind, cell_id, first_at, last_at, updates, added,
                removed, detail)
         ON CONFLICT (notebook_id, first_seq, part) DO UPDATE SET
           last_seq = excluded.last_seq, user_id = excluded.user_id, kind = excluded.kind,
           cell_id = excluded.cell_id, first_at = excluded.first_at, last_at = excluded.last_at,
           updates = excluded.updates, added = excluded.added, removed = excluded.removed,
           detail = excluded.detail",
    )
    .bind(notebook.0)
    .bind(&first_seqs)
    .bind(&parts)
    .bind(&last_seqs)
    .bind(&users)
    .bind(&kinds)
    .bind(&cells)
    .bind(&first_ats)
    .bind(&last_ats)
    .bind(&updates)
    .bind(&added)
    .bind(&removed)
    .bind(&details)
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        constraint_error(e, || "history event".to_owned(), || "user of a history event".to_owned())
    })?;
    Ok(())
}

/// Inserted and deleted spans in one statement; a span already stored (same key) stays.
async fn insert_spans(tx: &mut Transaction<'static, Postgres>, batch: &HistoryBatch) -> StoreResult<()> {
    let spans = || {
        let inserted = batch.inserted.iter().map(|s| (false, s));
        inserted.chain(batch.deleted.iter().map(|s| (true, s)))
    };
    if batch.inserted.is_empty() && batch.deleted.is_empty() {
        return Ok(());
    }
    let deleted: Vec<bool> = spans().map(|(d, _)| d).collect();
    let clients: Vec<i64> = spans().map(|(_, s)| client_id_to_sql(s.client_id)).collect();
    let starts: Vec<i64> = spans().map(|(_, s)| i64::from(s.clock_start)).collect();
    let ends: Vec<i64> = spans().map(|(_, s)| i64::from(s.clock_end)).collect();
    let seqs: Vec<Seq> = spans().map(|(_, s)| s.seq).collect();
    sqlx::query(
        "INSERT INTO history_spans (notebook_id, deleted, client_id, clock_start, clock_end, seq)
         SELECT $1, * FROM UNNEST($2::boolean[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
         ON CONFLICT (notebook_id, deleted, client_id, clock_start, seq) DO NOTHING",
    )
    .bind(batch.notebook_id.0)
    .bind(&deleted)
    .bind(&clients)
    .bind(&starts)
    .bind(&ends)
    .bind(&seqs)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Each combination of cell and user filters, in each order, has its own statement, so
/// that a generic plan still uses the index that fits (`history_events_cell`,
/// `history_events_user`, or the primary key). The time window is no index's business
/// (`IS NULL OR` costs nothing).
pub(super) async fn history_events(
    pool: &PgPool,
    notebook: NotebookId,
    filter: &HistoryFilter,
) -> StoreResult<Vec<HistoryEventRow>> {
    let sql = match (filter.cell_id.as_deref(), filter.user_id, filter.newest_first) {
        (None, None, false) => events_where!("", "ASC", "$6"),
        (Some(_), None, false) => events_where!(" AND cell_id = $6", "ASC", "$7"),
        (None, Some(_), false) => events_where!(" AND user_id = $6", "ASC", "$7"),
        (Some(_), Some(_), false) => events_where!(" AND cell_id = $6 AND user_id = $7", "ASC", "$8"),
        (None, None, true) => events_where!("", "DESC", "$6"),
        (Some(_), None, true) => events_where!(" AND cell_id = $6", "DESC", "$7"),
        (None, Some(_), true) => events_where!(" AND user_id = $6", "DESC", "$7"),
        (Some(_), Some(_), true) => events_where!(" AND cell_id = $6 AND user_id = $7", "DESC", "$8"),
    };
    let (after_seq, after_part) = events_cursor(filter);
    let mut query =
        sqlx::query(sql).bind(notebook.0).bind(after_seq).bind(after_part).bind(filter.from).bind(filter.to);
    if let Some(cell) = filter.cell_id.as_deref() {
        query = query.bind(cell);
    }
    if let Some(user) = filter.user_id {
        query = query.bind(user.0);
    }
    // PostgreSQL refuses a negative limit where SQLite would read it as "no limit".
    let rows = query.bind(filter.limit.max(0)).fetch_all(pool).await?;
    Ok(rows.iter().map(event_from_row).collect::<Result<_, _>>()?)
}

/// Reads the notebook's events through its primary key and filters on `last_at`, which no
/// index covers: fine while the indexer asks for the few open groups of a notebook with a
/// modest history; a notebook with very many events would want `(notebook_id, last_at)`.
pub(super) async fn history_events_since(
    pool: &PgPool,
    notebook: NotebookId,
    since: Timestamp,
) -> StoreResult<Vec<HistoryEventRow>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        event_columns!(),
        " FROM history_events WHERE notebook_id = $1 AND last_at >= $2 ORDER BY first_seq, part"
    ))
    .bind(notebook.0)
    .bind(since)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(event_from_row).collect::<Result<_, _>>()?)
}

/// Inserted spans of one client never overlap, so the only span starting before `from`
/// that can reach into `[from, to)` is the last one starting at or before `from`: the scan
/// starts there (one backward index probe) and reads only the spans it returns. Deleted
/// spans may overlap (two concurrent deletes, a reconnect's whole delete set), and a span
/// starting anywhere before `from` may cover it: that scan reads every deleted span of the
/// client starting before `to`, O(the client's deleted spans), correct rather than fast.
pub(super) async fn clock_spans(
    pool: &PgPool,
    notebook: NotebookId,
    deleted: bool,
    client: u64,
    from: u32,
    to: u32,
) -> StoreResult<Vec<ClockSpan>> {
    let sql = if deleted {
        "SELECT client_id, clock_start, clock_end, seq FROM history_spans
         WHERE notebook_id = $1 AND deleted AND client_id = $2
           AND clock_start < $4 AND clock_end > $3
         ORDER BY clock_start, seq"
    } else {
        "SELECT client_id, clock_start, clock_end, seq FROM history_spans
         WHERE notebook_id = $1 AND NOT deleted AND client_id = $2
           AND clock_start >= COALESCE(
                 (SELECT clock_start FROM history_spans
                  WHERE notebook_id = $1 AND NOT deleted AND client_id = $2 AND clock_start <= $3
                  ORDER BY clock_start DESC LIMIT 1),
                 $3)
           AND clock_start < $4 AND clock_end > $3
         ORDER BY clock_start, seq"
    };
    let rows = sqlx::query(sql)
        .bind(notebook.0)
        .bind(client_id_to_sql(client))
        .bind(i64::from(from))
        .bind(i64::from(to))
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(span_from_row).collect::<Result<_, _>>()?)
}

/// Reads only the small columns: the update bytes stay on disk (TOAST).
pub(super) async fn update_meta(
    pool: &PgPool,
    notebook: NotebookId,
    seqs: &[Seq],
) -> StoreResult<Vec<UpdateMeta>> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT seq, user_id, actor_id, at FROM notebook_updates
         WHERE notebook_id = $1 AND seq = ANY($2) ORDER BY seq",
    )
    .bind(notebook.0)
    .bind(seqs)
    .fetch_all(pool)
    .await?;
    let meta = rows
        .iter()
        .map(|row| -> Result<UpdateMeta, sqlx::Error> {
            let user: Option<i64> = row.try_get("user_id")?;
            let actor: Option<i64> = row.try_get("actor_id")?;
            Ok(UpdateMeta {
                seq: row.try_get("seq")?,
                user_id: user.map(UserId),
                actor_id: actor.map(UserId),
                at: row.try_get("at")?,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(meta)
}

/// Every span the updates `from..=to` wrote, through `history_spans_seq`.
pub(super) async fn spans_between(
    pool: &PgPool,
    notebook: NotebookId,
    from: Seq,
    to: Seq,
) -> StoreResult<Vec<(bool, ClockSpan)>> {
    let rows = sqlx::query(
        "SELECT deleted, client_id, clock_start, clock_end, seq FROM history_spans
         WHERE notebook_id = $1 AND seq >= $2 AND seq <= $3",
    )
    .bind(notebook.0)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let mut spans = rows
        .iter()
        .map(|row| -> Result<(bool, ClockSpan), sqlx::Error> {
            Ok((row.try_get("deleted")?, span_from_row(row)?))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Sorted here, not in SQL, so that client ids order as `u64`, as on SQLite.
    spans.sort_by_key(|(deleted, s)| (s.seq, *deleted, s.client_id, s.clock_start));
    Ok(spans)
}

/// A second undo of the same event changes nothing, whoever asks.
pub(super) async fn mark_undone(
    pool: &PgPool,
    notebook: NotebookId,
    first_seq: Seq,
    part: i32,
    user: UserId,
    at: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO history_undone (notebook_id, first_seq, part, user_id, undone_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (notebook_id, first_seq, part) DO NOTHING",
    )
    .bind(notebook.0)
    .bind(first_seq)
    .bind(part)
    .bind(user.0)
    .bind(at)
    .execute(pool)
    .await
    .map_err(|e| {
        constraint_error(e, || "undone event".to_owned(), || format!("notebook {notebook} or user {user}"))
    })?;
    Ok(())
}

/// By `(first_seq, part)`: the order of the events themselves.
pub(super) async fn undone_events(
    pool: &PgPool,
    notebook: NotebookId,
    user: UserId,
) -> StoreResult<Vec<(Seq, i32)>> {
    let rows = sqlx::query_as(
        "SELECT first_seq, part FROM history_undone WHERE notebook_id = $1 AND user_id = $2
         ORDER BY first_seq, part",
    )
    .bind(notebook.0)
    .bind(user.0)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// `at` has no index: the scan walks the log backwards from the newest update and stops
/// at the first one old enough (server times grow with `seq`), so its cost grows with how
/// far back `at` lies.
pub(super) async fn seq_at(pool: &PgPool, notebook: NotebookId, at: Timestamp) -> StoreResult<Seq> {
    let seq: Option<Seq> = sqlx::query_scalar(
        "SELECT seq FROM notebook_updates WHERE notebook_id = $1 AND at <= $2 ORDER BY seq DESC LIMIT 1",
    )
    .bind(notebook.0)
    .bind(at)
    .fetch_optional(pool)
    .await?;
    Ok(seq.unwrap_or(0))
}

/// The newer of the newest checkpoint and the newest snapshot at or before `upto`: one
/// index probe each, and only the winner's state leaves the database.
pub(super) async fn nearest_state(
    pool: &PgPool,
    notebook: NotebookId,
    upto: Seq,
) -> StoreResult<Option<Checkpoint>> {
    let row = sqlx::query(
        "SELECT seq, state FROM (
           (SELECT seq, state FROM checkpoints WHERE notebook_id = $1 AND seq <= $2
            ORDER BY seq DESC LIMIT 1)
           UNION ALL
           (SELECT seq, state FROM history_snapshots WHERE notebook_id = $1 AND seq <= $2
            ORDER BY seq DESC LIMIT 1)
         ) AS candidates
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(notebook.0)
    .bind(upto)
    .fetch_optional(pool)
    .await?;
    let state = row
        .map(|row| -> Result<Checkpoint, sqlx::Error> {
            Ok(Checkpoint { seq: row.try_get("seq")?, state: row.try_get("state")? })
        })
        .transpose()?;
    Ok(state)
}

fn event_from_row(row: &PgRow) -> Result<HistoryEventRow, sqlx::Error> {
    let user: Option<i64> = row.try_get("user_id")?;
    let updates: i32 = row.try_get("updates")?;
    let added: i32 = row.try_get("added")?;
    let removed: i32 = row.try_get("removed")?;
    Ok(HistoryEventRow {
        notebook_id: NotebookId(row.try_get("notebook_id")?),
        first_seq: row.try_get("first_seq")?,
        part: row.try_get("part")?,
        last_seq: row.try_get("last_seq")?,
        user_id: user.map(UserId),
        kind: row.try_get("kind")?,
        cell_id: row.try_get("cell_id")?,
        first_at: row.try_get("first_at")?,
        last_at: row.try_get("last_at")?,
        updates: updates.into(),
        added: added.into(),
        removed: removed.into(),
        detail: detail_from_sql(row.try_get("detail")?)?,
    })
}

fn span_from_row(row: &PgRow) -> Result<ClockSpan, sqlx::Error> {
    Ok(ClockSpan {
        client_id: client_id_from_sql(row.try_get("client_id")?),
        clock_start: clock_from_sql("clock_start", row.try_get("clock_start")?)?,
        clock_end: clock_from_sql("clock_end", row.try_get("clock_end")?)?,
        seq: row.try_get("seq")?,
    })
}
