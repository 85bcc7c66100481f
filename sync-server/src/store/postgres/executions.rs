//! Execution records (one per run of a cell) on PostgreSQL.
//!
//! A record moves only forward (queued → running → ok | error | aborted): every update is
//! conditional on the current status, so a late or repeated report (a kernel reply after
//! a cancel, a second abort) cannot undo a final one.

use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};

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

/// The listing statement with the filters given: `$1` notebook, `$2` upper bound of ids,
/// then the user and/or cell, then the limit.
macro_rules! executions_where {
    ($filters:literal, $limit:literal) => {
        concat!(
            "SELECT ",
            execution_columns!(),
            " FROM executions WHERE notebook_id = $1 AND id < $2",
            $filters,
            " ORDER BY id DESC LIMIT ",
            $limit
        )
    };
}

pub(super) async fn create_execution(pool: &PgPool, new: &NewExecution) -> StoreResult<ExecutionRecord> {
    let row = sqlx::query(concat!(
        "INSERT INTO executions (notebook_id, cell_id, user_id, kernel_id, kernelspec, source, status, queued_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7)
         RETURNING ",
        execution_columns!()
    ))
    .bind(new.notebook_id.0)
    .bind(&new.cell_id)
    .bind(new.user_id.0)
    .bind(&new.kernel_id)
    .bind(&new.kernelspec)
    .bind(&new.source)
    .bind(new.queued_at)
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

pub(super) async fn execution_started(pool: &PgPool, id: ExecutionId, at: Timestamp) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE executions SET status = 'running', started_at = $2 WHERE id = $1 AND status = 'queued'",
    )
    .bind(id.0)
    .bind(at)
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        exists(pool, id).await?;
    }
    Ok(())
}

pub(super) async fn execution_finished(
    pool: &PgPool,
    id: ExecutionId,
    status: ExecutionStatus,
    execution_count: Option<i64>,
    error: Option<&str>,
    at: Timestamp,
) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE executions SET status = $2, execution_count = $3, error = $4, ended_at = $5
         WHERE id = $1 AND status IN ('queued', 'running')",
    )
    .bind(id.0)
    .bind(final_status(status)?)
    .bind(execution_count)
    .bind(error)
    .bind(at)
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        exists(pool, id).await?;
    }
    Ok(())
}

/// Why a conditional update changed nothing: `NotFound` for an unknown id, `Ok` for a
/// record whose status the update does not apply to.
async fn exists(pool: &PgPool, id: ExecutionId) -> StoreResult<()> {
    sqlx::query("SELECT 1 FROM executions WHERE id = $1")
        .bind(id.0)
        .fetch_optional(pool)
        .await?
        .map(|_| ())
        .ok_or_else(|| StoreError::NotFound(format!("execution {id}")))
}

pub(super) async fn execution(pool: &PgPool, id: ExecutionId) -> StoreResult<Option<ExecutionRecord>> {
    let row = sqlx::query(concat!("SELECT ", execution_columns!(), " FROM executions WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| execution_from_row(&r)).transpose()?)
}

/// Newest first. Each combination of filters has its own statement rather than one with
/// `$n IS NULL OR …` conditions, which would keep a generic plan from using the index
/// that fits.
pub(super) async fn executions(
    pool: &PgPool,
    notebook: NotebookId,
    filter: &ExecutionFilter,
) -> StoreResult<Vec<ExecutionRecord>> {
    let sql = match (filter.user, filter.cell.as_deref()) {
        (None, None) => executions_where!("", "$3"),
        (Some(_), None) => executions_where!(" AND user_id = $3", "$4"),
        (None, Some(_)) => executions_where!(" AND cell_id = $3", "$4"),
        (Some(_), Some(_)) => executions_where!(" AND user_id = $3 AND cell_id = $4", "$5"),
    };
    let mut query = sqlx::query(sql).bind(notebook.0).bind(filter.before.map_or(i64::MAX, |id| id.0));
    if let Some(user) = filter.user {
        query = query.bind(user.0);
    }
    if let Some(cell) = filter.cell.as_deref() {
        query = query.bind(cell);
    }
    // PostgreSQL refuses a negative limit where SQLite would read it as "no limit".
    let rows = query.bind(filter.limit.max(0)).fetch_all(pool).await?;
    Ok(rows.iter().map(execution_from_row).collect::<Result<_, _>>()?)
}

pub(super) async fn abort_unfinished_executions(
    pool: &PgPool,
    reason: &str,
    at: Timestamp,
) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE executions SET status = 'aborted', error = $1, ended_at = $2
         WHERE status IN ('queued', 'running')",
    )
    .bind(reason)
    .bind(at)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

fn execution_from_row(row: &PgRow) -> Result<ExecutionRecord, sqlx::Error> {
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
        queued_at: row.try_get("queued_at")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        error: row.try_get("error")?,
    })
}
