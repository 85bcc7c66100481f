//! Notebooks: create (with its empty document), list a project's, read, rename, change the
//! mode, delete.
//!
//! Reading needs view access to the project, changing a notebook edit access. The mode is
//! changed by the project's owner or by the notebook's creator while they may still edit.
//! A notebook blocked by someone else refuses every change with 423 (see [`blocked`]).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::{Id, JsonBody};
use super::views::{BlockView, BlockedErrorBody, ErrorBody, NotebookView};
use super::{Routes, created};
use crate::access::{Access, notebook_access, project_access};
use crate::app::AppState;
use crate::auth::{AuthUser, MaybeUser};
use crate::error::{ApiError, ApiResult};
use crate::names;
use crate::notebooks::{self, NewEmpty};
use crate::rooms::NotebookPolicy;
use crate::store::{NotebookBlock, NotebookId, NotebookMode, ProjectId, StoreError};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .get("/projects/{id}/notebooks", list)
        .post("/projects/{id}/notebooks", create)
        .get("/notebooks/{id}", read)
        .patch("/notebooks/{id}", rename)
        .delete("/notebooks/{id}", delete)
        .put("/notebooks/{id}/mode", set_mode)
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct NewNotebookBody {
    name: String,
    /// `thread` when left out.
    mode: Option<NotebookMode>,
    /// `python3` when left out.
    kernelspec: Option<String>,
}

/// Create an empty notebook in a project (editors and the owner).
#[utoipa::path(post, path = "/api/projects/{id}/notebooks", operation_id = "create_notebook", tag = "notebooks",
    params(("id" = i64, Path, description = "Project id")),
    request_body = NewNotebookBody,
    responses(
        (status = 201, description = "The notebook; the caller is its creator", body = NotebookView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "No edit access to the project", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 409, description = "The project has a notebook of that name", body = ErrorBody),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "`invalid_name`, `invalid_kernelspec` (or JSON of the wrong shape)", body = ErrorBody),
    ))]
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
        at: state.config.clock().now(),
    };
    let row = notebooks::create_empty(&state.store, new).await?;
    Ok(created(NotebookView::new(row, None, access)))
}

/// A project's notebooks by name (anyone who may view the project).
#[utoipa::path(get, path = "/api/projects/{id}/notebooks", operation_id = "list_notebooks", tag = "notebooks",
    params(("id" = i64, Path, description = "Project id")),
    security((), ("bearer" = []), ("cookie" = []), ("token" = [])),
    responses(
        (status = 200, description = "Notebooks with their modes and blocks", body = [NotebookView]),
        (status = 401, description = "Anonymous, and the project is not public", body = ErrorBody),
        (status = 403, description = "Signed in but no member of a private project", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Id(project): Id<ProjectId>,
) -> ApiResult<Json<Vec<NotebookView>>> {
    let (project, access) = project_access(&state, caller.as_ref().map(|c| &c.user), project).await?;
    let rows = state.store.notebooks_in(project.id).await?;
    Ok(Json(NotebookView::load_all(&state, rows, access).await?))
}

/// Read a notebook (anyone who may view its project).
#[utoipa::path(get, path = "/api/notebooks/{id}", operation_id = "read_notebook", tag = "notebooks",
    params(("id" = i64, Path, description = "Notebook id")),
    security((), ("bearer" = []), ("cookie" = []), ("token" = [])),
    responses(
        (status = 200, description = "The notebook with its mode, block and the caller's access", body = NotebookView),
        (status = 401, description = "Anonymous, and the project is not public", body = ErrorBody),
        (status = 403, description = "Signed in but no member of a private project", body = ErrorBody),
        (status = 404, description = "No such notebook", body = ErrorBody),
    ))]
async fn read(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Id(id): Id<NotebookId>,
) -> ApiResult<Json<NotebookView>> {
    let (notebook, access) = notebook_access(&state, caller.as_ref().map(|c| &c.user), id).await?;
    Ok(Json(NotebookView::load(&state, notebook, access).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct RenameBody {
    name: String,
}

/// Rename a notebook (editors and the owner).
#[utoipa::path(patch, path = "/api/notebooks/{id}", operation_id = "rename_notebook", tag = "notebooks",
    params(("id" = i64, Path, description = "Notebook id")),
    request_body = RenameBody,
    responses(
        (status = 200, description = "The renamed notebook", body = NotebookView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "No edit access", body = ErrorBody),
        (status = 404, description = "No such notebook", body = ErrorBody),
        (status = 409, description = "The project has a notebook of that name", body = ErrorBody),
        (status = 423, description = "`blocked`: someone else blocks the notebook", body = BlockedErrorBody),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "`invalid_name` (or JSON of the wrong shape)", body = ErrorBody),
    ))]
async fn rename(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(id): Id<NotebookId>,
    JsonBody(body): JsonBody<RenameBody>,
) -> ApiResult<Json<NotebookView>> {
    let (notebook, access) = notebook_access(&state, Some(&caller.user), id).await?;
    access.require(Access::Edit)?;
    let name = names::name("notebook name", &body.name)
        .map_err(|e| ApiError::Invalid { code: "invalid_name", message: e.0 })?;
    let renamed = state.store.rename_notebook(notebook.id, &name, caller.user.id).await;
    let renamed = blocked(&state, renamed).await?;
    Ok(Json(NotebookView::load(&state, renamed, access).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct ModeBody {
    mode: NotebookMode,
    /// Thread mode: whether editors other than a cell's author may run it (in the
    /// author's kernel). Unchanged when left out.
    #[serde(default)]
    others_may_run: Option<bool>,
}

/// Change a notebook's mode (`thread` or `pair`), and whether editors may run each
/// other's cells in thread mode (`others_may_run`).
///
/// Allowed to the project's owner and to the notebook's creator while they may edit the
/// project. Open connections switch to the new mode's rules at once.
#[utoipa::path(put, path = "/api/notebooks/{id}/mode", operation_id = "set_notebook_mode", tag = "notebooks",
    params(("id" = i64, Path, description = "Notebook id")),
    request_body = ModeBody,
    responses(
        (status = 200, description = "The notebook in its new mode", body = NotebookView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Neither the project's owner nor the notebook's creator with edit access", body = ErrorBody),
        (status = 404, description = "No such notebook", body = ErrorBody),
        (status = 423, description = "`blocked`: someone else blocks the notebook", body = BlockedErrorBody),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "Not a mode (or JSON of the wrong shape)", body = ErrorBody),
    ))]
async fn set_mode(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(id): Id<NotebookId>,
    JsonBody(body): JsonBody<ModeBody>,
) -> ApiResult<Json<NotebookView>> {
    let (notebook, access) = notebook_access(&state, Some(&caller.user), id).await?;
    let creator = notebook.created_by == caller.user.id;
    if !(access == Access::Own || (creator && access.can_edit())) {
        return Err(ApiError::Forbidden(
            "only the project's owner or the notebook's creator (with edit access) may change its mode"
                .into(),
        ));
    }
    let changed = state.store.set_notebook_mode(notebook.id, body.mode, caller.user.id).await;
    let mut changed = blocked(&state, changed).await?;
    if let Some(allowed) = body.others_may_run {
        let result = state.store.set_others_may_run(notebook.id, allowed, caller.user.id).await;
        changed = blocked(&state, result).await?;
    }
    let view = NotebookView::load(&state, changed, access).await?;
    tell_room(&state, &view).await;
    tracing::info!(notebook = %view.id, mode = view.mode.as_str(), user = %caller.user.name, "mode changed");
    Ok(Json(view))
}

/// Delete a notebook with its history (editors and the owner).
///
/// Open connections are closed with 4404.
#[utoipa::path(delete, path = "/api/notebooks/{id}", operation_id = "delete_notebook", tag = "notebooks",
    params(("id" = i64, Path, description = "Notebook id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "No edit access", body = ErrorBody),
        (status = 404, description = "No such notebook", body = ErrorBody),
        (status = 423, description = "`blocked`: someone else blocks the notebook", body = BlockedErrorBody),
    ))]
async fn delete(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(id): Id<NotebookId>,
) -> ApiResult<StatusCode> {
    let (notebook, access) = notebook_access(&state, Some(&caller.user), id).await?;
    access.require(Access::Edit)?;
    let deleted = state.store.delete_notebook(notebook.id, caller.user.id).await;
    blocked(&state, deleted).await?;
    state.rooms.notebook_deleted(notebook.id).await;
    tracing::info!(notebook = %notebook.id, user = %caller.user.name, "notebook deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Turns the store's refusal of a write to a notebook someone else blocks into the 423
/// answer, with the holder's names.
pub(super) async fn blocked<T>(state: &AppState, result: Result<T, StoreError>) -> ApiResult<T> {
    match result {
        Ok(value) => Ok(value),
        Err(StoreError::Blocked(block)) => {
            Err(ApiError::Blocked(Box::new(BlockView::load(state, &block).await?)))
        }
        Err(other) => Err(other.into()),
    }
}

/// Tells the notebook's room its mode and block (after they were stored), so open
/// connections follow the new rules at once.
pub(super) async fn tell_room(state: &AppState, view: &NotebookView) {
    let block = view
        .block
        .as_ref()
        .map(|b| (NotebookBlock { holder: b.holder.id, since: b.since }, b.holder.name.clone()));
    let policy = NotebookPolicy { mode: view.mode, others_may_run: view.others_may_run, block };
    state.rooms.set_policy(view.id, policy).await;
}
