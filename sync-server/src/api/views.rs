//! The JSON shapes the API answers with where they differ from the stored rows: a project
//! or notebook as the caller sees it (with their role and access), a notebook's block with
//! its holder's name, and the error bodies. Each has an OpenAPI schema.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::access::Access;
use crate::app::AppState;
use crate::error::ApiResult;
use crate::store::{
    FileBlock, FileEntry, FileKind, Member, NotebookBlock, NotebookId, NotebookMode, NotebookRow, Project,
    ProjectId, Role, Timestamp, User, UserId, hex,
};

/// The colour shown for a user whose account cannot be read.
const UNKNOWN_COLOR: &str = "#808080";

/// A user as others see them next to their work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UserRef {
    #[schema(value_type = i64)]
    pub id: UserId,
    /// Login name.
    pub name: String,
    pub display_name: String,
    /// `#rrggbb`, shown next to the user's cells and cursor.
    pub color: String,
}

impl From<&User> for UserRef {
    fn from(user: &User) -> Self {
        UserRef {
            id: user.id,
            name: user.name.clone(),
            display_name: user.display_name.clone(),
            color: user.color.clone(),
        }
    }
}

/// A member of a project: who, with which role, since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MemberView {
    pub user: UserRef,
    pub role: Role,
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
}

impl From<&Member> for MemberView {
    fn from(member: &Member) -> Self {
        MemberView { user: UserRef::from(&member.user), role: member.role, since: member.since }
    }
}

/// Why a notebook or file is blocked: notebooks only by hand (`manual`), files also by the
/// console that holds them (`console`, SPEC §9).
pub use crate::store::BlockReason;

/// A block on a notebook or file: only the holder may change it until it is lifted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BlockView {
    pub holder: UserRef,
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    pub reason: BlockReason,
}

impl BlockView {
    /// The block with its holder's names read from the store.
    pub async fn load(state: &AppState, block: &NotebookBlock) -> ApiResult<Self> {
        Ok(Self::with_holder(block, holder(state, block.holder).await?))
    }

    /// The block with the holder's id standing in for their names, where the store cannot
    /// be asked.
    pub fn unnamed(block: &NotebookBlock) -> Self {
        let id = block.holder;
        let holder =
            UserRef { id, name: id.to_string(), display_name: id.to_string(), color: UNKNOWN_COLOR.into() };
        Self::with_holder(block, holder)
    }

    fn with_holder(block: &NotebookBlock, holder: UserRef) -> Self {
        BlockView { holder, since: block.since, reason: BlockReason::Manual }
    }
}

impl BlockView {
    /// A file's block with its holder's names.
    pub fn of_file(block: &FileBlock, holder: UserRef) -> Self {
        BlockView { holder, since: block.since, reason: block.reason }
    }
}

/// A block on a project file, with the file's path: the detail of a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileBlockView {
    pub path: String,
    pub block: BlockView,
}

impl FileBlockView {
    /// The holder's names read from the store.
    pub async fn load(state: &AppState, path: &str, block: &FileBlock) -> ApiResult<Self> {
        let holder = holder(state, block.holder).await?;
        Ok(FileBlockView { path: path.to_owned(), block: BlockView::of_file(block, holder) })
    }

    /// The holder's id standing in for their names, where the store cannot be asked.
    pub fn unnamed(path: &str, block: &FileBlock) -> Self {
        FileBlockView { path: path.to_owned(), block: BlockView::of_file(block, unnamed_user(block.holder)) }
    }
}

/// A user whose names are not known: their id stands in.
fn unnamed_user(id: UserId) -> UserRef {
    UserRef { id, name: id.to_string(), display_name: id.to_string(), color: UNKNOWN_COLOR.into() }
}

/// One entry of a project's file tree.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileView {
    /// Relative to the project, `/`-separated (`data/2024/raw.csv`).
    pub path: String,
    /// The last component of the path.
    pub name: String,
    pub kind: FileKind,
    /// Bytes of a file; `null` for a folder.
    pub size: Option<u64>,
    /// SHA-256 of a file's bytes, lower-case hex; `null` for a folder.
    pub sha256: Option<String>,
    /// The last change of a file's bytes (a folder's creation); moving keeps it.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// Who made that change.
    pub updated_by: UserRef,
    /// Who blocks the file, since when and why (`manual` or `console`); `null` when nobody
    /// does. Folders are never blocked.
    pub block: Option<BlockView>,
}

impl FileView {
    /// One entry, its users looked up.
    pub async fn load(state: &AppState, entry: FileEntry) -> ApiResult<Self> {
        Self::with_users(state, &mut HashMap::new(), entry).await
    }

    /// Entries, each user looked up once.
    pub async fn load_all(state: &AppState, entries: Vec<FileEntry>) -> ApiResult<Vec<Self>> {
        let mut users = HashMap::new();
        let mut views = Vec::with_capacity(entries.len());
        for entry in entries {
            views.push(Self::with_users(state, &mut users, entry).await?);
        }
        Ok(views)
    }

    async fn with_users(
        state: &AppState,
        users: &mut HashMap<UserId, UserRef>,
        entry: FileEntry,
    ) -> ApiResult<Self> {
        let updated_by = cached_user(state, users, entry.updated_by).await?;
        let block = match &entry.block {
            Some(block) => Some(BlockView::of_file(block, cached_user(state, users, block.holder).await?)),
            None => None,
        };
        let is_file = entry.kind == FileKind::File;
        Ok(FileView {
            name: entry.path.name().to_owned(),
            path: entry.path.as_str().to_owned(),
            kind: entry.kind,
            size: is_file.then_some(entry.size),
            sha256: entry.sha256.map(|sum| hex(&sum)),
            updated_at: entry.updated_at,
            updated_by,
            block,
        })
    }
}

/// A user's names, looked up once per `cache`.
async fn cached_user(
    state: &AppState,
    cache: &mut HashMap<UserId, UserRef>,
    id: UserId,
) -> ApiResult<UserRef> {
    if let Some(known) = cache.get(&id) {
        return Ok(known.clone());
    }
    let user = holder(state, id).await?;
    cache.insert(id, user.clone());
    Ok(user)
}

/// A block holder's names. A holder whose account is gone would be a database
/// inconsistency (accounts are not deleted); their id then stands in for the names.
async fn holder(state: &AppState, id: UserId) -> ApiResult<UserRef> {
    Ok(match state.store.user_by_id(id).await? {
        Some(user) => UserRef::from(&user),
        None => {
            UserRef { id, name: id.to_string(), display_name: id.to_string(), color: UNKNOWN_COLOR.into() }
        }
    })
}

/// A project as the caller sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProjectView {
    #[serde(flatten)]
    pub project: Project,
    /// The caller's role; `null` when they are not a member (e.g. reading a public project).
    pub role: Option<Role>,
    /// What the caller may do: `view`, `edit` or `own`.
    pub access: Access,
}

/// A notebook as the caller sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotebookView {
    pub id: NotebookId,
    pub project_id: ProjectId,
    /// Unique within the project.
    pub name: String,
    pub mode: NotebookMode,
    /// Name of the default kernelspec (e.g. `python3`).
    pub kernelspec: String,
    #[schema(value_type = i64)]
    pub created_by: UserId,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// The manual block, `null` when there is none.
    pub block: Option<BlockView>,
    /// Thread mode: whether editors other than a cell's author may run it (in the
    /// author's kernel). Pair mode: every editor runs every cell in the shared kernel.
    pub others_may_run: bool,
    /// What the caller may do: `view`, `edit` or `own` (the project's owner).
    pub access: Access,
}

impl NotebookView {
    pub fn new(row: NotebookRow, block: Option<BlockView>, access: Access) -> Self {
        NotebookView {
            id: row.id,
            project_id: row.project_id,
            name: row.name,
            mode: row.mode,
            kernelspec: row.kernelspec,
            created_by: row.created_by,
            created_at: row.created_at,
            others_may_run: row.others_may_run,
            block,
            access,
        }
    }

    /// One notebook, its block's holder looked up.
    pub async fn load(state: &AppState, row: NotebookRow, access: Access) -> ApiResult<Self> {
        let block = match &row.block {
            Some(block) => Some(BlockView::load(state, block).await?),
            None => None,
        };
        Ok(Self::new(row, block, access))
    }

    /// Several notebooks of one project, each holder looked up once.
    pub async fn load_all(state: &AppState, rows: Vec<NotebookRow>, access: Access) -> ApiResult<Vec<Self>> {
        let mut holders: HashMap<UserId, UserRef> = HashMap::new();
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            let block = match &row.block {
                Some(block) => {
                    let known = holders.get(&block.holder).cloned();
                    let name = match known {
                        Some(name) => name,
                        None => holder(state, block.holder).await?,
                    };
                    holders.insert(block.holder, name.clone());
                    Some(BlockView::with_holder(block, name))
                }
                None => None,
            };
            views.push(Self::new(row, block, access));
        }
        Ok(views)
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `not_found`, `forbidden`, `conflict`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
}

/// The body of a refusal because of someone else's block: 423 `blocked` for a write, 409
/// `already_blocked` for a block request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BlockedErrorBody {
    pub error: BlockedErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BlockedErrorDetail {
    /// `blocked` (423) or `already_blocked` (409).
    pub code: String,
    pub message: String,
    /// Who holds the block.
    pub holder: UserRef,
    /// Since when.
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    pub reason: BlockReason,
}

/// The body of a refusal because of someone else's block on a project file: 423 `blocked`
/// for a change, 409 `already_blocked` for a block request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileBlockedErrorBody {
    pub error: FileBlockedErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileBlockedErrorDetail {
    /// `blocked` (423) or `already_blocked` (409).
    pub code: String,
    pub message: String,
    /// The blocked file: the one named, or the first blocked file inside a folder that
    /// was to be moved or deleted.
    pub path: String,
    /// Who holds the block.
    pub holder: UserRef,
    /// Since when.
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    /// `manual`, or `console` while the holder's console holds the file.
    pub reason: BlockReason,
}
