//! `.ipynb` in and out: import a file as a new notebook of a project, export a notebook
//! (with each cell's authorship under `metadata.talkbook`).

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde::Deserialize;

use super::created;
use super::extract::{Id, QueryParams};
use crate::access::{Access, notebook_access, project_access};
use crate::app::AppState;
use crate::auth::{AuthUser, MaybeUser};
use crate::error::{ApiError, ApiResult};
use crate::notebooks::{self, ImportRequest};
use crate::store::{NotebookId, NotebookMode, ProjectId};

/// The media type of Jupyter notebooks.
const IPYNB_TYPE: &str = "application/x-ipynb+json";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/projects/{id}/notebooks/import", post(import))
        .route("/notebooks/{id}/ipynb", get(export))
}

#[derive(Debug, Deserialize)]
struct ImportParams {
    name: Option<String>,
    mode: Option<NotebookMode>,
}

/// `POST /api/projects/{id}/notebooks/import?name=NAME&mode=thread` with the `.ipynb` as the
/// body: 201 `{notebook, warnings}`; 422 `invalid_notebook` saying what is wrong and where;
/// 413 over `--max-import-bytes`; 409 when the name is taken.
async fn import(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(project): Id<ProjectId>,
    QueryParams(params): QueryParams<ImportParams>,
    body: Body,
) -> ApiResult<Response> {
    let (project, access) = project_access(&state, Some(&caller.user), project).await?;
    access.require(Access::Edit)?;
    let bytes = read_limited(body, state.config.max_import_bytes).await?;
    let request = ImportRequest {
        project: project.id,
        name: params.name.as_deref(),
        mode: params.mode.unwrap_or(NotebookMode::Thread),
        importer: &caller.user,
    };
    let imported = notebooks::import(&state.store, request, bytes).await?;
    tracing::info!(notebook = %imported.notebook.id, user = %caller.user.name, "notebook imported");
    Ok(created(imported))
}

/// Reads a request body of at most `limit` bytes, stopping as soon as it is over.
async fn read_limited(body: Body, limit: usize) -> ApiResult<Vec<u8>> {
    let too_large =
        || ApiError::TooLarge(format!("the notebook is larger than the import limit of {limit} bytes"));
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("the request body could not be read: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// `GET /api/notebooks/{id}/ipynb`: the notebook as it is now (everything committed), as
/// an nbformat 4.5 file download.
async fn export(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Id(id): Id<NotebookId>,
) -> ApiResult<Response> {
    let (notebook, _) = notebook_access(&state, caller.as_ref().map(|c| &c.user), id).await?;
    let document = state.rooms.document_state(notebook.id).await?;
    let text = tokio::task::spawn_blocking(move || notebooks::export_state(&document))
        .await
        .map_err(ApiError::internal)??;
    let headers = [
        (CONTENT_TYPE, IPYNB_TYPE.to_owned()),
        (CONTENT_DISPOSITION, attachment(&format!("{}.ipynb", notebook.name))),
        (CONTENT_LENGTH, text.len().to_string()),
    ];
    Ok((headers, text).into_response())
}

/// A `Content-Disposition` for downloading as `file_name`: a quoted ASCII name (quotes and
/// backslashes escaped, other characters replaced) and, when the name is not plain ASCII,
/// the exact name as RFC 6266's `filename*`.
fn attachment(file_name: &str) -> String {
    let quoted: String = file_name
        .chars()
        .map(|c| match c {
            '"' => "\\\"".to_owned(),
            '\\' => "\\\\".to_owned(),
            c if c.is_ascii() && !c.is_ascii_control() => c.to_string(),
            _ => "_".to_owned(),
        })
        .collect();
    if file_name.is_ascii() {
        return format!("attachment; filename=\"{quoted}\"");
    }
    let encoded: String = file_name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'!'
            | b'#'
            | b'$'
            | b'&'
            | b'+'
            | b'-'
            | b'.'
            | b'^'
            | b'_'
            | b'`'
            | b'|'
            | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect();
    format!("attachment; filename=\"{quoted}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::attachment;

    #[test]
    fn download_names_escape_quotes_and_keep_unicode_exactly() {
        assert_eq!(attachment("plain.ipynb"), "attachment; filename=\"plain.ipynb\"");
        assert_eq!(attachment("say \"hi\".ipynb"), "attachment; filename=\"say \\\"hi\\\".ipynb\"");
        assert_eq!(
            attachment("café 1.ipynb"),
            "attachment; filename=\"caf_ 1.ipynb\"; filename*=UTF-8''caf%C3%A9%201.ipynb"
        );
    }
}
