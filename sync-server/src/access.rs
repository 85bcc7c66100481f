//! Who may read or change a project or notebook: the one place access is decided, for the
//! HTTP API and the WebSocket endpoint alike.
//!
//! The rule for now: every signed-in user may read and edit every project and notebook;
//! anonymous callers get 401. Project roles and visibility (SPEC §2) change only the bodies
//! of these functions: callers already pass the caller (if any) and ask for the
//! [`Access`] they need, and unknown ids already answer 404.

use crate::app::AppState;
use crate::error::ApiError;
use crate::store::{NotebookId, NotebookRow, Project, ProjectId, User};

/// What a caller may do with a project or notebook, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Read the notebook and receive live updates and awareness.
    View,
    /// Also change the document and the notebook (rename, delete, import into the project).
    Edit,
    /// The project's owner: also manages members and visibility, and may delete any cell
    /// of a thread-mode notebook (moderation).
    Own,
}

impl Access {
    pub fn can_edit(self) -> bool {
        self >= Access::Edit
    }

    /// `Ok` when this access includes `needed`, else 403 saying what is missing.
    pub fn require(self, needed: Access) -> Result<(), ApiError> {
        if self >= needed {
            Ok(())
        } else {
            Err(ApiError::Forbidden(match needed {
                Access::View => "you may not view this".into(),
                Access::Edit => "you may view this but not change it".into(),
                Access::Own => "only the project's owner may do this".into(),
            }))
        }
    }
}

/// The project and the caller's access to it; 404 for an unknown project, 401 for an
/// anonymous caller.
pub async fn project_access(
    state: &AppState,
    caller: Option<&User>,
    id: ProjectId,
) -> Result<(Project, Access), ApiError> {
    let Some(_caller) = caller else { return Err(ApiError::Unauthenticated) };
    let project =
        state.store.project(id).await?.ok_or_else(|| ApiError::NotFound(format!("project {id}")))?;
    Ok((project, Access::Edit))
}

/// The notebook and the caller's access to it; 404 for an unknown notebook, 401 for an
/// anonymous caller.
pub async fn notebook_access(
    state: &AppState,
    caller: Option<&User>,
    id: NotebookId,
) -> Result<(NotebookRow, Access), ApiError> {
    let Some(_caller) = caller else { return Err(ApiError::Unauthenticated) };
    let notebook =
        state.store.notebook(id).await?.ok_or_else(|| ApiError::NotFound(format!("notebook {id}")))?;
    Ok((notebook, Access::Edit))
}

/// `Ok` for an instance administrator, else 403.
pub fn require_admin(user: &User) -> Result<(), ApiError> {
    if user.is_admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only an instance administrator may do this".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_access_includes_viewing_but_not_the_reverse() {
        assert!(Access::Edit.require(Access::View).is_ok());
        assert!(Access::Edit.can_edit());
        assert!(!Access::View.can_edit());
        assert!(matches!(Access::View.require(Access::Edit), Err(ApiError::Forbidden(_))));
    }
}
