//! The JSON HTTP API under `/api` (SPEC §10).
//!
//! Handlers live in one file per domain; each answers errors through [`ApiError`], as
//! `{"error": {"code": "snake_case", "message": "sentence"}}` with the matching status.
//! The extractors in [`extract`] give axum's own rejections (bad JSON, bad ids) that shape
//! too, and so do the fallbacks for unknown routes and methods. Who may touch which project
//! or notebook is decided in [`crate::access`], never in a handler.
//!
//! - [`auth`] — sign in and out, `/me`, personal tokens
//! - [`users`] — accounts (instance administrators only)
//! - [`projects`] — projects
//! - [`notebooks`] — notebooks: create, list, read, rename, delete
//! - [`import_export`] — `.ipynb` in and out

mod auth;
mod extract;
mod import_export;
mod notebooks;
mod projects;
mod users;

use axum::extract::OriginalUri;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;

use crate::app::AppState;
use crate::error::ApiError;

/// Routes under `/api`.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(auth::routes())
        .merge(users::routes())
        .merge(projects::routes())
        .merge(notebooks::routes())
        .merge(import_export::routes())
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
}

/// `201 Created` with a JSON body.
fn created<T: serde::Serialize>(value: T) -> Response {
    (StatusCode::CREATED, Json(value)).into_response()
}

async fn unknown_route(OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::NotFound(format!("`{}`", uri.path()))
}

/// Written out here rather than through [`ApiError`]: a wrong method is a routing answer,
/// the only one the API gives that no handler can.
async fn method_not_allowed() -> Response {
    let body =
        json!({"error": {"code": "method_not_allowed", "message": "this route does not accept that method"}});
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}
