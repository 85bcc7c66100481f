//! Who may read or change a project or notebook: the one place access is decided, for the
//! HTTP API and the WebSocket endpoint alike.
//!
//! The rule (SPEC §2) is [`decide`], a pure function of the project's visibility, the
//! caller's role in it and whether the caller is signed in: members get what their role
//! gives (viewer → [`Access::View`], editor → [`Access::Edit`], owner → [`Access::Own`]);
//! non-members may view `internal` projects when signed in and `public` ones even
//! anonymously; nobody else gets anything. Instance administrators are treated like any
//! other user here: managing accounts gives no access to anyone's content.
//!
//! The async functions look the project or notebook up and answer in the API's terms:
//! 404 for an unknown id, 401 for an anonymous caller without access, 403 for a signed-in
//! caller without access. [`reauthorize_project`] re-decides the access of open WebSocket
//! connections after members, roles or visibility changed.

use std::collections::HashMap;
use std::sync::Arc;

use crate::app::AppState;
use crate::error::ApiError;
use crate::rooms::Authorizer;
use crate::store::{NotebookId, NotebookRow, Project, ProjectId, Role, User, UserId, Visibility};

/// What a caller may do with a project or notebook, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema)]
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

/// The access a caller has to a project (SPEC §2); `None`: none at all.
///
/// `role` is the caller's membership role, `None` for non-members and anonymous callers;
/// `signed_in` tells a signed-in non-member from an anonymous caller. A member never gets
/// less than visibility alone would give (an `internal` project's viewer still views).
pub fn decide(visibility: Visibility, role: Option<Role>, signed_in: bool) -> Option<Access> {
    let by_role = role.filter(|_| signed_in).map(|role| match role {
        Role::Owner => Access::Own,
        Role::Editor => Access::Edit,
        Role::Viewer => Access::View,
    });
    let by_visibility = match visibility {
        Visibility::Public => Some(Access::View),
        Visibility::Internal if signed_in => Some(Access::View),
        Visibility::Internal | Visibility::Private => None,
    };
    by_role.max(by_visibility)
}

/// The project and the caller's access to it: 404 for an unknown project, 401 for an
/// anonymous caller who may not view it, 403 for a signed-in one.
pub async fn project_access(
    state: &AppState,
    caller: Option<&User>,
    id: ProjectId,
) -> Result<(Project, Access), ApiError> {
    let project =
        state.store.project(id).await?.ok_or_else(|| ApiError::NotFound(format!("project {id}")))?;
    let access = caller_access(state, &project, caller).await?;
    Ok((project, access))
}

/// The notebook and the caller's access to it (that of its project): 404 for an unknown
/// notebook, 401 for an anonymous caller who may not view it, 403 for a signed-in one.
pub async fn notebook_access(
    state: &AppState,
    caller: Option<&User>,
    id: NotebookId,
) -> Result<(NotebookRow, Access), ApiError> {
    let notebook =
        state.store.notebook(id).await?.ok_or_else(|| ApiError::NotFound(format!("notebook {id}")))?;
    let project = state
        .store
        .project(notebook.project_id)
        .await?
        // Deleted together with the project between the two reads.
        .ok_or_else(|| ApiError::NotFound(format!("notebook {id}")))?;
    let access = caller_access(state, &project, caller).await?;
    Ok((notebook, access))
}

/// Decides the caller's access to `project`, turning "none" into 401 or 403.
async fn caller_access(
    state: &AppState,
    project: &Project,
    caller: Option<&User>,
) -> Result<Access, ApiError> {
    let role = match caller {
        Some(user) => state.store.member_role(project.id, user.id).await?,
        None => None,
    };
    match (decide(project.visibility, role, caller.is_some()), caller) {
        (Some(access), _) => Ok(access),
        (None, None) => Err(ApiError::Unauthenticated),
        (None, Some(_)) => Err(ApiError::Forbidden(format!(
            "project {} is {} and you are not a member",
            project.id,
            project.visibility.as_str()
        ))),
    }
}

/// `Ok` for an instance administrator, else 403.
pub fn require_admin(user: &User) -> Result<(), ApiError> {
    if user.is_admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only an instance administrator may do this".into()))
    }
}

/// An [`Authorizer`] for the rooms: [`decide`] over a snapshot of the project's
/// visibility and members, taken after a change was stored.
pub fn authorizer(visibility: Visibility, members: HashMap<UserId, Role>) -> Authorizer {
    Authorizer(Arc::new(move |user: Option<&User>| {
        decide(visibility, user.and_then(|u| members.get(&u.id).copied()), user.is_some())
    }))
}

/// After members, roles or visibility of a project changed (and were stored): re-decides
/// the access of every open connection to each of its notebooks. A connection that lost
/// all access is closed (4403); one that lost edit rights becomes read-only.
///
/// The change itself is already stored, so a failure here (the database went away while
/// taking the snapshot) is logged rather than answered: the request did succeed, and
/// refusing it would make the caller believe it had not.
pub async fn reauthorize_project(state: &AppState, project: ProjectId) {
    if let Err(e) = try_reauthorize_project(state, project).await {
        tracing::error!(project = %project, error = %e, "open connections could not be re-authorized");
    }
}

async fn try_reauthorize_project(state: &AppState, project: ProjectId) -> Result<(), ApiError> {
    let Some(current) = state.store.project(project).await? else { return Ok(()) };
    let members = state
        .store
        .members(project)
        .await?
        .into_iter()
        .map(|m| (m.user.id, m.role))
        .collect::<HashMap<_, _>>();
    let decide = authorizer(current.visibility, members);
    for notebook in state.store.notebooks_in(project).await? {
        state.rooms.reauthorize(notebook.id, decide.clone()).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Access::*;
    use Visibility::*;

    #[test]
    fn edit_access_includes_viewing_but_not_the_reverse() {
        assert!(Edit.require(View).is_ok());
        assert!(Own.require(Edit).is_ok());
        assert!(Edit.can_edit());
        assert!(!View.can_edit());
        assert!(matches!(View.require(Edit), Err(ApiError::Forbidden(_))));
        assert!(matches!(Edit.require(Own), Err(ApiError::Forbidden(_))));
    }

    /// The whole of SPEC §2 as a table: (visibility, role, signed in) → access.
    #[test]
    fn roles_and_visibility_decide_access() {
        let cases = [
            // Anonymous callers see public projects only.
            (Private, None, false, None),
            (Internal, None, false, None),
            (Public, None, false, Some(View)),
            // Signed-in non-members see internal and public projects.
            (Private, None, true, None),
            (Internal, None, true, Some(View)),
            (Public, None, true, Some(View)),
        ];
        for (visibility, role, signed_in, expected) in cases {
            assert_eq!(decide(visibility, role, signed_in), expected, "{visibility:?} {role:?} {signed_in}");
        }
        for visibility in [Private, Internal, Public] {
            assert_eq!(decide(visibility, Some(Role::Viewer), true), Some(View));
            assert_eq!(decide(visibility, Some(Role::Editor), true), Some(Edit));
            assert_eq!(decide(visibility, Some(Role::Owner), true), Some(Own));
        }
    }

    #[test]
    fn a_role_without_a_signed_in_caller_counts_for_nothing() {
        assert_eq!(decide(Private, Some(Role::Owner), false), None);
        assert_eq!(decide(Public, Some(Role::Editor), false), Some(View));
    }

    #[test]
    fn the_rooms_authorizer_decides_from_its_snapshot() {
        let user = |id: i64| User {
            id: UserId(id),
            name: format!("u{id}"),
            display_name: format!("U{id}"),
            color: "#000000".into(),
            is_admin: id == 9,
            created_at: chrono::Utc::now(),
        };
        let members = HashMap::from([(UserId(1), Role::Owner), (UserId(2), Role::Viewer)]);
        let Authorizer(private) = authorizer(Private, members.clone());
        assert_eq!(private(Some(&user(1))), Some(Own));
        assert_eq!(private(Some(&user(2))), Some(View));
        assert_eq!(private(Some(&user(3))), None);
        assert_eq!(private(Some(&user(9))), None, "administrators get no implicit access");
        assert_eq!(private(None), None);
        let Authorizer(public) = authorizer(Public, members);
        assert_eq!(public(None), Some(View));
        assert_eq!(public(Some(&user(3))), Some(View));
    }
}
