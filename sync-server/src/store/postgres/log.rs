//! The update log and checkpoints on PostgreSQL: the hot path of the sync server.

use std::collections::BTreeMap;

use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Postgres, Row, Transaction};

use crate::store::sql_common::{
    CHECKPOINTS_KEPT, assign_seqs, client_bindings, client_id_from_sql, client_id_to_sql, constraint_error,
    seq_counts,
};
use crate::store::{
    Checkpoint, ClientBinding, LoggedUpdate, NewUpdate, NotebookId, Seq, StoreError, StoreResult,
    StoredDocument, Timestamp, UserId,
};

/// Appends `updates` (non-empty) in one transaction: reserves each notebook's sequence
/// numbers on its `notebooks` row, then inserts every row with one `UNNEST` statement.
///
/// The reservation's row lock is held until commit, so a concurrent append to the same
/// notebook (from this or another server process) waits and continues after our numbers:
/// readers never see a later seq committed before an earlier one.
pub(super) async fn append_updates(pool: &PgPool, updates: &[NewUpdate]) -> StoreResult<Vec<Seq>> {
    let mut tx = pool.begin().await?;
    let counts = seq_counts(updates);
    let mut last = BTreeMap::new();
    for (&notebook, &count) in &counts {
        match reserve_seqs(&mut tx, notebook, count).await? {
            Some(reserved) => last.insert(notebook, reserved),
            None => {
                tx.rollback().await?;
                return Err(StoreError::NotFound(format!("notebook {notebook}")));
            }
        };
    }
    let seqs = assign_seqs(updates, &counts, &last);
    insert_rows(&mut tx, updates, &seqs).await?;
    bind_clients(&mut tx, updates).await?;
    tx.commit().await?;
    Ok(seqs)
}

/// Binds the client ids of the batch that are not bound yet (SPEC §6), in one statement.
async fn bind_clients(tx: &mut Transaction<'static, Postgres>, updates: &[NewUpdate]) -> StoreResult<()> {
    let bindings = client_bindings(updates);
    if bindings.is_empty() {
        return Ok(());
    }
    let notebooks: Vec<i64> = bindings.iter().map(|(nb, _, _)| nb.0).collect();
    let clients: Vec<i64> = bindings.iter().map(|(_, id, _)| client_id_to_sql(*id)).collect();
    let users: Vec<Option<i64>> = bindings.iter().map(|(_, _, user)| user.map(|u| u.0)).collect();
    sqlx::query(
        "INSERT INTO notebook_clients (notebook_id, client_id, user_id)
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[])
         ON CONFLICT (notebook_id, client_id) DO NOTHING",
    )
    .bind(&notebooks)
    .bind(&clients)
    .bind(&users)
    .execute(&mut **tx)
    .await
    .map_err(|e| constraint_error(e, || "client binding".to_owned(), || "user of an update".to_owned()))?;
    Ok(())
}

pub(super) async fn client_bindings_of(
    pool: &PgPool,
    notebook: NotebookId,
) -> StoreResult<Vec<ClientBinding>> {
    let rows = sqlx::query(
        "SELECT client_id, user_id FROM notebook_clients WHERE notebook_id = $1 ORDER BY client_id",
    )
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

/// Takes `count` numbers from the notebook's counter; `None` if there is no such notebook.
async fn reserve_seqs(
    tx: &mut Transaction<'static, Postgres>,
    notebook: NotebookId,
    count: i64,
) -> Result<Option<Seq>, sqlx::Error> {
    sqlx::query_scalar("UPDATE notebooks SET last_seq = last_seq + $2 WHERE id = $1 RETURNING last_seq")
        .bind(notebook.0)
        .bind(count)
        .fetch_optional(&mut **tx)
        .await
}

/// One statement for the whole batch: the columns travel as arrays and `UNNEST` turns
/// them back into rows. Client ids travel as array literals (`{1,2}`) because PostgreSQL
/// arrays cannot hold arrays of different lengths.
async fn insert_rows(
    tx: &mut Transaction<'static, Postgres>,
    updates: &[NewUpdate],
    seqs: &[Seq],
) -> StoreResult<()> {
    let notebooks: Vec<i64> = updates.iter().map(|u| u.notebook_id.0).collect();
    let users: Vec<Option<i64>> = updates.iter().map(|u| u.user_id.map(|id| id.0)).collect();
    let actors: Vec<Option<i64>> = updates.iter().map(|u| u.actor_id.map(|id| id.0)).collect();
    let client_ids: Vec<String> = updates.iter().map(|u| client_ids_literal(&u.client_ids)).collect();
    let times: Vec<Timestamp> = updates.iter().map(|u| u.at).collect();
    let data: Vec<&[u8]> = updates.iter().map(|u| u.data.as_slice()).collect();
    sqlx::query(
        "INSERT INTO notebook_updates (notebook_id, seq, user_id, client_ids, at, data, actor_id)
         SELECT notebook_id, seq, user_id, client_ids::bigint[], at, data, actor_id
         FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::timestamptz[], $6::bytea[],
                     $7::bigint[])
           AS u(notebook_id, seq, user_id, client_ids, at, data, actor_id)",
    )
    .bind(&notebooks)
    .bind(seqs)
    .bind(&users)
    .bind(&client_ids)
    .bind(&times)
    .bind(&data)
    .bind(&actors)
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        constraint_error(
            e,
            || "update with this sequence number".to_owned(),
            || "user of an update".to_owned(),
        )
    })?;
    Ok(())
}

/// Reads the newest checkpoint and only the log after it, so loading time does not grow
/// with the length of the history (SPEC §7).
pub(super) async fn load_document(pool: &PgPool, notebook: NotebookId) -> StoreResult<StoredDocument> {
    let checkpoint =
        sqlx::query("SELECT seq, state FROM checkpoints WHERE notebook_id = $1 ORDER BY seq DESC LIMIT 1")
            .bind(notebook.0)
            .fetch_optional(pool)
            .await?
            .map(|row| -> Result<Checkpoint, sqlx::Error> {
                Ok(Checkpoint { seq: row.try_get("seq")?, state: row.try_get("state")? })
            })
            .transpose()?;
    let after = checkpoint.as_ref().map_or(0, |c| c.seq);
    let tail = updates_between(pool, notebook, after, None).await?;
    if checkpoint.is_none() && tail.is_empty() {
        // An empty document and a missing notebook look alike so far; tell them apart.
        last_seq(pool, notebook).await?;
    }
    Ok(StoredDocument { checkpoint, tail })
}

pub(super) async fn updates_between(
    pool: &PgPool,
    notebook: NotebookId,
    after: Seq,
    upto: Option<Seq>,
) -> Result<Vec<LoggedUpdate>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT seq, user_id, client_ids, actor_id, at, data FROM notebook_updates
         WHERE notebook_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
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
    pool: &PgPool,
    notebook: NotebookId,
    seq: Seq,
    state: &[u8],
) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO checkpoints (notebook_id, seq, state) VALUES ($1, $2, $3)
         ON CONFLICT (notebook_id, seq) DO UPDATE SET state = excluded.state, created_at = now()",
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
        "DELETE FROM checkpoints WHERE notebook_id = $1 AND seq <
           (SELECT seq FROM checkpoints WHERE notebook_id = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)",
    )
    .bind(notebook.0)
    .bind(CHECKPOINTS_KEPT - 1)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn last_seq(pool: &PgPool, notebook: NotebookId) -> StoreResult<Seq> {
    sqlx::query_scalar("SELECT last_seq FROM notebooks WHERE id = $1")
        .bind(notebook.0)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("notebook {notebook}")))
}

fn update_from_row(row: &PgRow) -> Result<LoggedUpdate, sqlx::Error> {
    let user_id: Option<i64> = row.try_get("user_id")?;
    let client_ids: Vec<i64> = row.try_get("client_ids")?;
    let actor_id: Option<i64> = row.try_get("actor_id")?;
    Ok(LoggedUpdate {
        seq: row.try_get("seq")?,
        user_id: user_id.map(UserId),
        client_ids: client_ids.into_iter().map(client_id_from_sql).collect(),
        actor_id: actor_id.map(UserId),
        at: row.try_get("at")?,
        data: row.try_get("data")?,
    })
}

/// A PostgreSQL array literal of the ids as `bigint`s, e.g. `{1,-2}`.
fn client_ids_literal(ids: &[u64]) -> String {
    let items: Vec<String> = ids.iter().map(|&id| client_id_to_sql(id).to_string()).collect();
    format!("{{{}}}", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_travel_as_bigint_array_literals() {
        assert_eq!(client_ids_literal(&[1, u64::MAX]), "{1,-1}");
        assert_eq!(client_ids_literal(&[]), "{}");
    }
}
