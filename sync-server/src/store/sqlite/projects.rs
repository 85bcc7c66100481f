//! Projects, their members and their notebooks on SQLite.

use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Row, Sqlite, Transaction};

use super::time_column;
use crate::store::sql_common::{constraint_error, parse_column};
use crate::store::{
    NewNotebook, NewProject, NotebookId, NotebookMode, NotebookRow, Project, ProjectId, StoreError,
    StoreResult, UserId, Visibility,
};

/// Creates the project and makes its owner a member with role `owner`, in one
/// transaction, so that no project is ever without its owner's membership.
pub(super) async fn create_project(
    mut tx: Transaction<'static, Sqlite>,
    project: &NewProject,
) -> StoreResult<Project> {
    let missing = || format!("user {}", project.owner_id);
    let row = sqlx::query(
        "INSERT INTO projects (owner_id, name, description, visibility) VALUES (?, ?, ?, ?)
         RETURNING id, owner_id, name, description, visibility, created_at",
    )
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
    let row = sqlx::query(
        "SELECT id, owner_id, name, description, visibility, created_at FROM projects WHERE id = ?",
    )
    .bind(id.0)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| project_from_row(&r)).transpose()?)
}

/// Every project the user is a member of (owners are members), newest first.
pub(super) async fn projects_for(pool: &SqlitePool, user: UserId) -> StoreResult<Vec<Project>> {
    let rows = sqlx::query(
        "SELECT p.id, p.owner_id, p.name, p.description, p.visibility, p.created_at
         FROM projects p JOIN project_members m ON m.project_id = p.id
         WHERE m.user_id = ?
         ORDER BY p.created_at DESC, p.id DESC",
    )
    .bind(user.0)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(project_from_row).collect::<Result<_, _>>()?)
}

pub(super) async fn create_notebook(pool: &SqlitePool, notebook: &NewNotebook) -> StoreResult<NotebookRow> {
    let row = sqlx::query(
        "INSERT INTO notebooks (project_id, name, mode, kernelspec, created_by) VALUES (?, ?, ?, ?, ?)
         RETURNING id, project_id, name, mode, kernelspec, created_by, created_at",
    )
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
    let row = sqlx::query(
        "SELECT id, project_id, name, mode, kernelspec, created_by, created_at FROM notebooks WHERE id = ?",
    )
    .bind(id.0)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| notebook_from_row(&r)).transpose()?)
}

/// By name, the order a file browser shows them in.
pub(super) async fn notebooks_in(pool: &SqlitePool, project: ProjectId) -> StoreResult<Vec<NotebookRow>> {
    let rows = sqlx::query(
        "SELECT id, project_id, name, mode, kernelspec, created_by, created_at FROM notebooks
         WHERE project_id = ? ORDER BY name, id",
    )
    .bind(project.0)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(notebook_from_row).collect::<Result<_, _>>()?)
}

pub(super) async fn rename_notebook(
    pool: &SqlitePool,
    id: NotebookId,
    name: &str,
) -> StoreResult<NotebookRow> {
    let row = sqlx::query(
        "UPDATE notebooks SET name = ? WHERE id = ?
         RETURNING id, project_id, name, mode, kernelspec, created_by, created_at",
    )
    .bind(name)
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(|e| {
        constraint_error(e, || format!("notebook `{name}` in this project"), || format!("notebook {id}"))
    })?;
    let row = row.ok_or_else(|| StoreError::NotFound(format!("notebook {id}")))?;
    Ok(notebook_from_row(&row)?)
}

/// The log and checkpoints go with it (`ON DELETE CASCADE`).
pub(super) async fn delete_notebook(pool: &SqlitePool, id: NotebookId) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM notebooks WHERE id = ?").bind(id.0).execute(pool).await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("notebook {id}")));
    }
    Ok(())
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

fn notebook_from_row(row: &SqliteRow) -> Result<NotebookRow, sqlx::Error> {
    Ok(NotebookRow {
        id: NotebookId(row.try_get("id")?),
        project_id: ProjectId(row.try_get("project_id")?),
        name: row.try_get("name")?,
        mode: parse_column("mode", row.try_get("mode")?, NotebookMode::parse)?,
        kernelspec: row.try_get("kernelspec")?,
        created_by: UserId(row.try_get("created_by")?),
        created_at: time_column(row, "created_at")?,
    })
}
