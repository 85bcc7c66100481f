//! `.ipynb` in and out: import a file as a new notebook of a project, export a notebook
//! (with each cell's authorship under `metadata.talkbook`).

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{Id, QueryParams};
use super::history::PointQuery;
use super::views::{ErrorBody, NotebookView};
use super::{Routes, created};
use crate::access::{Access, notebook_access, project_access};
use crate::app::AppState;
use crate::auth::{AuthUser, MaybeUser};
use crate::error::{ApiError, ApiResult};
use crate::notebooks::{self, ImportRequest};
use crate::store::{NotebookId, NotebookMode, ProjectId};

/// The media type of Jupyter notebooks.
const IPYNB_TYPE: &str = "application/x-ipynb+json";

pub(super) fn routes(routes: Routes) -> Routes {
    routes.post("/projects/{id}/notebooks/import", import).get("/notebooks/{id}/ipynb", export)
}

#[derive(Debug, Deserialize)]
struct ImportParams {
    name: Option<String>,
    mode: Option<NotebookMode>,
}

/// What an import made.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ImportedView {
    notebook: NotebookView,
    /// Repairs made on the way in (e.g. missing or duplicate cell ids).
    warnings: Vec<String>,
}

/// A Jupyter notebook file (nbformat 4.x; 3 is upgraded). Documentation only: the file is
/// read and written as bytes.
#[derive(Debug, ToSchema)]
#[schema(value_type = Object)]
pub(super) struct IpynbFile(#[allow(dead_code)] serde_json::Value);

/// Import an `.ipynb` file as a new notebook of the project (editors and the owner).
///
/// The body is the file itself, with any content type. Cell authorship recorded in the
/// file is kept only where it names the importer; every other cell is the importer's.
#[utoipa::path(post, path = "/api/projects/{id}/notebooks/import", operation_id = "import_notebook", tag = "notebooks",
    params(
        ("id" = i64, Path, description = "Project id"),
        ("name" = Option<String>, Query, description = "The notebook's name; else the file's `metadata.title`, else \"Imported notebook\""),
        ("mode" = inline(Option<NotebookMode>), Query, description = "`thread` (the default) or `pair`"),
    ),
    request_body(content = IpynbFile, content_type = "application/x-ipynb+json", description = "The `.ipynb` file"),
    responses(
        (status = 201, description = "The new notebook and the repairs made", body = ImportedView),
        (status = 400, description = "An unknown `mode`, or a body that could not be read", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "No edit access to the project", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 409, description = "The project has a notebook of that name", body = ErrorBody),
        (status = 413, description = "`too_large`: over the import limit", body = ErrorBody),
        (status = 422, description = "`invalid_notebook` naming the problem and its JSON path, or `invalid_name`", body = ErrorBody),
    ))]
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
        at: state.config.clock().now(),
    };
    let imported = notebooks::import(&state.store, request, bytes).await?;
    tracing::info!(notebook = %imported.notebook.id, user = %caller.user.name, "notebook imported");
    let notebook = NotebookView::new(imported.notebook, None, access);
    Ok(created(ImportedView { notebook, warnings: imported.warnings }))
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

/// The header that says which point of the history an export shows.
const SEQ_HEADER: &str = "x-talkbook-seq";

/// Export a notebook as an nbformat 4.5 file (anyone who may view it): as it is now, or,
/// with `seq` or `at`, exactly as it was then (time travel).
///
/// Each cell's authorship is under its `metadata.talkbook` (`author`, `author_name`,
/// `created_at`).
#[utoipa::path(get, path = "/api/notebooks/{id}/ipynb", operation_id = "export_notebook", tag = "notebooks",
    params(("id" = i64, Path, description = "Notebook id"), PointQuery),
    security((), ("bearer" = []), ("cookie" = []), ("token" = [])),
    responses(
        (status = 200, description = "The `.ipynb` file, as a download", body = IpynbFile, content_type = "application/x-ipynb+json",
            headers(("content-disposition" = String, description = "`attachment; filename=\"NAME.ipynb\"`"),
                ("x-talkbook-seq" = i64, description = "With `seq` or `at`: the update of the log the export shows the notebook right after"))),
        (status = 400, description = "A point that does not parse, or both `seq` and `at`", body = ErrorBody),
        (status = 401, description = "Anonymous, and the project is not public", body = ErrorBody),
        (status = 403, description = "Signed in but no member of a private project", body = ErrorBody),
        (status = 404, description = "No such notebook", body = ErrorBody),
        (status = 422, description = "`out_of_range`: a point outside the notebook's history", body = ErrorBody),
    ))]
async fn export(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Id(id): Id<NotebookId>,
    QueryParams(query): QueryParams<PointQuery>,
) -> ApiResult<Response> {
    let (notebook, _) = notebook_access(&state, caller.as_ref().map(|c| &c.user), id).await?;
    let (document, seq) = match query.point()? {
        Some(point) => {
            let seq = state.history.resolve(notebook.id, point).await?;
            (state.history.state_at(notebook.id, seq).await?.encode_state(), Some(seq))
        }
        None => (state.rooms.document_state(notebook.id).await?, None),
    };
    let text = tokio::task::spawn_blocking(move || notebooks::export_state(&document))
        .await
        .map_err(ApiError::internal)??;
    let headers = [
        (CONTENT_TYPE, IPYNB_TYPE.to_owned()),
        (CONTENT_DISPOSITION, attachment(&format!("{}.ipynb", notebook.name))),
        (CONTENT_LENGTH, text.len().to_string()),
    ];
    let mut response = (headers, text).into_response();
    if let Some(seq) = seq {
        response.headers_mut().insert(SEQ_HEADER, seq.into());
    }
    Ok(response)
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
