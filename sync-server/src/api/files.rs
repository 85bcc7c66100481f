//! Project files (SPEC §9): list, upload, download, move, copy, delete, create folders,
//! download a folder as a zip, and manual file blocks.
//!
//! Paths travel as `?path=` query parameters (or in JSON bodies), never in the URL path,
//! so every route has one fixed path in the router and in the OpenAPI document. Each path
//! is checked by [`FilePath::parse`] before anything else happens: a path that could
//! leave the project is 400 `invalid_path` and touches nothing.
//!
//! - Reading (listing, downloading, zips) needs view access, so anonymous callers read
//!   public projects; changing needs edit access.
//! - Uploads are streamed and refused with 413 as soon as they pass the configured limit
//!   (`--max-file-bytes`), before anything is stored.
//! - Blocks are on files, not folders. While someone else blocks a file, writing, moving,
//!   copying onto or deleting it is 423 with the file, the holder, the time and the reason,
//!   and so is moving or deleting a folder that holds it. The store checks this in the
//!   same transaction as the change, so a block taken meanwhile is respected. Blocking is
//!   for editors (409 `already_blocked` when someone else holds it); lifting a manual
//!   block is for its holder and the project's owner (who may break any manual block); a
//!   console's block is lifted only by closing the console (409 `held_by_console`).

use std::io;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE, ETAG};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{Id, JsonBody, QueryParams};
use super::views::{ErrorBody, FileBlockView, FileBlockedErrorBody, FileView};
use super::{Routes, created};
use crate::access::{Access, project_access};
use crate::app::AppState;
use crate::auth::{AuthUser, MaybeUser};
use crate::error::{ApiError, ApiResult};
use crate::files::archive::{self, ArchiveEntry};
use crate::files::{FilePath, media};
use crate::store::{
    BlockReason, ContentBuilder, FileBlock, FileContent, FileEntry, FileKind, FileTreeError, ProjectId,
    StoreError, StoreResult, hex,
};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .get("/projects/{id}/files", list)
        .put("/projects/{id}/files", upload)
        .delete("/projects/{id}/files", delete)
        .get("/projects/{id}/files/content", download)
        .get("/projects/{id}/files/zip", zip)
        .post("/projects/{id}/files/move", move_entry)
        .post("/projects/{id}/files/copy", copy)
        .post("/projects/{id}/files/block", block)
        .delete("/projects/{id}/files/block", unblock)
        .post("/projects/{id}/folders", create_folder)
}

/// `X-Content-Type-Options`: a download is never sniffed into something the browser runs.
const NOSNIFF: HeaderName = HeaderName::from_static("x-content-type-options");

/// A file or folder, by its path in the project.
#[derive(Debug, Deserialize)]
pub(super) struct PathQuery {
    /// Relative to the project, `/`-separated (`data/raw.csv`).
    path: String,
}

/// A folder (the whole project when left out or empty).
#[derive(Debug, Deserialize)]
pub(super) struct FolderQuery {
    /// Relative to the project, `/`-separated; the whole project when left out or empty.
    path: Option<String>,
    /// Everything below the folder, not only its direct contents (default `false`).
    recursive: Option<bool>,
}

/// A folder's entries.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct FileList {
    /// In tree order: each folder directly followed by its contents.
    files: Vec<FileView>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct FromTo {
    /// The file or folder to move or copy.
    from: String,
    /// Where it goes: a path where nothing is yet (missing folders above it are created).
    to: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct NewFolder {
    path: String,
}

/// A file's bytes, in any format. Documentation only: they are read and written as bytes.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub(super) struct FileBytes(#[allow(dead_code)] Vec<u8>);

/// A zip archive. Documentation only.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub(super) struct ZipArchive(#[allow(dead_code)] Vec<u8>);

/// A 409 from a block request: `already_blocked` with the block's details, or
/// `is_a_folder` (only files are blocked). Documentation only.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub(super) enum BlockConflictErrorBody {
    AlreadyBlocked(FileBlockedErrorBody),
    Other(ErrorBody),
}

/// A file's or folder's entries (anyone who may view the project).
///
/// With `path` naming a file, the list holds that file alone (as `ls` does).
#[utoipa::path(get, path = "/api/projects/{id}/files", operation_id = "list_files", tag = "files",
    params(("id" = i64, Path, description = "Project id"),
        ("path" = Option<String>, Query, description = "The folder, relative to the project; the whole project when left out or empty"),
        ("recursive" = Option<bool>, Query, description = "Everything below the folder, not only its direct contents (default `false`)")),
    security((), ("bearer" = []), ("cookie" = []), ("token" = [])),
    responses(
        (status = 200, description = "The entries with their sizes, hashes, last changes and blocks", body = FileList),
        (status = 400, description = "`invalid_path`, or a malformed query", body = ErrorBody),
        (status = 401, description = "Anonymous, and the project is not public", body = ErrorBody),
        (status = 403, description = "Signed in but no member of a private project", body = ErrorBody),
        (status = 404, description = "No such project or folder", body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Id(project): Id<ProjectId>,
    QueryParams(query): QueryParams<FolderQuery>,
) -> ApiResult<Json<FileList>> {
    let (project, _) = project_access(&state, caller.as_ref().map(|c| &c.user), project).await?;
    let folder = folder_param(query.path.as_deref())?;
    let entries =
        state.store.list_files(project.id, folder.as_ref(), query.recursive.unwrap_or(false)).await?;
    Ok(Json(FileList { files: FileView::load_all(&state, entries).await? }))
}

/// Upload a file: create it, or replace its bytes (editors and the owner).
///
/// The body is the file, with any content type. Folders above it that are missing are
/// created. A body over the server's limit is refused with 413 and nothing is stored.
#[utoipa::path(put, path = "/api/projects/{id}/files", operation_id = "upload_file", tag = "files",
    params(("id" = i64, Path, description = "Project id"),
        ("path" = String, Query, description = "The file, relative to the project, `/`-separated (`data/raw.csv`)")),
    request_body(content = FileBytes, content_type = "application/octet-stream", description = "The file's bytes"),
    responses(
        (status = 201, description = "A new file", body = FileView),
        (status = 200, description = "The file's bytes were replaced", body = FileView),
        (status = 400, description = "`invalid_path`, or a body that could not be read", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "No edit access to the project", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 409, description = "`is_a_folder`: the path is a folder; `not_a_folder`: a folder above it is a file", body = ErrorBody),
        (status = 413, description = "`too_large`: over the server's file size limit; nothing was stored", body = ErrorBody),
        (status = 423, description = "`blocked`: someone else blocks the file", body = FileBlockedErrorBody),
    ))]
async fn upload(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(project): Id<ProjectId>,
    QueryParams(query): QueryParams<PathQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (project, access) = project_access(&state, Some(&caller.user), project).await?;
    access.require(Access::Edit)?;
    let path = path_param(&query.path)?;
    // Refusals that need no body come before reading it (the store checks them again).
    if let Some(existing) = state.store.file_entry(project.id, &path).await? {
        match existing {
            FileEntry { kind: FileKind::Folder, path, .. } => {
                return Err(tree_error(FileTreeError::IsAFolder(path)));
            }
            FileEntry { block: Some(block), path, .. } if block.holder != caller.user.id => {
                return Err(blocked(&state, &path, &block).await);
            }
            _ => {}
        }
    }
    let limit = state.config.max_file_bytes;
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large(limit));
    }
    let content = read_upload(body, limit).await?;
    let written = state.store.write_file(project.id, &path, &content, caller.user.id, Utc::now()).await;
    let written = named(&state, written).await?;
    let status = if written.created { StatusCode::CREATED } else { StatusCode::OK };
    tracing::info!(project = %project.id, path = %path, bytes = content.len(), user = %caller.user.name, "file written");
    Ok((status, Json(FileView::load(&state, written.entry).await?)).into_response())
}

/// Download a file (anyone who may view the project).
#[utoipa::path(get, path = "/api/projects/{id}/files/content", operation_id = "download_file", tag = "files",
    params(("id" = i64, Path, description = "Project id"),
        ("path" = String, Query, description = "The file, relative to the project, `/`-separated (`data/raw.csv`)")),
    security((), ("bearer" = []), ("cookie" = []), ("token" = [])),
    responses(
        (status = 200, description = "The file's bytes, as a download; the media type is guessed from the name", body = FileBytes, content_type = "application/octet-stream",
            headers(
                ("content-disposition" = String, description = "`attachment; filename=\"NAME\"; filename*=UTF-8''NAME`"),
                ("etag" = String, description = "The file's SHA-256, quoted"),
            )),
        (status = 400, description = "`invalid_path`", body = ErrorBody),
        (status = 401, description = "Anonymous, and the project is not public", body = ErrorBody),
        (status = 403, description = "Signed in but no member of a private project", body = ErrorBody),
        (status = 404, description = "No such project or file", body = ErrorBody),
        (status = 409, description = "`is_a_folder`: download folders as zips", body = ErrorBody),
    ))]
async fn download(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Id(project): Id<ProjectId>,
    QueryParams(query): QueryParams<PathQuery>,
) -> ApiResult<Response> {
    let (project, _) = project_access(&state, caller.as_ref().map(|c| &c.user), project).await?;
    let path = path_param(&query.path)?;
    let (entry, bytes) = state
        .store
        .file_content(project.id, &path)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("`{path}`")))?;
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(media::media_type(path.name())));
    headers.insert(CONTENT_DISPOSITION, header_value(&media::attachment(path.name()))?);
    headers.insert(NOSNIFF, HeaderValue::from_static("nosniff"));
    if let Some(sum) = entry.sha256 {
        headers.insert(ETAG, header_value(&format!("\"{}\"", hex(&sum)))?);
    }
    Ok(response)
}

/// Download a folder (or the whole project) as a zip archive (anyone who may view the
/// project).
///
/// The archive holds one top folder, named after the folder (or the project), with
/// everything inside it, empty folders included. It is written while it is sent, one
/// file at a time, so it reflects each file as it is when its turn comes.
#[utoipa::path(get, path = "/api/projects/{id}/files/zip", operation_id = "download_folder_zip", tag = "files",
    params(("id" = i64, Path, description = "Project id"),
        ("path" = Option<String>, Query, description = "The folder; the whole project when left out or empty")),
    security((), ("bearer" = []), ("cookie" = []), ("token" = [])),
    responses(
        (status = 200, description = "The zip archive, as a download", body = ZipArchive, content_type = "application/zip",
            headers(("content-disposition" = String, description = "`attachment; filename=\"NAME.zip\"; …`"))),
        (status = 400, description = "`invalid_path`", body = ErrorBody),
        (status = 401, description = "Anonymous, and the project is not public", body = ErrorBody),
        (status = 403, description = "Signed in but no member of a private project", body = ErrorBody),
        (status = 404, description = "No such project or folder", body = ErrorBody),
        (status = 409, description = "`not_a_folder`: the path is a file", body = ErrorBody),
    ))]
async fn zip(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Id(project): Id<ProjectId>,
    QueryParams(query): QueryParams<FolderQuery>,
) -> ApiResult<Response> {
    let (project, _) = project_access(&state, caller.as_ref().map(|c| &c.user), project).await?;
    let folder = folder_param(query.path.as_deref())?;
    let entries = state.store.list_files(project.id, folder.as_ref(), true).await?;
    if let Some(folder) = &folder
        && entries.first().is_some_and(|e| &e.path == folder && e.kind == FileKind::File)
    {
        return Err(tree_error(FileTreeError::NotAFolder(folder.clone())));
    }
    // One top folder, named after what was zipped ('/' cannot appear in a project's name
    // inside the archive: it would make folders).
    let root = match &folder {
        Some(folder) => folder.name().to_owned(),
        None => project.name.replace(['/', '\\'], "_"),
    };
    let disposition = header_value(&media::attachment(&format!("{root}.zip")))?;
    let (sender, chunks) = archive::zip_stream();
    let store = state.store.clone();
    let modified = Utc::now();
    tokio::spawn(async move {
        let top = ArchiveEntry::Folder { name: format!("{root}/"), modified };
        if sender.send(Ok(top)).await.is_err() {
            return;
        }
        for entry in entries {
            let relative = entry.path.relative_to(folder.as_ref()).unwrap_or(entry.path.as_str());
            let name = format!("{root}/{relative}");
            let item = match entry.kind {
                FileKind::Folder => {
                    Ok(ArchiveEntry::Folder { name: format!("{name}/"), modified: entry.updated_at })
                }
                FileKind::File => match store.file_content(entry.project_id, &entry.path).await {
                    Ok(Some((now, bytes))) => {
                        Ok(ArchiveEntry::File { name, modified: now.updated_at, bytes })
                    }
                    // Deleted, or replaced by a folder, since the listing: it is no longer there.
                    Ok(None) | Err(StoreError::FileTree(_)) => continue,
                    Err(e) => {
                        tracing::warn!(path = %entry.path, error = %e, "a zip download failed halfway");
                        Err(io::Error::other(e.to_string()))
                    }
                },
            };
            let failed = item.is_err();
            if sender.send(item).await.is_err() || failed {
                return;
            }
        }
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    headers.insert(CONTENT_DISPOSITION, disposition);
    Ok(response)
}

/// Move or rename a file, or a folder with everything in it (editors and the owner).
///
/// Entries keep their last change and their blocks. Missing folders above `to` are
/// created.
#[utoipa::path(post, path = "/api/projects/{id}/files/move", operation_id = "move_file", tag = "files",
    params(("id" = i64, Path, description = "Project id")),
    request_body = FromTo,
    responses(
        (status = 200, description = "The entry at its new path", body = FileView),
        (status = 400, description = "`invalid_path`, or malformed JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "No edit access to the project", body = ErrorBody),
        (status = 404, description = "No such project, or nothing at `from`", body = ErrorBody),
        (status = 409, description = "`conflict`: something is at `to`; `into_itself`: a folder moved into itself; `not_a_folder`: a folder above `to` is a file", body = ErrorBody),
        (status = 422, description = "JSON of the wrong shape", body = ErrorBody),
        (status = 423, description = "`blocked`: someone else blocks the file, a file inside the folder, or the file at `to`", body = FileBlockedErrorBody),
    ))]
async fn move_entry(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(project): Id<ProjectId>,
    JsonBody(body): JsonBody<FromTo>,
) -> ApiResult<Json<FileView>> {
    let (project, access) = project_access(&state, Some(&caller.user), project).await?;
    access.require(Access::Edit)?;
    let (from, to) = (path_param(&body.from)?, path_param(&body.to)?);
    let moved = state.store.move_file(project.id, &from, &to, caller.user.id, Utc::now()).await;
    let moved = named(&state, moved).await?;
    tracing::info!(project = %project.id, from = %from, to = %to, user = %caller.user.name, "file moved");
    Ok(Json(FileView::load(&state, moved).await?))
}

/// Copy a file, or a folder with everything in it (editors and the owner).
///
/// The copies are new entries by the caller, without blocks.
#[utoipa::path(post, path = "/api/projects/{id}/files/copy", operation_id = "copy_file", tag = "files",
    params(("id" = i64, Path, description = "Project id")),
    request_body = FromTo,
    responses(
        (status = 201, description = "The copy", body = FileView),
        (status = 400, description = "`invalid_path`, or malformed JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "No edit access to the project", body = ErrorBody),
        (status = 404, description = "No such project, or nothing at `from`", body = ErrorBody),
        (status = 409, description = "`conflict`: something is at `to`; `into_itself`: a folder copied into itself; `not_a_folder`: a folder above `to` is a file", body = ErrorBody),
        (status = 422, description = "JSON of the wrong shape", body = ErrorBody),
        (status = 423, description = "`blocked`: someone else blocks the file at `to`", body = FileBlockedErrorBody),
    ))]
async fn copy(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(project): Id<ProjectId>,
    JsonBody(body): JsonBody<FromTo>,
) -> ApiResult<Response> {
    let (project, access) = project_access(&state, Some(&caller.user), project).await?;
    access.require(Access::Edit)?;
    let (from, to) = (path_param(&body.from)?, path_param(&body.to)?);
    let copied = state.store.copy_file(project.id, &from, &to, caller.user.id, Utc::now()).await;
    let copied = named(&state, copied).await?;
    tracing::info!(project = %project.id, from = %from, to = %to, user = %caller.user.name, "file copied");
    Ok(created(FileView::load(&state, copied).await?))
}

/// Delete a file, or a folder with everything in it (editors and the owner).
#[utoipa::path(delete, path = "/api/projects/{id}/files", operation_id = "delete_file", tag = "files",
    params(("id" = i64, Path, description = "Project id"),
        ("path" = String, Query, description = "The file, relative to the project, `/`-separated (`data/raw.csv`)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`invalid_path`", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "No edit access to the project", body = ErrorBody),
        (status = 404, description = "No such project, file or folder", body = ErrorBody),
        (status = 409, description = "`job_output`: a job that still exists generated it (or a file inside the folder)", body = ErrorBody),
        (status = 423, description = "`blocked`: someone else blocks the file, or a file inside the folder", body = FileBlockedErrorBody),
    ))]
async fn delete(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(project): Id<ProjectId>,
    QueryParams(query): QueryParams<PathQuery>,
) -> ApiResult<StatusCode> {
    let (project, access) = project_access(&state, Some(&caller.user), project).await?;
    access.require(Access::Edit)?;
    let path = path_param(&query.path)?;
    // A job's logs and files stay until the job is deleted (SPEC §9).
    let holding = state.store.jobs_holding(project.id, path.as_str()).await?;
    if let Some(job) = holding.first() {
        return Err(ApiError::Refused {
            code: "job_output",
            message: format!(
                "`{path}` was generated by job {job} (or holds its files); delete the job first"
            ),
        });
    }
    let deleted = named(&state, state.store.delete_file(project.id, &path, caller.user.id).await).await?;
    tracing::info!(project = %project.id, path = %path, entries = deleted, user = %caller.user.name, "file deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Create an empty folder (editors and the owner); missing folders above it too.
#[utoipa::path(post, path = "/api/projects/{id}/folders", operation_id = "create_folder", tag = "files",
    params(("id" = i64, Path, description = "Project id")),
    request_body = NewFolder,
    responses(
        (status = 201, description = "The new folder", body = FileView),
        (status = 400, description = "`invalid_path`, or malformed JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "No edit access to the project", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 409, description = "`conflict`: something is at the path; `not_a_folder`: a folder above it is a file", body = ErrorBody),
        (status = 422, description = "JSON of the wrong shape", body = ErrorBody),
    ))]
async fn create_folder(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(project): Id<ProjectId>,
    JsonBody(body): JsonBody<NewFolder>,
) -> ApiResult<Response> {
    let (project, access) = project_access(&state, Some(&caller.user), project).await?;
    access.require(Access::Edit)?;
    let path = path_param(&body.path)?;
    let folder = state.store.create_folder(project.id, &path, caller.user.id, Utc::now()).await?;
    Ok(created(FileView::load(&state, folder).await?))
}

/// Block a file: until unblocked, only the caller may change, move or delete it.
#[utoipa::path(post, path = "/api/projects/{id}/files/block", operation_id = "block_file", tag = "files",
    params(("id" = i64, Path, description = "Project id"),
        ("path" = String, Query, description = "The file, relative to the project, `/`-separated (`data/raw.csv`)")),
    responses(
        (status = 200, description = "The file, blocked by the caller (again: the original time stays)", body = FileView),
        (status = 400, description = "`invalid_path`", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "No edit access to the project", body = ErrorBody),
        (status = 404, description = "No such project or file", body = ErrorBody),
        (status = 409, description = "`already_blocked`: someone else holds a block (with its details); `is_a_folder`: only files are blocked", body = BlockConflictErrorBody),
    ))]
async fn block(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(project): Id<ProjectId>,
    QueryParams(query): QueryParams<PathQuery>,
) -> ApiResult<Json<FileView>> {
    let (project, access) = project_access(&state, Some(&caller.user), project).await?;
    access.require(Access::Edit)?;
    let path = path_param(&query.path)?;
    let after =
        state.store.block_file(project.id, &path, caller.user.id, BlockReason::Manual, Utc::now()).await?;
    match &after.block {
        Some(block) if block.holder != caller.user.id => Err(ApiError::FileAlreadyBlocked(Box::new(
            FileBlockView::load(&state, path.as_str(), block).await?,
        ))),
        _ => {
            tracing::info!(project = %project.id, path = %path, user = %caller.user.name, "file blocked");
            Ok(Json(FileView::load(&state, after).await?))
        }
    }
}

/// Lift a manual block: the holder's own, or any for the project's owner.
///
/// A block held by a console is lifted by closing the console, never here. Unblocking a
/// file nobody blocks changes nothing (edit access needed).
#[utoipa::path(delete, path = "/api/projects/{id}/files/block", operation_id = "unblock_file", tag = "files",
    params(("id" = i64, Path, description = "Project id"),
        ("path" = String, Query, description = "The file, relative to the project, `/`-separated (`data/raw.csv`)")),
    responses(
        (status = 200, description = "The file, no longer blocked", body = FileView),
        (status = 400, description = "`invalid_path`", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Someone else holds the block and the caller is not the project's owner, or (with no block) no edit access", body = ErrorBody),
        (status = 404, description = "No such project or file", body = ErrorBody),
        (status = 409, description = "`held_by_console`: a console holds the file", body = ErrorBody),
    ))]
async fn unblock(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(project): Id<ProjectId>,
    QueryParams(query): QueryParams<PathQuery>,
) -> ApiResult<Json<FileView>> {
    let (project, access) = project_access(&state, Some(&caller.user), project).await?;
    let path = path_param(&query.path)?;
    let entry = state
        .store
        .file_entry(project.id, &path)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("`{path}`")))?;
    let Some(block) = entry.block.clone() else {
        access.require(Access::Edit)?;
        return Ok(Json(FileView::load(&state, entry).await?));
    };
    let held = FileBlockView::load(&state, path.as_str(), &block).await?;
    if block.holder != caller.user.id && access != Access::Own {
        return Err(ApiError::Forbidden(format!(
            "`{path}` is blocked by {}; only they or the project's owner may unblock it",
            held.block.holder.display_name
        )));
    }
    if block.reason == BlockReason::Console {
        return Err(ApiError::Refused {
            code: "held_by_console",
            message: format!(
                "`{path}` is held by {}'s console; it is unblocked when that console closes",
                held.block.holder.display_name
            ),
        });
    }
    // Conditional on the holder and reason seen above: a block taken in between stays.
    let after = state.store.unblock_file(project.id, &path, block.holder, BlockReason::Manual).await?;
    if block.holder == caller.user.id {
        tracing::info!(project = %project.id, path = %path, user = %caller.user.name, "file unblocked");
    } else {
        // The owner broke someone else's block: kept in the log as its own event.
        tracing::warn!(project = %project.id, path = %path, owner = %caller.user.name, holder = %block.holder,
            since = %block.since, "the project's owner broke a manual file block");
    }
    Ok(Json(FileView::load(&state, after).await?))
}

/// A path from a request: 400 `invalid_path` saying what is wrong with it.
pub(super) fn path_param(raw: &str) -> ApiResult<FilePath> {
    FilePath::parse(raw).map_err(|e| ApiError::InvalidPath(e.to_string()))
}

/// A folder from a request: `None` (the whole project) when left out or empty.
fn folder_param(raw: Option<&str>) -> ApiResult<Option<FilePath>> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => path_param(raw).map(Some),
    }
}

/// Turns the store's refusal because of someone else's block into the 423 answer, with the
/// holder's names.
async fn named<T>(state: &AppState, result: StoreResult<T>) -> ApiResult<T> {
    match result {
        Ok(value) => Ok(value),
        Err(StoreError::FileBlocked { path, block }) => Err(blocked(state, &path, &block).await),
        Err(other) => Err(other.into()),
    }
}

/// The 423 answer for a change to a file someone else blocks.
pub(super) async fn blocked(state: &AppState, path: &FilePath, block: &FileBlock) -> ApiError {
    match FileBlockView::load(state, path.as_str(), block).await {
        Ok(view) => ApiError::FileBlocked(Box::new(view)),
        Err(e) => e,
    }
}

/// Reads an upload of at most `limit` bytes, hashing it on the way, and stops as soon as
/// it is over.
async fn read_upload(body: Body, limit: u64) -> ApiResult<FileContent> {
    let mut stream = body.into_data_stream();
    let mut content = ContentBuilder::new();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("the request body could not be read: {e}")))?;
        if (content.len() + chunk.len()) as u64 > limit {
            return Err(too_large(limit));
        }
        content.push(&chunk);
    }
    Ok(content.finish())
}

fn too_large(limit: u64) -> ApiError {
    ApiError::TooLarge(format!(
        "the file is larger than the upload limit of {limit} bytes; nothing was stored"
    ))
}

/// The 409 answer for a change the file tree cannot take.
fn tree_error(error: FileTreeError) -> ApiError {
    StoreError::FileTree(error).into()
}

/// A header value made by this module (never holds control characters).
fn header_value(value: &str) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(value).map_err(ApiError::internal)
}
