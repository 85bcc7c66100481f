//! Signing in and out, the caller's own account and their personal tokens.
//!
//! A sign-in answers the session token both in the body (for scripts) and as an `HttpOnly`,
//! `SameSite=Lax` cookie (for browsers, which then cannot be made to send it from another
//! site's forms or scripts).

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::JsonBody;
use super::views::ErrorBody;
use super::{Routes, created};
use crate::accounts;
use crate::app::AppState;
use crate::auth::{AuthUser, SESSION_COOKIE, hash_token, token_from_parts};
use crate::error::{ApiError, ApiResult};
use crate::store::{Token, User};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .post("/auth/login", login)
        .post("/auth/logout", logout)
        .get("/me", me)
        .get("/me/tokens", list_tokens)
        .post("/me/tokens", create_token)
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct Login {
    name: String,
    password: String,
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Session {
    /// The session token: send it as `Authorization: Bearer TOKEN` or `?token=TOKEN`.
    token: String,
    user: User,
}

/// Sign in.
///
/// Answers the session token in the body (for scripts) and as the `talkbook_session`
/// cookie (`HttpOnly`, `SameSite=Lax`, for browsers).
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", security(()),
    request_body = Login,
    responses(
        (status = 200, description = "Signed in; the cookie is set too", body = Session,
            headers(("set-cookie" = String, description = "`talkbook_session=TOKEN; HttpOnly; SameSite=Lax; Path=/; Max-Age=…`"))),
        (status = 401, description = "`invalid_credentials`: wrong user name or password (one answer for both)", body = ErrorBody),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "JSON of the wrong shape", body = ErrorBody),
    ))]
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
    Ok(([(SET_COOKIE, cookie)], Json(Session { token: secret, user })).into_response())
}

/// Sign out.
///
/// Deletes the token the request carries (session or personal) and clears the cookie.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses(
        (status = 204, description = "The token is deleted and the cookie cleared"),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn logout(State(state): State<AppState>, _caller: AuthUser, request: Request) -> ApiResult<Response> {
    let (parts, _) = request.into_parts();
    if let Some(secret) = token_from_parts(&parts) {
        state.store.delete_token(&hash_token(&secret)).await?;
    }
    let clear = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(SET_COOKIE, clear)]).into_response())
}

/// The caller's account.
#[utoipa::path(get, path = "/api/me", tag = "auth",
    responses(
        (status = 200, description = "The caller", body = User),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn me(caller: AuthUser) -> Json<User> {
    Json(caller.user)
}

/// A token as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TokenInfo {
    #[serde(flatten)]
    token: Token,
    /// Whether this is the token the request came with.
    current: bool,
}

/// The caller's sessions and personal tokens, newest first.
#[utoipa::path(get, path = "/api/me/tokens", tag = "auth",
    responses(
        (status = 200, description = "Tokens, never their secrets", body = [TokenInfo]),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
async fn list_tokens(State(state): State<AppState>, caller: AuthUser) -> ApiResult<Json<Vec<TokenInfo>>> {
    let tokens = state.store.list_tokens(caller.user.id).await?;
    Ok(Json(
        tokens.into_iter().map(|token| TokenInfo { current: token.id == caller.token.id, token }).collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct NewToken {
    name: String,
    /// Days until the token expires; never when left out.
    expires_in_days: Option<u32>,
}

/// A token just created: the only time its secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CreatedToken {
    token: String,
    #[serde(flatten)]
    info: Token,
}

/// Create a personal token.
///
/// The answer is the only time the token's secret is shown.
#[utoipa::path(post, path = "/api/me/tokens", tag = "auth",
    request_body = NewToken,
    responses(
        (status = 201, description = "The token with its secret", body = CreatedToken),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "`invalid_name` or `invalid_expiry` (or JSON of the wrong shape)", body = ErrorBody),
    ))]
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
