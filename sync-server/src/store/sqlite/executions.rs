//! Execution records (one per run of a cell) on SQLite.
//!
//! A record moves only forward (queued → running → ok | error | aborted): every update is
//! conditional on the current status, so a late or repeated report (a kernel reply after
//! a cancel, a second abort) cannot undo a final one. An update that must explain why it
//! changed nothing reads in its own write transaction, as in `projects`.

use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Row, Sqlite, SqliteConnection, Transaction};

use super::{opt_time_column, time_column, to_millis};
use crate::store::sql_common::{constraint_error, final_status, parse_column};
use crate::store::{
    ExecutionFilter, ExecutionId, ExecutionRecord, ExecutionStatus, NewExecution, NotebookId, StoreError,
    StoreResult, Timestamp, UserId,
};

/// The columns [`execution_from_row`] reads, for `SELECT` and `RETURNING`.
macro_rules! execution_columns {
    () => {
        "id, notebook_id, cell_id, user_id, kernel_id, kernelspec, source, status, execution_count,
         queued_at, started_at, ended_at, error"
    };
}

/// The listing statement with the filters given; parameters in order: notebook, upper
/// bound of ids, the user and/or cell, the limit.
macro_rules! executions_where {
    ($filters:literal) => {
        concat!(
            "SELECT ",
            execution_columns!(),
            " FROM executions WHERE notebook_id = ? AND id < ?",
            $filters,
            " ORDER BY id DESC LIMIT ?"
        )
    };
}

pub(super) async fn create_execution(pool: &SqlitePool, new: &NewExecution) -> StoreResult<ExecutionRecord> {
    let row = sqlx::query(concat!(
        "INSERT INTO executions (notebook_id, cell_id, user_id, kernel_id, kernelspec, source, status, queued_at)
         VALUES (?, ?, ?, ?, ?, ?, 'queued', ?)
         RETURNING ",
        execution_columns!()
    ))
    .bind(new.notebook_id.0)
    .bind(&new.cell_id)
    .bind(new.user_id.0)
    .bind(&new.kernel_id)
    .bind(&new.kernelspec)
    .bind(&new.source)
    .bind(to_millis(new.queued_at))
    .fetch_one(pool)
    .await
    .map_err(|e| {
        constraint_error(
            e,
            || "execution".to_owned(),
            || format!("notebook {} or user {}", new.notebook_id, new.user_id),
        )
    })?;
    Ok(execution_from_row(&row)?)
}

pub(super) async fn execution_started(
    mut tx: Transaction<'static, Sqlite>,
    id: ExecutionId,
    at: Timestamp,
) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE executions SET status = 'running', started_at = ? WHERE id = ? AND status = 'queued'",
    )
    .bind(to_millis(at))
    .bind(id.0)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        exists(&mut tx, id).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn execution_finished(
    mut tx: Transaction<'static, Sqlite>,
    id: ExecutionId,
    status: ExecutionStatus,
    execution_count: Option<i64>,
    error: Option<&str>,
    at: Timestamp,
) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE executions SET status = ?, execution_count = ?, error = ?, ended_at = ?
         WHERE id = ? AND status IN ('queued', 'running')",
    )
    .bind(final_status(status)?)
    .bind(execution_count)
    .bind(error)
    .bind(to_millis(at))
    .bind(id.0)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        exists(&mut tx, id).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Why a conditional update changed nothing: `NotFound` for an unknown id, `Ok` for a
/// record whose status the update does not apply to.
async fn exists(conn: &mut SqliteConnection, id: ExecutionId) -> StoreResult<()> {
    sqlx::query("SELECT 1 FROM executions WHERE id = ?")
        .bind(id.0)
        .fetch_optional(conn)
        .await?
        .map(|_| ())
        .ok_or_else(|| StoreError::NotFound(format!("execution {id}")))
}

pub(super) async fn execution(pool: &SqlitePool, id: ExecutionId) -> StoreResult<Option<ExecutionRecord>> {
    let row = sqlx::query(concat!("SELECT ", execution_columns!(), " FROM executions WHERE id = ?"))
        .bind(id.0)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| execution_from_row(&r)).transpose()?)
}

/// Newest first. Each combination of filters has its own statement, so that SQLite plans
/// each with the index that fits instead of one plan for all.
pub(super) async fn executions(
    pool: &SqlitePool,
    notebook: NotebookId,
    filter: &ExecutionFilter,
) -> StoreResult<Vec<ExecutionRecord>> {
    let sql = match (filter.user, filter.cell.as_deref()) {
        (None, None) => executions_where!(""),
        (Some(_), None) => executions_where!(" AND user_id = ?"),
        (None, Some(_)) => executions_where!(" AND cell_id = ?"),
        (Some(_), Some(_)) => executions_where!(" AND user_id = ? AND cell_id = ?"),
    };
    let mut query = sqlx::query(sql).bind(notebook.0).bind(filter.before.map_or(i64::MAX, |id| id.0));
    if let Some(user) = filter.user {
        query = query.bind(user.0);
    }
    if let Some(cell) = filter.cell.as_deref() {
        query = query.bind(cell);
    }
    // SQLite would read a negative limit as "no limit"; zero lists none, as on PostgreSQL.
    let rows = query.bind(filter.limit.max(0)).fetch_all(pool).await?;
    Ok(rows.iter().map(execution_from_row).collect::<Result<_, _>>()?)
}

pub(super) async fn abort_unfinished_executions(
    pool: &SqlitePool,
    reason: &str,
    at: Timestamp,
) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE executions SET status = 'aborted', error = ?, ended_at = ?
         WHERE status IN ('queued', 'running')",
    )
    .bind(reason)
    .bind(to_millis(at))
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

fn execution_from_row(row: &SqliteRow) -> Result<ExecutionRecord, sqlx::Error> {
    Ok(ExecutionRecord {
        id: ExecutionId(row.try_get("id")?),
        notebook_id: NotebookId(row.try_get("notebook_id")?),
        cell_id: row.try_get("cell_id")?,
        user_id: UserId(row.try_get("user_id")?),
        kernel_id: row.try_get("kernel_id")?,
        kernelspec: row.try_get("kernelspec")?,
        source: row.try_get("source")?,
        status: parse_column("status", row.try_get("status")?, ExecutionStatus::parse)?,
        execution_count: row.try_get("execution_count")?,
        queued_at: time_column(row, "queued_at")?,
        started_at: opt_time_column(row, "started_at")?,
        ended_at: opt_time_column(row, "ended_at")?,
        error: row.try_get("error")?,
    })
}
