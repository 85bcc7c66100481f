//! The HTTP API's one error type: each case has a status and a stable machine-readable
//! code; internal details are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::api::views::{BlockView, FileBlockView};
use crate::store::{BlockReason, StoreError};

/// An error answered as `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("sign in first: this needs a session, a personal token or `?token=`")]
    Unauthenticated,
    /// A sign-in with a wrong user name or password (one message for both, so it does not
    /// tell which names exist).
    #[error("wrong user name or password")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Conflict(String),
    /// A request that contradicts the state of things other than by a duplicate (e.g.
    /// removing a project's owner): 409 with its own code.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// A write to a notebook someone else blocks: 423 `blocked`, with the holder, the time
    /// and the reason in the error object (SPEC §9).
    #[error("the notebook is blocked by {} since {}; only they can change it until they unblock it", .0.holder.display_name, .0.since.to_rfc3339())]
    Blocked(Box<BlockView>),
    /// A block request on a notebook someone else blocks: 409 `already_blocked`, with the
    /// same details as [`ApiError::Blocked`].
    #[error("the notebook is already blocked by {} since {}", .0.holder.display_name, .0.since.to_rfc3339())]
    AlreadyBlocked(Box<BlockView>),
    /// A change to a project file someone else blocks (or, moving or deleting a folder, to
    /// a file inside it): 423 `blocked`, with the file's `path` beside the holder, the time
    /// and the reason in the error object (SPEC §9).
    #[error("{}", file_block_message(.0, "is blocked"))]
    FileBlocked(Box<FileBlockView>),
    /// A block request on a file someone else blocks: 409 `already_blocked`, with the same
    /// details as [`ApiError::FileBlocked`].
    #[error("{}", file_block_message(.0, "is already blocked"))]
    FileAlreadyBlocked(Box<FileBlockView>),
    /// A project file path that breaks the rules of [`crate::files::path`]: 400
    /// `invalid_path`.
    #[error("{0}")]
    InvalidPath(String),
    #[error("{0}")]
    TooLarge(String),
    /// A limit on the caller was reached (kernels per user, queued runs): 429.
    #[error("{message}")]
    Limited { code: &'static str, message: String },
    /// The server cannot do it now (its kernel limit, a kernel that failed to start,
    /// shutting down): 503 with its own code.
    #[error("{message}")]
    Overloaded { code: &'static str, message: String },
    #[error("the database is unavailable; try again shortly")]
    Unavailable,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Invalid { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            ApiError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Refused { code, .. } => (StatusCode::CONFLICT, code),
            ApiError::Blocked(_) => (StatusCode::LOCKED, "blocked"),
            ApiError::AlreadyBlocked(_) => (StatusCode::CONFLICT, "already_blocked"),
            ApiError::FileBlocked(_) => (StatusCode::LOCKED, "blocked"),
            ApiError::FileAlreadyBlocked(_) => (StatusCode::CONFLICT, "already_blocked"),
            ApiError::InvalidPath(_) => (StatusCode::BAD_REQUEST, "invalid_path"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::Limited { code, .. } => (StatusCode::TOO_MANY_REQUESTS, code),
            ApiError::Overloaded { code, .. } => (StatusCode::SERVICE_UNAVAILABLE, code),
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(err.into())
    }
}

/// A server edit the room could not make (restore, undo): 503 with the reason.
impl From<crate::rooms::EditError> for ApiError {
    fn from(e: crate::rooms::EditError) -> Self {
        let code = match e {
            crate::rooms::EditError::Unavailable => "notebook_unavailable",
            crate::rooms::EditError::ShuttingDown => "shutting_down",
        };
        ApiError::Overloaded { code, message: e.to_string() }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(what) => ApiError::Conflict(what),
            StoreError::NotFound(what) => ApiError::NotFound(what),
            // Handlers that write to notebooks fill in the holder's names (see
            // `api::notebooks`); this is the fallback that has only their id.
            StoreError::Blocked(block) => ApiError::Blocked(Box::new(BlockView::unnamed(&block))),
            // Handlers that change files fill in the holder's names (see `api::files`).
            StoreError::FileBlocked { path, block } => {
                ApiError::FileBlocked(Box::new(FileBlockView::unnamed(path.as_str(), &block)))
            }
            StoreError::FileTree(e) => ApiError::Refused { code: e.code(), message: e.to_string() },
            StoreError::Database(e) => {
                tracing::error!(error = %e, "database error");
                ApiError::Unavailable
            }
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Internal(err) = &self {
            tracing::error!(error = ?err, "internal error answering a request");
        }
        let message = match &self {
            ApiError::Invalid { message, .. }
            | ApiError::Refused { message, .. }
            | ApiError::Limited { message, .. }
            | ApiError::Overloaded { message, .. } => message.clone(),
            other => other.to_string(),
        };
        let mut error = json!({"code": code, "message": message});
        if let ApiError::Blocked(block) | ApiError::AlreadyBlocked(block) = &self {
            error["holder"] = json!(block.holder);
            error["since"] = json!(block.since);
            error["reason"] = json!(block.reason);
        }
        if let ApiError::FileBlocked(file) | ApiError::FileAlreadyBlocked(file) = &self {
            error["path"] = json!(file.path);
            error["holder"] = json!(file.block.holder);
            error["since"] = json!(file.block.since);
            error["reason"] = json!(file.block.reason);
        }
        (status, Json(json!({"error": error}))).into_response()
    }
}

/// "`PATH` is blocked by NAME since TIME; …", with what the holder has to do to release it.
fn file_block_message(file: &FileBlockView, is: &str) -> String {
    let block = &file.block;
    let until = match block.reason {
        BlockReason::Manual => "only they can change it until they unblock it",
        BlockReason::Console => "their console holds it, and only they can change it until it closes",
    };
    format!(
        "`{}` {is} by {} since {}; {until}",
        file.path,
        block.holder.display_name,
        block.since.to_rfc3339()
    )
}

/// Result type of HTTP handlers.
pub type ApiResult<T> = Result<T, ApiError>;
