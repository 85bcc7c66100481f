//! Notebooks: create (with its empty document), list a project's, read, rename, delete.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::created;
use super::extract::{Id, JsonBody};
use crate::access::{Access, notebook_access, project_access};
use crate::app::AppState;
use crate::auth::{AuthUser, MaybeUser};
use crate::error::{ApiError, ApiResult};
use crate::names;
use crate::notebooks::{self, NewEmpty};
use crate::store::{NotebookId, NotebookMode, NotebookRow, ProjectId};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/projects/{id}/notebooks", get(list).post(create))
        .route("/notebooks/{id}", get(read).patch(rename).delete(delete))
}

#[derive(Debug, Deserialize)]
struct NewNotebookBody {
    name: String,
    mode: Option<NotebookMode>,
    kernelspec: Option<String>,
}

/// `POST /api/projects/{id}/notebooks`: 201 with the notebook; 409 when the name is taken.
async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(project): Id<ProjectId>,
    JsonBody(body): JsonBody<NewNotebookBody>,
) -> ApiResult<Response> {
    let (project, access) = project_access(&state, Some(&caller.user), project).await?;
    access.require(Access::Edit)?;
    let new = NewEmpty {
        project: project.id,
        name: &body.name,
        mode: body.mode.unwrap_or(NotebookMode::Thread),
        kernelspec: body.kernelspec.as_deref(),
        creator: &caller.user,
    };
    Ok(created(notebooks::create_empty(&state.store, new).await?))
}

/// `GET /api/projects/{id}/notebooks`: by name.
async fn list(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Id(project): Id<ProjectId>,
) -> ApiResult<Json<Vec<NotebookRow>>> {
    let (project, _) = project_access(&state, caller.as_ref().map(|c| &c.user), project).await?;
    Ok(Json(state.store.notebooks_in(project.id).await?))
}

/// `GET /api/notebooks/{id}`.
async fn read(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Id(id): Id<NotebookId>,
) -> ApiResult<Json<NotebookRow>> {
    let (notebook, _) = notebook_access(&state, caller.as_ref().map(|c| &c.user), id).await?;
    Ok(Json(notebook))
}

#[derive(Debug, Deserialize)]
struct RenameBody {
    name: String,
}

/// `PATCH /api/notebooks/{id}` `{name}`: 409 when the project has a notebook of that name.
async fn rename(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(id): Id<NotebookId>,
    JsonBody(body): JsonBody<RenameBody>,
) -> ApiResult<Json<NotebookRow>> {
    let (notebook, access) = notebook_access(&state, Some(&caller.user), id).await?;
    access.require(Access::Edit)?;
    let name = names::name("notebook name", &body.name)
        .map_err(|e| ApiError::Invalid { code: "invalid_name", message: e.0 })?;
    Ok(Json(state.store.rename_notebook(notebook.id, &name).await?))
}

/// `DELETE /api/notebooks/{id}`: 204; connections to it are closed with 4404.
async fn delete(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(id): Id<NotebookId>,
) -> ApiResult<StatusCode> {
    let (notebook, access) = notebook_access(&state, Some(&caller.user), id).await?;
    access.require(Access::Edit)?;
    state.store.delete_notebook(notebook.id).await?;
    state.rooms.notebook_deleted(notebook.id).await;
    tracing::info!(notebook = %notebook.id, user = %caller.user.name, "notebook deleted");
    Ok(StatusCode::NO_CONTENT)
}
