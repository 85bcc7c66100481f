//! Background jobs and the files they generated, on PostgreSQL.
//!
//! A job moves only forward (queued → running → finished | failed | terminated): every
//! update is conditional on the current state, so a late or repeated report (the exit of
//! a job already terminated, a second terminate) cannot undo a final one, as for
//! executions. Generated paths are `COLLATE "C"`, so "a path or anything below it" is the
//! path plus the byte range of [`below_range`], which the `(project_id, path)` index
//! serves.

use std::collections::HashMap;

use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};

use crate::store::sql_common::{
    below_range, constraint_error, final_job_state, generated_in_order, parse_column,
};
use crate::store::{
    JobId, JobRecord, JobState, NewJob, ProjectId, StoreError, StoreResult, Timestamp, UserId,
};

/// The columns [`job_from_row`] reads, for `SELECT` and `RETURNING`.
macro_rules! job_columns {
    () => {
        "id, project_id, owner, script, stdout_path, stderr_path, state, exit_code, error, created_at,
         started_at, ended_at"
    };
}

/// The job row and its two logs in one transaction, so a job never exists without them.
pub(super) async fn create_job(pool: &PgPool, new: &NewJob) -> StoreResult<JobRecord> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(concat!(
        "INSERT INTO jobs (project_id, owner, script, stdout_path, stderr_path, state, created_at)
         VALUES ($1, $2, $3, $4, $5, 'queued', $6)
         RETURNING ",
        job_columns!()
    ))
    .bind(new.project_id.0)
    .bind(new.owner.0)
    .bind(&new.script)
    .bind(&new.stdout_path)
    .bind(&new.stderr_path)
    .bind(new.created_at)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| {
        constraint_error(
            e,
            || "job".to_owned(),
            || format!("project {} or user {}", new.project_id, new.owner),
        )
    })?;
    let id: i64 = row.try_get("id")?;
    let logs = [new.stdout_path.as_str(), new.stderr_path.as_str()];
    sqlx::query(
        "INSERT INTO job_files (job_id, project_id, path)
         SELECT $1, $2, path FROM unnest($3::text[]) AS path
         ON CONFLICT (job_id, path) DO NOTHING",
    )
    .bind(id)
    .bind(new.project_id.0)
    .bind(&logs[..])
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let generated = generated_in_order(&new.stdout_path, &new.stderr_path, logs.map(str::to_owned).to_vec());
    Ok(job_from_row(&row, generated)?)
}

pub(super) async fn job(pool: &PgPool, id: JobId) -> StoreResult<Option<JobRecord>> {
    let Some(row) = sqlx::query(concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let paths: Vec<String> =
        sqlx::query_scalar("SELECT path FROM job_files WHERE job_id = $1").bind(id.0).fetch_all(pool).await?;
    Ok(Some(with_generated(&row, paths)?))
}

/// Newest first: the jobs, then every generated path of the project in one more query.
pub(super) async fn jobs_in(pool: &PgPool, project: ProjectId) -> StoreResult<Vec<JobRecord>> {
    let rows =
        sqlx::query(concat!("SELECT ", job_columns!(), " FROM jobs WHERE project_id = $1 ORDER BY id DESC"))
            .bind(project.0)
            .fetch_all(pool)
            .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let files = sqlx::query("SELECT job_id, path FROM job_files WHERE project_id = $1")
        .bind(project.0)
        .fetch_all(pool)
        .await?;
    let mut paths: HashMap<i64, Vec<String>> = HashMap::new();
    for file in &files {
        paths.entry(file.try_get("job_id")?).or_default().push(file.try_get("path")?);
    }
    let jobs = rows
        .iter()
        .map(|row| {
            let id: i64 = row.try_get("id")?;
            with_generated(row, paths.remove(&id).unwrap_or_default())
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(jobs)
}

pub(super) async fn job_started(pool: &PgPool, id: JobId, at: Timestamp) -> StoreResult<()> {
    let done =
        sqlx::query("UPDATE jobs SET state = 'running', started_at = $2 WHERE id = $1 AND state = 'queued'")
            .bind(id.0)
            .bind(at)
            .execute(pool)
            .await?;
    if done.rows_affected() == 0 {
        exists(pool, id).await?;
    }
    Ok(())
}

/// One statement; paths already recorded (or repeated in `paths`) are skipped.
pub(super) async fn add_job_files(pool: &PgPool, id: JobId, paths: &[String]) -> StoreResult<()> {
    let done = sqlx::query(
        "INSERT INTO job_files (job_id, project_id, path)
         SELECT j.id, j.project_id, path FROM jobs j, unnest($2::text[]) AS path
         WHERE j.id = $1
         ON CONFLICT (job_id, path) DO NOTHING",
    )
    .bind(id.0)
    .bind(paths)
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        exists(pool, id).await?;
    }
    Ok(())
}

pub(super) async fn job_ended(
    pool: &PgPool,
    id: JobId,
    state: JobState,
    exit_code: Option<i32>,
    error: Option<&str>,
    at: Timestamp,
) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE jobs SET state = $2, exit_code = $3, error = $4, ended_at = $5
         WHERE id = $1 AND state IN ('queued', 'running')",
    )
    .bind(id.0)
    .bind(final_job_state(state)?)
    .bind(exit_code)
    .bind(error)
    .bind(at)
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        exists(pool, id).await?;
    }
    Ok(())
}

/// Its generated paths go with it (`ON DELETE CASCADE`).
pub(super) async fn delete_job(pool: &PgPool, id: JobId) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM jobs WHERE id = $1").bind(id.0).execute(pool).await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("job {id}")));
    }
    Ok(())
}

/// Oldest first. The path and the range below it are two index lookups joined by
/// `UNION`, the same statement as on SQLite (whose planner, given one `OR`, searches the
/// index by project only).
pub(super) async fn jobs_holding(pool: &PgPool, project: ProjectId, path: &str) -> StoreResult<Vec<JobId>> {
    let (start, end) = below_range(path);
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT job_id FROM job_files WHERE project_id = $1 AND path = $2
         UNION
         SELECT job_id FROM job_files WHERE project_id = $1 AND path >= $3 AND path < $4
         ORDER BY job_id",
    )
    .bind(project.0)
    .bind(path)
    .bind(&start)
    .bind(&end)
    .fetch_all(pool)
    .await?;
    Ok(ids.into_iter().map(JobId).collect())
}

pub(super) async fn abort_unfinished_jobs(pool: &PgPool, reason: &str, at: Timestamp) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE jobs SET state = 'failed', error = $1, ended_at = $2 WHERE state IN ('queued', 'running')",
    )
    .bind(reason)
    .bind(at)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Why a conditional statement changed nothing: `NotFound` for an unknown id, `Ok` for a
/// job it does not apply to (already started or over, paths already recorded).
async fn exists(pool: &PgPool, id: JobId) -> StoreResult<()> {
    sqlx::query("SELECT 1 FROM jobs WHERE id = $1")
        .bind(id.0)
        .fetch_optional(pool)
        .await?
        .map(|_| ())
        .ok_or_else(|| StoreError::NotFound(format!("job {id}")))
}

/// The record of a job row with its generated paths (in any order).
fn with_generated(row: &PgRow, paths: Vec<String>) -> Result<JobRecord, sqlx::Error> {
    let stdout: String = row.try_get("stdout_path")?;
    let stderr: String = row.try_get("stderr_path")?;
    job_from_row(row, generated_in_order(&stdout, &stderr, paths))
}

fn job_from_row(row: &PgRow, generated: Vec<String>) -> Result<JobRecord, sqlx::Error> {
    Ok(JobRecord {
        id: JobId(row.try_get("id")?),
        project_id: ProjectId(row.try_get("project_id")?),
        owner: UserId(row.try_get("owner")?),
        script: row.try_get("script")?,
        stdout_path: row.try_get("stdout_path")?,
        stderr_path: row.try_get("stderr_path")?,
        state: parse_column("state", row.try_get("state")?, JobState::parse)?,
        exit_code: row.try_get("exit_code")?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        generated,
    })
}
