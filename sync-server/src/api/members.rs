//! A project's members: list them (anyone who may view the project), and add, re-role or
//! remove them (the owner only, SPEC §2).
//!
//! Members are listed to everyone who may view the project, anonymous readers of a public
//! project included: a collaborator should see who else works on it, and the listing shows
//! only what cells already show (names and colours). Every change re-decides the access of
//! open connections to the project's notebooks at once: a removed member of a private
//! project is disconnected (4403), a demoted one becomes read-only.
//!
//! The owner's membership is fixed: the owner cannot be removed or given another role
//! (409), and no second owner can be added (ownership transfer does not exist yet).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::{Id, JsonBody};
use super::views::{ErrorBody, MemberView};
use super::{Routes, created};
use crate::access::{self, Access, project_access};
use crate::app::AppState;
use crate::auth::{AuthUser, MaybeUser};
use crate::error::{ApiError, ApiResult};
use crate::store::{Project, ProjectId, Role, UserId};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .get("/projects/{id}/members", list)
        .post("/projects/{id}/members", add)
        .patch("/projects/{id}/members/{user_id}", change_role)
        .delete("/projects/{id}/members/{user_id}", remove)
}

/// List a project's members, the owner first (anyone who may view the project).
#[utoipa::path(get, path = "/api/projects/{id}/members", operation_id = "list_members", tag = "members",
    params(("id" = i64, Path, description = "Project id")),
    security((), ("bearer" = []), ("cookie" = []), ("token" = [])),
    responses(
        (status = 200, description = "Members with their roles", body = [MemberView]),
        (status = 401, description = "Anonymous, and the project is not public", body = ErrorBody),
        (status = 403, description = "Signed in but no member of a private project", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Id(id): Id<ProjectId>,
) -> ApiResult<Json<Vec<MemberView>>> {
    let (project, _) = project_access(&state, caller.as_ref().map(|c| &c.user), id).await?;
    let members = state.store.members(project.id).await?;
    Ok(Json(members.iter().map(MemberView::from).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct NewMember {
    /// The user's login name.
    user: String,
    /// `editor` or `viewer`.
    role: Role,
}

/// Add a member by user name, as editor or viewer (the owner only).
#[utoipa::path(post, path = "/api/projects/{id}/members", operation_id = "add_member", tag = "members",
    params(("id" = i64, Path, description = "Project id")),
    request_body = NewMember,
    responses(
        (status = 201, description = "The new member", body = MemberView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not the project's owner", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 409, description = "The user already is a member", body = ErrorBody),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "`unknown_user`, `invalid_role` (`owner`) or JSON of the wrong shape", body = ErrorBody),
    ))]
async fn add(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(id): Id<ProjectId>,
    JsonBody(body): JsonBody<NewMember>,
) -> ApiResult<Response> {
    let project = owned_project(&state, &caller, id).await?;
    let role = assignable(body.role)?;
    let user = state.store.user_by_name(&body.user).await?.ok_or_else(|| ApiError::Invalid {
        code: "unknown_user",
        message: format!("there is no user named `{}`", body.user.escape_debug()),
    })?;
    let member = state.store.add_member(project.id, user.id, role).await.map_err(|e| match e {
        crate::store::StoreError::Conflict(_) => {
            ApiError::Conflict(format!("membership of `{}` in project {}", user.name, project.id))
        }
        other => other.into(),
    })?;
    tracing::info!(project = %project.id, member = %user.name, role = role.as_str(), "member added");
    access::reauthorize_project(&state, project.id).await;
    Ok(created(MemberView::from(&member)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct RoleChange {
    /// `editor` or `viewer`.
    role: Role,
}

/// Change a member's role to editor or viewer (the owner only; the owner's own role is
/// fixed).
#[utoipa::path(patch, path = "/api/projects/{id}/members/{user_id}", operation_id = "change_member_role", tag = "members",
    params(("id" = i64, Path, description = "Project id"), ("user_id" = i64, Path, description = "The member's user id")),
    request_body = RoleChange,
    responses(
        (status = 200, description = "The member with the new role", body = MemberView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not the project's owner", body = ErrorBody),
        (status = 404, description = "No such project, or the user is no member", body = ErrorBody),
        (status = 409, description = "`owner_is_fixed`: the owner's role cannot change", body = ErrorBody),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "`invalid_role` (`owner`) or JSON of the wrong shape", body = ErrorBody),
    ))]
async fn change_role(
    State(state): State<AppState>,
    caller: AuthUser,
    Id((id, user)): Id<(ProjectId, UserId)>,
    JsonBody(body): JsonBody<RoleChange>,
) -> ApiResult<Json<MemberView>> {
    let project = owned_project(&state, &caller, id).await?;
    if user == project.owner_id {
        return Err(owner_is_fixed("demoted"));
    }
    let role = assignable(body.role)?;
    let member = state.store.set_member_role(project.id, user, role).await?;
    tracing::info!(project = %project.id, member = %member.user.name, role = role.as_str(), "member role changed");
    access::reauthorize_project(&state, project.id).await;
    Ok(Json(MemberView::from(&member)))
}

/// Remove a member (the owner only; the owner cannot be removed).
#[utoipa::path(delete, path = "/api/projects/{id}/members/{user_id}", operation_id = "remove_member", tag = "members",
    params(("id" = i64, Path, description = "Project id"), ("user_id" = i64, Path, description = "The member's user id")),
    responses(
        (status = 204, description = "Removed; their open connections lose access at once"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not the project's owner", body = ErrorBody),
        (status = 404, description = "No such project, or the user is no member", body = ErrorBody),
        (status = 409, description = "`owner_is_fixed`: the owner cannot be removed", body = ErrorBody),
    ))]
async fn remove(
    State(state): State<AppState>,
    caller: AuthUser,
    Id((id, user)): Id<(ProjectId, UserId)>,
) -> ApiResult<StatusCode> {
    let project = owned_project(&state, &caller, id).await?;
    if user == project.owner_id {
        return Err(owner_is_fixed("removed"));
    }
    state.store.remove_member(project.id, user).await?;
    tracing::info!(project = %project.id, member = %user, "member removed");
    access::reauthorize_project(&state, project.id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The project, if the caller owns it (else 401/403/404 as for any project).
async fn owned_project(state: &AppState, caller: &AuthUser, id: ProjectId) -> ApiResult<Project> {
    let (project, access) = project_access(state, Some(&caller.user), id).await?;
    access.require(Access::Own)?;
    Ok(project)
}

/// Members are added and re-roled as editors or viewers; `owner` is refused (422).
fn assignable(role: Role) -> ApiResult<Role> {
    match role {
        Role::Editor | Role::Viewer => Ok(role),
        Role::Owner => Err(ApiError::Invalid {
            code: "invalid_role",
            message: "a project has exactly one owner: members are editors or viewers".into(),
        }),
    }
}

fn owner_is_fixed(what: &str) -> ApiError {
    ApiError::Refused {
        code: "owner_is_fixed",
        message: format!("the project's owner cannot be {what}: a project always keeps its one owner"),
    }
}
