//! The update log and checkpoints on SQLite: the hot path of the sync server.

use std::collections::BTreeMap;

use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use super::{time_column, to_millis};
use crate::store::sql_common::{
    CHECKPOINTS_KEPT, assign_seqs, client_bindings, client_id_from_sql, client_id_to_sql, constraint_error,
    seq_counts,
};
use crate::store::{
    Checkpoint, ClientBinding, LoggedUpdate, NewUpdate, NotebookId, Seq, StoreError, StoreResult,
    StoredDocument, UserId,
};

/// Appends `updates` (non-empty) in the write transaction `tx`: reserves each notebook's
/// sequence numbers on its `notebooks` row, then inserts the rows.
///
/// Rows go in multi-row `INSERT`s: each statement is a round trip to sqlx's SQLite thread
/// (a context switch each way), which one statement per row made the bulk of a busy
/// room's commit. Chunks have power-of-two sizes up to [`MAX_ROWS_PER_INSERT`], so a few
/// prepared statements serve every batch size. The one `COMMIT` (one fsync) is what group
/// commit saves.
pub(super) async fn append_updates(
    mut tx: Transaction<'static, Sqlite>,
    updates: &[NewUpdate],
) -> StoreResult<Vec<Seq>> {
    let client_ids =
        updates.iter().map(|u| encode_client_ids(&u.client_ids)).collect::<Result<Vec<_>, _>>()?;
    let counts = seq_counts(updates);
    let mut last = BTreeMap::new();
    for (&notebook, &count) in &counts {
        let reserved: Option<Seq> = sqlx::query_scalar(
            "UPDATE notebooks SET last_seq = last_seq + ? WHERE id = ? RETURNING last_seq",
        )
        .bind(count)
        .bind(notebook.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(reserved) = reserved else {
            tx.rollback().await?;
            return Err(StoreError::NotFound(format!("notebook {notebook}")));
        };
        last.insert(notebook, reserved);
    }
    let seqs = assign_seqs(updates, &counts, &last);
    let rows: Vec<(&NewUpdate, Seq, &String)> = updates
        .iter()
        .zip(seqs.iter().copied())
        .zip(&client_ids)
        .map(|((u, seq), ids)| (u, seq, ids))
        .collect();
    for chunk in power_of_two_chunks(&rows) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO notebook_updates (notebook_id, seq, user_id, client_ids, at, data, actor_id) ",
        );
        insert.push_values(chunk, |mut row, (update, seq, client_ids)| {
            row.push_bind(update.notebook_id.0)
                .push_bind(*seq)
                .push_bind(update.user_id.map(|u| u.0))
                .push_bind(client_ids.as_str())
                .push_bind(to_millis(update.at))
                .push_bind(update.data.as_slice())
                .push_bind(update.actor_id.map(|u| u.0));
        });
        insert.build().persistent(true).execute(&mut *tx).await.map_err(|e| {
            let (first, last) = (&chunk[0], &chunk[chunk.len() - 1]);
            let missing = || {
                let mut users: Vec<String> = chunk
                    .iter()
                    .flat_map(|(u, ..)| [u.user_id, u.actor_id])
                    .flatten()
                    .map(|u| u.to_string())
                    .collect();
                users.sort();
                users.dedup();
                format!("one of users {}", users.join(", "))
            };
            constraint_error(
                e,
                || format!("updates {} to {} of notebook {}", first.1, last.1, first.0.notebook_id),
                missing,
            )
        })?;
    }
    for (notebook, client_id, user) in client_bindings(updates) {
        sqlx::query(
            "INSERT INTO notebook_clients (notebook_id, client_id, user_id) VALUES (?, ?, ?)
             ON CONFLICT (notebook_id, client_id) DO NOTHING",
        )
        .bind(notebook.0)
        .bind(client_id_to_sql(client_id))
        .bind(user.map(|u| u.0))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(seqs)
}

/// Most rows in one `INSERT` (7 parameters each, far below SQLite's limit).
const MAX_ROWS_PER_INSERT: usize = 128;

/// Splits `rows` into chunks of [`MAX_ROWS_PER_INSERT`] and then of falling powers of two,
/// so that the chunk sizes (and so the statements) are few.
fn power_of_two_chunks<T>(rows: &[T]) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let mut rest = rows;
    let mut size = MAX_ROWS_PER_INSERT;
    while !rest.is_empty() {
        while size > rest.len() {
            size /= 2;
        }
        let (chunk, tail) = rest.split_at(size);
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

pub(super) async fn client_bindings_of(
    pool: &SqlitePool,
    notebook: NotebookId,
) -> StoreResult<Vec<ClientBinding>> {
    let rows = sqlx::query("SELECT client_id, user_id FROM notebook_clients WHERE notebook_id = ?")
        .bind(notebook.0)
        .fetch_all(pool)
        .await?;
    let mut bindings = rows
        .iter()
        .map(|row| -> Result<ClientBinding, sqlx::Error> {
            let user: Option<i64> = row.try_get("user_id")?;
            Ok(ClientBinding {
                client_id: client_id_from_sql(row.try_get("client_id")?),
                user_id: user.map(UserId),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Ordered as `u64`, not as the stored signed values.
    bindings.sort_by_key(|b| b.client_id);
    Ok(bindings)
}

/// Reads the newest checkpoint and only the log after it, so loading time does not grow
/// with the length of the history (SPEC §7).
pub(super) async fn load_document(pool: &SqlitePool, notebook: NotebookId) -> StoreResult<StoredDocument> {
    let checkpoint = latest_checkpoint(pool, notebook).await?;
    let after = checkpoint.as_ref().map_or(0, |c| c.seq);
    let tail = updates_between(pool, notebook, after, None).await?;
    if checkpoint.is_none() && tail.is_empty() {
        // An empty document and a missing notebook look alike so far; tell them apart.
        last_seq(pool, notebook).await?;
    }
    Ok(StoredDocument { checkpoint, tail })
}

/// The notebook's newest checkpoint, if it has one.
pub(super) async fn latest_checkpoint(
    pool: &SqlitePool,
    notebook: NotebookId,
) -> StoreResult<Option<Checkpoint>> {
    let checkpoint =
        sqlx::query("SELECT seq, state FROM checkpoints WHERE notebook_id = ? ORDER BY seq DESC LIMIT 1")
            .bind(notebook.0)
            .fetch_optional(pool)
            .await?
            .map(|row| -> Result<Checkpoint, sqlx::Error> {
                Ok(Checkpoint { seq: row.try_get("seq")?, state: row.try_get("state")? })
            })
            .transpose()?;
    Ok(checkpoint)
}

pub(super) async fn updates_between(
    pool: &SqlitePool,
    notebook: NotebookId,
    after: Seq,
    upto: Option<Seq>,
) -> Result<Vec<LoggedUpdate>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT seq, user_id, client_ids, actor_id, at, data FROM notebook_updates
         WHERE notebook_id = ? AND seq > ? AND seq <= ? ORDER BY seq",
    )
    .bind(notebook.0)
    .bind(after)
    .bind(upto.unwrap_or(Seq::MAX))
    .fetch_all(pool)
    .await?;
    rows.iter().map(update_from_row).collect()
}

/// Upserts the checkpoint, then drops all but the newest [`CHECKPOINTS_KEPT`]. The log
/// itself is never touched: it is the history.
pub(super) async fn write_checkpoint(
    mut tx: Transaction<'static, Sqlite>,
    notebook: NotebookId,
    seq: Seq,
    state: &[u8],
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO checkpoints (notebook_id, seq, state) VALUES (?, ?, ?)
         ON CONFLICT (notebook_id, seq) DO UPDATE
         SET state = excluded.state, created_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)",
    )
    .bind(notebook.0)
    .bind(seq)
    .bind(state)
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        constraint_error(
            e,
            || format!("checkpoint {seq} of notebook {notebook}"),
            || format!("notebook {notebook}"),
        )
    })?;
    sqlx::query(
        "DELETE FROM checkpoints WHERE notebook_id = ? AND seq <
           (SELECT seq FROM checkpoints WHERE notebook_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
    )
    .bind(notebook.0)
    .bind(notebook.0)
    .bind(CHECKPOINTS_KEPT - 1)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn last_seq(pool: &SqlitePool, notebook: NotebookId) -> StoreResult<Seq> {
    sqlx::query_scalar("SELECT last_seq FROM notebooks WHERE id = ?")
        .bind(notebook.0)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("notebook {notebook}")))
}

fn update_from_row(row: &SqliteRow) -> Result<LoggedUpdate, sqlx::Error> {
    let user_id: Option<i64> = row.try_get("user_id")?;
    let actor_id: Option<i64> = row.try_get("actor_id")?;
    Ok(LoggedUpdate {
        seq: row.try_get("seq")?,
        user_id: user_id.map(UserId),
        client_ids: decode_client_ids(row.try_get("client_ids")?)?,
        actor_id: actor_id.map(UserId),
        at: time_column(row, "at")?,
        data: row.try_get("data")?,
    })
}

/// Client ids as a JSON array: serde_json writes and reads every `u64` exactly.
fn encode_client_ids(ids: &[u64]) -> Result<String, sqlx::Error> {
    serde_json::to_string(ids).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

fn decode_client_ids(json: &str) -> Result<Vec<u64>, sqlx::Error> {
    serde_json::from_str(json)
        .map_err(|e| sqlx::Error::ColumnDecode { index: "client_ids".to_owned(), source: Box::new(e) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_row_in_order_with_few_sizes() {
        for n in [1, 2, 3, 127, 128, 129, 300, 1000] {
            let rows: Vec<usize> = (0..n).collect();
            let chunks = power_of_two_chunks(&rows);
            assert_eq!(chunks.concat(), rows, "{n} rows");
            assert!(chunks.iter().all(|c| c.len().is_power_of_two() && c.len() <= MAX_ROWS_PER_INSERT));
        }
        let sizes: Vec<usize> = power_of_two_chunks(&[0; 300]).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [128, 128, 32, 8, 4]);
    }
}
