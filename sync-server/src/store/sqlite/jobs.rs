//! Background jobs and the files they generated, on SQLite.
//!
//! A job moves only forward (queued → running → finished | failed | terminated): every
//! update is conditional on the current state, so a late or repeated report (the exit of
//! a job already terminated, a second terminate) cannot undo a final one, as for
//! executions. An update that must explain why it changed nothing reads in its own write
//! transaction. Paths compare by bytes, so "a path or anything below it" is the path plus
//! the byte range of [`below_range`], which the `(project_id, path)` index serves.

use std::collections::HashMap;

use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Row, Sqlite, SqliteConnection, Transaction};

use super::{opt_time_column, time_column, to_millis};
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
pub(super) async fn create_job(mut tx: Transaction<'static, Sqlite>, new: &NewJob) -> StoreResult<JobRecord> {
    let row = sqlx::query(concat!(
        "INSERT INTO jobs (project_id, owner, script, stdout_path, stderr_path, state, created_at)
         VALUES (?, ?, ?, ?, ?, 'queued', ?)
         RETURNING ",
        job_columns!()
    ))
    .bind(new.project_id.0)
    .bind(new.owner.0)
    .bind(&new.script)
    .bind(&new.stdout_path)
    .bind(&new.stderr_path)
    .bind(to_millis(new.created_at))
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
    for log in logs {
        insert_file(&mut tx, id, new.project_id, log).await?;
    }
    tx.commit().await?;
    let generated = generated_in_order(&new.stdout_path, &new.stderr_path, logs.map(str::to_owned).to_vec());
    Ok(job_from_row(&row, generated)?)
}

pub(super) async fn job(pool: &SqlitePool, id: JobId) -> StoreResult<Option<JobRecord>> {
    let Some(row) = sqlx::query(concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = ?"))
        .bind(id.0)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let paths: Vec<String> =
        sqlx::query_scalar("SELECT path FROM job_files WHERE job_id = ?").bind(id.0).fetch_all(pool).await?;
    Ok(Some(with_generated(&row, paths)?))
}

/// Newest first: the jobs, then every generated path of the project in one more query.
pub(super) async fn jobs_in(pool: &SqlitePool, project: ProjectId) -> StoreResult<Vec<JobRecord>> {
    let rows =
        sqlx::query(concat!("SELECT ", job_columns!(), " FROM jobs WHERE project_id = ? ORDER BY id DESC"))
            .bind(project.0)
            .fetch_all(pool)
            .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let files = sqlx::query("SELECT job_id, path FROM job_files WHERE project_id = ?")
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

pub(super) async fn job_started(
    mut tx: Transaction<'static, Sqlite>,
    id: JobId,
    at: Timestamp,
) -> StoreResult<()> {
    let done =
        sqlx::query("UPDATE jobs SET state = 'running', started_at = ? WHERE id = ? AND state = 'queued'")
            .bind(to_millis(at))
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
    if done.rows_affected() == 0 {
        project_of(&mut tx, id).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One insert per path, all in one write transaction; paths already recorded (or repeated
/// in `paths`) are skipped.
pub(super) async fn add_job_files(
    mut tx: Transaction<'static, Sqlite>,
    id: JobId,
    paths: &[String],
) -> StoreResult<()> {
    let project = project_of(&mut tx, id).await?;
    for path in paths {
        insert_file(&mut tx, id.0, project, path).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn job_ended(
    mut tx: Transaction<'static, Sqlite>,
    id: JobId,
    state: JobState,
    exit_code: Option<i32>,
    error: Option<&str>,
    at: Timestamp,
) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE jobs SET state = ?, exit_code = ?, error = ?, ended_at = ?
         WHERE id = ? AND state IN ('queued', 'running')",
    )
    .bind(final_job_state(state)?)
    .bind(exit_code)
    .bind(error)
    .bind(to_millis(at))
    .bind(id.0)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        project_of(&mut tx, id).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Its generated paths go with it (`ON DELETE CASCADE`).
pub(super) async fn delete_job(pool: &SqlitePool, id: JobId) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM jobs WHERE id = ?").bind(id.0).execute(pool).await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("job {id}")));
    }
    Ok(())
}

/// Oldest first. The path and the range below it are two index lookups joined by
/// `UNION`: written as one `OR`, SQLite searches the index by project only.
pub(super) async fn jobs_holding(
    pool: &SqlitePool,
    project: ProjectId,
    path: &str,
) -> StoreResult<Vec<JobId>> {
    let (start, end) = below_range(path);
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT job_id FROM job_files WHERE project_id = ?1 AND path = ?2
         UNION
         SELECT job_id FROM job_files WHERE project_id = ?1 AND path >= ?3 AND path < ?4
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

pub(super) async fn abort_unfinished_jobs(
    pool: &SqlitePool,
    reason: &str,
    at: Timestamp,
) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE jobs SET state = 'failed', error = ?, ended_at = ? WHERE state IN ('queued', 'running')",
    )
    .bind(reason)
    .bind(to_millis(at))
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// The job's project, or `NotFound` for an unknown id: also why a conditional update
/// changed nothing (`Ok` for a job it does not apply to).
async fn project_of(conn: &mut SqliteConnection, id: JobId) -> StoreResult<ProjectId> {
    sqlx::query_scalar("SELECT project_id FROM jobs WHERE id = ?")
        .bind(id.0)
        .fetch_optional(conn)
        .await?
        .map(ProjectId)
        .ok_or_else(|| StoreError::NotFound(format!("job {id}")))
}

async fn insert_file(
    conn: &mut SqliteConnection,
    job: i64,
    project: ProjectId,
    path: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO job_files (job_id, project_id, path) VALUES (?, ?, ?)
         ON CONFLICT (job_id, path) DO NOTHING",
    )
    .bind(job)
    .bind(project.0)
    .bind(path)
    .execute(conn)
    .await?;
    Ok(())
}

/// The record of a job row with its generated paths (in any order).
fn with_generated(row: &SqliteRow, paths: Vec<String>) -> Result<JobRecord, sqlx::Error> {
    let stdout: String = row.try_get("stdout_path")?;
    let stderr: String = row.try_get("stderr_path")?;
    job_from_row(row, generated_in_order(&stdout, &stderr, paths))
}

fn job_from_row(row: &SqliteRow, generated: Vec<String>) -> Result<JobRecord, sqlx::Error> {
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
        created_at: time_column(row, "created_at")?,
        started_at: opt_time_column(row, "started_at")?,
        ended_at: opt_time_column(row, "ended_at")?,
        generated,
    })
}
