//! Signing in and out, the caller's own account and their personal tokens.
//!
//! A sign-in answers the session token both in the body (for scripts) and as an `HttpOnly`,
//! `SameSite=Lax` cookie (for browsers, which then cannot be made to send it from another
//! site's forms or scripts).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::created;
use super::extract::JsonBody;
use crate::accounts;
use crate::app::AppState;
use crate::auth::{AuthUser, SESSION_COOKIE, hash_token, token_from_parts};
use crate::error::{ApiError, ApiResult};
use crate::store::{Token, User};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/me", get(me))
        .route("/me/tokens", get(list_tokens).post(create_token))
}

#[derive(Debug, Deserialize)]
struct Login {
    name: String,
    password: String,
}

/// `POST /api/auth/login`: 200 `{token, user}` and the session cookie.
async fn login(State(state): State<AppState>, JsonBody(body): JsonBody<Login>) -> ApiResult<Response> {
    let user = accounts::check_sign_in(&state.store, &body.name, &body.password)
        .await?
        .ok_or(ApiError::InvalidCredentials)?;
    let lifetime = state.config.session_lifetime();
    let (secret, _) = accounts::create_session(&state.store, user.id, lifetime).await?;
    let cookie = format!(
        "{SESSION_COOKIE}={secret}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}",
        lifetime.num_seconds()
    );
    Ok(([(SET_COOKIE, cookie)], Json(json!({"token": secret, "user": user}))).into_response())
}

/// `POST /api/auth/logout`: deletes the token the request carries (session or personal)
/// and clears the cookie. 204.
async fn logout(State(state): State<AppState>, _caller: AuthUser, request: Request) -> ApiResult<Response> {
    let (parts, _) = request.into_parts();
    if let Some(secret) = token_from_parts(&parts) {
        state.store.delete_token(&hash_token(&secret)).await?;
    }
    let clear = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(SET_COOKIE, clear)]).into_response())
}

/// `GET /api/me`.
async fn me(caller: AuthUser) -> Json<User> {
    Json(caller.user)
}

/// A token as listed: never its secret.
#[derive(Debug, Serialize)]
struct TokenInfo {
    #[serde(flatten)]
    token: Token,
    /// Whether this is the token the request came with.
    current: bool,
}

/// `GET /api/me/tokens`: the caller's sessions and personal tokens, newest first.
async fn list_tokens(State(state): State<AppState>, caller: AuthUser) -> ApiResult<Json<Vec<TokenInfo>>> {
    let tokens = state.store.list_tokens(caller.user.id).await?;
    Ok(Json(
        tokens.into_iter().map(|token| TokenInfo { current: token.id == caller.token.id, token }).collect(),
    ))
}

#[derive(Debug, Deserialize)]
struct NewToken {
    name: String,
    expires_in_days: Option<u32>,
}

/// A token just created: the only time its secret is shown.
#[derive(Debug, Serialize)]
struct CreatedToken {
    token: String,
    #[serde(flatten)]
    info: Token,
}

/// `POST /api/me/tokens`: 201 `{token, id, name, kind, created_at, expires_at, ...}`.
async fn create_token(
    State(state): State<AppState>,
    caller: AuthUser,
    JsonBody(body): JsonBody<NewToken>,
) -> ApiResult<Response> {
    let (secret, token) =
        accounts::create_personal_token(&state.store, caller.user.id, &body.name, body.expires_in_days)
            .await?;
    Ok(created(CreatedToken { token: secret, info: token }))
}
