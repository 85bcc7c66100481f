//! Projects: create one, list the caller's, read, update and delete one.
//!
//! Anyone who may view a project reads it; only its owner changes or deletes it (SPEC §2).
//! A visibility change re-decides the access of everyone connected to its notebooks; a
//! deletion closes their connections with 4404.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::{Id, JsonBody, QueryParams};
use super::views::{ErrorBody, ProjectView};
use super::{Routes, created};
use crate::access::{self, Access, decide, project_access};
use crate::app::AppState;
use crate::auth::{AuthUser, MaybeUser};
use crate::error::{ApiError, ApiResult};
use crate::names;
use crate::store::{NewProject, ProjectId, ProjectUpdate, Role, Visibility};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .get("/projects", list)
        .post("/projects", create)
        .get("/projects/{id}", read)
        .patch("/projects/{id}", update)
        .delete("/projects/{id}", delete)
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct NewProjectBody {
    name: String,
    #[serde(default)]
    description: String,
    /// `private` when left out.
    visibility: Option<Visibility>,
}

/// Create a project; the caller becomes its owner.
#[utoipa::path(post, path = "/api/projects", operation_id = "create_project", tag = "projects",
    request_body = NewProjectBody,
    responses(
        (status = 201, description = "The project, owned by the caller", body = ProjectView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "`invalid_name`, `invalid_description` (or JSON of the wrong shape)", body = ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    JsonBody(body): JsonBody<NewProjectBody>,
) -> ApiResult<Response> {
    let project = NewProject {
        owner_id: caller.user.id,
        name: project_name(&body.name)?,
        description: description(&body.description)?,
        visibility: body.visibility.unwrap_or(Visibility::Private),
    };
    let project = state.store.create_project(&project).await?;
    tracing::info!(project = %project.id, user = %caller.user.name, "project created");
    Ok(created(ProjectView { project, role: Some(Role::Owner), access: Access::Own }))
}

/// Which of the caller's projects to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum ProjectFilter {
    /// Projects the caller owns.
    Owned,
    /// Projects the caller is an editor or viewer of.
    Collaborating,
}

#[derive(Debug, Deserialize)]
struct ListParams {
    filter: Option<ProjectFilter>,
}

/// The caller's projects: those they own and those they collaborate on, newest first.
///
/// Public and internal projects the caller is no member of are not listed.
#[utoipa::path(get, path = "/api/projects", operation_id = "list_projects", tag = "projects",
    params(("filter" = inline(Option<ProjectFilter>), Query, description = "`owned` or `collaborating`; both when left out")),
    responses(
        (status = 200, description = "Projects, each with the caller's role", body = [ProjectView]),
        (status = 400, description = "An unknown `filter`", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    QueryParams(params): QueryParams<ListParams>,
) -> ApiResult<Json<Vec<ProjectView>>> {
    let projects = state.store.projects_for(caller.user.id).await?;
    let wanted = |role: Role| match params.filter {
        None => true,
        Some(ProjectFilter::Owned) => role == Role::Owner,
        Some(ProjectFilter::Collaborating) => role != Role::Owner,
    };
    Ok(Json(
        projects
            .into_iter()
            .filter(|(_, role)| wanted(*role))
            .filter_map(|(project, role)| {
                let access = decide(project.visibility, Some(role), true)?;
                Some(ProjectView { project, role: Some(role), access })
            })
            .collect(),
    ))
}

/// Read a project (anyone who may view it; public projects also without signing in).
#[utoipa::path(get, path = "/api/projects/{id}", operation_id = "read_project", tag = "projects",
    params(("id" = i64, Path, description = "Project id")),
    security((), ("bearer" = []), ("cookie" = []), ("token" = [])),
    responses(
        (status = 200, description = "The project with the caller's role and access", body = ProjectView),
        (status = 401, description = "Anonymous, and the project is not public", body = ErrorBody),
        (status = 403, description = "Signed in but no member of a private project", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
    ))]
async fn read(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Id(id): Id<ProjectId>,
) -> ApiResult<Json<ProjectView>> {
    let caller = caller.as_ref().map(|c| &c.user);
    let (project, access) = project_access(&state, caller, id).await?;
    let role = match caller {
        Some(user) => state.store.member_role(project.id, user.id).await?,
        None => None,
    };
    Ok(Json(ProjectView { project, role, access }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct ProjectChanges {
    name: Option<String>,
    description: Option<String>,
    visibility: Option<Visibility>,
}

/// Change a project's name, description or visibility (the owner only).
///
/// Fields left out stay as they are. Lowering the visibility takes effect on open
/// connections at once: those who may no longer view a notebook are disconnected (4403).
#[utoipa::path(patch, path = "/api/projects/{id}", operation_id = "update_project", tag = "projects",
    params(("id" = i64, Path, description = "Project id")),
    request_body = ProjectChanges,
    responses(
        (status = 200, description = "The project as it is now", body = ProjectView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not the project's owner", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "`invalid_name`, `invalid_description` (or JSON of the wrong shape)", body = ErrorBody),
    ))]
async fn update(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(id): Id<ProjectId>,
    JsonBody(body): JsonBody<ProjectChanges>,
) -> ApiResult<Json<ProjectView>> {
    let (before, access) = project_access(&state, Some(&caller.user), id).await?;
    access.require(Access::Own)?;
    let changes = ProjectUpdate {
        name: body.name.as_deref().map(project_name).transpose()?,
        description: body.description.as_deref().map(description).transpose()?,
        visibility: body.visibility,
    };
    let project = state.store.update_project(before.id, &changes).await?;
    if project.visibility != before.visibility {
        tracing::info!(project = %project.id, visibility = project.visibility.as_str(), "visibility changed");
        access::reauthorize_project(&state, project.id).await;
    }
    Ok(Json(ProjectView { project, role: Some(Role::Owner), access: Access::Own }))
}

/// Delete a project with its members and notebooks (the owner only).
///
/// Connections to its notebooks are closed with 4404. Blocks on its notebooks do not stop
/// this: the owner may break any manual block anyway.
#[utoipa::path(delete, path = "/api/projects/{id}", operation_id = "delete_project", tag = "projects",
    params(("id" = i64, Path, description = "Project id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not the project's owner", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
    ))]
async fn delete(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(id): Id<ProjectId>,
) -> ApiResult<StatusCode> {
    let (project, access) = project_access(&state, Some(&caller.user), id).await?;
    access.require(Access::Own)?;
    // Listed before the deletion, which takes them along. A notebook created in between
    // is deleted too but its room is not told; its connections end when their next write
    // finds the notebook gone.
    let notebooks = state.store.notebooks_in(project.id).await?;
    state.store.delete_project(project.id).await?;
    for notebook in &notebooks {
        state.rooms.notebook_deleted(notebook.id).await;
    }
    tracing::info!(project = %project.id, user = %caller.user.name, "project deleted");
    Ok(StatusCode::NO_CONTENT)
}

fn project_name(name: &str) -> ApiResult<String> {
    names::name("project name", name).map_err(|e| ApiError::Invalid { code: "invalid_name", message: e.0 })
}

fn description(text: &str) -> ApiResult<String> {
    names::description(text).map_err(|e| ApiError::Invalid { code: "invalid_description", message: e.0 })
}
