//! Background jobs (SPEC §9, §10): run a project's script in a fresh process, follow its
//! state and logs (project files next to the script), terminate and delete it.
//!
//! - Submitting needs edit access; listing and reading, view access.
//! - Terminating and deleting: the job's owner or the project's owner. A job is deleted
//!   only once it has ended (409 `job_running`); until then its generated files cannot be
//!   deleted either (409 `job_output` from the files API).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::Routes;
use super::extract::{Id, JsonBody};
use super::files::path_param;
use super::views::ErrorBody;
use crate::access::{Access, project_access};
use crate::app::AppState;
use crate::auth::{AuthUser, MaybeUser};
use crate::error::{ApiError, ApiResult};
use crate::jobs::JobError;
use crate::store::{JobId, JobRecord, ProjectId, User};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .post("/projects/{id}/jobs", submit)
        .get("/projects/{id}/jobs", list)
        .get("/jobs/{job_id}", read)
        .post("/jobs/{job_id}/terminate", terminate)
        .delete("/jobs/{job_id}", delete)
}

/// What to run.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub(super) struct SubmitBody {
    /// The project file to run (`.py` or `.sh`).
    path: String,
}

/// A project's jobs, newest first.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct JobList {
    jobs: Vec<JobRecord>,
}

/// Run a project script in the background.
///
/// The job runs in a fresh process with a copy of the project's files; its stdout and
/// stderr are written to project files next to the script while it runs, and the files it
/// creates or changes are stored into the project when it ends.
#[utoipa::path(post, path = "/api/projects/{id}/jobs", operation_id = "submit_job", tag = "jobs",
    params(("id" = i64, Path, description = "Project id")),
    request_body = SubmitBody,
    responses(
        (status = 201, description = "Queued", body = JobRecord),
        (status = 400, description = "`invalid_path`", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "No edit access", body = ErrorBody),
        (status = 404, description = "No such project, or no such file in it", body = ErrorBody),
        (status = 422, description = "`unsupported_script`: not a .py or .sh file", body = ErrorBody),
    ))]
async fn submit(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(id): Id<ProjectId>,
    JsonBody(body): JsonBody<SubmitBody>,
) -> ApiResult<Response> {
    let (project, access) = project_access(&state, Some(&caller.user), id).await?;
    access.require(Access::Edit)?;
    let script = path_param(&body.path)?;
    let record = state.jobs.submit(project.id, caller.user.id, script).await.map_err(job_error)?;
    Ok((StatusCode::CREATED, Json(record)).into_response())
}

/// A project's jobs, newest first.
#[utoipa::path(get, path = "/api/projects/{id}/jobs", operation_id = "list_jobs", tag = "jobs",
    params(("id" = i64, Path, description = "Project id")),
    security(("bearer" = []), ("cookie" = []), ("token" = []), ()),
    responses(
        (status = 200, description = "The jobs", body = JobList),
        (status = 401, description = "Not signed in and the project is not public", body = ErrorBody),
        (status = 403, description = "No access", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Id(id): Id<ProjectId>,
) -> ApiResult<Json<JobList>> {
    let caller = caller.map(|c| c.user);
    let (project, _) = project_access(&state, caller.as_ref(), id).await?;
    Ok(Json(JobList { jobs: state.store.jobs_in(project.id).await? }))
}

/// One job: its state, exit code, log files and generated files.
#[utoipa::path(get, path = "/api/jobs/{job_id}", operation_id = "read_job", tag = "jobs",
    params(("job_id" = i64, Path, description = "Job id")),
    security(("bearer" = []), ("cookie" = []), ("token" = []), ()),
    responses(
        (status = 200, description = "The job", body = JobRecord),
        (status = 401, description = "Not signed in and the project is not public", body = ErrorBody),
        (status = 403, description = "No access", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
    ))]
async fn read(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Id(job_id): Id<JobId>,
) -> ApiResult<Json<JobRecord>> {
    let caller = caller.map(|c| c.user);
    let (record, _) = job_access(&state, caller.as_ref(), job_id).await?;
    Ok(Json(record))
}

/// Terminate a queued or running job (its whole process group is killed); answers the
/// ended job.
#[utoipa::path(post, path = "/api/jobs/{job_id}/terminate", operation_id = "terminate_job", tag = "jobs",
    params(("job_id" = i64, Path, description = "Job id")),
    responses(
        (status = 200, description = "Terminated", body = JobRecord),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Neither the job's owner nor the project's owner", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "`job_over`: it has already ended", body = ErrorBody),
    ))]
async fn terminate(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(job_id): Id<JobId>,
) -> ApiResult<Json<JobRecord>> {
    let (record, access) = job_access(&state, Some(&caller.user), job_id).await?;
    may_control(&record, &caller.user, access)?;
    state.jobs.terminate(record.id).await.map_err(job_error)?;
    state.jobs.wait_ended(record.id).await;
    let after =
        state.store.job(record.id).await?.ok_or_else(|| ApiError::NotFound(format!("job {job_id}")))?;
    tracing::info!(job = %job_id, user = %caller.user.name, "job terminated on request");
    Ok(Json(after))
}

/// Delete a job that has ended; its logs and generated files stay in the project, now
/// deletable.
#[utoipa::path(delete, path = "/api/jobs/{job_id}", operation_id = "delete_job", tag = "jobs",
    params(("job_id" = i64, Path, description = "Job id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Neither the job's owner nor the project's owner", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "`job_running`: terminate it first", body = ErrorBody),
    ))]
async fn delete(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(job_id): Id<JobId>,
) -> ApiResult<StatusCode> {
    let (record, access) = job_access(&state, Some(&caller.user), job_id).await?;
    may_control(&record, &caller.user, access)?;
    state.jobs.delete(&record).await.map_err(job_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The job and the caller's access to its project (at least view).
async fn job_access(state: &AppState, caller: Option<&User>, id: JobId) -> ApiResult<(JobRecord, Access)> {
    let record = state.store.job(id).await?.ok_or_else(|| ApiError::NotFound(format!("job {id}")))?;
    let (_, access) = project_access(state, caller, record.project_id).await?;
    Ok((record, access))
}

fn may_control(record: &JobRecord, caller: &User, access: Access) -> ApiResult<()> {
    if (record.owner == caller.id && access.can_edit()) || access == Access::Own {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only the job's owner and the project's owner may terminate or delete it".into(),
        ))
    }
}

fn job_error(error: JobError) -> ApiError {
    let message = error.to_string();
    match error {
        JobError::NoSuchFile(path) => ApiError::NotFound(format!("file `{path}`")),
        JobError::Unsupported(_) => ApiError::Invalid { code: "unsupported_script", message },
        JobError::Over(_) => ApiError::Refused { code: "job_over", message },
        JobError::NotOver(..) => ApiError::Refused { code: "job_running", message },
        JobError::NotFound(id) => ApiError::NotFound(format!("job {id}")),
        JobError::Store(e) => e.into(),
    }
}
