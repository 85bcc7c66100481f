//! Running cells and the record of runs (SPEC §8, §10).
//!
//! - `POST /api/notebooks/{id}/cells/{cell_id}/run` queues a run of the cell's current
//!   source (202 with its execution record); outputs arrive in the shared document.
//! - `POST /api/notebooks/{id}/cells/{cell_id}/cancel` takes the cell's queued runs back
//!   before they start.
//! - `GET /api/notebooks/{id}/executions` lists who ran what, newest first, for anyone who
//!   may view the notebook (reviewers).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::Routes;
use super::extract::{Id, QueryParams};
use super::kernels::run_error;
use super::views::ErrorBody;
use crate::access::{Access, notebook_access};
use crate::app::AppState;
use crate::auth::{AuthUser, MaybeUser};
use crate::error::ApiResult;
use crate::kernels::RunRequest;
use crate::store::{ExecutionFilter, ExecutionId, ExecutionRecord, NotebookId, UserId};

/// Most records one listing returns.
const MAX_LISTED: i64 = 1000;

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .post("/notebooks/{id}/cells/{cell_id}/run", run)
        .post("/notebooks/{id}/cells/{cell_id}/cancel", cancel)
        .get("/notebooks/{id}/executions", list)
}

/// The runs a cancel took back.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct Cancelled {
    /// Ids of the execution records now `aborted`.
    cancelled: Vec<ExecutionId>,
}

/// A list of execution records, newest first.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct ExecutionList {
    executions: Vec<ExecutionRecord>,
}

/// Filters of the executions listing.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only runs this user asked for.
    #[param(value_type = Option<i64>)]
    user: Option<UserId>,
    /// Only runs of this cell.
    cell: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<i64>,
    /// Only records with a smaller id (the next page).
    #[param(value_type = Option<i64>)]
    before: Option<ExecutionId>,
}

/// Run a code cell: its current source goes to the author's kernel for this notebook
/// (thread mode) or the notebook's shared kernel (pair mode), started on first use.
///
/// Needs edit access; in thread mode only the cell's author may run it unless the
/// notebook allows others (then it still runs in the author's kernel). Returns once the
/// run is queued; the cell's `execution_state` and outputs change in the document.
#[utoipa::path(post, path = "/api/notebooks/{id}/cells/{cell_id}/run", operation_id = "run_cell", tag = "runs",
    params(("id" = i64, Path, description = "Notebook id"), ("cell_id" = String, Path, description = "Cell id")),
    responses(
        (status = 202, description = "Queued: the execution record", body = ExecutionRecord),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "No edit access, or (thread mode) someone else's cell", body = ErrorBody),
        (status = 404, description = "No such notebook or cell", body = ErrorBody),
        (status = 409, description = "`kernelspec_not_installed`: the notebook's kernelspec is missing on this server", body = ErrorBody),
        (status = 422, description = "`not_a_code_cell`", body = ErrorBody),
        (status = 429, description = "`kernel_limit_reached` (kernels per user) or `run_queue_full`", body = ErrorBody),
        (status = 503, description = "`server_kernel_limit`, `kernel_start_failed`, `notebook_unavailable` or `shutting_down`", body = ErrorBody),
    ))]
async fn run(
    State(state): State<AppState>,
    caller: AuthUser,
    Id((id, cell_id)): Id<(NotebookId, String)>,
) -> ApiResult<Response> {
    let (notebook, access) = notebook_access(&state, Some(&caller.user), id).await?;
    let request =
        RunRequest { notebook: &notebook, cell_id: cell_id.as_str().into(), runner: &caller.user, access };
    let record = state.kernels.run(request).await.map_err(run_error)?;
    Ok((StatusCode::ACCEPTED, Json(record)).into_response())
}

/// Cancel a cell's queued runs before they start (they end `aborted`). A run that has
/// started is stopped by interrupting its kernel instead.
#[utoipa::path(post, path = "/api/notebooks/{id}/cells/{cell_id}/cancel", operation_id = "cancel_cell_runs", tag = "runs",
    params(("id" = i64, Path, description = "Notebook id"), ("cell_id" = String, Path, description = "Cell id")),
    responses(
        (status = 200, description = "The runs taken back", body = Cancelled),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "No edit access, or the queued runs are someone else's", body = ErrorBody),
        (status = 404, description = "No such notebook", body = ErrorBody),
        (status = 409, description = "`nothing_queued`: no queued run of this cell (it may have started)", body = ErrorBody),
    ))]
async fn cancel(
    State(state): State<AppState>,
    caller: AuthUser,
    Id((id, cell_id)): Id<(NotebookId, String)>,
) -> ApiResult<Json<Cancelled>> {
    let (notebook, access) = notebook_access(&state, Some(&caller.user), id).await?;
    let cancelled = state
        .kernels
        .cancel(&notebook, &cell_id.as_str().into(), &caller.user, access)
        .await
        .map_err(run_error)?;
    tracing::info!(notebook = %notebook.id, cell = %cell_id, user = %caller.user.name, runs = cancelled.len(), "queued runs cancelled");
    Ok(Json(Cancelled { cancelled }))
}

/// A notebook's runs, newest first: who asked, which cell and kernel, the source that ran,
/// times, status and execution count.
#[utoipa::path(get, path = "/api/notebooks/{id}/executions", operation_id = "list_executions", tag = "runs",
    params(("id" = i64, Path, description = "Notebook id"), ListQuery),
    security(("bearer" = []), ("cookie" = []), ("token" = []), ()),
    responses(
        (status = 200, description = "Matching execution records", body = ExecutionList),
        (status = 400, description = "A filter that does not parse", body = ErrorBody),
        (status = 401, description = "Not signed in and the project is not public", body = ErrorBody),
        (status = 403, description = "No access", body = ErrorBody),
        (status = 404, description = "No such notebook", body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Id(id): Id<NotebookId>,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Json<ExecutionList>> {
    let caller = caller.map(|c| c.user);
    let (notebook, access) = notebook_access(&state, caller.as_ref(), id).await?;
    access.require(Access::View)?;
    let filter = ExecutionFilter {
        user: query.user,
        cell: query.cell,
        limit: query.limit.unwrap_or(100).clamp(1, MAX_LISTED),
        before: query.before,
    };
    let executions = state.store.executions(notebook.id, &filter).await?;
    Ok(Json(ExecutionList { executions }))
}
