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
//! - [`projects`] — projects: create, list, read, update, delete
//! - [`members`] — a project's members and their roles
//! - [`notebooks`] — notebooks: create, list, read, rename, change mode, delete
//! - [`blocks`] — manual notebook blocks
//! - [`import_export`] — `.ipynb` in and out
//! - [`runs`] — running cells, cancelling queued runs, the record of runs
//! - [`kernels`] — kernelspecs; listing, interrupting, restarting, shutting down kernels
//! - [`consoles`] — a user's interactive kernel sessions, their runs and event streams
//! - [`jobs`] — background runs of project scripts
//! - [`files`] — project files and folders, zips of folders, manual file blocks
//! - [`history`] — the timeline, blame, restore; [`undo`] — per-user undo
//! - [`openapi`] — the OpenAPI document of all of the above, at `/api/openapi.json`
//!
//! Every route of the application is registered through [`Routes`], which records each
//! method and path as it adds them to the router: that record is what the tests hold
//! against the OpenAPI document, so a route without documentation fails them.

mod auth;
mod blocks;
mod consoles;
mod extract;
mod files;
mod history;
mod import_export;
mod jobs;
mod kernels;
mod members;
mod notebooks;
pub mod openapi;
mod projects;
mod runs;
mod undo;
mod users;
pub mod views;

use axum::extract::OriginalUri;
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use axum::{Json, Router};
use serde_json::json;

use crate::app::AppState;
use crate::error::ApiError;

/// Routes under `/api`, with the fallbacks that answer unknown routes and methods in the
/// API's error shape.
pub fn router() -> Router<AppState> {
    routes().into_router().fallback(unknown_route).method_not_allowed_fallback(method_not_allowed)
}

/// Every route under `/api`, as registered.
pub fn routes() -> Routes {
    Routes::new("/api")
        .merge(auth::routes)
        .merge(users::routes)
        .merge(projects::routes)
        .merge(members::routes)
        .merge(notebooks::routes)
        .merge(blocks::routes)
        .merge(import_export::routes)
        .merge(runs::routes)
        .merge(kernels::routes)
        .merge(consoles::routes)
        .merge(jobs::routes)
        .merge(files::routes)
        .merge(history::routes)
        .merge(openapi::routes)
}

/// One registered route: an HTTP method and a path in axum's (and OpenAPI's) syntax, e.g.
/// `GET /api/notebooks/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteEntry {
    pub method: &'static str,
    /// The full path, with the prefix of the router it is nested in.
    pub path: String,
}

/// A router under construction that records what it registers.
#[derive(Debug)]
pub struct Routes {
    /// Where the router will be nested (`/api`), recorded in each entry's path.
    prefix: &'static str,
    router: Router<AppState>,
    entries: Vec<RouteEntry>,
}

impl Routes {
    pub fn new(prefix: &'static str) -> Self {
        Routes { prefix, router: Router::new(), entries: Vec::new() }
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(MethodFilter::GET, "GET", path, handler)
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(MethodFilter::POST, "POST", path, handler)
    }

    pub fn put<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(MethodFilter::PUT, "PUT", path, handler)
    }

    pub fn patch<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(MethodFilter::PATCH, "PATCH", path, handler)
    }

    pub fn delete<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(MethodFilter::DELETE, "DELETE", path, handler)
    }

    /// Adds the routes a module registers (on the same prefix).
    pub fn merge(self, module: fn(Routes) -> Routes) -> Self {
        module(self)
    }

    /// The recorded routes, in registration order.
    pub fn entries(&self) -> &[RouteEntry] {
        &self.entries
    }

    pub fn into_router(self) -> Router<AppState> {
        self.router
    }

    fn add<H: Handler<T, AppState>, T: 'static>(
        mut self,
        filter: MethodFilter,
        method: &'static str,
        path: &'static str,
        handler: H,
    ) -> Self {
        // Routes on one path merge into one method router (a method twice panics, as it
        // should: that is a programming error).
        let method_router: MethodRouter<AppState> = on(filter, handler);
        self.router = self.router.route(path, method_router);
        self.entries.push(RouteEntry { method, path: format!("{}{path}", self.prefix) });
        self
    }
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
