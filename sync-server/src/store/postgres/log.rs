//! The update log and checkpoints on PostgreSQL: the hot path of the sync server.

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};

use crate::store::sql_common::{
    CHECKPOINTS_KEPT, assign_seqs, client_bindings, client_id_from_sql, client_id_to_sql, constraint_error,
    seq_counts,
};
use crate::store::{
    Checkpoint, ClientBinding, LoggedUpdate, NewUpdate, NotebookId, Seq, StoreError, StoreResult,
    StoredDocument, Timestamp, UserId,
};

/// Appends `updates` in one statement, so a commit costs one round trip to the server.
///
/// Data-modifying CTEs run as one implicit transaction: `reserved` takes each notebook's
/// sequence numbers on its `notebooks` row (whose lock is held until commit, so a
/// concurrent append to the same notebook from this or another server process continues
/// after our numbers and readers never see a later seq committed before an earlier one),
/// `logged` inserts every row with one `UNNEST`, `bound` binds new client ids. The log has
/// no foreign keys (they cost two thirds of an appended row, checked row by row; migration
/// 0008): a missing notebook (no `reserved` row) or user (`missing_users`) makes the insert
/// call `talkbook_refuse_append`, which fails the whole statement, so nothing is written.
pub(super) async fn append_updates(pool: &PgPool, updates: &[NewUpdate]) -> StoreResult<Vec<Seq>> {
    if updates.is_empty() {
        return Ok(Vec::new());
    }
    let counts = seq_counts(updates);
    // Each update's place among its notebook's updates, from 1: as if each counter stood at 0.
    let ordinals = assign_seqs(updates, &counts, &counts);
    let (count_notebooks, count_values): (Vec<i64>, Vec<i64>) =
        counts.iter().map(|(nb, n)| (nb.0, *n)).unzip();
    let notebooks: Vec<i64> = updates.iter().map(|u| u.notebook_id.0).collect();
    let users: Vec<Option<i64>> = updates.iter().map(|u| u.user_id.map(|id| id.0)).collect();
    let actors: Vec<Option<i64>> = updates.iter().map(|u| u.actor_id.map(|id| id.0)).collect();
    let client_ids: Vec<String> = updates.iter().map(|u| client_ids_literal(&u.client_ids)).collect();
    let times: Vec<Timestamp> = updates.iter().map(|u| u.at).collect();
    let data: Vec<&[u8]> = updates.iter().map(|u| u.data.as_slice()).collect();
    let bindings = client_bindings(updates);
    let bind_notebooks: Vec<i64> = bindings.iter().map(|(nb, _, _)| nb.0).collect();
    let bind_clients: Vec<i64> = bindings.iter().map(|(_, id, _)| client_id_to_sql(*id)).collect();
    let bind_users: Vec<Option<i64>> = bindings.iter().map(|(_, _, user)| user.map(|u| u.0)).collect();
    let reserved: Vec<(i64, Seq)> = sqlx::query_as(
        "WITH counts AS (
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[]) AS c(notebook_id, n)
         ), reserved AS (
             UPDATE notebooks SET last_seq = notebooks.last_seq + counts.n
             FROM counts WHERE notebooks.id = counts.notebook_id
             RETURNING notebooks.id, notebooks.last_seq
         ), missing_users AS (
             SELECT count(*) AS n
             FROM (SELECT DISTINCT w.id FROM UNNEST($5::bigint[] || $9::bigint[]) AS w(id)
                   WHERE w.id IS NOT NULL) AS wanted
             WHERE NOT EXISTS (SELECT FROM users WHERE users.id = wanted.id)
         ), logged AS (
             INSERT INTO notebook_updates (notebook_id, seq, user_id, client_ids, at, data, actor_id)
             SELECT COALESCE(r.id, talkbook_refuse_append('notebook')),
                    CASE WHEN m.n = 0 THEN r.last_seq - c.n + u.ordinal
                         ELSE talkbook_refuse_append('user') END,
                    u.user_id, u.client_ids::bigint[], u.at, u.data, u.actor_id
             FROM UNNEST($3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::timestamptz[],
                         $8::bytea[], $9::bigint[])
                    AS u(notebook_id, ordinal, user_id, client_ids, at, data, actor_id)
             JOIN counts c ON c.notebook_id = u.notebook_id
             LEFT JOIN reserved r ON r.id = u.notebook_id
             CROSS JOIN missing_users m
         ), bound AS (
             INSERT INTO notebook_clients (notebook_id, client_id, user_id)
             SELECT * FROM UNNEST($10::bigint[], $11::bigint[], $12::bigint[])
             ON CONFLICT (notebook_id, client_id) DO NOTHING
         )
         SELECT id, last_seq FROM reserved",
    )
    .bind(&count_notebooks)
    .bind(&count_values)
    .bind(&notebooks)
    .bind(&ordinals)
    .bind(&users)
    .bind(&client_ids)
    .bind(&times)
    .bind(&data)
    .bind(&actors)
    .bind(&bind_notebooks)
    .bind(&bind_clients)
    .bind(&bind_users)
    .fetch_all(pool)
    .await
    .map_err(append_error)?;
    let last: BTreeMap<NotebookId, Seq> =
        reserved.into_iter().map(|(nb, seq)| (NotebookId(nb), seq)).collect();
    Ok(assign_seqs(updates, &counts, &last))
}

/// A missing notebook (its foreign key) reads as such; any other missing row is a user.
fn append_error(err: sqlx::Error) -> StoreError {
    let notebook_missing = matches!(&err, sqlx::Error::Database(db)
        if db.constraint().is_some_and(|c| c.ends_with("_notebook_id_fkey")));
    if notebook_missing {
        return StoreError::NotFound("notebook of an update".to_owned());
    }
    constraint_error(err, || "update with this sequence number".to_owned(), || "user of an update".to_owned())
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

/// Reads the newest checkpoint and only the log after it, so loading time does not grow
/// with the length of the history (SPEC §7).
pub(super) async fn load_document(pool: &PgPool, notebook: NotebookId) -> StoreResult<StoredDocument> {
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
    pool: &PgPool,
    notebook: NotebookId,
) -> StoreResult<Option<Checkpoint>> {
    let checkpoint =
        sqlx::query("SELECT seq, state FROM checkpoints WHERE notebook_id = $1 ORDER BY seq DESC LIMIT 1")
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
