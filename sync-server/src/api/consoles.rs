//! Consoles (SPEC §2, §9, §10): a user's interactive kernel sessions in a project.
//!
//! - `POST /api/projects/{id}/consoles` opens the caller's default console (no `path`;
//!   the same one again if it is open) or a console on a project file, which it holds.
//!   Needs edit access: a console runs code in the project.
//! - `POST /api/consoles/{id}/execute` runs code; `GET /api/consoles/{id}/events` streams
//!   every run's events as server-sent events (JSON, nbformat output shapes);
//!   `DELETE /api/consoles/{id}` closes it. Only its owner uses a console.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::Routes;
use super::extract::{Id, JsonBody};
use super::files::{blocked, path_param};
use super::kernels::kernels_error;
use super::views::ErrorBody;
use crate::access::{Access, project_access};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::kernels::console::{Console, ConsoleError};
use crate::kernels::view::KernelView;
use crate::notebooks::DEFAULT_KERNELSPEC;
use crate::store::{ProjectId, Timestamp, User, UserId};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .post("/projects/{id}/consoles", open)
        .get("/consoles", mine)
        .post("/consoles/{console_id}/execute", execute)
        .post("/consoles/{console_id}/run-file", run_file)
        .get("/consoles/{console_id}/events", events)
        .delete("/consoles/{console_id}", close)
}

/// What opening a console takes.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub(super) struct OpenBody {
    /// Kernelspec name (default `python3`).
    #[serde(default)]
    kernelspec: Option<String>,
    /// The project file the console holds; none for the caller's default console.
    #[serde(default)]
    path: Option<String>,
}

/// An open console.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct ConsoleView {
    id: String,
    project_id: ProjectId,
    #[schema(value_type = i64)]
    owner: UserId,
    kernelspec: String,
    /// The file it holds; `null` for the default console.
    path: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    kernel: KernelView,
}

impl ConsoleView {
    fn of(console: &Console) -> ConsoleView {
        ConsoleView {
            id: console.id.clone(),
            project_id: console.project,
            owner: console.owner,
            kernelspec: console.kernelspec.clone(),
            path: console.path.as_ref().map(|p| p.as_str().to_owned()),
            created_at: console.created_at,
            kernel: KernelView::of(&console.kernel),
        }
    }
}

/// The caller's consoles.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct ConsoleList {
    consoles: Vec<ConsoleView>,
}

/// Code to run.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub(super) struct ExecuteBody {
    code: String,
}

/// A queued console run: its number, which its events carry.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct Queued {
    execution: u64,
}

/// Open the caller's default console, or a console on a project file.
#[utoipa::path(post, path = "/api/projects/{id}/consoles", operation_id = "open_console", tag = "consoles",
    params(("id" = i64, Path, description = "Project id")),
    request_body = OpenBody,
    responses(
        (status = 201, description = "Opened", body = ConsoleView),
        (status = 200, description = "Already open (the default console, or the caller's console on that file)", body = ConsoleView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "No edit access", body = ErrorBody),
        (status = 404, description = "No such project, or no such file in it", body = ErrorBody),
        (status = 400, description = "`invalid_path`", body = ErrorBody),
        (status = 409, description = "`held_by_console`: another user's console holds the file; `kernelspec_not_installed`", body = ErrorBody),
        (status = 423, description = "`blocked`: someone else blocks the file", body = super::views::FileBlockedErrorBody),
        (status = 429, description = "`kernel_limit_reached`", body = ErrorBody),
        (status = 503, description = "`server_kernel_limit`, `kernel_start_failed`", body = ErrorBody),
    ))]
async fn open(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(id): Id<ProjectId>,
    JsonBody(body): JsonBody<OpenBody>,
) -> ApiResult<Response> {
    let (project, access) = project_access(&state, Some(&caller.user), id).await?;
    access.require(Access::Edit)?;
    let path = body.path.as_deref().map(path_param).transpose()?;
    let kernelspec = body.kernelspec.unwrap_or_else(|| DEFAULT_KERNELSPEC.to_owned());
    let opened = state.kernels.open_console(project.id, caller.user.id, &kernelspec, path).await;
    let (console, new) = match opened {
        Ok(opened) => opened,
        Err(e) => return Err(console_error(&state, e).await),
    };
    let status = if new { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(ConsoleView::of(&console))).into_response())
}

/// The caller's open consoles.
#[utoipa::path(get, path = "/api/consoles", operation_id = "list_my_consoles", tag = "consoles",
    responses(
        (status = 200, description = "The caller's consoles, oldest first", body = ConsoleList),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn mine(State(state): State<AppState>, caller: AuthUser) -> Json<ConsoleList> {
    let consoles = state.kernels.consoles_of(caller.user.id).iter().map(|c| ConsoleView::of(c)).collect();
    Json(ConsoleList { consoles })
}

/// Run code in the console; its events arrive on `GET /api/consoles/{console_id}/events`.
#[utoipa::path(post, path = "/api/consoles/{console_id}/execute", operation_id = "console_execute", tag = "consoles",
    params(("console_id" = String, Path, description = "Console id")),
    request_body = ExecuteBody,
    responses(
        (status = 202, description = "Queued", body = Queued),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Someone else's console", body = ErrorBody),
        (status = 404, description = "No such console", body = ErrorBody),
        (status = 409, description = "`kernel_unavailable`", body = ErrorBody),
    ))]
async fn execute(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(console_id): Id<String>,
    JsonBody(body): JsonBody<ExecuteBody>,
) -> ApiResult<Response> {
    let console = owned(&state, &caller.user, &console_id)?;
    let execution = match state.kernels.console_execute(&console, body.code).await {
        Ok(execution) => execution,
        Err(e) => return Err(console_error(&state, e).await),
    };
    Ok((StatusCode::ACCEPTED, Json(Queued { execution })).into_response())
}

/// Run the file the console holds, as it is in the project now; its events arrive on
/// `GET /api/consoles/{console_id}/events`.
#[utoipa::path(post, path = "/api/consoles/{console_id}/run-file", operation_id = "console_run_file", tag = "consoles",
    params(("console_id" = String, Path, description = "Console id")),
    responses(
        (status = 202, description = "Queued", body = Queued),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Someone else's console", body = ErrorBody),
        (status = 404, description = "No such console, or its file is gone", body = ErrorBody),
        (status = 409, description = "`no_file`: the console holds no file (the default console)", body = ErrorBody),
    ))]
async fn run_file(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(console_id): Id<String>,
) -> ApiResult<Response> {
    let console = owned(&state, &caller.user, &console_id)?;
    let execution = match state.kernels.console_run_file(&console).await {
        Ok(execution) => execution,
        Err(e) => return Err(console_error(&state, e).await),
    };
    Ok((StatusCode::ACCEPTED, Json(Queued { execution })).into_response())
}

/// The console's events as server-sent events, from now on: one `message` per event,
/// `{"execution": n, "event": "started"|"output"|"update_display_data"|"clear_output"|"finished"|…, …}`
/// (an `output` carries the nbformat output, a `finished` its status and execution count);
/// a `lagged` event says how many messages a slow listener missed, and a `closed` event
/// ends the stream when the console closes.
#[utoipa::path(get, path = "/api/consoles/{console_id}/events", operation_id = "console_events", tag = "consoles",
    params(("console_id" = String, Path, description = "Console id")),
    responses(
        (status = 200, description = "`text/event-stream` of JSON messages", content_type = "text/event-stream", body = String),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Someone else's console", body = ErrorBody),
        (status = 404, description = "No such console", body = ErrorBody),
    ))]
async fn events(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(console_id): Id<String>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let console = owned(&state, &caller.user, &console_id)?;
    let receiver = console.subscribe();
    // The stream ends with a `closed` event when the console closes.
    let stream = futures_util::stream::unfold(Some((receiver, console)), |state| async move {
        let (mut receiver, console) = state?;
        loop {
            // Messages already sent come first, so a stream ends only after them.
            let event = tokio::select! {
                biased;
                received = receiver.recv() => match received {
                    Ok(message) => Event::default().json_data(&message).ok(),
                    Err(RecvError::Lagged(missed)) => Some(Event::default().event("lagged").data(missed.to_string())),
                    Err(RecvError::Closed) => return Some((Ok(closed_event()), None)),
                },
                _ = console.closed() => return Some((Ok(closed_event()), None)),
            };
            if let Some(event) = event {
                return Some((Ok(event), Some((receiver, console))));
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn closed_event() -> Event {
    Event::default().event("closed").data("the console is closed")
}

/// Close the console: its kernel is shut down and the file it held is free.
#[utoipa::path(delete, path = "/api/consoles/{console_id}", operation_id = "close_console", tag = "consoles",
    params(("console_id" = String, Path, description = "Console id")),
    responses(
        (status = 204, description = "Closed"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Someone else's console", body = ErrorBody),
        (status = 404, description = "No such console", body = ErrorBody),
    ))]
async fn close(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(console_id): Id<String>,
) -> ApiResult<StatusCode> {
    let console = owned(&state, &caller.user, &console_id)?;
    state.kernels.close_console(&console, "closed by its owner").await;
    Ok(StatusCode::NO_CONTENT)
}

/// The console if the caller owns it: 404 when there is none, 403 when it is someone
/// else's.
fn owned(state: &AppState, caller: &User, id: &str) -> ApiResult<Arc<Console>> {
    let console = state.kernels.console(id).ok_or_else(|| ApiError::NotFound(format!("console {id}")))?;
    if console.owner != caller.id {
        return Err(ApiError::Forbidden("this is another user's console; only its owner may use it".into()));
    }
    Ok(console)
}

async fn console_error(state: &AppState, error: ConsoleError) -> ApiError {
    match error {
        ConsoleError::Held { .. } => {
            ApiError::Refused { code: "held_by_console", message: error.to_string() }
        }
        ConsoleError::Blocked { path, block } => blocked(state, &path, &block).await,
        ConsoleError::NoSuchFile(path) => ApiError::NotFound(format!("file `{path}`")),
        ConsoleError::NoFile => ApiError::Refused { code: "no_file", message: error.to_string() },
        ConsoleError::NotFound(id) => ApiError::NotFound(format!("console {id}")),
        ConsoleError::Store(e) => e.into(),
        ConsoleError::Kernels(e) => kernels_error(e),
    }
}
