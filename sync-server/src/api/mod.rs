//! The JSON HTTP API under `/api`.

use axum::Router;

use crate::app::AppState;

/// Routes under `/api`.
pub fn router() -> Router<AppState> {
    Router::new()
}
