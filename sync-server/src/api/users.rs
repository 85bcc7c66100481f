//! Accounts, managed by instance administrators: everyone else gets 403.

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::created;
use super::extract::JsonBody;
use crate::access::require_admin;
use crate::accounts::{self, NewAccount};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::store::User;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/users", get(list).post(create))
}

/// `GET /api/users`: every account, oldest first.
async fn list(State(state): State<AppState>, caller: AuthUser) -> ApiResult<Json<Vec<User>>> {
    require_admin(&caller.user)?;
    Ok(Json(state.store.list_users().await?))
}

#[derive(Debug, Deserialize)]
struct NewUser {
    name: String,
    display_name: Option<String>,
    password: String,
    #[serde(default)]
    is_admin: bool,
}

/// `POST /api/users`: 201 with the user; 409 when the name is taken.
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
