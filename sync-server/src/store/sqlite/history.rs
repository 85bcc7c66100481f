//! The history index on SQLite: what the history indexer writes (events, clock spans,
//! snapshots, its progress) and what the history API reads back, plus the log's metadata.

use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Row, Sqlite, Transaction};

use super::{time_column, to_millis};
use crate::store::sql_common::{
    batch_events, client_id_from_sql, client_id_to_sql, clock_from_sql, constraint_error, detail_from_sql,
    detail_to_sql, events_cursor,
};
use crate::store::{
    Checkpoint, ClockSpan, HistoryBatch, HistoryEventRow, HistoryFilter, NotebookId, Seq, StoreResult,
    Timestamp, UpdateMeta, UserId,
};

/// The columns [`event_from_row`] reads.
macro_rules! event_columns {
    () => {
        "notebook_id, first_seq, part, last_seq, user_id, kind, cell_id, first_at, last_at, updates,
         added, removed, detail"
    };
}

/// The event listing with the filters given: notebook, the cursor, the time window, then
/// the cell and/or user, then the limit; in `$order`.
macro_rules! events_where {
    ($filters:literal, $order:literal) => {
        concat!(
            "SELECT ",
            event_columns!(),
            " FROM history_events
             WHERE notebook_id = ? AND (first_seq, part) > (?, ?) AND last_at >= ? AND first_at <= ?",
            $filters,
            " ORDER BY first_seq ",
            $order,
            ", part ",
            $order,
            " LIMIT ?"
        )
    };
}

pub(super) async fn history_progress(pool: &SqlitePool, notebook: NotebookId) -> StoreResult<Seq> {
    let seq: Option<Seq> =
        sqlx::query_scalar("SELECT indexed_seq FROM history_progress WHERE notebook_id = ?")
            .bind(notebook.0)
            .fetch_optional(pool)
            .await?;
    Ok(seq.unwrap_or(0))
}

/// Runs in the write transaction `tx` (`BEGIN IMMEDIATE`), which holds the database's one
/// write lock from the progress check to the commit: no other indexer can write between.
///
/// One statement per row, as in `log::append_updates`: in-process, a prepared statement
/// costs microseconds and keeps far below SQLite's limit on bound parameters, which one
/// multi-row `VALUES` for thousands of rows would break.
pub(super) async fn write_history(
    mut tx: Transaction<'static, Sqlite>,
    batch: &HistoryBatch,
) -> StoreResult<bool> {
    let events = batch_events(batch)?;
    let notebook = batch.notebook_id;
    let progress: Option<Seq> =
        sqlx::query_scalar("SELECT indexed_seq FROM history_progress WHERE notebook_id = ?")
            .bind(notebook.0)
            .fetch_optional(&mut *tx)
            .await?;
    if progress.unwrap_or(0) != batch.after {
        tx.rollback().await?;
        return Ok(false);
    }
    for event in events {
        sqlx::query(
            "INSERT INTO history_events (notebook_id, first_seq, part, last_seq, user_id, kind, cell_id,
                                         first_at, last_at, updates, added, removed, detail)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (notebook_id, first_seq, part) DO UPDATE SET
               last_seq = excluded.last_seq, user_id = excluded.user_id, kind = excluded.kind,
               cell_id = excluded.cell_id, first_at = excluded.first_at, last_at = excluded.last_at,
               updates = excluded.updates, added = excluded.added, removed = excluded.removed,
               detail = excluded.detail",
        )
        .bind(notebook.0)
        .bind(event.first_seq)
        .bind(event.part)
        .bind(event.last_seq)
        .bind(event.user_id.map(|u| u.0))
        .bind(&event.kind)
        .bind(event.cell_id.as_deref())
        .bind(to_millis(event.first_at))
        .bind(to_millis(event.last_at))
        .bind(event.updates)
        .bind(event.added)
        .bind(event.removed)
        .bind(detail_to_sql(&event.detail))
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            constraint_error(e, || "history event".to_owned(), || "user of a history event".to_owned())
        })?;
    }
    let spans = batch.inserted.iter().map(|s| (false, s)).chain(batch.deleted.iter().map(|s| (true, s)));
    for (deleted, span) in spans {
        sqlx::query(
            "INSERT INTO history_spans (notebook_id, deleted, client_id, clock_start, clock_end, seq)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (notebook_id, deleted, client_id, clock_start, seq) DO NOTHING",
        )
        .bind(notebook.0)
        .bind(deleted)
        .bind(client_id_to_sql(span.client_id))
        .bind(i64::from(span.clock_start))
        .bind(i64::from(span.clock_end))
        .bind(span.seq)
        .execute(&mut *tx)
        .await
        .map_err(|e| constraint_error(e, || "clock span".to_owned(), || format!("notebook {notebook}")))?;
    }
    if let Some((seq, state)) = &batch.snapshot {
        sqlx::query(
            "INSERT INTO history_snapshots (notebook_id, seq, state) VALUES (?, ?, ?)
             ON CONFLICT (notebook_id, seq) DO NOTHING",
        )
        .bind(notebook.0)
        .bind(seq)
        .bind(state)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            constraint_error(e, || "history snapshot".to_owned(), || format!("notebook {notebook}"))
        })?;
    }
    sqlx::query(
        "INSERT INTO history_progress (notebook_id, indexed_seq) VALUES (?, ?)
         ON CONFLICT (notebook_id) DO UPDATE SET indexed_seq = excluded.indexed_seq",
    )
    .bind(notebook.0)
    .bind(batch.upto)
    .execute(&mut *tx)
    .await
    .map_err(|e| constraint_error(e, || "history progress".to_owned(), || format!("notebook {notebook}")))?;
    tx.commit().await?;
    Ok(true)
}

/// Each combination of cell and user filters, in each order, has its own statement, so
/// that SQLite plans each with the index that fits. An open end of the time window is the
/// widest number.
pub(super) async fn history_events(
    pool: &SqlitePool,
    notebook: NotebookId,
    filter: &HistoryFilter,
) -> StoreResult<Vec<HistoryEventRow>> {
    let sql = match (filter.cell_id.as_deref(), filter.user_id, filter.newest_first) {
        (None, None, false) => events_where!("", "ASC"),
        (Some(_), None, false) => events_where!(" AND cell_id = ?", "ASC"),
        (None, Some(_), false) => events_where!(" AND user_id = ?", "ASC"),
        (Some(_), Some(_), false) => events_where!(" AND cell_id = ? AND user_id = ?", "ASC"),
        (None, None, true) => events_where!("", "DESC"),
        (Some(_), None, true) => events_where!(" AND cell_id = ?", "DESC"),
        (None, Some(_), true) => events_where!(" AND user_id = ?", "DESC"),
        (Some(_), Some(_), true) => events_where!(" AND cell_id = ? AND user_id = ?", "DESC"),
    };
    let (after_seq, after_part) = events_cursor(filter);
    let mut query = sqlx::query(sql)
        .bind(notebook.0)
        .bind(after_seq)
        .bind(after_part)
        .bind(filter.from.map_or(i64::MIN, to_millis))
        .bind(filter.to.map_or(i64::MAX, to_millis));
    if let Some(cell) = filter.cell_id.as_deref() {
        query = query.bind(cell);
    }
    if let Some(user) = filter.user_id {
        query = query.bind(user.0);
    }
    // SQLite would read a negative limit as "no limit"; zero lists none, as on PostgreSQL.
    let rows = query.bind(filter.limit.max(0)).fetch_all(pool).await?;
    Ok(rows.iter().map(event_from_row).collect::<Result<_, _>>()?)
}

/// Reads the notebook's events through its primary key and filters on `last_at`, which no
/// index covers: fine while the indexer asks for the few open groups of a notebook with a
/// modest history; a notebook with very many events would want `(notebook_id, last_at)`.
pub(super) async fn history_events_since(
    pool: &SqlitePool,
    notebook: NotebookId,
    since: Timestamp,
) -> StoreResult<Vec<HistoryEventRow>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        event_columns!(),
        " FROM history_events WHERE notebook_id = ? AND last_at >= ? ORDER BY first_seq, part"
    ))
    .bind(notebook.0)
    .bind(to_millis(since))
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(event_from_row).collect::<Result<_, _>>()?)
}

/// As on PostgreSQL (see `postgres::history::clock_spans`): inserted spans of one client
/// never overlap, so the scan starts at the last one starting at or before `from`;
/// deleted spans may, so that scan reads every deleted span of the client starting
/// before `to`.
pub(super) async fn clock_spans(
    pool: &SqlitePool,
    notebook: NotebookId,
    deleted: bool,
    client: u64,
    from: u32,
    to: u32,
) -> StoreResult<Vec<ClockSpan>> {
    let sql = if deleted {
        "SELECT client_id, clock_start, clock_end, seq FROM history_spans
         WHERE notebook_id = ?1 AND deleted = 1 AND client_id = ?2
           AND clock_start < ?4 AND clock_end > ?3
         ORDER BY clock_start, seq"
    } else {
        "SELECT client_id, clock_start, clock_end, seq FROM history_spans
         WHERE notebook_id = ?1 AND deleted = 0 AND client_id = ?2
           AND clock_start >= COALESCE(
                 (SELECT clock_start FROM history_spans
                  WHERE notebook_id = ?1 AND deleted = 0 AND client_id = ?2 AND clock_start <= ?3
                  ORDER BY clock_start DESC LIMIT 1),
                 ?3)
           AND clock_start < ?4 AND clock_end > ?3
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

/// The numbers travel as one JSON array, whatever their count (no limit on bound
/// parameters), and are looked up one by one in the log's primary key; `data` is not read.
pub(super) async fn update_meta(
    pool: &SqlitePool,
    notebook: NotebookId,
    seqs: &[Seq],
) -> StoreResult<Vec<UpdateMeta>> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let json = serde_json::to_string(seqs).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let rows = sqlx::query(
        "SELECT seq, user_id, actor_id, at FROM notebook_updates
         WHERE notebook_id = ? AND seq IN (SELECT value FROM json_each(?)) ORDER BY seq",
    )
    .bind(notebook.0)
    .bind(json)
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
                at: time_column(row, "at")?,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(meta)
}

/// Every span the updates `from..=to` wrote, through `history_spans_seq`.
pub(super) async fn spans_between(
    pool: &SqlitePool,
    notebook: NotebookId,
    from: Seq,
    to: Seq,
) -> StoreResult<Vec<(bool, ClockSpan)>> {
    let rows = sqlx::query(
        "SELECT deleted, client_id, clock_start, clock_end, seq FROM history_spans
         WHERE notebook_id = ? AND seq >= ? AND seq <= ?",
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
    // Sorted here, not in SQL, so that client ids order as `u64`, as on PostgreSQL.
    spans.sort_by_key(|(deleted, s)| (s.seq, *deleted, s.client_id, s.clock_start));
    Ok(spans)
}

/// A second undo of the same event changes nothing, whoever asks.
pub(super) async fn mark_undone(
    pool: &SqlitePool,
    notebook: NotebookId,
    first_seq: Seq,
    part: i32,
    user: UserId,
    at: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO history_undone (notebook_id, first_seq, part, user_id, undone_at)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (notebook_id, first_seq, part) DO NOTHING",
    )
    .bind(notebook.0)
    .bind(first_seq)
    .bind(part)
    .bind(user.0)
    .bind(to_millis(at))
    .execute(pool)
    .await
    .map_err(|e| {
        constraint_error(e, || "undone event".to_owned(), || format!("notebook {notebook} or user {user}"))
    })?;
    Ok(())
}

/// By `(first_seq, part)`: the order of the events themselves.
pub(super) async fn undone_events(
    pool: &SqlitePool,
    notebook: NotebookId,
    user: UserId,
) -> StoreResult<Vec<(Seq, i32)>> {
    let rows = sqlx::query_as(
        "SELECT first_seq, part FROM history_undone WHERE notebook_id = ? AND user_id = ?
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
pub(super) async fn seq_at(pool: &SqlitePool, notebook: NotebookId, at: Timestamp) -> StoreResult<Seq> {
    let seq: Option<Seq> = sqlx::query_scalar(
        "SELECT seq FROM notebook_updates WHERE notebook_id = ? AND at <= ? ORDER BY seq DESC LIMIT 1",
    )
    .bind(notebook.0)
    .bind(to_millis(at))
    .fetch_optional(pool)
    .await?;
    Ok(seq.unwrap_or(0))
}

/// The newer of the newest checkpoint and the newest snapshot at or before `upto`: one
/// index probe each, and only the winner's state leaves the database.
pub(super) async fn nearest_state(
    pool: &SqlitePool,
    notebook: NotebookId,
    upto: Seq,
) -> StoreResult<Option<Checkpoint>> {
    let row = sqlx::query(
        "SELECT seq, state FROM (
           SELECT * FROM (SELECT seq, state FROM checkpoints WHERE notebook_id = ?1 AND seq <= ?2
                          ORDER BY seq DESC LIMIT 1)
           UNION ALL
           SELECT * FROM (SELECT seq, state FROM history_snapshots WHERE notebook_id = ?1 AND seq <= ?2
                          ORDER BY seq DESC LIMIT 1)
         )
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

fn event_from_row(row: &SqliteRow) -> Result<HistoryEventRow, sqlx::Error> {
    let user: Option<i64> = row.try_get("user_id")?;
    Ok(HistoryEventRow {
        notebook_id: NotebookId(row.try_get("notebook_id")?),
        first_seq: row.try_get("first_seq")?,
        part: row.try_get("part")?,
        last_seq: row.try_get("last_seq")?,
        user_id: user.map(UserId),
        kind: row.try_get("kind")?,
        cell_id: row.try_get("cell_id")?,
        first_at: time_column(row, "first_at")?,
        last_at: time_column(row, "last_at")?,
        updates: row.try_get("updates")?,
        added: row.try_get("added")?,
        removed: row.try_get("removed")?,
        detail: detail_from_sql(row.try_get("detail")?)?,
    })
}

fn span_from_row(row: &SqliteRow) -> Result<ClockSpan, sqlx::Error> {
    Ok(ClockSpan {
        client_id: client_id_from_sql(row.try_get("client_id")?),
        clock_start: clock_from_sql("clock_start", row.try_get("clock_start")?)?,
        clock_end: clock_from_sql("clock_end", row.try_get("clock_end")?)?,
        seq: row.try_get("seq")?,
    })
}
