//! Manual notebook blocks (SPEC §2, §9): while a user holds one, the notebook is
//! read-only for everyone else, in the document (checked by its room) and through the API
//! (423). Everyone sees who holds it and since when, in the notebook's JSON.
//!
//! - Blocking needs edit access; blocking a notebook someone else holds is 409, blocking
//!   it again as the holder changes nothing (the original time stays).
//! - Unblocking is for the holder (even one who has lost edit access since) and for the
//!   project's owner, who may break any manual block; for anyone else it is 403. Unblocking
//!   a notebook nobody blocks changes nothing (edit access needed).

use axum::Json;
use axum::extract::State;

use super::Routes;
use super::extract::Id;
use super::notebooks::tell_room;
use super::views::{BlockView, BlockedErrorBody, ErrorBody, NotebookView};
use crate::access::{Access, notebook_access};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::store::NotebookId;

pub(super) fn routes(routes: Routes) -> Routes {
    routes.post("/notebooks/{id}/block", block).delete("/notebooks/{id}/block", unblock)
}

/// Block a notebook: until unblocked, only the caller may change it.
#[utoipa::path(post, path = "/api/notebooks/{id}/block", operation_id = "block_notebook", tag = "blocks",
    params(("id" = i64, Path, description = "Notebook id")),
    responses(
        (status = 200, description = "The notebook, blocked by the caller (again: the original time stays)", body = NotebookView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "No edit access", body = ErrorBody),
        (status = 404, description = "No such notebook", body = ErrorBody),
        (status = 409, description = "`already_blocked`: someone else holds a block", body = BlockedErrorBody),
    ))]
async fn block(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(id): Id<NotebookId>,
) -> ApiResult<Json<NotebookView>> {
    let (notebook, access) = notebook_access(&state, Some(&caller.user), id).await?;
    access.require(Access::Edit)?;
    let after = state.store.block_notebook(notebook.id, caller.user.id, state.config.clock().now()).await?;
    match &after.block {
        Some(block) if block.holder != caller.user.id => {
            Err(ApiError::AlreadyBlocked(Box::new(BlockView::load(&state, block).await?)))
        }
        _ => {
            let newly = notebook.block.is_none();
            let view = NotebookView::load(&state, after, access).await?;
            if newly {
                tell_room(&state, &view).await;
                tracing::info!(notebook = %view.id, user = %caller.user.name, "notebook blocked");
            }
            Ok(Json(view))
        }
    }
}

/// Lift a block: the holder's own, or any manual block for the project's owner.
#[utoipa::path(delete, path = "/api/notebooks/{id}/block", operation_id = "unblock_notebook", tag = "blocks",
    params(("id" = i64, Path, description = "Notebook id")),
    responses(
        (status = 200, description = "The notebook, no longer blocked", body = NotebookView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Someone else holds the block and the caller is not the project's owner, or (with no block) no edit access", body = ErrorBody),
        (status = 404, description = "No such notebook", body = ErrorBody),
    ))]
async fn unblock(
    State(state): State<AppState>,
    caller: AuthUser,
    Id(id): Id<NotebookId>,
) -> ApiResult<Json<NotebookView>> {
    let (notebook, access) = notebook_access(&state, Some(&caller.user), id).await?;
    let Some(block) = &notebook.block else {
        access.require(Access::Edit)?;
        return Ok(Json(NotebookView::load(&state, notebook, access).await?));
    };
    if block.holder != caller.user.id && access != Access::Own {
        let holder = BlockView::load(&state, block).await?.holder;
        return Err(ApiError::Forbidden(format!(
            "the notebook is blocked by {}; only they or the project's owner may unblock it",
            holder.display_name
        )));
    }
    // Conditional on the holder seen above: a block taken by someone else in between stays.
    let after = state.store.unblock_notebook(notebook.id, block.holder).await?;
    let view = NotebookView::load(&state, after, access).await?;
    tell_room(&state, &view).await;
    tracing::info!(notebook = %view.id, user = %caller.user.name, holder = %block.holder, "notebook unblocked");
    Ok(Json(view))
}
