//! Extractors whose rejections answer in the API's error shape
//! (`{"error": {"code", "message"}}`) instead of axum's plain-text bodies.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body: malformed JSON or a missing `Content-Type: application/json` is
/// 400 `bad_request`, well-formed JSON of the wrong shape 422 `invalid_request`, a body
/// over the limit 413 `too_large`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let message = rejection.body_text();
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge("the request body is too large".into()),
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::Invalid { code: "invalid_request", message },
        _ => ApiError::BadRequest(message),
    }
}

/// Path parameters (ids). A segment that does not parse, such as `/api/notebooks/abc`,
/// names nothing that exists: 404 like any unknown id, not a parse error.
#[derive(Debug, Clone, Copy)]
pub struct Id<T>(pub T);

impl<T, S> FromRequestParts<S> for Id<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Id(value)),
            Err(_) => {
                // Inside `/api` the request's own URI has lost that prefix; name the full path.
                let uri = parts.extensions.get::<OriginalUri>().map_or(&parts.uri, |o| &o.0);
                Err(ApiError::NotFound(format!("`{}`", uri.path())))
            }
        }
    }
}

/// Query parameters; ones that do not parse are 400 `bad_request`.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryParams<T>(pub T);

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(QueryParams(value)),
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}
