//! Rows and ids of the store: accounts, projects, notebooks and the update log here;
//! kernel runs and jobs in [`runs`], project files in [`files`].

mod files;
mod history;
mod runs;

use chrono::{DateTime, Utc};
pub use doc_model::UserId;

pub use crate::files::FilePath;
pub use files::*;
pub use history::*;
pub use runs::*;

/// Server time, always UTC.
pub type Timestamp = DateTime<Utc>;

/// Position of an update in one notebook's log (1, 2, 3, …).
pub type Seq = i64;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct ProjectId(pub i64);

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct NotebookId(pub i64);

impl std::fmt::Display for NotebookId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::fmt::Display for ProjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Id of one execution record.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct ExecutionId(pub i64);

impl std::fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An account. `UserId` comes from doc-model, so its schema is given here as `i64`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct User {
    #[schema(value_type = i64)]
    pub id: UserId,
    /// Login name: unique, `[a-z0-9_.-]`.
    pub name: String,
    pub display_name: String,
    /// Colour shown next to the user's cells and cursor, `#rrggbb`.
    pub color: String,
    pub is_admin: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub display_name: String,
    pub color: String,
    pub is_admin: bool,
    /// argon2 PHC string, or `None` for an account that signs in only with tokens.
    pub password_hash: Option<String>,
}

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// Created by signing in; expires.
    Session,
    /// Created by the user for scripts; may expire.
    Personal,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::Personal => "personal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "session" => Some(TokenKind::Session),
            "personal" => Some(TokenKind::Personal),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Token {
    pub id: i64,
    #[schema(value_type = i64)]
    pub user_id: UserId,
    pub kind: TokenKind,
    /// A label the user chose (personal tokens) or "session".
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct NewToken {
    pub user_id: UserId,
    pub kind: TokenKind,
    pub name: String,
    /// SHA-256 of the secret.
    pub hash: Vec<u8>,
    pub expires_at: Option<Timestamp>,
}

/// Who may see a project (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Private,
    Internal,
    Public,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Internal => "internal",
            Visibility::Public => "public",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "private" => Some(Visibility::Private),
            "internal" => Some(Visibility::Internal),
            "public" => Some(Visibility::Public),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Project {
    pub id: ProjectId,
    #[schema(value_type = i64)]
    pub owner_id: UserId,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// What a project's member may do (SPEC §2). Every project has exactly one owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages members and visibility, renames and deletes the project; one per project.
    Owner,
    Editor,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Role::Owner),
            "editor" => Some(Role::Editor),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// A member of a project.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Member {
    pub user: User,
    pub role: Role,
    /// When the user became a member.
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
}

/// Changes to a project; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProjectUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
}

#[derive(Debug, Clone)]
pub struct NewProject {
    pub owner_id: UserId,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
}

/// How a notebook is shared among its editors (SPEC §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotebookMode {
    /// Everyone edits only their own cells and runs them in their own kernel.
    Thread,
    /// Editors share every cell and one kernel.
    Pair,
}

impl NotebookMode {
    pub fn as_str(self) -> &'static str {
        match self {
            NotebookMode::Thread => "thread",
            NotebookMode::Pair => "pair",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "thread" => Some(NotebookMode::Thread),
            "pair" => Some(NotebookMode::Pair),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotebookRow {
    pub id: NotebookId,
    pub project_id: ProjectId,
    /// Unique within the project.
    pub name: String,
    pub mode: NotebookMode,
    /// Name of the default kernelspec (e.g. `python3`).
    pub kernelspec: String,
    pub created_by: UserId,
    pub created_at: Timestamp,
    /// The manual block, if someone holds one.
    pub block: Option<NotebookBlock>,
    /// In thread mode, whether editors other than a cell's author may run it (the run
    /// still happens in the author's kernel, SPEC §8). Off for a new notebook.
    pub others_may_run: bool,
}

/// A manual block on a notebook (SPEC §2): only the holder may change it until unblocked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotebookBlock {
    pub holder: UserId,
    pub since: Timestamp,
}

/// A Yjs client id and the user it is bound to (`None`: the server's own edits). The first
/// update that uses a client id in a notebook binds it (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientBinding {
    pub client_id: u64,
    pub user_id: Option<UserId>,
}

#[derive(Debug, Clone)]
pub struct NewNotebook {
    pub project_id: ProjectId,
    pub name: String,
    pub mode: NotebookMode,
    pub kernelspec: String,
    pub created_by: UserId,
}

/// One update to append to a notebook's log.
#[derive(Debug, Clone)]
pub struct NewUpdate {
    pub notebook_id: NotebookId,
    /// The user whose connection sent it; `None` for the server's own edits.
    pub user_id: Option<UserId>,
    /// The Yjs client ids whose items the update carries.
    pub client_ids: Vec<u64>,
    /// For the server's own edits made for a user (a run's outputs), that user.
    pub actor_id: Option<UserId>,
    /// Server time of acceptance.
    pub at: Timestamp,
    /// The Yjs update, v1 encoding.
    pub data: Vec<u8>,
}

/// One entry of a notebook's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedUpdate {
    pub seq: Seq,
    pub user_id: Option<UserId>,
    pub client_ids: Vec<u64>,
    pub actor_id: Option<UserId>,
    pub at: Timestamp,
    pub data: Vec<u8>,
}

/// A checkpoint: the full document state as of a sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: Seq,
    pub state: Vec<u8>,
}

/// What loading a notebook reads: the latest checkpoint (if any) and the log after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    pub checkpoint: Option<Checkpoint>,
    /// Updates with `seq` greater than the checkpoint's, in order.
    pub tail: Vec<LoggedUpdate>,
}

impl StoredDocument {
    /// The sequence number of the newest state this load contains.
    pub fn last_seq(&self) -> Seq {
        self.tail.last().map(|u| u.seq).or(self.checkpoint.as_ref().map(|c| c.seq)).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_statuses_round_trip_through_their_column_and_json() {
        let all = [
            ExecutionStatus::Queued,
            ExecutionStatus::Running,
            ExecutionStatus::Ok,
            ExecutionStatus::Error,
            ExecutionStatus::Aborted,
        ];
        for status in all {
            assert_eq!(ExecutionStatus::parse(status.as_str()), Some(status));
            let json = serde_json::to_value(status).expect("serialize");
            assert_eq!(json, serde_json::Value::from(status.as_str()));
        }
        let finished: Vec<_> = all.into_iter().filter(|s| s.is_finished()).collect();
        assert_eq!(finished, [ExecutionStatus::Ok, ExecutionStatus::Error, ExecutionStatus::Aborted]);
        assert_eq!(ExecutionStatus::parse("done"), None);
    }

    #[test]
    fn job_states_round_trip_through_their_column_and_json() {
        let all =
            [JobState::Queued, JobState::Running, JobState::Finished, JobState::Failed, JobState::Terminated];
        for state in all {
            assert_eq!(JobState::parse(state.as_str()), Some(state));
            assert_eq!(serde_json::to_value(state).expect("json"), serde_json::Value::from(state.as_str()));
        }
        let over: Vec<_> = all.into_iter().filter(|s| s.is_over()).collect();
        assert_eq!(over, [JobState::Finished, JobState::Failed, JobState::Terminated]);
        assert_eq!(JobState::parse("done"), None);
    }

    #[test]
    fn file_kinds_and_block_reasons_round_trip_through_their_columns_and_json() {
        for kind in [FileKind::File, FileKind::Folder] {
            assert_eq!(FileKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).expect("json"), serde_json::Value::from(kind.as_str()));
        }
        for reason in [BlockReason::Manual, BlockReason::Console] {
            assert_eq!(BlockReason::parse(reason.as_str()), Some(reason));
            assert_eq!(serde_json::to_value(reason).expect("json"), serde_json::Value::from(reason.as_str()));
        }
        assert_eq!((FileKind::parse("dir"), BlockReason::parse("job")), (None, None));
    }

    #[test]
    fn content_built_from_chunks_has_the_hash_of_the_whole() {
        let whole = FileContent::new(b"hello world".to_vec());
        let mut builder = ContentBuilder::new();
        builder.push(b"hello");
        builder.push(b" world");
        assert_eq!(builder.len(), 11);
        let built = builder.finish();
        assert_eq!(built, whole);
        assert_eq!(hex(&built.sha256()), "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
        assert_eq!(
            format!("{built:?}"),
            format!("FileContent {{ len: 11, sha256: \"{}\" }}", hex(&whole.sha256()))
        );
    }
}
