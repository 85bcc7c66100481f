//! Projects, their members and their notebooks on PostgreSQL.

use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Postgres, Row, Transaction};

use super::accounts::user_from_row;
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

/// How often a guarded notebook write is tried when the block it met was lifted before the
/// refusal could be explained.
const GUARD_ATTEMPTS: usize = 3;

/// Creates the project and makes its owner a member with role `owner`, in one
/// transaction, so that no project is ever without its owner's membership.
pub(super) async fn create_project(
    mut tx: Transaction<'static, Postgres>,
    project: &NewProject,
) -> StoreResult<Project> {
    let missing = || format!("user {}", project.owner_id);
    let row = sqlx::query(concat!(
        "INSERT INTO projects (owner_id, name, description, visibility) VALUES ($1, $2, $3, $4)
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
    sqlx::query("INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, 'owner')")
        .bind(created.id.0)
        .bind(created.owner_id.0)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(created)
}

pub(super) async fn project(pool: &PgPool, id: ProjectId) -> StoreResult<Option<Project>> {
    let row = sqlx::query(concat!("SELECT ", project_columns!(), " FROM projects WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| project_from_row(&r)).transpose()?)
}

/// Every project the user is a member of (owners are members), with their role, newest
/// first.
pub(super) async fn projects_for(pool: &PgPool, user: UserId) -> StoreResult<Vec<(Project, Role)>> {
    let rows = sqlx::query(
        "SELECT p.id, p.owner_id, p.name, p.description, p.visibility, p.created_at, m.role
         FROM projects p JOIN project_members m ON m.project_id = p.id
         WHERE m.user_id = $1
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
    pool: &PgPool,
    id: ProjectId,
    update: &ProjectUpdate,
) -> StoreResult<Project> {
    let row = sqlx::query(concat!(
        "UPDATE projects SET name = COALESCE($2, name), description = COALESCE($3, description),
                visibility = COALESCE($4, visibility)
         WHERE id = $1 RETURNING ",
        project_columns!()
    ))
    .bind(id.0)
    .bind(update.name.as_deref())
    .bind(update.description.as_deref())
    .bind(update.visibility.map(Visibility::as_str))
    .fetch_optional(pool)
    .await?;
    let row = row.ok_or_else(|| StoreError::NotFound(format!("project {id}")))?;
    Ok(project_from_row(&row)?)
}

/// Members, notebooks and the notebooks' logs go with it (`ON DELETE CASCADE`).
pub(super) async fn delete_project(pool: &PgPool, id: ProjectId) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM projects WHERE id = $1").bind(id.0).execute(pool).await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("project {id}")));
    }
    Ok(())
}

/// The owner first, then by user name.
pub(super) async fn members(pool: &PgPool, project: ProjectId) -> StoreResult<Vec<Member>> {
    let rows = sqlx::query(concat!(
        member_select!(),
        " WHERE m.project_id = $1 ORDER BY m.role = 'owner' DESC, u.name"
    ))
    .bind(project.0)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(member_from_row).collect::<Result<_, _>>()?)
}

pub(super) async fn member_role(
    pool: &PgPool,
    project: ProjectId,
    user: UserId,
) -> StoreResult<Option<Role>> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2")
            .bind(project.0)
            .bind(user.0)
            .fetch_optional(pool)
            .await?;
    Ok(role.map(|r| parse_column("role", &r, Role::parse)).transpose()?)
}

async fn member(pool: &PgPool, project: ProjectId, user: UserId) -> StoreResult<Member> {
    let row = sqlx::query(concat!(member_select!(), " WHERE m.project_id = $1 AND m.user_id = $2"))
        .bind(project.0)
        .bind(user.0)
        .fetch_optional(pool)
        .await?;
    let row = row.ok_or_else(|| StoreError::NotFound(format!("member {user} of project {project}")))?;
    Ok(member_from_row(&row)?)
}

pub(super) async fn add_member(
    pool: &PgPool,
    project: ProjectId,
    user: UserId,
    role: Role,
) -> StoreResult<Member> {
    sqlx::query("INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3)")
        .bind(project.0)
        .bind(user.0)
        .bind(role.as_str())
        .execute(pool)
        .await
        .map_err(|e| {
            constraint_error(
                e,
                || format!("member {user} of project {project}"),
                || format!("project {project} or user {user}"),
            )
        })?;
    member(pool, project, user).await
}

/// Never touches the owner's row (`role <> 'owner'`), so the project keeps its owner.
pub(super) async fn set_member_role(
    pool: &PgPool,
    project: ProjectId,
    user: UserId,
    role: Role,
) -> StoreResult<Member> {
    let done = sqlx::query(
        "UPDATE project_members SET role = $3 WHERE project_id = $1 AND user_id = $2 AND role <> 'owner'",
    )
    .bind(project.0)
    .bind(user.0)
    .bind(role.as_str())
    .execute(pool)
    .await
    .map_err(|e| {
        constraint_error(e, || format!("an owner of project {project}"), || format!("user {user}"))
    })?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("member {user} of project {project}")));
    }
    member(pool, project, user).await
}

/// Never removes the owner (`role <> 'owner'`).
pub(super) async fn remove_member(pool: &PgPool, project: ProjectId, user: UserId) -> StoreResult<()> {
    let done =
        sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2 AND role <> 'owner'")
            .bind(project.0)
            .bind(user.0)
            .execute(pool)
            .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("member {user} of project {project}")));
    }
    Ok(())
}

pub(super) async fn create_notebook(pool: &PgPool, notebook: &NewNotebook) -> StoreResult<NotebookRow> {
    let row = sqlx::query(concat!(
        "INSERT INTO notebooks (project_id, name, mode, kernelspec, created_by) VALUES ($1, $2, $3, $4, $5)
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

pub(super) async fn notebook(pool: &PgPool, id: NotebookId) -> StoreResult<Option<NotebookRow>> {
    let row = sqlx::query(concat!("SELECT ", notebook_columns!(), " FROM notebooks WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| notebook_from_row(&r)).transpose()?)
}

/// By name, the order a file browser shows them in.
pub(super) async fn notebooks_in(pool: &PgPool, project: ProjectId) -> StoreResult<Vec<NotebookRow>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        notebook_columns!(),
        " FROM notebooks WHERE project_id = $1 ORDER BY name, id"
    ))
    .bind(project.0)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(notebook_from_row).collect::<Result<_, _>>()?)
}

/// The rename and the block check are one statement; see [`refusal`] for what an unchanged
/// row means.
pub(super) async fn rename_notebook(
    pool: &PgPool,
    id: NotebookId,
    name: &str,
    actor: UserId,
) -> StoreResult<NotebookRow> {
    for _ in 0..GUARD_ATTEMPTS {
        let row = sqlx::query(concat!(
            "UPDATE notebooks SET name = $1 WHERE id = $2 AND (blocked_by IS NULL OR blocked_by = $3)
             RETURNING ",
            notebook_columns!()
        ))
        .bind(name)
        .bind(id.0)
        .bind(actor.0)
        .fetch_optional(pool)
        .await
        .map_err(|e| {
            constraint_error(e, || format!("notebook `{name}` in this project"), || format!("notebook {id}"))
        })?;
        match row {
            Some(row) => return Ok(notebook_from_row(&row)?),
            None => refusal(pool, id, actor).await?,
        }
    }
    Err(StoreError::Unavailable(format!("notebook {id} kept changing its block; try again")))
}

pub(super) async fn set_notebook_mode(
    pool: &PgPool,
    id: NotebookId,
    mode: NotebookMode,
    actor: UserId,
) -> StoreResult<NotebookRow> {
    for _ in 0..GUARD_ATTEMPTS {
        let row = sqlx::query(concat!(
            "UPDATE notebooks SET mode = $1 WHERE id = $2 AND (blocked_by IS NULL OR blocked_by = $3)
             RETURNING ",
            notebook_columns!()
        ))
        .bind(mode.as_str())
        .bind(id.0)
        .bind(actor.0)
        .fetch_optional(pool)
        .await?;
        match row {
            Some(row) => return Ok(notebook_from_row(&row)?),
            None => refusal(pool, id, actor).await?,
        }
    }
    Err(StoreError::Unavailable(format!("notebook {id} kept changing its block; try again")))
}

/// Guarded like [`set_notebook_mode`]: the flag and the block check are one statement.
pub(super) async fn set_others_may_run(
    pool: &PgPool,
    id: NotebookId,
    allowed: bool,
    actor: UserId,
) -> StoreResult<NotebookRow> {
    for _ in 0..GUARD_ATTEMPTS {
        let row = sqlx::query(concat!(
            "UPDATE notebooks SET others_may_run = $1 WHERE id = $2 AND (blocked_by IS NULL OR blocked_by = $3)
             RETURNING ",
            notebook_columns!()
        ))
        .bind(allowed)
        .bind(id.0)
        .bind(actor.0)
        .fetch_optional(pool)
        .await?;
        match row {
            Some(row) => return Ok(notebook_from_row(&row)?),
            None => refusal(pool, id, actor).await?,
        }
    }
    Err(StoreError::Unavailable(format!("notebook {id} kept changing its block; try again")))
}

/// The log, checkpoints and client bindings go with it (`ON DELETE CASCADE`).
pub(super) async fn delete_notebook(pool: &PgPool, id: NotebookId, actor: UserId) -> StoreResult<()> {
    for _ in 0..GUARD_ATTEMPTS {
        let done =
            sqlx::query("DELETE FROM notebooks WHERE id = $1 AND (blocked_by IS NULL OR blocked_by = $2)")
                .bind(id.0)
                .bind(actor.0)
                .execute(pool)
                .await?;
        if done.rows_affected() > 0 {
            return Ok(());
        }
        refusal(pool, id, actor).await?;
    }
    Err(StoreError::Unavailable(format!("notebook {id} kept changing its block; try again")))
}

/// Why a write guarded by `blocked_by IS NULL OR blocked_by = actor` changed nothing: the
/// notebook does not exist (`NotFound`) or someone else blocks it (`Blocked`). `Ok` when
/// neither holds any more (the block was lifted in between): the caller tries again.
async fn refusal(pool: &PgPool, id: NotebookId, actor: UserId) -> StoreResult<()> {
    match notebook(pool, id).await? {
        None => Err(StoreError::NotFound(format!("notebook {id}"))),
        Some(NotebookRow { block: Some(block), .. }) if block.holder != actor => {
            Err(StoreError::Blocked(block))
        }
        Some(_) => Ok(()),
    }
}

/// One conditional statement: it sets the block only where none is held by someone else,
/// and keeps the original time when the holder blocks again.
pub(super) async fn block_notebook(
    pool: &PgPool,
    id: NotebookId,
    holder: UserId,
    at: Timestamp,
) -> StoreResult<NotebookRow> {
    let row = sqlx::query(concat!(
        "UPDATE notebooks SET blocked_by = $2, blocked_at = COALESCE(blocked_at, $3)
         WHERE id = $1 AND (blocked_by IS NULL OR blocked_by = $2)
         RETURNING ",
        notebook_columns!()
    ))
    .bind(id.0)
    .bind(holder.0)
    .bind(at)
    .fetch_optional(pool)
    .await
    .map_err(|e| constraint_error(e, || format!("block on notebook {id}"), || format!("user {holder}")))?;
    match row {
        Some(row) => Ok(notebook_from_row(&row)?),
        None => notebook(pool, id).await?.ok_or_else(|| StoreError::NotFound(format!("notebook {id}"))),
    }
}

pub(super) async fn unblock_notebook(
    pool: &PgPool,
    id: NotebookId,
    holder: UserId,
) -> StoreResult<NotebookRow> {
    let row = sqlx::query(concat!(
        "UPDATE notebooks SET blocked_by = NULL, blocked_at = NULL WHERE id = $1 AND blocked_by = $2
         RETURNING ",
        notebook_columns!()
    ))
    .bind(id.0)
    .bind(holder.0)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(row) => Ok(notebook_from_row(&row)?),
        None => notebook(pool, id).await?.ok_or_else(|| StoreError::NotFound(format!("notebook {id}"))),
    }
}

fn project_from_row(row: &PgRow) -> Result<Project, sqlx::Error> {
    Ok(Project {
        id: ProjectId(row.try_get("id")?),
        owner_id: UserId(row.try_get("owner_id")?),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        visibility: parse_column("visibility", row.try_get("visibility")?, Visibility::parse)?,
        created_at: row.try_get("created_at")?,
    })
}

fn member_from_row(row: &PgRow) -> Result<Member, sqlx::Error> {
    Ok(Member {
        user: user_from_row(row, "u_")?,
        role: parse_column("role", row.try_get("role")?, Role::parse)?,
        since: row.try_get("since")?,
    })
}

fn notebook_from_row(row: &PgRow) -> Result<NotebookRow, sqlx::Error> {
    let blocked_by: Option<i64> = row.try_get("blocked_by")?;
    let blocked_at: Option<Timestamp> = row.try_get("blocked_at")?;
    Ok(NotebookRow {
        id: NotebookId(row.try_get("id")?),
        project_id: ProjectId(row.try_get("project_id")?),
        name: row.try_get("name")?,
        mode: parse_column("mode", row.try_get("mode")?, NotebookMode::parse)?,
        kernelspec: row.try_get("kernelspec")?,
        created_by: UserId(row.try_get("created_by")?),
        created_at: row.try_get("created_at")?,
        // The schema sets both or neither.
        block: blocked_by
            .zip(blocked_at)
            .map(|(holder, since)| NotebookBlock { holder: UserId(holder), since }),
        others_may_run: row.try_get("others_may_run")?,
    })
}
