//! Per-user undo on the server: `POST /api/notebooks/{id}/undo` undoes the caller's own
//! last change group, and never anyone else's work (a document-wide undo that reverts
//! collaborators' edits is a known complaint about other tools).
//!
//! The group is the caller's newest event in the history that is undoable, not itself
//! made by the server in their name (a restore or an earlier undo) and not undone yet.
//! Undoing text works on Yjs item ids: the characters the group's updates inserted are
//! deleted where they still are, and the characters they deleted are typed again where
//! their tombstones sit, so text others wrote meanwhile, even in the same cell, stays.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use doc_model::history::changes::ChangeKind;
use doc_model::history::undo::{UndoSummary, UndoTarget, undo as undo_group};

use super::extract::Id;
use super::history::require_unblocked;
use super::views::ErrorBody;
use crate::access::{Access, notebook_access};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::history::rfc3339;
use crate::store::{HistoryFilter, NotebookId, Seq};

/// How many of the caller's newest events an undo looks through for one to undo.
const LOOK_BACK: i64 = 500;

/// What an undo did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct Undone {
    /// The id of the event undone (as in the timeline).
    event: String,
    kind: String,
    cell_id: Option<String>,
    /// When the undone changes were made.
    first_at: String,
    last_at: String,
    #[schema(value_type = Object)]
    result: UndoSummary,
}

fn undoable(kind: ChangeKind) -> bool {
    matches!(
        kind,
        ChangeKind::SourceEdited
            | ChangeKind::CellCreated
            | ChangeKind::CellDeleted
            | ChangeKind::CellMoved
            | ChangeKind::MetadataChanged
            | ChangeKind::CellTypeChanged
            | ChangeKind::AttachmentsChanged
            | ChangeKind::NotebookMetadataChanged
    )
}

/// Undo your own last change group in this notebook (a burst of typing in one cell, a
/// cell you created, deleted or moved, a metadata change), leaving everyone else's work as
/// it is, even in the same cell. Calling it again steps further back. Restores and undos
/// themselves are not undone (restore to an earlier point instead). Needs edit access.
#[utoipa::path(post, path = "/api/notebooks/{id}/undo", operation_id = "undo_own_change", tag = "history",
    params(("id" = i64, Path, description = "Notebook id")),
    responses(
        (status = 200, description = "What was undone", body = Undone),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "No edit access", body = ErrorBody),
        (status = 404, description = "No such notebook", body = ErrorBody),
        (status = 409, description = "`nothing_to_undo`: you have no change left to undo here", body = ErrorBody),
        (status = 423, description = "Blocked by someone else", body = ErrorBody),
        (status = 503, description = "`notebook_unavailable` or `shutting_down`", body = ErrorBody),
    ))]
pub(super) async fn undo(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(id): Id<NotebookId>,
) -> ApiResult<Json<Undone>> {
    let (notebook, access) = notebook_access(&state, Some(&caller.user), id).await?;
    access.require(Access::Edit)?;
    require_unblocked(&notebook, &caller.user)?;
    state.history.catch_up(notebook.id).await?;
    let filter = HistoryFilter {
        user_id: Some(caller.user.id),
        newest_first: true,
        limit: LOOK_BACK,
        ..HistoryFilter::default()
    };
    let events = state.store.history_events(notebook.id, &filter).await?;
    let undone: HashSet<(Seq, i32)> =
        state.store.undone_events(notebook.id, caller.user.id).await?.into_iter().collect();
    let event = events
        .into_iter()
        .find(|e| {
            ChangeKind::parse(&e.kind).is_some_and(undoable)
                && e.detail.get("server_edit").is_none()
                && e.first_seq > 1
                && !undone.contains(&(e.first_seq, e.part))
        })
        .ok_or_else(|| ApiError::Refused {
            code: "nothing_to_undo",
            message: "you have no change left to undo in this notebook".into(),
        })?;
    let kind = ChangeKind::parse(&event.kind).expect("filtered above");
    let before = state.history.state_at(notebook.id, event.first_seq - 1).await?;
    // The clocks the caller's updates of the group inserted and deleted.
    let spans = state.store.spans_between(notebook.id, event.first_seq, event.last_seq).await?;
    let seqs: Vec<Seq> = spans.iter().map(|(_, s)| s.seq).collect();
    let mine: HashSet<Seq> = state
        .store
        .update_meta(notebook.id, &seqs)
        .await?
        .into_iter()
        .filter(|m| m.user_id == Some(caller.user.id))
        .map(|m| m.seq)
        .collect();
    let mut target =
        UndoTarget { kind, cell_id: event.cell_id.clone(), inserted: Vec::new(), deleted: Vec::new() };
    for (deleted, span) in spans.into_iter().filter(|(_, s)| mine.contains(&s.seq)) {
        let range = (span.client_id, span.clock_start..span.clock_end);
        if deleted { target.deleted.push(range) } else { target.inserted.push(range) }
    }
    let result = state
        .rooms
        .edit_as(notebook.id, &caller.user, move |doc| undo_group(doc, &before, &target))
        .await?
        .map_err(ApiError::internal)?;
    // Answer once the undo is committed: the room commits before it hands out state.
    state.rooms.document_state(notebook.id).await?;
    state
        .store
        .mark_undone(notebook.id, event.first_seq, event.part, caller.user.id, state.config.clock().now())
        .await?;
    tracing::info!(notebook = %notebook.id, user = %caller.user.name, event = %format!("{}.{}", event.first_seq, event.part), "change undone");
    Ok(Json(Undone {
        event: format!("{}.{}", event.first_seq, event.part),
        kind: event.kind,
        cell_id: event.cell_id,
        first_at: rfc3339(event.first_at),
        last_at: rfc3339(event.last_at),
        result,
    }))
}
