//! Rows and ids of the store.

use chrono::{DateTime, Utc};
pub use doc_model::UserId;
use sha2::{Digest, Sha256};

pub use crate::files::FilePath;

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

/// Where a run is: queued → running → ok | error | aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// Waiting for the kernel, behind earlier runs.
    Queued,
    /// Sent to the kernel, which has not answered yet.
    Running,
    /// The kernel finished it without an error.
    Ok,
    /// The kernel reported an error (`ename: evalue` in the record's `error`).
    Error,
    /// It never finished: cancelled, the kernel died or was restarted, or the server
    /// stopped (the record's `error` says which).
    Aborted,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Queued => "queued",
            ExecutionStatus::Running => "running",
            ExecutionStatus::Ok => "ok",
            ExecutionStatus::Error => "error",
            ExecutionStatus::Aborted => "aborted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(ExecutionStatus::Queued),
            "running" => Some(ExecutionStatus::Running),
            "ok" => Some(ExecutionStatus::Ok),
            "error" => Some(ExecutionStatus::Error),
            "aborted" => Some(ExecutionStatus::Aborted),
            _ => None,
        }
    }

    /// Whether this is a final status: a finished record does not change any more.
    pub fn is_finished(self) -> bool {
        matches!(self, ExecutionStatus::Ok | ExecutionStatus::Error | ExecutionStatus::Aborted)
    }
}

/// A run to record when it is queued.
#[derive(Debug, Clone)]
pub struct NewExecution {
    pub notebook_id: NotebookId,
    /// The cell's id in the document.
    pub cell_id: String,
    /// Who asked for the run (in thread mode not necessarily the cell's author).
    pub user_id: UserId,
    /// Opaque id of the kernel process session that runs it.
    pub kernel_id: String,
    /// The kernel's kernelspec (e.g. `python3`).
    pub kernelspec: String,
    /// The source sent to the kernel, which the cell may no longer have.
    pub source: String,
    pub queued_at: Timestamp,
}

/// One stored run of one cell (SPEC §2). Times round-trip to the millisecond (SQLite keeps
/// no more).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ExecutionRecord {
    pub id: ExecutionId,
    pub notebook_id: NotebookId,
    /// The cell's id in the document.
    pub cell_id: String,
    /// Who asked for the run.
    #[schema(value_type = i64)]
    pub user_id: UserId,
    /// Opaque id of the kernel process session that ran it.
    pub kernel_id: String,
    pub kernelspec: String,
    /// The source as it was sent to the kernel.
    pub source: String,
    pub status: ExecutionStatus,
    /// The kernel's execution count; `None` until the kernel answers, and for runs it
    /// never answered.
    pub execution_count: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub queued_at: Timestamp,
    /// When the kernel started it; `None` while queued and for runs aborted in the queue.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    /// When it reached its final status; `None` while queued or running.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<Timestamp>,
    /// For status `error` or `aborted`: a short sentence for people (`ename: evalue`, or
    /// why the run was aborted).
    pub error: Option<String>,
}

/// Which executions to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionFilter {
    /// Only runs this user asked for.
    pub user: Option<UserId>,
    /// Only runs of this cell.
    pub cell: Option<String>,
    /// At most this many (the caller clamps it, e.g. 1..=1000); zero or less lists none.
    pub limit: i64,
    /// Only ids below this one (paging backwards).
    pub before: Option<ExecutionId>,
}

/// Id of one background job.
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
pub struct JobId(pub i64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a background job is: queued → running → finished | failed | terminated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting to be started.
    Queued,
    /// Its script is running.
    Running,
    /// The script exited with code 0.
    Finished,
    /// The script exited with another code, could not be started, or the server stopped
    /// while it ran (the record's `error` says which).
    Failed,
    /// Someone terminated it (the record's `error` says who).
    Terminated,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Finished => "finished",
            JobState::Failed => "failed",
            JobState::Terminated => "terminated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(JobState::Queued),
            "running" => Some(JobState::Running),
            "finished" => Some(JobState::Finished),
            "failed" => Some(JobState::Failed),
            "terminated" => Some(JobState::Terminated),
            _ => None,
        }
    }

    /// Whether this is a final state: a job that is over does not change any more.
    pub fn is_over(self) -> bool {
        matches!(self, JobState::Finished | JobState::Failed | JobState::Terminated)
    }
}

/// A background job to record when it is queued.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub project_id: ProjectId,
    /// Who starts it.
    pub owner: UserId,
    /// The project path of the script it runs.
    pub script: String,
    /// The project paths of the files its stdout and stderr go to.
    pub stdout_path: String,
    pub stderr_path: String,
    pub created_at: Timestamp,
}

/// One stored background job (SPEC §9). Times round-trip to the millisecond (SQLite keeps
/// no more).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct JobRecord {
    pub id: JobId,
    pub project_id: ProjectId,
    /// Who started it.
    #[schema(value_type = i64)]
    pub owner: UserId,
    /// The project path of the script it runs.
    pub script: String,
    /// The project paths of its stdout and stderr logs.
    pub stdout_path: String,
    pub stderr_path: String,
    pub state: JobState,
    /// The script's exit code, once it exited.
    pub exit_code: Option<i32>,
    /// For a failed or terminated job: why, in a sentence for people.
    pub error: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When its script started; `None` while queued and for jobs ended in the queue.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    /// When it reached its final state; `None` while queued or running.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<Timestamp>,
    /// Every path the job generated: its stdout and stderr logs first, then the files it
    /// wrote in byte order. None of them can be deleted while the job exists.
    pub generated: Vec<String>,
}

/// One update to append to a notebook's log.
#[derive(Debug, Clone)]
pub struct NewUpdate {
    pub notebook_id: NotebookId,
    /// The user whose connection sent it; `None` for the server's own edits.
    pub user_id: Option<UserId>,
    /// The Yjs client ids whose items the update carries.
    pub client_ids: Vec<u64>,
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

/// Id of one entry of a project's file tree; it stays with the entry when it is moved.
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
pub struct FileId(pub i64);

impl std::fmt::Display for FileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Whether an entry of a project's file tree holds bytes or other entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    File,
    Folder,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::File => "file",
            FileKind::Folder => "folder",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "file" => Some(FileKind::File),
            "folder" => Some(FileKind::Folder),
            _ => None,
        }
    }
}

/// Why something is blocked (SPEC §2, §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BlockReason {
    /// Blocked by hand; the holder or the project's owner lifts it.
    Manual,
    /// Held by the holder's open console; lifted when the console closes, never by hand.
    Console,
}

impl BlockReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockReason::Manual => "manual",
            BlockReason::Console => "console",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "manual" => Some(BlockReason::Manual),
            "console" => Some(BlockReason::Console),
            _ => None,
        }
    }
}

/// A block on a file: only the holder may change, move or delete it until it is lifted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileBlock {
    pub holder: UserId,
    pub since: Timestamp,
    pub reason: BlockReason,
}

/// One entry of a project's file tree, without its bytes. Times round-trip to the
/// millisecond (SQLite keeps no more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub id: FileId,
    pub project_id: ProjectId,
    pub path: FilePath,
    pub kind: FileKind,
    /// Bytes of a file; 0 for a folder.
    pub size: u64,
    /// SHA-256 of a file's bytes; `None` for a folder.
    pub sha256: Option<[u8; 32]>,
    pub created_at: Timestamp,
    /// The last change of a file's bytes (a folder's creation); moving keeps it.
    pub updated_at: Timestamp,
    /// Who made that change.
    pub updated_by: UserId,
    /// Files only: who blocks it, since when and why.
    pub block: Option<FileBlock>,
}

/// The bytes of a file with their SHA-256, which always match: both are set together,
/// by [`FileContent::new`] or by [`ContentBuilder`] as the bytes arrive.
#[derive(Clone, PartialEq, Eq)]
pub struct FileContent {
    bytes: Vec<u8>,
    sha256: [u8; 32],
}

impl FileContent {
    pub fn new(bytes: Vec<u8>) -> Self {
        let sha256 = Sha256::digest(&bytes).into();
        FileContent { bytes, sha256 }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Not the bytes, which may be megabytes: their length and hash.
impl std::fmt::Debug for FileContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileContent")
            .field("len", &self.bytes.len())
            .field("sha256", &hex(&self.sha256))
            .finish()
    }
}

/// Collects a file's bytes as they arrive (an upload), hashing each chunk on the way.
#[derive(Default)]
pub struct ContentBuilder {
    bytes: Vec<u8>,
    hasher: Sha256,
}

impl ContentBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        self.bytes.extend_from_slice(chunk);
    }

    pub fn finish(self) -> FileContent {
        FileContent { bytes: self.bytes, sha256: self.hasher.finalize().into() }
    }
}

impl std::fmt::Debug for ContentBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentBuilder").field("len", &self.bytes.len()).finish()
    }
}

/// Lower-case hexadecimal, as SHA-256 sums are shown.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a write did: made a new file or replaced the bytes of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWritten {
    pub entry: FileEntry,
    pub created: bool,
}

/// A change the file tree cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileTreeError {
    /// A file was needed (to write, read or block it).
    #[error("`{0}` is a folder, not a file")]
    IsAFolder(FilePath),
    /// A folder was needed: to list or zip it, or to hold a new entry.
    #[error("`{0}` is a file, not a folder")]
    NotAFolder(FilePath),
    /// A folder moved or copied into itself.
    #[error("`{from}` cannot be moved or copied into itself (`{to}`)")]
    IntoItself { from: FilePath, to: FilePath },
}

impl FileTreeError {
    /// The API's error code for it.
    pub fn code(&self) -> &'static str {
        match self {
            FileTreeError::IsAFolder(_) => "is_a_folder",
            FileTreeError::NotAFolder(_) => "not_a_folder",
            FileTreeError::IntoItself { .. } => "into_itself",
        }
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
