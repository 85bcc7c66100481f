//! Projects, their members and their notebooks on SQLite.
//!
//! Writes that must read what they did (or why they did nothing) run in one `BEGIN
//! IMMEDIATE` transaction on the single writer connection, so nothing can change in
//! between; their reads use that transaction, never the writer pool itself, whose one
//! connection the transaction holds.

use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Row, Sqlite, SqliteConnection, Transaction};

use super::accounts::user_from_row;
use super::{opt_time_column, time_column, to_millis};
use crate::store::sql_common::{constraint_error, parse_column};
use crate::store::{
    Member, NewNotebook, NewProject, NotebookBlock, NotebookId, NotebookMode, NotebookRow, Project,
    ProjectId, ProjectUpdate, Role, StoreError, StoreResult, Timestamp, UserId, Visibility,
};

/// The columns [`notebook_from_row`] reads, for `SELECT` and `RETURNING`.
macro_rules! notebook_columns {
    () => {
        "id, project_id, name, mode, kernelspec, created_by, created_at, blocked_by, blocked_at,
         others_may_run"
    };
}

/// The columns [`project_from_row`] reads.
macro_rules! project_columns {
    () => {
        "id, owner_id, name, description, visibility, created_at"
    };
}

/// A member's user (columns prefixed `u_`, read by `user_from_row`), role and time of joining.
macro_rules! member_select {
    () => {
        "SELECT u.id AS u_id, u.name AS u_name, u.display_name AS u_display_name, u.color AS u_color,
                u.is_admin AS u_is_admin, u.created_at AS u_created_at, m.role, m.created_at AS since
         FROM project_members m JOIN users u ON u.id = m.user_id"
    };
}

/// Creates the project and makes its owner a member with role `owner`, in one
/// transaction, so that no project is ever without its owner's membership.
pub(super) async fn create_project(
    mut tx: Transaction<'static, Sqlite>,
    project: &NewProject,
) -> StoreResult<Project> {
    let missing = || format!("user {}", project.owner_id);
    let row = sqlx::query(concat!(
        "INSERT INTO projects (owner_id, name, description, visibility) VALUES (?, ?, ?, ?)
         RETURNING ",
        project_columns!()
    ))
    .bind(project.owner_id.0)
    .bind(&project.name)
    .bind(&project.description)
    .bind(project.visibility.as_str())
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| constraint_error(e, || format!("project `{}`", project.name), missing))?;
    let created = project_from_row(&row)?;
    sqlx::query("INSERT INTO project_members (project_id, user_id, role) VALUES (?, ?, 'owner')")
        .bind(created.id.0)
        .bind(created.owner_id.0)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(created)
}

pub(super) async fn project(pool: &SqlitePool, id: ProjectId) -> StoreResult<Option<Project>> {
    let row = sqlx::query(concat!("SELECT ", project_columns!(), " FROM projects WHERE id = ?"))
        .bind(id.0)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| project_from_row(&r)).transpose()?)
}

/// Every project the user is a member of (owners are members), with their role, newest
/// first.
pub(super) async fn projects_for(pool: &SqlitePool, user: UserId) -> StoreResult<Vec<(Project, Role)>> {
    let rows = sqlx::query(
        "SELECT p.id, p.owner_id, p.name, p.description, p.visibility, p.created_at, m.role
         FROM projects p JOIN project_members m ON m.project_id = p.id
         WHERE m.user_id = ?
         ORDER BY p.created_at DESC, p.id DESC",
    )
    .bind(user.0)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|row| Ok((project_from_row(row)?, parse_column("role", row.try_get("role")?, Role::parse)?)))
        .collect::<Result<_, sqlx::Error>>()?)
}

pub(super) async fn update_project(
    pool: &SqlitePool,
    id: ProjectId,
    update: &ProjectUpdate,
) -> StoreResult<Project> {
    let row = sqlx::query(concat!(
        "UPDATE projects SET name = COALESCE(?, name), description = COALESCE(?, description),
                visibility = COALESCE(?, visibility)
         WHERE id = ? RETURNING ",
        project_columns!()
    ))
    .bind(update.name.as_deref())
    .bind(update.description.as_deref())
    .bind(update.visibility.map(Visibility::as_str))
    .bind(id.0)
    .fetch_optional(pool)
    .await?;
    let row = row.ok_or_else(|| StoreError::NotFound(format!("project {id}")))?;
    Ok(project_from_row(&row)?)
}

/// Members, notebooks and the notebooks' logs go with it (`ON DELETE CASCADE`).
pub(super) async fn delete_project(pool: &SqlitePool, id: ProjectId) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM projects WHERE id = ?").bind(id.0).execute(pool).await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("project {id}")));
    }
    Ok(())
}

/// The owner first, then by user name.
pub(super) async fn members(pool: &SqlitePool, project: ProjectId) -> StoreResult<Vec<Member>> {
    let rows = sqlx::query(concat!(
        member_select!(),
        " WHERE m.project_id = ? ORDER BY m.role = 'owner' DESC, u.name"
    ))
    .bind(project.0)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(member_from_row).collect::<Result<_, _>>()?)
}

pub(super) async fn member_role(
    pool: &SqlitePool,
    project: ProjectId,
    user: UserId,
) -> StoreResult<Option<Role>> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM project_members WHERE project_id = ? AND user_id = ?")
            .bind(project.0)
            .bind(user.0)
            .fetch_optional(pool)
            .await?;
    Ok(role.map(|r| parse_column("role", &r, Role::parse)).transpose()?)
}

async fn member(conn: &mut SqliteConnection, project: ProjectId, user: UserId) -> StoreResult<Member> {
    let row = sqlx::query(concat!(member_select!(), " WHERE m.project_id = ? AND m.user_id = ?"))
        .bind(project.0)
        .bind(user.0)
        .fetch_optional(conn)
        .await?;
    let row = row.ok_or_else(|| StoreError::NotFound(format!("member {user} of project {project}")))?;
    Ok(member_from_row(&row)?)
}

pub(super) async fn add_member(
    mut tx: Transaction<'static, Sqlite>,
    project: ProjectId,
    user: UserId,
    role: Role,
) -> StoreResult<Member> {
    sqlx::query("INSERT INTO project_members (project_id, user_id, role) VALUES (?, ?, ?)")
        .bind(project.0)
        .bind(user.0)
        .bind(role.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            constraint_error(
                e,
                || format!("member {user} of project {project}"),
                || format!("project {project} or user {user}"),
            )
        })?;
    let member = member(&mut tx, project, user).await?;
    tx.commit().await?;
    Ok(member)
}

/// Never touches the owner's row (`role <> 'owner'`), so the project keeps its owner.
pub(super) async fn set_member_role(
    mut tx: Transaction<'static, Sqlite>,
    project: ProjectId,
    user: UserId,
    role: Role,
) -> StoreResult<Member> {
    let done = sqlx::query(
        "UPDATE project_members SET role = ? WHERE project_id = ? AND user_id = ? AND role <> 'owner'",
    )
    .bind(role.as_str())
    .bind(project.0)
    .bind(user.0)
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        constraint_error(e, || format!("an owner of project {project}"), || format!("user {user}"))
    })?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("member {user} of project {project}")));
    }
    let member = member(&mut tx, project, user).await?;
    tx.commit().await?;
    Ok(member)
}

/// Never removes the owner (`role <> 'owner'`).
pub(super) async fn remove_member(pool: &SqlitePool, project: ProjectId, user: UserId) -> StoreResult<()> {
    let done =
        sqlx::query("DELETE FROM project_members WHERE project_id = ? AND user_id = ? AND role <> 'owner'")
            .bind(project.0)
            .bind(user.0)
            .execute(pool)
            .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("member {user} of project {project}")));
    }
    Ok(())
}

pub(super) async fn create_notebook(pool: &SqlitePool, notebook: &NewNotebook) -> StoreResult<NotebookRow> {
    let row = sqlx::query(concat!(
        "INSERT INTO notebooks (project_id, name, mode, kernelspec, created_by) VALUES (?, ?, ?, ?, ?)
         RETURNING ",
        notebook_columns!()
    ))
    .bind(notebook.project_id.0)
    .bind(&notebook.name)
    .bind(notebook.mode.as_str())
    .bind(&notebook.kernelspec)
    .bind(notebook.created_by.0)
    .fetch_one(pool)
    .await
    .map_err(|e| {
        constraint_error(
            e,
            || format!("notebook `{}` in project {}", notebook.name, notebook.project_id),
            || format!("project {} or user {}", notebook.project_id, notebook.created_by),
        )
    })?;
    Ok(notebook_from_row(&row)?)
}

pub(super) async fn notebook(pool: &SqlitePool, id: NotebookId) -> StoreResult<Option<NotebookRow>> {
    let row = sqlx::query(concat!("SELECT ", notebook_columns!(), " FROM notebooks WHERE id = ?"))
        .bind(id.0)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| notebook_from_row(&r)).transpose()?)
}

/// By name, the order a file browser shows them in.
pub(super) async fn notebooks_in(pool: &SqlitePool, project: ProjectId) -> StoreResult<Vec<NotebookRow>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        notebook_columns!(),
        " FROM notebooks WHERE project_id = ? ORDER BY name, id"
    ))
    .bind(project.0)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(notebook_from_row).collect::<Result<_, _>>()?)
}

/// Checked and renamed in one write transaction: a block taken meanwhile is respected.
pub(super) async fn rename_notebook(
    mut tx: Transaction<'static, Sqlite>,
    id: NotebookId,
    name: &str,
    actor: UserId,
) -> StoreResult<NotebookRow> {
    writable(&mut tx, id, actor).await?;
    let row =
        sqlx::query(concat!("UPDATE notebooks SET name = ? WHERE id = ? RETURNING ", notebook_columns!()))
            .bind(name)
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| {
                constraint_error(
                    e,
                    || format!("notebook `{name}` in this project"),
                    || format!("notebook {id}"),
                )
            })?;
    let renamed = notebook_from_row(&row)?;
    tx.commit().await?;
    Ok(renamed)
}

pub(super) async fn set_notebook_mode(
    mut tx: Transaction<'static, Sqlite>,
    id: NotebookId,
    mode: NotebookMode,
    actor: UserId,
) -> StoreResult<NotebookRow> {
    writable(&mut tx, id, actor).await?;
    let row =
        sqlx::query(concat!("UPDATE notebooks SET mode = ? WHERE id = ? RETURNING ", notebook_columns!()))
            .bind(mode.as_str())
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await?;
    let changed = notebook_from_row(&row)?;
    tx.commit().await?;
    Ok(changed)
}

pub(super) async fn set_others_may_run(
    mut tx: Transaction<'static, Sqlite>,
    id: NotebookId,
    allowed: bool,
    actor: UserId,
) -> StoreResult<NotebookRow> {
    writable(&mut tx, id, actor).await?;
    let row = sqlx::query(concat!(
        "UPDATE notebooks SET others_may_run = ? WHERE id = ? RETURNING ",
        notebook_columns!()
    ))
    .bind(allowed)
    .bind(id.0)
    .fetch_one(&mut *tx)
    .await?;
    let changed = notebook_from_row(&row)?;
    tx.commit().await?;
    Ok(changed)
}

/// The log, checkpoints and client bindings go with it (`ON DELETE CASCADE`).
pub(super) async fn delete_notebook(
    mut tx: Transaction<'static, Sqlite>,
    id: NotebookId,
    actor: UserId,
) -> StoreResult<()> {
    writable(&mut tx, id, actor).await?;
    sqlx::query("DELETE FROM notebooks WHERE id = ?").bind(id.0).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// `NotFound` if there is no such notebook, `Blocked` if someone other than `actor` blocks
/// it. Inside the write transaction, so the answer holds until it commits.
async fn writable(conn: &mut SqliteConnection, id: NotebookId, actor: UserId) -> StoreResult<()> {
    match notebook_in(conn, id).await?.block {
        Some(block) if block.holder != actor => Err(StoreError::Blocked(block)),
        _ => Ok(()),
    }
}

/// One conditional statement: it sets the block only where none is held by someone else,
/// and keeps the original time when the holder blocks again.
pub(super) async fn block_notebook(
    mut tx: Transaction<'static, Sqlite>,
    id: NotebookId,
    holder: UserId,
    at: Timestamp,
) -> StoreResult<NotebookRow> {
    sqlx::query(
        "UPDATE notebooks SET blocked_by = ?, blocked_at = COALESCE(blocked_at, ?)
         WHERE id = ? AND (blocked_by IS NULL OR blocked_by = ?)",
    )
    .bind(holder.0)
    .bind(to_millis(at))
    .bind(id.0)
    .bind(holder.0)
    .execute(&mut *tx)
    .await
    .map_err(|e| constraint_error(e, || format!("block on notebook {id}"), || format!("user {holder}")))?;
    let after = notebook_in(&mut tx, id).await?;
    tx.commit().await?;
    Ok(after)
}

pub(super) async fn unblock_notebook(
    mut tx: Transaction<'static, Sqlite>,
    id: NotebookId,
    holder: UserId,
) -> StoreResult<NotebookRow> {
    sqlx::query("UPDATE notebooks SET blocked_by = NULL, blocked_at = NULL WHERE id = ? AND blocked_by = ?")
        .bind(id.0)
        .bind(holder.0)
        .execute(&mut *tx)
        .await?;
    let after = notebook_in(&mut tx, id).await?;
    tx.commit().await?;
    Ok(after)
}

/// The notebook as the transaction sees it; `NotFound` if there is none.
async fn notebook_in(conn: &mut SqliteConnection, id: NotebookId) -> StoreResult<NotebookRow> {
    let row = sqlx::query(concat!("SELECT ", notebook_columns!(), " FROM notebooks WHERE id = ?"))
        .bind(id.0)
        .fetch_optional(conn)
        .await?;
    let row = row.ok_or_else(|| StoreError::NotFound(format!("notebook {id}")))?;
    Ok(notebook_from_row(&row)?)
}

fn project_from_row(row: &SqliteRow) -> Result<Project, sqlx::Error> {
    Ok(Project {
        id: ProjectId(row.try_get("id")?),
        owner_id: UserId(row.try_get("owner_id")?),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        visibility: parse_column("visibility", row.try_get("visibility")?, Visibility::parse)?,
        created_at: time_column(row, "created_at")?,
    })
}

fn member_from_row(row: &SqliteRow) -> Result<Member, sqlx::Error> {
    Ok(Member {
        user: user_from_row(row, "u_")?,
        role: parse_column("role", row.try_get("role")?, Role::parse)?,
        since: time_column(row, "since")?,
    })
}

fn notebook_from_row(row: &SqliteRow) -> Result<NotebookRow, sqlx::Error> {
    let blocked_by: Option<i64> = row.try_get("blocked_by")?;
    let blocked_at = opt_time_column(row, "blocked_at")?;
    Ok(NotebookRow {
        id: NotebookId(row.try_get("id")?),
        project_id: ProjectId(row.try_get("project_id")?),
        name: row.try_get("name")?,
        mode: parse_column("mode", row.try_get("mode")?, NotebookMode::parse)?,
        kernelspec: row.try_get("kernelspec")?,
        created_by: UserId(row.try_get("created_by")?),
        created_at: time_column(row, "created_at")?,
        // The schema sets both or neither.
        block: blocked_by
            .zip(blocked_at)
            .map(|(holder, since)| NotebookBlock { holder: UserId(holder), since }),
        others_may_run: row.try_get("others_may_run")?,
    })
}
