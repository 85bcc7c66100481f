//! Authorship history (SPEC §1, §10): the timeline of readable events, blame, restore and
//! per-user undo. Time travel is the export route with `?seq=` or `?at=`
//! ([`super::import_export`]).
//!
//! - `GET /api/notebooks/{id}/history` — events, oldest first, filtered and paginated.
//! - `GET /api/notebooks/{id}/cells/{cell_id}/blame` — who typed each part of a cell.
//! - `POST /api/notebooks/{id}/restore` — make the notebook equal to a past state with new
//!   edits in the caller's name; the history keeps everything before.
//! - `POST /api/notebooks/{id}/undo` — undo the caller's own last change group.

use std::collections::{BTreeSet, HashMap};

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use doc_model::history::restore::{RestoreScope, RestoreSummary, restore};

use super::Routes;
use super::extract::{Id, JsonBody, QueryParams};
use super::views::{ErrorBody, UserRef};
use crate::access::{Access, notebook_access};
use crate::app::AppState;
use crate::auth::{AuthUser, MaybeUser};
use crate::error::{ApiError, ApiResult};
use crate::history::{Blame, HistoryError, Point, rfc3339};
use crate::store::{
    HistoryEventRow, HistoryFilter, NotebookId, NotebookMode, NotebookRow, Seq, User, UserId,
};

/// Most events one page returns.
const MAX_PAGE: i64 = 1000;

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .get("/notebooks/{id}/history", timeline)
        .get("/notebooks/{id}/cells/{cell_id}/blame", blame)
        .post("/notebooks/{id}/restore", restore_notebook)
        .post("/notebooks/{id}/undo", super::undo::undo)
}

impl From<HistoryError> for ApiError {
    fn from(e: HistoryError) -> Self {
        match e {
            HistoryError::Store(e) => e.into(),
            HistoryError::NoSuchCell(cell) => ApiError::NotFound(format!("cell `{cell}`")),
            HistoryError::OutOfRange(message) => ApiError::Invalid { code: "out_of_range", message },
            e @ (HistoryError::Corrupt(_) | HistoryError::Task(_)) => ApiError::internal(e),
        }
    }
}

/// A point in the history as query parameters or a request body: a sequence number of the
/// notebook's update log, or a time.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
pub(super) struct PointQuery {
    /// Right after this update of the notebook's log (1, 2, …).
    seq: Option<Seq>,
    /// As the notebook was at this time (RFC 3339, e.g. `2026-11-23T14:05:00Z`).
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    at: Option<DateTime<Utc>>,
}

impl PointQuery {
    /// The point asked for, `None` for "now"; 400 when both are given.
    pub(super) fn point(&self) -> ApiResult<Option<Point>> {
        match (self.seq, self.at) {
            (Some(_), Some(_)) => Err(ApiError::BadRequest("give `seq` or `at`, not both".into())),
            (Some(seq), None) => Ok(Some(Point::Seq(seq))),
            (None, Some(at)) => Ok(Some(Point::At(at))),
            (None, None) => Ok(None),
        }
    }
}

/// Filters and the page of the timeline.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TimelineQuery {
    /// Only events of this cell.
    cell: Option<String>,
    /// Only events of this user (login name).
    user: Option<String>,
    /// Only events that end at or after this time (RFC 3339).
    #[param(value_type = Option<String>)]
    from: Option<DateTime<Utc>>,
    /// Only events that start at or before this time (RFC 3339).
    #[param(value_type = Option<String>)]
    to: Option<DateTime<Utc>>,
    /// At most this many (default 100, at most 1000).
    limit: Option<i64>,
    /// The `next` cursor of the previous page.
    after: Option<String>,
}

/// One readable event of a notebook's history.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct EventView {
    /// Stable id of the event, also the cursor that pages after it.
    id: String,
    /// `cell_created`, `cell_deleted`, `cell_moved`, `source_edited`, `outputs_changed`,
    /// `metadata_changed`, `cell_type_changed`, `attachments_changed`,
    /// `notebook_metadata_changed`, `mode_changed`, `blocked`, `unblocked`,
    /// `others_may_run_changed`.
    kind: String,
    /// The event in one sentence.
    summary: String,
    cell_id: Option<String>,
    /// Who: the editor, or for kernel outputs the user who ran the cell; `null` for the
    /// server.
    user: Option<UserRef>,
    first_at: String,
    last_at: String,
    /// The updates of the log the event spans.
    first_seq: Seq,
    last_seq: Seq,
    /// How many updates it groups (keystrokes, output batches).
    updates: i64,
    /// UTF-16 code units added and removed (source edits).
    added: i64,
    removed: i64,
    /// Kind-specific facts: a move's `from`/`to`, the new `mode`, a block's holder,
    /// changed metadata `keys`, the number of `outputs`.
    #[schema(value_type = Object)]
    detail: serde_json::Value,
}

/// A page of the timeline.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct Timeline {
    events: Vec<EventView>,
    /// Pass as `after` for the next page; `null` on the last page.
    next: Option<String>,
    /// The newest update the index covers (everything logged when the request came).
    indexed_seq: Seq,
}

/// The notebook's history as readable events, oldest first: cells created, deleted and
/// moved, sources edited (a user's keystrokes in one cell closer than the grouping gap are
/// one event), outputs replaced by a run, metadata, mode, blocks. Anyone who may view the
/// notebook may read it.
#[utoipa::path(get, path = "/api/notebooks/{id}/history", operation_id = "notebook_history", tag = "history",
    params(("id" = i64, Path, description = "Notebook id"), TimelineQuery),
    security(("bearer" = []), ("cookie" = []), ("token" = []), ()),
    responses(
        (status = 200, description = "A page of events", body = Timeline),
        (status = 400, description = "A filter or cursor that does not parse", body = ErrorBody),
        (status = 401, description = "Not signed in and the project is not public", body = ErrorBody),
        (status = 403, description = "No access", body = ErrorBody),
        (status = 404, description = "No such notebook, or no such user in the `user` filter", body = ErrorBody),
    ))]
async fn timeline(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Id(id): Id<NotebookId>,
    QueryParams(query): QueryParams<TimelineQuery>,
) -> ApiResult<Json<Timeline>> {
    let caller = caller.map(|c| c.user);
    let (notebook, access) = notebook_access(&state, caller.as_ref(), id).await?;
    access.require(Access::View)?;
    let user_id = match &query.user {
        Some(name) => Some(
            state
                .store
                .user_by_name(name)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("user `{name}`")))?
                .id,
        ),
        None => None,
    };
    let after = query.after.as_deref().map(parse_cursor).transpose()?;
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let indexed_seq = state.history.catch_up(notebook.id).await?;
    let filter = HistoryFilter {
        cell_id: query.cell,
        user_id,
        from: query.from,
        to: query.to,
        after,
        limit: limit + 1,
        ..HistoryFilter::default()
    };
    let mut rows = state.store.history_events(notebook.id, &filter).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = more.then(|| rows.last().map(cursor)).flatten();
    let users = user_refs(&state, rows.iter().filter_map(|r| r.user_id).collect()).await?;
    let events = rows.into_iter().map(|row| event_view(row, &users)).collect();
    Ok(Json(Timeline { events, next, indexed_seq }))
}

fn cursor(row: &HistoryEventRow) -> String {
    format!("{}.{}", row.first_seq, row.part)
}

fn parse_cursor(text: &str) -> ApiResult<(Seq, i32)> {
    let parsed = text.split_once('.').and_then(|(seq, part)| Some((seq.parse().ok()?, part.parse().ok()?)));
    parsed.ok_or_else(|| {
        ApiError::BadRequest(format!("`{text}` is not a history cursor (use the `next` of a page)"))
    })
}

/// Users by id, for naming them in answers.
pub(super) async fn user_refs(
    state: &AppState,
    ids: BTreeSet<UserId>,
) -> ApiResult<HashMap<UserId, UserRef>> {
    let mut users = HashMap::new();
    for id in ids {
        if let Some(user) = state.store.user_by_id(id).await? {
            users.insert(id, UserRef::from(&user));
        }
    }
    Ok(users)
}

fn event_view(row: HistoryEventRow, users: &HashMap<UserId, UserRef>) -> EventView {
    let user = row.user_id.and_then(|id| users.get(&id).cloned());
    let summary = summary(&row, user.as_ref());
    EventView {
        id: cursor(&row),
        kind: row.kind,
        summary,
        cell_id: row.cell_id,
        user,
        first_at: rfc3339(row.first_at),
        last_at: rfc3339(row.last_at),
        first_seq: row.first_seq,
        last_seq: row.last_seq,
        updates: row.updates,
        added: row.added,
        removed: row.removed,
        detail: row.detail,
    }
}

/// One sentence for an event, e.g. "Alice edited cell 3f2a (+12 −3)".
fn summary(row: &HistoryEventRow, user: Option<&UserRef>) -> String {
    let who = user.map_or("The server", |u| u.display_name.as_str());
    let cell = row.cell_id.as_deref().map(|c| format!("cell {c}")).unwrap_or_default();
    let detail = &row.detail;
    match row.kind.as_str() {
        "cell_created" => format!("{who} created {cell}"),
        "cell_deleted" => format!("{who} deleted {cell}"),
        "cell_moved" => format!("{who} moved {cell} from position {} to {}", detail["from"], detail["to"]),
        "source_edited" => format!("{who} edited {cell} (+{} −{})", row.added, row.removed),
        "outputs_changed" => format!("{who}'s run changed the outputs of {cell}"),
        "metadata_changed" => format!("{who} changed the metadata of {cell}"),
        "cell_type_changed" => {
            format!("{who} changed {cell} to {}", detail["to"].as_str().unwrap_or("another type"))
        }
        "attachments_changed" => format!("{who} changed the attachments of {cell}"),
        "notebook_metadata_changed" => format!("{who} changed the notebook's metadata"),
        "mode_changed" => {
            format!("The notebook switched to {} mode", detail["mode"].as_str().unwrap_or("another"))
        }
        "blocked" => format!("{} blocked the notebook", detail["holder_name"].as_str().unwrap_or("someone")),
        "unblocked" => "The notebook was unblocked".to_owned(),
        "others_may_run_changed" => {
            if detail["allowed"] == serde_json::json!(true) {
                "Editors may now run each other's cells".to_owned()
            } else {
                "Only authors may now run their cells".to_owned()
            }
        }
        other => format!("{who}: {other} {cell}"),
    }
}

/// Who typed a cell's source, run by run and line by line.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct BlameView {
    cell_id: String,
    /// The point shown: `null` for now.
    seq: Option<Seq>,
    source: String,
    runs: Vec<RunView>,
    lines: Vec<LineView>,
    deletions: Vec<DeletionView>,
}

/// Characters `[start, end)` of the source (Unicode scalar values) typed by one user
/// without a pause longer than the grouping gap.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct RunView {
    start: usize,
    end: usize,
    text: String,
    /// `null`: the server, or text from before the history was recorded.
    user: Option<UserRef>,
    first_at: Option<String>,
    last_at: Option<String>,
}

/// One line (1-based): its main author (most characters) and everyone who typed or
/// deleted anything in it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct LineView {
    line: usize,
    text: String,
    author: Option<UserRef>,
    touched_by: Vec<UserRef>,
    last_at: Option<String>,
}

/// Deleted text that stood before the character at `offset`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct DeletionView {
    offset: usize,
    /// UTF-16 code units.
    length: u32,
    author: Option<UserRef>,
    deleted_by: Option<UserRef>,
    deleted_at: Option<String>,
}

/// Blame for one cell's source: who typed each run of characters and when, per line the
/// main author and everyone who touched it, and where text was deleted by whom. With
/// `seq` or `at`, for the cell as it was then.
#[utoipa::path(get, path = "/api/notebooks/{id}/cells/{cell_id}/blame", operation_id = "blame_cell", tag = "history",
    params(("id" = i64, Path, description = "Notebook id"), ("cell_id" = String, Path, description = "Cell id"), PointQuery),
    security(("bearer" = []), ("cookie" = []), ("token" = []), ()),
    responses(
        (status = 200, description = "The cell's blame", body = BlameView),
        (status = 400, description = "A point that does not parse, or both `seq` and `at`", body = ErrorBody),
        (status = 401, description = "Not signed in and the project is not public", body = ErrorBody),
        (status = 403, description = "No access", body = ErrorBody),
        (status = 404, description = "No such notebook, or no such cell at that point", body = ErrorBody),
        (status = 422, description = "`out_of_range`: a point outside the notebook's history", body = ErrorBody),
    ))]
async fn blame(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Id((id, cell_id)): Id<(NotebookId, String)>,
    QueryParams(query): QueryParams<PointQuery>,
) -> ApiResult<Json<BlameView>> {
    let caller = caller.map(|c| c.user);
    let (notebook, access) = notebook_access(&state, caller.as_ref(), id).await?;
    access.require(Access::View)?;
    let (doc, seq) = match query.point()? {
        Some(point) => {
            let seq = state.history.resolve(notebook.id, point).await?;
            (state.history.state_at(notebook.id, seq).await?, Some(seq))
        }
        None => {
            let state_now = state.rooms.document_state(notebook.id).await?;
            let doc = doc_model::NotebookDoc::from_update(&state_now).map_err(ApiError::internal)?;
            (doc, None)
        }
    };
    let blame = state.history.blame(notebook.id, &doc, &cell_id).await?;
    Ok(Json(blame_view(&state, cell_id, seq, blame).await?))
}

async fn blame_view(
    state: &AppState,
    cell_id: String,
    seq: Option<Seq>,
    blame: Blame,
) -> ApiResult<BlameView> {
    let ids = blame
        .runs
        .iter()
        .map(|r| r.user)
        .chain(blame.lines.iter().flat_map(|l| l.touched_by.iter().map(|u| Some(*u))))
        .chain(blame.deletions.iter().flat_map(|d| [d.author, d.deleted_by]))
        .flatten()
        .collect();
    let users = user_refs(state, ids).await?;
    let name = |id: Option<UserId>| id.and_then(|id| users.get(&id).cloned());
    Ok(BlameView {
        cell_id,
        seq,
        source: blame.source,
        runs: blame
            .runs
            .into_iter()
            .map(|r| RunView {
                start: r.start,
                end: r.end,
                text: r.text,
                user: name(r.user),
                first_at: r.first_at.map(rfc3339),
                last_at: r.last_at.map(rfc3339),
            })
            .collect(),
        lines: blame
            .lines
            .into_iter()
            .map(|l| LineView {
                line: l.line,
                text: l.text,
                author: name(l.author),
                touched_by: l.touched_by.into_iter().filter_map(|u| name(Some(u))).collect(),
                last_at: l.last_at.map(rfc3339),
            })
            .collect(),
        deletions: blame
            .deletions
            .into_iter()
            .map(|d| DeletionView {
                offset: d.offset,
                length: d.length,
                author: name(d.author),
                deleted_by: name(d.deleted_by),
                deleted_at: d.deleted_at.map(rfc3339),
            })
            .collect(),
    })
}

/// What a restore did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct Restored {
    /// The point restored to.
    seq: Seq,
    #[schema(value_type = Object)]
    summary: RestoreSummary,
}

/// Make the notebook equal to how it was at a past point (`seq` or `at`), by new edits in
/// the caller's name: nothing in the history is rewritten, and text brought back is the
/// caller's in blame. Needs edit access. In thread mode an editor restores only the cells
/// they wrote; the project's owner (or anyone in pair mode) restores everything. Cells
/// left as they are because of that are listed in `summary.skipped`.
#[utoipa::path(post, path = "/api/notebooks/{id}/restore", operation_id = "restore_notebook", tag = "history",
    params(("id" = i64, Path, description = "Notebook id")),
    request_body = PointQuery,
    responses(
        (status = 200, description = "Restored", body = Restored),
        (status = 400, description = "Neither or both of `seq` and `at`", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "No edit access", body = ErrorBody),
        (status = 404, description = "No such notebook", body = ErrorBody),
        (status = 422, description = "`out_of_range`: a point outside the notebook's history", body = ErrorBody),
        (status = 423, description = "Blocked by someone else", body = ErrorBody),
        (status = 503, description = "`notebook_unavailable` or `shutting_down`", body = ErrorBody),
    ))]
async fn restore_notebook(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(id): Id<NotebookId>,
    JsonBody(body): JsonBody<PointQuery>,
) -> ApiResult<Json<Restored>> {
    let (notebook, access) = notebook_access(&state, Some(&caller.user), id).await?;
    access.require(Access::Edit)?;
    require_unblocked(&notebook, &caller.user)?;
    let point = body.point()?.ok_or_else(|| ApiError::BadRequest("give `seq` or `at`".into()))?;
    let seq = state.history.resolve(notebook.id, point).await?;
    let target = state.history.state_at(notebook.id, seq).await?;
    let everything = access == Access::Own || notebook.mode == NotebookMode::Pair;
    let target_notebook = target.read();
    let target_authors: HashMap<String, UserId> =
        target.provenance().into_iter().map(|(id, p)| (id.as_str().to_owned(), p.author)).collect();
    let user = caller.user.clone();
    let summary = state
        .rooms
        .edit_as(notebook.id, &caller.user, move |doc| {
            let now_authors = doc.provenance();
            let mine = |cell: &str| {
                everything
                    || now_authors
                        .get(&doc_model::CellId::new(cell))
                        .map(|p| p.author)
                        .or(target_authors.get(cell).copied())
                        == Some(user.id)
            };
            let scope = RestoreScope { may_change_cell: &mine, notebook_wide: everything };
            restore(doc, &target_notebook, &scope)
        })
        .await?
        .map_err(ApiError::internal)?;
    // Answer once the restore is committed: the room commits before it hands out state.
    state.rooms.document_state(notebook.id).await?;
    tracing::info!(notebook = %notebook.id, user = %caller.user.name, seq, "notebook restored");
    Ok(Json(Restored { seq, summary }))
}

/// 423 when someone other than `user` blocks the notebook.
pub(super) fn require_unblocked(notebook: &NotebookRow, user: &User) -> ApiResult<()> {
    match &notebook.block {
        Some(block) if block.holder != user.id => {
            Err(crate::store::StoreError::Blocked(block.clone()).into())
        }
        _ => Ok(()),
    }
}
