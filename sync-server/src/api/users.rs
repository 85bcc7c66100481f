//! Accounts, managed by instance administrators: everyone else gets 403.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::JsonBody;
use super::views::ErrorBody;
use super::{Routes, created};
use crate::access::require_admin;
use crate::accounts::{self, NewAccount};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::store::User;

pub(super) fn routes(routes: Routes) -> Routes {
    routes.get("/users", list).post("/users", create)
}

/// Every account, oldest first (instance administrators only).
#[utoipa::path(get, path = "/api/users", operation_id = "list_users", tag = "users",
    responses(
        (status = 200, description = "All accounts", body = [User]),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an instance administrator", body = ErrorBody),
    ))]
async fn list(State(state): State<AppState>, caller: AuthUser) -> ApiResult<Json<Vec<User>>> {
    require_admin(&caller.user)?;
    Ok(Json(state.store.list_users().await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct NewUser {
    /// Login name: 1-64 characters from `a-z`, `0-9`, `_`, `.` and `-`.
    name: String,
    /// Defaults to the login name.
    display_name: Option<String>,
    password: String,
    #[serde(default)]
    is_admin: bool,
}

/// Create an account (instance administrators only).
#[utoipa::path(post, path = "/api/users", operation_id = "create_user", tag = "users",
    request_body = NewUser,
    responses(
        (status = 201, description = "The new account", body = User),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an instance administrator", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "`invalid_name`, `invalid_password` (or JSON of the wrong shape)", body = ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    JsonBody(body): JsonBody<NewUser>,
) -> ApiResult<Response> {
    require_admin(&caller.user)?;
    let account = NewAccount {
        name: body.name,
        display_name: body.display_name,
        password: body.password,
        is_admin: body.is_admin,
    };
    let user = accounts::create_user(&state.store, account).await?;
    tracing::info!(admin = %caller.user.name, user = %user.name, "user created");
    Ok(created(user))
}
