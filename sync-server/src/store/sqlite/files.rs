//! Project files on SQLite.
//!
//! Every change runs in one `BEGIN IMMEDIATE` transaction on the single writer
//! connection: nothing else writes until it commits, so its checks (what exists, who
//! blocks what inside a folder) and its writes see the same tree. Writes and deletes are
//! also guarded in the statement itself, as on PostgreSQL. Paths compare by bytes
//! (SQLite's `BINARY` collation), so "everything inside folder F" is the byte range of
//! [`inside_range`], which the unique index on `(project_id, path)` serves.

use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Row, Sqlite, SqliteConnection, SqliteExecutor, Transaction};

use super::{opt_time_column, time_column, to_millis};
use crate::files::path::inside_range;
use crate::store::sql_common::{
    check_destination, constraint_error, file_block, parse_column, path_column, sha256_column, size_column,
    size_to_sql, sort_tree, write_refusal,
};
use crate::store::{
    BlockReason, FileContent, FileEntry, FileId, FileKind, FilePath, FileTreeError, FileWritten, ProjectId,
    StoreError, StoreResult, Timestamp, UserId,
};

/// The columns [`entry_from_row`] reads, for `SELECT` and `RETURNING`.
macro_rules! entry_columns {
    () => {
        "id, project_id, path, kind, size, sha256, created_at, updated_at, updated_by, blocked_by,
         blocked_at, block_reason"
    };
}

pub(super) async fn file_entry(
    pool: &SqlitePool,
    project: ProjectId,
    path: &FilePath,
) -> StoreResult<Option<FileEntry>> {
    entry_in(pool, project, path).await
}

pub(super) async fn list_files(
    pool: &SqlitePool,
    project: ProjectId,
    folder: Option<&FilePath>,
    recursive: bool,
) -> StoreResult<Vec<FileEntry>> {
    let (start, end) = match folder {
        Some(folder) => match entry_in(pool, project, folder).await? {
            None => return Err(StoreError::NotFound(format!("`{folder}`"))),
            Some(entry) if entry.kind == FileKind::File => return Ok(vec![entry]),
            Some(_) => {
                let (start, end) = inside_range(folder);
                (start, Some(end))
            }
        },
        None => (String::new(), None),
    };
    // Direct contents: nothing after the folder's `F/` contains another `/`.
    let rows = sqlx::query(concat!(
        "SELECT ",
        entry_columns!(),
        " FROM project_files
         WHERE project_id = ?1 AND path >= ?2 AND (?3 IS NULL OR path < ?3)
           AND (?4 OR instr(substr(path, length(?2) + 1), '/') = 0)"
    ))
    .bind(project.0)
    .bind(&start)
    .bind(end.as_deref())
    .bind(recursive)
    .fetch_all(pool)
    .await?;
    let mut entries = rows.iter().map(entry_from_row).collect::<Result<Vec<_>, _>>()?;
    sort_tree(&mut entries);
    Ok(entries)
}

pub(super) async fn file_content(
    pool: &SqlitePool,
    project: ProjectId,
    path: &FilePath,
) -> StoreResult<Option<(FileEntry, Vec<u8>)>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        entry_columns!(),
        ", content FROM project_files WHERE project_id = ? AND path = ?"
    ))
    .bind(project.0)
    .bind(path.as_str())
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let entry = entry_from_row(&row)?;
    match row.try_get::<Option<Vec<u8>>, _>("content")? {
        Some(bytes) => Ok(Some((entry, bytes))),
        None => Err(FileTreeError::IsAFolder(entry.path).into()),
    }
}

/// The replacement is one statement guarded by "a file, not blocked by someone else";
/// when it changes nothing, [`write_refusal`] says why, or nothing is there and the file
/// is created.
pub(super) async fn write_file(
    mut tx: Transaction<'static, Sqlite>,
    project: ProjectId,
    path: &FilePath,
    content: &FileContent,
    actor: UserId,
    at: Timestamp,
) -> StoreResult<FileWritten> {
    make_parents(&mut tx, project, path, actor, at).await?;
    let replaced = sqlx::query(concat!(
        "UPDATE project_files SET content = ?3, sha256 = ?4, size = ?5, updated_at = ?6, updated_by = ?7
         WHERE project_id = ?1 AND path = ?2 AND kind = 'file' AND (blocked_by IS NULL OR blocked_by = ?7)
         RETURNING ",
        entry_columns!()
    ))
    .bind(project.0)
    .bind(path.as_str())
    .bind(content.bytes())
    .bind(content.sha256().as_slice())
    .bind(size_to_sql(content.len()))
    .bind(to_millis(at))
    .bind(actor.0)
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| constraint_error(e, || format!("`{path}`"), || format!("user {actor}")))?;
    let written = match replaced {
        Some(row) => FileWritten { entry: entry_from_row(&row)?, created: false },
        None => {
            if let Some(existing) = entry_in(&mut *tx, project, path).await? {
                return Err(write_refusal(existing, actor));
            }
            let row = sqlx::query(concat!(
                "INSERT INTO project_files
                     (project_id, path, kind, size, sha256, content, created_at, updated_at, updated_by)
                 VALUES (?1, ?2, 'file', ?3, ?4, ?5, ?6, ?6, ?7)
                 RETURNING ",
                entry_columns!()
            ))
            .bind(project.0)
            .bind(path.as_str())
            .bind(size_to_sql(content.len()))
            .bind(content.sha256().as_slice())
            .bind(content.bytes())
            .bind(to_millis(at))
            .bind(actor.0)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| {
                constraint_error(e, || format!("`{path}`"), || format!("project {project} or user {actor}"))
            })?;
            FileWritten { entry: entry_from_row(&row)?, created: true }
        }
    };
    tx.commit().await?;
    Ok(written)
}

pub(super) async fn create_folder(
    mut tx: Transaction<'static, Sqlite>,
    project: ProjectId,
    path: &FilePath,
    actor: UserId,
    at: Timestamp,
) -> StoreResult<FileEntry> {
    if entry_in(&mut *tx, project, path).await?.is_some() {
        return Err(StoreError::Conflict(format!("`{path}`")));
    }
    make_parents(&mut tx, project, path, actor, at).await?;
    let row = sqlx::query(concat!(
        "INSERT INTO project_files (project_id, path, kind, size, created_at, updated_at, updated_by)
         VALUES (?1, ?2, 'folder', 0, ?3, ?3, ?4)
         RETURNING ",
        entry_columns!()
    ))
    .bind(project.0)
    .bind(path.as_str())
    .bind(to_millis(at))
    .bind(actor.0)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| {
        constraint_error(e, || format!("`{path}`"), || format!("project {project} or user {actor}"))
    })?;
    let entry = entry_from_row(&row)?;
    tx.commit().await?;
    Ok(entry)
}

/// One `UPDATE` moves the entry and everything inside it, guarded by "nothing in there is
/// blocked by someone else".
pub(super) async fn move_file(
    mut tx: Transaction<'static, Sqlite>,
    project: ProjectId,
    from: &FilePath,
    to: &FilePath,
    actor: UserId,
    at: Timestamp,
) -> StoreResult<FileEntry> {
    if entry_in(&mut *tx, project, from).await?.is_none() {
        return Err(StoreError::NotFound(format!("`{from}`")));
    }
    let target = entry_in(&mut *tx, project, to).await?;
    check_destination(from, to, target, actor)?;
    make_parents(&mut tx, project, to, actor, at).await?;
    let (start, end) = inside_range(from);
    let moved = sqlx::query(
        "UPDATE project_files SET path = ?3 || substr(path, length(?2) + 1)
         WHERE project_id = ?1 AND (path = ?2 OR (path >= ?4 AND path < ?5))
           AND NOT EXISTS (
               SELECT 1 FROM project_files b
               WHERE b.project_id = ?1 AND (b.path = ?2 OR (b.path >= ?4 AND b.path < ?5))
                 AND b.blocked_by <> ?6)",
    )
    .bind(project.0)
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(&start)
    .bind(&end)
    .bind(actor.0)
    .execute(&mut *tx)
    .await
    .map_err(|e| constraint_error(e, || format!("`{to}`"), || format!("project {project}")))?;
    if moved.rows_affected() == 0 {
        return Err(blocked_inside(&mut tx, project, from, actor).await);
    }
    let entry =
        entry_in(&mut *tx, project, to).await?.ok_or_else(|| StoreError::NotFound(format!("`{to}`")))?;
    tx.commit().await?;
    Ok(entry)
}

pub(super) async fn copy_file(
    mut tx: Transaction<'static, Sqlite>,
    project: ProjectId,
    from: &FilePath,
    to: &FilePath,
    actor: UserId,
    at: Timestamp,
) -> StoreResult<FileEntry> {
    if entry_in(&mut *tx, project, from).await?.is_none() {
        return Err(StoreError::NotFound(format!("`{from}`")));
    }
    let target = entry_in(&mut *tx, project, to).await?;
    check_destination(from, to, target, actor)?;
    make_parents(&mut tx, project, to, actor, at).await?;
    let (start, end) = inside_range(from);
    sqlx::query(
        "INSERT INTO project_files
             (project_id, path, kind, size, sha256, content, created_at, updated_at, updated_by)
         SELECT project_id, ?3 || substr(path, length(?2) + 1), kind, size, sha256, content, ?6, ?6, ?7
         FROM project_files
         WHERE project_id = ?1 AND (path = ?2 OR (path >= ?4 AND path < ?5))",
    )
    .bind(project.0)
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(&start)
    .bind(&end)
    .bind(to_millis(at))
    .bind(actor.0)
    .execute(&mut *tx)
    .await
    .map_err(|e| constraint_error(e, || format!("`{to}`"), || format!("user {actor}")))?;
    let entry =
        entry_in(&mut *tx, project, to).await?.ok_or_else(|| StoreError::NotFound(format!("`{from}`")))?;
    tx.commit().await?;
    Ok(entry)
}

/// One `DELETE` of the entry and everything inside it, guarded like [`move_file`].
pub(super) async fn delete_file(
    mut tx: Transaction<'static, Sqlite>,
    project: ProjectId,
    path: &FilePath,
    actor: UserId,
) -> StoreResult<u64> {
    let (start, end) = inside_range(path);
    let deleted = sqlx::query(
        "DELETE FROM project_files
         WHERE project_id = ?1 AND (path = ?2 OR (path >= ?3 AND path < ?4))
           AND NOT EXISTS (
               SELECT 1 FROM project_files b
               WHERE b.project_id = ?1 AND (b.path = ?2 OR (b.path >= ?3 AND b.path < ?4))
                 AND b.blocked_by <> ?5)",
    )
    .bind(project.0)
    .bind(path.as_str())
    .bind(&start)
    .bind(&end)
    .bind(actor.0)
    .execute(&mut *tx)
    .await?;
    if deleted.rows_affected() == 0 {
        return Err(match entry_in(&mut *tx, project, path).await? {
            None => StoreError::NotFound(format!("`{path}`")),
            Some(_) => blocked_inside(&mut tx, project, path, actor).await,
        });
    }
    tx.commit().await?;
    Ok(deleted.rows_affected())
}

/// Sets the block only where none is held by someone else; see
/// [`crate::store::Store::block_file`].
pub(super) async fn block_file(
    mut tx: Transaction<'static, Sqlite>,
    project: ProjectId,
    path: &FilePath,
    holder: UserId,
    reason: BlockReason,
    at: Timestamp,
) -> StoreResult<FileEntry> {
    let row = sqlx::query(concat!(
        "UPDATE project_files
         SET blocked_by = ?3, blocked_at = COALESCE(blocked_at, ?4),
             block_reason = CASE WHEN ?5 = 'console' THEN 'console' ELSE COALESCE(block_reason, ?5) END
         WHERE project_id = ?1 AND path = ?2 AND kind = 'file' AND (blocked_by IS NULL OR blocked_by = ?3)
         RETURNING ",
        entry_columns!()
    ))
    .bind(project.0)
    .bind(path.as_str())
    .bind(holder.0)
    .bind(to_millis(at))
    .bind(reason.as_str())
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| constraint_error(e, || format!("block on `{path}`"), || format!("user {holder}")))?;
    let entry = match row {
        Some(row) => entry_from_row(&row)?,
        None => match entry_in(&mut *tx, project, path).await? {
            None => return Err(StoreError::NotFound(format!("`{path}`"))),
            Some(entry) if entry.kind == FileKind::Folder => {
                return Err(FileTreeError::IsAFolder(entry.path).into());
            }
            Some(entry) => entry,
        },
    };
    tx.commit().await?;
    Ok(entry)
}

pub(super) async fn unblock_file(
    mut tx: Transaction<'static, Sqlite>,
    project: ProjectId,
    path: &FilePath,
    holder: UserId,
    reason: BlockReason,
) -> StoreResult<FileEntry> {
    sqlx::query(
        "UPDATE project_files SET blocked_by = NULL, blocked_at = NULL, block_reason = NULL
         WHERE project_id = ? AND path = ? AND blocked_by = ? AND block_reason = ?",
    )
    .bind(project.0)
    .bind(path.as_str())
    .bind(holder.0)
    .bind(reason.as_str())
    .execute(&mut *tx)
    .await?;
    let entry =
        entry_in(&mut *tx, project, path).await?.ok_or_else(|| StoreError::NotFound(format!("`{path}`")))?;
    tx.commit().await?;
    Ok(entry)
}

/// Lifts every console block.
pub(super) async fn release_console_blocks(mut tx: Transaction<'static, Sqlite>) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE project_files SET blocked_by = NULL, blocked_at = NULL, block_reason = NULL
         WHERE block_reason = 'console'",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// Creates the folders above `path` that are missing; `FileTree` if one of them is a
/// file. The folders go as one JSON array (SQLite has no arrays).
async fn make_parents(
    conn: &mut SqliteConnection,
    project: ProjectId,
    path: &FilePath,
    actor: UserId,
    at: Timestamp,
) -> StoreResult<()> {
    let ancestors = path.ancestors();
    if ancestors.is_empty() {
        return Ok(());
    }
    let ancestors =
        serde_json::Value::from(ancestors.iter().map(FilePath::as_str).collect::<Vec<_>>()).to_string();
    let file: Option<String> = sqlx::query_scalar(
        "SELECT path FROM project_files
         WHERE project_id = ?1 AND kind = 'file' AND path IN (SELECT value FROM json_each(?2))
         ORDER BY path LIMIT 1",
    )
    .bind(project.0)
    .bind(&ancestors)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(file) = file {
        return Err(FileTreeError::NotAFolder(path_column(file)?).into());
    }
    // `WHERE true` tells SQLite's parser that `ON CONFLICT` belongs to the INSERT.
    sqlx::query(
        "INSERT INTO project_files (project_id, path, kind, size, created_at, updated_at, updated_by)
         SELECT ?1, value, 'folder', 0, ?3, ?3, ?4 FROM json_each(?2) WHERE true
         ON CONFLICT (project_id, path) DO NOTHING",
    )
    .bind(project.0)
    .bind(&ancestors)
    .bind(to_millis(at))
    .bind(actor.0)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        constraint_error(e, || format!("`{path}`"), || format!("project {project} or user {actor}"))
    })?;
    Ok(())
}

/// Why a guarded statement on `path` and everything inside it changed nothing: the first
/// file in there that someone other than `actor` blocks.
async fn blocked_inside(
    conn: &mut SqliteConnection,
    project: ProjectId,
    path: &FilePath,
    actor: UserId,
) -> StoreError {
    match first_blocked(conn, project, path, actor).await {
        Ok(Some(FileEntry { path, block: Some(block), .. })) => StoreError::FileBlocked { path, block },
        // Impossible inside the write transaction; said plainly if it ever is not.
        Ok(_) => StoreError::Unavailable(format!("`{path}` changed meanwhile; try again")),
        Err(e) => e,
    }
}

async fn first_blocked(
    conn: &mut SqliteConnection,
    project: ProjectId,
    path: &FilePath,
    actor: UserId,
) -> StoreResult<Option<FileEntry>> {
    let (start, end) = inside_range(path);
    let row = sqlx::query(concat!(
        "SELECT ",
        entry_columns!(),
        " FROM project_files
         WHERE project_id = ?1 AND (path = ?2 OR (path >= ?3 AND path < ?4)) AND blocked_by <> ?5
         ORDER BY path LIMIT 1"
    ))
    .bind(project.0)
    .bind(path.as_str())
    .bind(&start)
    .bind(&end)
    .bind(actor.0)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| entry_from_row(&r)).transpose()?)
}

async fn entry_in(
    conn: impl SqliteExecutor<'_>,
    project: ProjectId,
    path: &FilePath,
) -> StoreResult<Option<FileEntry>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        entry_columns!(),
        " FROM project_files WHERE project_id = ? AND path = ?"
    ))
    .bind(project.0)
    .bind(path.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| entry_from_row(&r)).transpose()?)
}

fn entry_from_row(row: &SqliteRow) -> Result<FileEntry, sqlx::Error> {
    Ok(FileEntry {
        id: FileId(row.try_get("id")?),
        project_id: ProjectId(row.try_get("project_id")?),
        path: path_column(row.try_get("path")?)?,
        kind: parse_column("kind", row.try_get("kind")?, FileKind::parse)?,
        size: size_column(row.try_get("size")?)?,
        sha256: sha256_column(row.try_get("sha256")?)?,
        created_at: time_column(row, "created_at")?,
        updated_at: time_column(row, "updated_at")?,
        updated_by: UserId(row.try_get("updated_by")?),
        block: file_block(
            row.try_get("blocked_by")?,
            opt_time_column(row, "blocked_at")?,
            row.try_get("block_reason")?,
        )?,
    })
}
