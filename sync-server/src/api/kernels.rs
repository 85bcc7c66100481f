//! Kernels (SPEC §8, §10): installed kernelspecs, the caller's and a project's running
//! kernels, and interrupt, restart and shut down.
//!
//! - A thread-mode kernel is controlled by its owner and by the project's owner; a
//!   pair-mode notebook's shared kernel by every editor of the project.
//! - `GET /api/kernels` lists the caller's own kernels (and the shared ones they started);
//!   `GET /api/projects/{id}/kernels` lists all of a project's kernels for its owner, and
//!   the caller's own plus the shared ones for other members.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::Routes;
use super::extract::Id;
use super::views::ErrorBody;
use crate::access::{Access, notebook_access, project_access};
use crate::app::AppState;
use crate::auth::{AuthUser, MaybeUser};
use crate::error::{ApiError, ApiResult};
use crate::kernels::view::KernelView;
use crate::kernels::{KernelOwner, KernelsError, ManagedKernel, RunError};
use crate::notebooks::DEFAULT_KERNELSPEC;
use crate::store::{ProjectId, User};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .get("/kernelspecs", kernelspecs)
        .get("/kernels", mine)
        .get("/projects/{id}/kernels", of_project)
        .post("/kernels/{kernel_id}/interrupt", interrupt)
        .post("/kernels/{kernel_id}/restart", restart)
        .delete("/kernels/{kernel_id}", shut_down)
}

/// An installed kernelspec.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct KernelspecView {
    name: String,
    display_name: String,
    language: String,
    /// `signal` or `message`: how the kernel is interrupted.
    interrupt_mode: String,
}

/// The installed kernelspecs and the default one for new notebooks.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct KernelspecList {
    default: String,
    kernelspecs: Vec<KernelspecView>,
}

/// A list of kernels.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct KernelList {
    kernels: Vec<KernelView>,
}

/// The kernelspecs installed on the server, found as Jupyter finds them (`JUPYTER_PATH`,
/// the user's and the system's data directories, the server's environment).
#[utoipa::path(get, path = "/api/kernelspecs", operation_id = "list_kernelspecs", tag = "kernels",
    responses(
        (status = 200, description = "Installed kernelspecs by name", body = KernelspecList),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn kernelspecs(State(state): State<AppState>, _caller: AuthUser) -> Json<KernelspecList> {
    let kernelspecs = state
        .kernels
        .paths()
        .list()
        .into_values()
        .map(|spec| KernelspecView {
            interrupt_mode: match spec.interrupt_mode {
                kernel_bridge::InterruptMode::Signal => "signal".into(),
                kernel_bridge::InterruptMode::Message => "message".into(),
            },
            name: spec.name,
            display_name: spec.display_name,
            language: spec.language,
        })
        .collect();
    Json(KernelspecList { default: DEFAULT_KERNELSPEC.into(), kernelspecs })
}

/// The caller's kernels: their own (thread mode) and the shared ones they started.
#[utoipa::path(get, path = "/api/kernels", operation_id = "list_my_kernels", tag = "kernels",
    responses(
        (status = 200, description = "The caller's running kernels, oldest first", body = KernelList),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn mine(State(state): State<AppState>, caller: AuthUser) -> Json<KernelList> {
    let kernels = state
        .kernels
        .all()
        .iter()
        .filter(|k| k.key.owner == KernelOwner::User(caller.user.id) || k.charged_to == caller.user.id)
        .map(|k| KernelView::of(k))
        .collect();
    Json(KernelList { kernels })
}

/// A project's kernels: all of them for its owner; for others who may view the project
/// their own, plus the shared ones for editors.
#[utoipa::path(get, path = "/api/projects/{id}/kernels", operation_id = "list_project_kernels", tag = "kernels",
    params(("id" = i64, Path, description = "Project id")),
    security(("bearer" = []), ("cookie" = []), ("token" = []), ()),
    responses(
        (status = 200, description = "The project's running kernels the caller may see", body = KernelList),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "No access to the project", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
    ))]
async fn of_project(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Id(id): Id<ProjectId>,
) -> ApiResult<Json<KernelList>> {
    let caller = caller.map(|c| c.user);
    let (project, access) = project_access(&state, caller.as_ref(), id).await?;
    let me = caller.as_ref().map(|u| KernelOwner::User(u.id));
    let kernels = state
        .kernels
        .all()
        .iter()
        .filter(|k| k.project == project.id)
        .filter(|k| {
            access == Access::Own
                || Some(k.key.owner) == me
                || (k.key.owner == KernelOwner::Shared && access.can_edit())
        })
        .map(|k| KernelView::of(k))
        .collect();
    Ok(Json(KernelList { kernels }))
}

/// Interrupt what the kernel is running (its queued runs stay queued).
#[utoipa::path(post, path = "/api/kernels/{kernel_id}/interrupt", operation_id = "interrupt_kernel", tag = "kernels",
    params(("kernel_id" = String, Path, description = "Kernel id")),
    responses(
        (status = 200, description = "Interrupted", body = KernelView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Someone else's kernel", body = ErrorBody),
        (status = 404, description = "No such kernel", body = ErrorBody),
        (status = 409, description = "`kernel_unavailable`: the kernel is dead or shut down", body = ErrorBody),
    ))]
async fn interrupt(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(kernel_id): Id<String>,
) -> ApiResult<Json<KernelView>> {
    let kernel = controlled(&state, &caller.user, &kernel_id).await?;
    state.kernels.interrupt(&kernel).await.map_err(kernels_error)?;
    tracing::info!(kernel = %kernel.id, user = %caller.user.name, "kernel interrupted");
    Ok(Json(KernelView::of(&kernel)))
}

/// Restart the kernel: a new process, its variables gone; its running and queued runs end
/// aborted.
#[utoipa::path(post, path = "/api/kernels/{kernel_id}/restart", operation_id = "restart_kernel", tag = "kernels",
    params(("kernel_id" = String, Path, description = "Kernel id")),
    responses(
        (status = 200, description = "Restarted (a new pid)", body = KernelView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Someone else's kernel", body = ErrorBody),
        (status = 404, description = "No such kernel", body = ErrorBody),
        (status = 409, description = "`kernel_unavailable`: the kernel is shut down or could not restart", body = ErrorBody),
    ))]
async fn restart(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(kernel_id): Id<String>,
) -> ApiResult<Json<KernelView>> {
    let kernel = controlled(&state, &caller.user, &kernel_id).await?;
    state.kernels.restart(&kernel).await.map_err(kernels_error)?;
    tracing::info!(kernel = %kernel.id, user = %caller.user.name, pid = kernel.kernel.pid(), "kernel restarted");
    Ok(Json(KernelView::of(&kernel)))
}

/// Shut the kernel down; its running and queued runs end aborted. The next run starts a
/// new kernel.
#[utoipa::path(delete, path = "/api/kernels/{kernel_id}", operation_id = "shut_down_kernel", tag = "kernels",
    params(("kernel_id" = String, Path, description = "Kernel id")),
    responses(
        (status = 204, description = "Shut down; the process is gone"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Someone else's kernel", body = ErrorBody),
        (status = 404, description = "No such kernel", body = ErrorBody),
    ))]
async fn shut_down(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(kernel_id): Id<String>,
) -> ApiResult<StatusCode> {
    let kernel = controlled(&state, &caller.user, &kernel_id).await?;
    if let Err(e) = state.kernels.shut_down(&kernel).await {
        tracing::warn!(kernel = %kernel.id, error = %e, "kernel did not shut down cleanly");
    }
    tracing::info!(kernel = %kernel.id, user = %caller.user.name, "kernel shut down by request");
    Ok(StatusCode::NO_CONTENT)
}

/// The kernel, if the caller may control it: 404 when it does not exist, 403 when the
/// caller has no access to its notebook or it is someone else's.
async fn controlled(state: &AppState, caller: &User, id: &str) -> ApiResult<Arc<ManagedKernel>> {
    let kernel = state.kernels.get(id).ok_or_else(|| ApiError::NotFound(format!("kernel {id}")))?;
    let access = match kernel.key.notebook() {
        Some(notebook) => notebook_access(state, Some(caller), notebook).await?.1,
        None => project_access(state, Some(caller), kernel.project).await?.1,
    };
    let allowed = match kernel.key.owner {
        KernelOwner::User(owner) => owner == caller.id || access == Access::Own,
        KernelOwner::Shared => access.can_edit(),
    };
    if !allowed {
        return Err(ApiError::Forbidden(
            "this is another user's kernel: only they and the project's owner may control it".into(),
        ));
    }
    Ok(kernel)
}

/// The API's answer for a kernel that could not be had or controlled.
pub(super) fn kernels_error(error: KernelsError) -> ApiError {
    let message = error.to_string();
    match error {
        KernelsError::UserLimit { .. } => ApiError::Limited { code: "kernel_limit_reached", message },
        KernelsError::QueueFull { .. } => ApiError::Limited { code: "run_queue_full", message },
        KernelsError::ServerLimit { .. } => ApiError::Overloaded { code: "server_kernel_limit", message },
        KernelsError::StartFailed(_) => ApiError::Overloaded { code: "kernel_start_failed", message },
        KernelsError::ShuttingDown => ApiError::Overloaded { code: "shutting_down", message },
        KernelsError::NoSuchKernelspec { .. } => {
            ApiError::Refused { code: "kernelspec_not_installed", message }
        }
        KernelsError::NotFound(what) => ApiError::NotFound(format!("kernel {what}")),
        KernelsError::Kernel(_) => ApiError::Refused { code: "kernel_unavailable", message },
    }
}

/// The API's answer for a refused run or cancel.
pub(super) fn run_error(error: RunError) -> ApiError {
    match error {
        RunError::Forbidden(message) => ApiError::Forbidden(message),
        RunError::NoSuchCell(cell) => ApiError::NotFound(format!("cell {cell}")),
        RunError::NotCode(_) => ApiError::Invalid { code: "not_a_code_cell", message: error.to_string() },
        RunError::NothingQueued(message) => ApiError::Refused { code: "nothing_queued", message },
        RunError::Kernels(e) => kernels_error(e),
        RunError::Room(e) => ApiError::Overloaded { code: "notebook_unavailable", message: e.to_string() },
        RunError::Store(e) => e.into(),
    }
}
