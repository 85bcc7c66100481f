//! Projects: create one, list the caller's, read one.

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::created;
use super::extract::{Id, JsonBody};
use crate::access::project_access;
use crate::app::AppState;
use crate::auth::{AuthUser, MaybeUser};
use crate::error::{ApiError, ApiResult};
use crate::names;
use crate::store::{NewProject, Project, ProjectId, Visibility};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/projects", get(list).post(create)).route("/projects/{id}", get(read))
}

#[derive(Debug, Deserialize)]
struct NewProjectBody {
    name: String,
    #[serde(default)]
    description: String,
    visibility: Option<Visibility>,
}

/// `POST /api/projects`: 201 with the project, owned by the caller; private by default.
async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    JsonBody(body): JsonBody<NewProjectBody>,
) -> ApiResult<Response> {
    let invalid_name = |e: names::NameError| ApiError::Invalid { code: "invalid_name", message: e.0 };
    let project = NewProject {
        owner_id: caller.user.id,
        name: names::name("project name", &body.name).map_err(invalid_name)?,
        description: names::description(&body.description)
            .map_err(|e| ApiError::Invalid { code: "invalid_description", message: e.0 })?,
        visibility: body.visibility.unwrap_or(Visibility::Private),
    };
    Ok(created(state.store.create_project(&project).await?))
}

/// `GET /api/projects`: the projects the caller owns or is a member of, newest first.
async fn list(State(state): State<AppState>, caller: AuthUser) -> ApiResult<Json<Vec<Project>>> {
    Ok(Json(state.store.projects_for(caller.user.id).await?))
}

/// `GET /api/projects/{id}`.
async fn read(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Id(id): Id<ProjectId>,
) -> ApiResult<Json<Project>> {
    let (project, _) = project_access(&state, caller.as_ref().map(|c| &c.user), id).await?;
    Ok(Json(project))
}
